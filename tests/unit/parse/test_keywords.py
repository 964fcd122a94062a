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


def test_questions_about_one_text_share_one_search(counted_searches: list[int]) -> None:
    passwords, sharing = Keywords(("pass", "pw")), Keywords(("purpose", "consent", "authori"))
    fake = Faker("en_GB")
    fake.seed_instance(3)
    for text in [fake.paragraph(nb_sentences=30) for _ in range(20)] + TEXTS[:9]:
        copy = "".join(list(text))  # equal, not the same object
        counted_searches.clear()
        answers = [passwords.found_in(text), sharing.found_in(text), sharing.found_in(copy),
                   passwords.found_in(copy)]
        lowered = text.lower()
        expected_pw = any(w in lowered for w in passwords.words)
        expected_sharing = any(w in lowered for w in sharing.words)
        assert answers == [expected_pw, expected_sharing, expected_sharing, expected_pw], text
        if text.isascii():
            assert len(counted_searches) == 1, text


def test_a_new_keywords_is_not_answered_from_an_older_search(counted_searches: list[int]) -> None:
    first = Keywords(("pass",))
    text = "zebra crossing, then the password"
    assert first.found_in(text)
    later = Keywords(("zebra",))  # a word the earlier search did not look for
    assert later.found_in(text)
    assert len(counted_searches) == 2


def test_a_large_text_is_not_remembered(
    counted_searches: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(module, "_REMEMBERED", 100)
    keywords = Keywords(("pass",))
    small, large = "no mention", "x" * 200 + " pass"
    assert not keywords.found_in(small)
    memo = module._MENTIONS.memo
    assert keywords.found_in(large) and keywords.found_in(large)
    assert module._MENTIONS.memo is memo  # the small text's, still
    assert len(counted_searches) == 1


def test_mentions_found_ahead_answer_within_known_only(counted_searches: list[int]) -> None:
    passwords, sharing = Keywords(("pass", "pw")), Keywords(("purpose", "consent", "authori"))
    fake = Faker("en_GB")
    fake.seed_instance(11)
    texts = [fake.paragraph(nb_sentences=30) for _ in range(10)] + TEXTS
    texts += ["x" * 300 + " Purpose: review", "y" * 300]
    for text in texts:
        lowered = text.lower()
        expected = [any(w in lowered for w in passwords.words),
                    any(w in lowered for w in sharing.words)]
        found = module.mentions(text)
        if not text.isascii():
            assert found is None
            continue
        assert found is not None
        counted_searches.clear()
        module._MENTIONS.memo = None
        with module.known([found]):
            assert [passwords.found_in(text), sharing.found_in(text)] == expected
        assert counted_searches == []  # answered from what was found ahead
        # Outside the block, and for an equal text that is another object,
        # the search is made again.
        copy = "".join(list(text))
        if copy is text:
            continue  # "" and one-letter texts are one object however made
        with module.known([found]):
            assert [passwords.found_in(copy), sharing.found_in(copy)] == expected
        assert len(counted_searches) == 1
        module._MENTIONS.memo = None
        assert passwords.found_in(text) == expected[0]
        assert len(counted_searches) == 2


def test_known_is_seen_in_its_own_context_only(counted_searches: list[int]) -> None:
    import contextvars

    keywords = Keywords(("pass",))
    text = "the pass is elsewhere " * 10
    found = module.mentions(text)
    assert found is not None
    counted_searches.clear()
    other = contextvars.copy_context()  # made before the block: sees nothing of it
    with module.known([found]):
        assert keywords.found_in(text)
        assert counted_searches == []
        module._MENTIONS.memo = None
        assert other.run(keywords.found_in, text)
        assert len(counted_searches) == 1
