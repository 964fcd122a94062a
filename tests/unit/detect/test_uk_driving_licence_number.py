import datetime as dt
import random

import pytest
from engine_support import found
from synthetic_ids import driving_licence

from gateway.model import InformationType

rng = random.Random(10)
MAN = driving_licence(rng, "Morgan", dt.date(1975, 3, 11), "SM")
WOMAN = driving_licence(rng, "Li", dt.date(2001, 12, 31), "A", female=True)
SPACED = f"{MAN[:5]} {MAN[5:11]} {MAN[11:]}"

CASES = [
    (f"Licence {MAN}", MAN),
    (f"{WOMAN} is on file", WOMAN),
    (f"driving licence no. {SPACED}", SPACED),
    (MAN[:5] + "713116" + MAN[11:], None),  # month 13
    (MAN[:5] + "763116" + MAN[11:], None),  # month 63: 13 for a woman
    (MAN[:5] + "702316" + MAN[11:], None),  # 31 February
    ("SERIAL AB12C753116SM9IJ", None),  # letters after digits in the surname part
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_driving_licence(text: str, expected: str | None) -> None:
    hits = found(text, InformationType.UK_DRIVING_LICENCE_NUMBER)
    assert hits == ([expected] if expected else [])
