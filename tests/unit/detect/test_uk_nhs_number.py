import random

import pytest
from engine_support import found
from synthetic_ids import bad_nhs_number, nhs_number

from gateway.model import InformationType

rng = random.Random(4)
GOOD = nhs_number(rng)
GOOD_PLAIN = nhs_number(rng).replace(" ", "")
BAD = bad_nhs_number(rng)

CASES = [
    # (text, the value that must be found, or None when nothing must be)
    (f"NHS number: {GOOD}", GOOD),
    (f"Her number is {GOOD} as on the letter", GOOD),
    (f"NHS No {GOOD_PLAIN}", GOOD_PLAIN),
    (f"patient {GOOD.replace(' ', '-')}", GOOD.replace(" ", "-")),
    (f"NHS number: {BAD}", None),  # right shape, wrong check digit
    (f"Order number {GOOD_PLAIN} dispatched", None),  # plain digits, order context
    (f"Invoice ref {GOOD_PLAIN}", None),
    (f"reference X{GOOD_PLAIN}", None),  # not a whole token
    (f"{GOOD_PLAIN}1 units", None),  # eleven digits
    # One digit repeated passes mod 11 but is a placeholder, never issued.
    ("NHS number: 000 000 0000", None),
    ("NHS No 1111111111", None),
    ("NHS number: 999-999-9999", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_nhs_number(text: str, expected: str | None) -> None:
    hits = found(text, InformationType.UK_NHS_NUMBER)
    assert hits == ([expected] if expected else [])
