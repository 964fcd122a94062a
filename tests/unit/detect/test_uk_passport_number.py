import random

import pytest
from engine_support import found
from synthetic_ids import passport_number

from gateway.model import InformationType

rng = random.Random(9)
GOOD = passport_number(rng)

CASES = [
    (f"Passport number: {GOOD}", GOOD),
    (f"his passport ({GOOD}) expired", GOOD),
    (f"Order {GOOD} was delivered", None),  # nine digits without context
    (f"Invoice {GOOD}, passport photo fee", None),  # negative context wins
    ("Passport number: 000000000", None),  # placeholder
    (f"passport {GOOD}0", None),  # ten digits
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_passport_number(text: str, expected: str | None) -> None:
    hits = found(text, InformationType.UK_PASSPORT_NUMBER)
    assert hits == ([expected] if expected else [])
