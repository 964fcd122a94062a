"""An NHS number split over lines after its label ("NHS number:\\n945\\n807\\n3022",
HTML's <br> between the groups) or with a space between every digit.

Neither was found: the patterns allowed one line break at most, and no
space between single digits.  Both need an NHS label right before them;
the check digit keeps other numbers out.
"""

from __future__ import annotations

import random

import pytest
from engine_support import found
from synthetic_ids import bad_nhs_number, nhs_number

from gateway.model import InformationType

NHS = InformationType.UK_NHS_NUMBER
RNG = random.Random(20260611)
NUMBERS = [nhs_number(RNG) for _ in range(3)]


def _on_lines(number: str) -> str:
    return number.replace(" ", "\n")


def _spaced(number: str) -> str:
    return " ".join(number.replace(" ", ""))


@pytest.mark.parametrize("number", NUMBERS)
@pytest.mark.parametrize(
    "template",
    ["NHS number:\n{lines}\n", "Patient details\nNHS No.\n{lines}\nSeen today.",
     "> NHS number:\n> {quoted}\n"],
    ids=["label", "label-no-colon", "quoted"],
)
def test_groups_on_lines_of_their_own_after_the_label(number: str, template: str) -> None:
    text = template.format(lines=_on_lines(number), quoted=number.replace(" ", "\n> "))
    (hit,) = found(text, NHS)
    assert "".join(ch for ch in hit if ch.isdigit()) == number.replace(" ", "")


@pytest.mark.parametrize("number", NUMBERS)
def test_a_space_between_every_digit_after_the_label(number: str) -> None:
    assert found(f"NHS number: {_spaced(number)}", NHS) == [_spaced(number)]


@pytest.mark.parametrize("number", NUMBERS)
@pytest.mark.parametrize(
    "text",
    ["Quantities:\n{lines}\n", "Patient seen, codes {spaced} entered.", "NHS number:\n{bad}\n"],
    ids=["no-label", "health-word-only", "bad-check-digit"],
)
def test_without_the_label_or_a_valid_check_digit_they_are_not(number: str, text: str) -> None:
    bad = _on_lines(bad_nhs_number(random.Random(number)))
    assert found(text.format(lines=_on_lines(number), spaced=_spaced(number), bad=bad), NHS) == []
