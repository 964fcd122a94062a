"""What a recognizer is: mostly data, plus a hook for check digits.

A recognizer names one information type and describes how to find it:

    PATTERNS          regexes, each with a base score (how sure a bare match is)
    CONTEXT           words that, near a match, raise the score by CONTEXT_BOOST
                      (in its paragraph only: CONTEXT_IN_PARAGRAPH)
    NEGATIVE_CONTEXT  words that, near a match, lower it by NEGATIVE_PENALTY
                      ("order", "invoice", "switchboard": the number is not
                      about a person)
    SUPPORTED_BY      information types whose findings nearby raise the score
                      (a postcode next to a name and an NHS number is an address),
                      within SUPPORT_WINDOW (and the paragraph: SUPPORT_IN_PARAGRAPH)
    BUSINESS_CONTACT  true when a match inside a signature or a quoted-reply
                      header block is a business contact detail, not personal data
    validate()        the check digits; `assess()` may also move the span or
                      change the score when the value itself says more

Patterns are written once for both regex engines the gateway can use (RE2 and
Python `re`): ASCII only, no look-around, no back-references, bounded
repetition, and at most one capturing group, named `value`, when the part that
is personal data is narrower than the whole match ("Name: <value>").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

from gateway.model import InformationType

__all__ = ["Assessment", "Pattern", "Recognizer"]

_ALLOWED_GROUPS = frozenset({"value"})


@dataclass(frozen=True, slots=True)
class Pattern:
    """One regex of a recognizer with the score a bare, valid match earns."""

    name: str
    regex: str
    score: float

    def __post_init__(self) -> None:
        if not self.regex.isascii():
            raise ValueError(f"pattern {self.name!r}: patterns must be ASCII")
        compiled = re.compile(self.regex)
        if compiled.groups > 1 or set(compiled.groupindex) - _ALLOWED_GROUPS:
            raise ValueError(
                f"pattern {self.name!r}: only one capturing group, named 'value', is allowed"
            )
        if compiled.groups == 1 and not compiled.groupindex:
            raise ValueError(f"pattern {self.name!r}: use (?:...) for unnamed groups")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"pattern {self.name!r}: score must be within 0..1")


class Assessment(NamedTuple):
    """A candidate after validation: its (possibly moved) span and score."""

    start: int
    end: int
    score: float


class Recognizer:
    """Base of every recognizer.  Subclasses set the class attributes."""

    name: ClassVar[str]
    info_type: ClassVar[InformationType]
    PATTERNS: ClassVar[tuple[Pattern, ...]]
    CONTEXT: ClassVar[tuple[str, ...]] = ()
    NEGATIVE_CONTEXT: ClassVar[tuple[str, ...]] = ()
    # Characters looked at before and after a match for (negative) context.
    CONTEXT_WINDOW: ClassVar[tuple[int, int]] = (60, 30)
    CONTEXT_BOOST: ClassVar[float] = 0.35
    NEGATIVE_PENALTY: ClassVar[float] = 0.5
    SUPPORTED_BY: ClassVar[frozenset[InformationType]] = frozenset()
    SUPPORT_WINDOW: ClassVar[int] = 200
    SUPPORT_BOOST: ClassVar[float] = 0.25
    # Support only from the same paragraph (no blank line between): a
    # newsletter's notices are unrelated to each other.
    SUPPORT_IN_PARAGRAPH: ClassVar[bool] = False
    # Context words only from the same paragraph, for the same reason.
    CONTEXT_IN_PARAGRAPH: ClassVar[bool] = False
    BUSINESS_CONTACT: ClassVar[bool] = False

    def validate(self, value: str) -> bool:
        """Check digits and other rules on the matched value (default: none)."""
        return True

    def assess(self, text: str, start: int, end: int, score: float) -> Assessment | None:
        """Validate the candidate `text[start:end]`; None discards it.

        Overridden by recognizers that look beyond the value (a sort code
        needs an account number beside it) or whose score depends on the
        value (a free-mail address is more likely a person's own).
        """
        if not self.validate(text[start:end]):
            return None
        return Assessment(start, end, score)


def words_regex(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """A whole-word regex for context words and phrases, to search LOWER-CASED text.

    Spaces in a phrase match any run of white space, so "date of birth"
    still matches across a line break in extracted table text.  The text is
    lower-cased once per segment instead of matching case-insensitively, and
    the "no letter or digit before" check comes after each word's first
    character (a lookbehind over two characters): every alternative then
    starts with a literal, which lets the regex engine skip to the positions
    holding one of those first letters instead of trying every position.

    A word inside an e-mail or web address is not a word of the text:
    "nhs" in "sarah.jones@nhs.net" or "www.nhs.uk" says nothing about the
    name beside it.  So a word straight after "@", or after a dot that
    follows a letter or digit, is not matched.
    """
    if not words:
        return None
    alternatives = []
    for word in sorted(
        {" ".join(w.lower().split()) for w in words if w.strip()}, key=len, reverse=True
    ):
        phrase = r"\s+".join(re.escape(part) for part in word.split())
        first = re.escape(word[0])
        alternatives.append(
            first + r"(?<![a-z0-9@].)(?<![a-z0-9]\..)" + phrase[len(first) :]
        )
    if not alternatives:
        return None
    return re.compile(r"(?:" + "|".join(alternatives) + r")(?![a-z0-9])")
