"""Names written with diacritics are read as names.

"Zoë Müller", "Siân", "Róisín", "Łukasz": a fifth of a UK class's names are
spelled with a letter outside ASCII (Welsh, Irish, Polish, French,
Portuguese...).  The fold before the regex pass turned each such letter
into "?", so "the child Zoë Müller" had no capitalised word in it and went
as clean as a lunch menu.  The fold now gives each Latin letter its base
letter, one character for one, and the findings still point into the
segment's own text.
"""

from __future__ import annotations

import pytest
from engine_support import found

from gateway.detect._regex import fold
from gateway.model import InformationType

NAME = InformationType.PERSON_NAME


def test_fold_gives_latin_letters_their_base_letter_keeping_length() -> None:
    text = "Zoë Müller, Siân Ó Súilleabháin, Łukasz Wójcik, Ørsted, Gwŷn"
    data, folded = fold(text)
    assert folded == "Zoe Muller, Sian O Suilleabhain, Lukasz Wojcik, Orsted, Gwyn"
    assert len(data) == len(folded) == len(text)


@pytest.mark.parametrize("name", [
    "Zoë Müller", "Siân Hughes", "Róisín Murphy", "Łukasz Wójcik", "Renée Dubois",
    "Chloë Ørsted", "João Gonçalves", "Siobhán Ní Dhomhnaill",
])
@pytest.mark.parametrize("sentence", [
    "Please see the notes on the child {name} before Friday.",
    "Pupil name: {name}",
    "{name} (DOB 03/04/2016) has moved school.",
])
def test_accented_name_is_found_with_its_own_offsets(name: str, sentence: str) -> None:
    text = sentence.format(name=name)
    assert any(name in value for value in found(text, NAME))


@pytest.mark.parametrize("text", [
    "Dear Siân,\n\nThe minutes of Tuesday's meeting are attached.",
    "Thanks, Zoë — the café booking is confirmed for the résumé workshop.",
])
def test_accented_words_without_context_stay_clean(text: str) -> None:
    assert found(text, NAME) == []
