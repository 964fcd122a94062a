"""National Insurance number: two prefix letters, six digits, suffix A-D.

The prefix rules are HMRC's: neither letter is D, F, I, Q, U or V; the second
is not O; and BG, GB, KN, NK, NT, TN and ZZ are never issued.
"""

from __future__ import annotations

from typing import ClassVar

from gateway.detect.recognizer import Pattern, Recognizer
from gateway.model import InformationType

_NEVER_LETTERS = frozenset("DFIQUV")
_NEVER_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def is_valid_nino(value: str) -> bool:
    """True when `value` (spaces allowed) is a well-formed NINO."""
    compact = value.replace(" ", "").upper()
    if len(compact) not in (8, 9) or not compact[2:8].isdigit():
        return False
    first, second = compact[0], compact[1]
    if not (first.isalpha() and second.isalpha()):
        return False
    if first in _NEVER_LETTERS or second in _NEVER_LETTERS or second == "O":
        return False
    if compact[:2] in _NEVER_PREFIXES:
        return False
    return len(compact) == 8 or compact[8] in "ABCD"


class NationalInsuranceRecognizer(Recognizer):
    name = "nino"
    info_type = InformationType.UK_NATIONAL_INSURANCE_NUMBER
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("full", r"\b[A-Z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]\b", 0.6),
        # Without the suffix letter, or in lower case, it is only a shape.
        Pattern("no_suffix", r"\b[A-Z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2}\b", 0.25),
        Pattern("lower", r"\b[a-z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[a-d]\b", 0.25),
    )
    CONTEXT = ("ni", "ni no", "ni number", "nino", "national insurance", "insurance number")

    def validate(self, value: str) -> bool:
        return is_valid_nino(value)
