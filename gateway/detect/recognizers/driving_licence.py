"""DVLA driving licence number (16 characters), with its date part checked.

MORGA 7 53 11 6 SM 9 IJ
|     | |  |  | |  | check characters
|     | |  |  | |  arbitrary digit (usually 9)
|     | |  |  | first two initials (9 pads)
|     | |  |  year of birth, units
|     | |  day of birth
|     | month of birth (+50 for women)
|     year of birth, tens
surname, first five letters (9 pads)
"""

from __future__ import annotations

import datetime as dt
import re
from typing import ClassVar

from gateway.detect.recognizer import Pattern, Recognizer
from gateway.model import InformationType

_SHAPE = re.compile(r"[A-Z]{1,5}9{0,4}[0-9]{6}[A-Z][A-Z9][0-9][A-Z0-9]{2}")


def _date_part_ok(digits: str) -> bool:
    decade, month, day, year = int(digits[0]), int(digits[1:3]), int(digits[3:5]), int(digits[5])
    if month > 50:
        month -= 50
    for century in (1900, 2000):
        try:
            dt.date(century + decade * 10 + year, month, day)
        except ValueError:
            continue
        return True
    return False


def is_valid_licence(value: str) -> bool:
    """True when `value` (spaces allowed) has the DVLA shape and a real date."""
    compact = value.replace(" ", "")
    if len(compact) != 16 or _SHAPE.fullmatch(compact) is None:
        return False
    return _date_part_ok(compact[5:11])


class DrivingLicenceRecognizer(Recognizer):
    name = "driving_licence"
    info_type = InformationType.UK_DRIVING_LICENCE_NUMBER
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("dvla", r"\b[A-Z9]{5} ?[0-9]{6} ?[A-Z9]{2}[0-9][A-Z0-9]{2}\b", 0.7),
    )
    CONTEXT = ("driving licence", "driver's licence", "licence number", "licence no", "dvla")

    def validate(self, value: str) -> bool:
        return is_valid_licence(value)
