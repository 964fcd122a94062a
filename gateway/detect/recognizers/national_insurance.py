"""National Insurance number: two prefix letters, six digits, suffix A-D.

The prefix rules are HMRC's: neither letter is D, F, I, Q, U or V; the second
is not O; and BG, GB, KN, NK, NT, TN and ZZ are never issued.

It is written in two shapes, each with a space or a hyphen as separator:
grouped as on the card, 2-2-2-2-1 ("JG 10 37 59 A", "JG-10-37-59-A",
"JG103759A", and with dots, "JG.10.37.59.A", as some forms and exports
write it), or with a separator between every character ("J G 1 0 3 7 5
9 A").  Only these two: a looser run of letters and digits ("BY 2026 12")
would make ordinary references candidates.
"""

from __future__ import annotations

from typing import ClassVar

from gateway.detect.recognizer import Pattern, Recognizer
from gateway.model import InformationType

_NEVER_LETTERS = frozenset("DFIQUV")
_NEVER_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def is_valid_nino(value: str) -> bool:
    """True when `value` (spaces allowed) is a well-formed NINO."""
    compact = value.replace(" ", "").replace("-", "").replace(".", "").upper()
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


def _shapes(letter: str, suffix: str) -> str:
    """The two written shapes (see the module docstring), `suffix` last."""
    grouped = rf"{letter}{{2}}[ -]?[0-9]{{2}}[ -]?[0-9]{{2}}[ -]?[0-9]{{2}}"
    # Dots between every group, or none: "JG.10.37.59.A" (a dot here and
    # there is a version number or a list's numbering, not this).
    dotted = rf"{letter}{{2}}\.[0-9]{{2}}\.[0-9]{{2}}\.[0-9]{{2}}"
    spaced = rf"{letter}[ -]{letter}(?:[ -][0-9]){{6}}"
    if not suffix:
        return rf"\b(?:{grouped}|{dotted}|{spaced})\b"
    return rf"\b(?:{grouped}[ -]?|{dotted}\.|{spaced}[ -]){suffix}\b"


class NationalInsuranceRecognizer(Recognizer):
    name = "nino"
    info_type = InformationType.UK_NATIONAL_INSURANCE_NUMBER
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("full", _shapes("[A-Z]", "[A-D]"), 0.6),
        # Without the suffix letter, or in lower case, it is only a shape.
        Pattern("no_suffix", _shapes("[A-Z]", ""), 0.25),
        Pattern("lower", _shapes("[a-z]", "[a-d]"), 0.25),
    )
    CONTEXT = ("ni", "ni no", "ni number", "nino", "national insurance", "insurance number")

    def validate(self, value: str) -> bool:
        return is_valid_nino(value)
