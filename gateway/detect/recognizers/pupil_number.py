"""Unique Pupil Number: a check letter, LA code, school, year and serial.

The check letter is the DfE's weighted sum mod 23 (stdnum.gb.upn), which also
requires a known local authority code.  Temporary UPNs end in a letter.
"""

from __future__ import annotations

from typing import ClassVar

from stdnum.gb import upn

from gateway.detect.recognizer import Pattern, Recognizer
from gateway.model import InformationType


class PupilNumberRecognizer(Recognizer):
    name = "upn"
    info_type = InformationType.UK_UNIQUE_PUPIL_NUMBER
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("upn", r"\b[A-HJ-NP-RT-Z][0-9]{11}[0-9A-HJ-NP-RT-Z]\b", 0.65),
    )
    CONTEXT = ("upn", "pupil", "pupil number", "unique pupil number", "student", "school")

    def validate(self, value: str) -> bool:
        return bool(upn.is_valid(value))
