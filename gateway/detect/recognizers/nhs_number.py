"""NHS number: ten digits, the last a mod-11 check digit (stdnum.gb.nhs).

A number of one digit repeated passes the check (000 000 0000, 111 111
1111, 999 999 9999) but is never issued: it is a form's placeholder or a
spreadsheet's digit-place format ("000 000 0000"), not a patient."""

from __future__ import annotations

from typing import ClassVar

from stdnum.gb import nhs

from gateway.detect.recognizer import Pattern, Recognizer
from gateway.model import InformationType


class NhsNumberRecognizer(Recognizer):
    name = "nhs_number"
    info_type = InformationType.UK_NHS_NUMBER
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        # 3-3-4 is how the NHS prints it: valid check digit alone is enough.
        Pattern("grouped", r"\b[0-9]{3}[ -][0-9]{3}[ -][0-9]{4}\b", 0.55),
        # One in eleven random ten-digit numbers passes mod 11: needs context.
        Pattern("plain", r"\b[0-9]{10}\b", 0.3),
    )
    CONTEXT = ("nhs", "nhs no", "nhs number", "patient", "hospital", "gp", "health number")
    NEGATIVE_CONTEXT = (
        "order", "invoice", "ref", "reference", "tracking", "po", "purchase order",
        "tel", "telephone", "phone", "mobile", "fax", "call", "account", "serial",
    )  # fmt: skip

    def validate(self, value: str) -> bool:
        digits = nhs.compact(value)
        return len(set(digits)) > 1 and bool(nhs.is_valid(digits))
