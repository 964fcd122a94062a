"""Keywords: the one-pass mention test says what lower() + `in` would say."""

from __future__ import annotations

import pytest
from faker import Faker

from gateway.parse import keywords as module
from gateway.parse.keywords import Keywords

WORDS = ("purpose", "consent", "authori", "pass", "pw")
TEXTS = [
    "",
    "Nothing to see here.",
    "The PASSWORD is in a separate email",
    "Purpose: child protection enquiry",
    "purpOSE",
    "Authorised by: the duty manager",
    "pwd - Blue42",
    "p\nw, pa ss, purp ose",  # split words are not words
    "Limits of CONSENT:",
    "Kelvin \u212a and \u0130stanbul: pass",  # non-ASCII text, a mention
    "\u017furpose \u0130",  # non-ASCII, no ASCII mention ("ſ" is not "p")
]


def _reference(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in WORDS)


@pytest.mark.parametrize("re2", [True, False], ids=["re2", "python"])
def test_found_in_is_lower_and_in(re2: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not re2:
        monkeypatch.setattr(module, "_re2", None)
    elif module._re2 is None:
        pytest.skip("google-re2 is not installed")
    keywords = Keywords(WORDS)
    fake = Faker("en_GB")
    fake.seed_instance(7)
    texts = TEXTS + [fake.paragraph(nb_sentences=8) for _ in range(50)]
    texts += [fake.paragraph(nb_sentences=40) + " Pw: x" for _ in range(5)]
    answers = [keywords.found_in(text) for text in texts]
    assert answers == [_reference(text) for text in texts]
    assert True in answers and False in answers


def test_keywords_are_lower_case_ascii_words() -> None:
    for words in ((), ("Purpose",), ("caf\u00e9",)):
        with pytest.raises(ValueError, match="lower-case ASCII"):
            Keywords(words)
