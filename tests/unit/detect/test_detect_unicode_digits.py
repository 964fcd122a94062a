"""Digits of any script read as the number a reader sees, offsets kept.

An NHS number typed with full-width digits (an East Asian input method),
Arabic-Indic or Devanagari digits displays as the same number: the fold
before the regex pass turns every Unicode decimal digit into its ASCII one,
one character for one, so findings still point into the segment's own text.
"""

from __future__ import annotations

import random

import pytest
from engine_support import found
from synthetic_ids import nhs_number, nino

from gateway.detect._regex import fold
from gateway.model import InformationType, SegmentSource

rng = random.Random(11)
NHS = nhs_number(rng)
NINO = nino(rng, spaced=False)

# The zero of each script's run of decimal digits.
ZEROS = {
    "full-width": 0xFF10,
    "arabic-indic": 0x0660,
    "extended arabic-indic": 0x06F0,
    "devanagari": 0x0966,
    "bengali": 0x09E6,
    "thai": 0x0E50,
    "mathematical bold": 0x1D7CE,  # outside the BMP: still one character
}


def _in_script(value: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) if c.isdigit() else c for c in value)


@pytest.mark.parametrize("zero", ZEROS.values(), ids=ZEROS.keys())
def test_fold_turns_every_decimal_digit_into_ascii_keeping_length(zero: int) -> None:
    text = "NHS number " + _in_script(NHS, zero) + "."
    data, folded = fold(text)
    assert folded == f"NHS number {NHS}."
    assert len(data) == len(folded) == len(text)


def test_fold_leaves_ascii_text_as_it_is() -> None:
    text = f"NHS number {NHS}"
    data, folded = fold(text)
    assert folded is text
    assert data == text.encode("ascii")


def test_fold_reads_full_width_letters_and_leaves_other_characters_unknown() -> None:
    assert fold("ＮＨＳ：ＡＢ")[1] == "NHS:AB"
    # Superscripts and circled numbers are no decimal digits, Cyrillic no
    # Latin letter: not folded.
    assert fold("x² ① ж")[1] == "x? ? ?"


@pytest.mark.parametrize("source", [SegmentSource.BODY, SegmentSource.SUBJECT])
@pytest.mark.parametrize("zero", ZEROS.values(), ids=ZEROS.keys())
def test_nhs_number_in_other_digits_is_found_with_its_own_offsets(
    zero: int, source: SegmentSource
) -> None:
    number = _in_script(NHS, zero)
    text = f"Re: Jack — NHS number {number} (see notes)"
    # `found` slices the segment's own text with the finding's offsets.
    assert found(text, InformationType.UK_NHS_NUMBER, source) == [number]


def test_full_width_national_insurance_number_is_found() -> None:
    wide = "".join(chr(ord(c) + 0xFEE0) for c in NINO)
    assert found(f"ＮＩ number {wide}", InformationType.UK_NATIONAL_INSURANCE_NUMBER) == [wide]


def test_offsets_after_astral_digits_still_point_into_the_text() -> None:
    bold = _in_script(NHS, ZEROS["mathematical bold"])
    text = f"Old {bold} and NHS number {NHS}"
    assert found(text, InformationType.UK_NHS_NUMBER) == [bold, NHS]
