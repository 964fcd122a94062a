"""UK passport number: nine digits, which only context can tell apart."""

from __future__ import annotations

from typing import ClassVar

from gateway.detect.recognizer import Pattern, Recognizer
from gateway.model import InformationType


class PassportRecognizer(Recognizer):
    name = "passport"
    info_type = InformationType.UK_PASSPORT_NUMBER
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (Pattern("digits", r"\b[0-9]{9}\b", 0.2),)
    CONTEXT = ("passport", "passport number", "passport no", "passport no.", "hmpo")
    NEGATIVE_CONTEXT = ("order", "invoice", "reference", "ref", "tracking", "account")
    CONTEXT_WINDOW = (50, 20)

    def validate(self, value: str) -> bool:
        # Repeated digits are placeholders ("000000000"), never issued numbers.
        return len(set(value)) > 2
