import random

import pytest
from engine_support import found
from synthetic_ids import bad_upn, upn

from gateway.model import InformationType

rng = random.Random(6)
GOOD = upn(rng)
BAD = bad_upn(rng)

CASES = [
    (f"UPN: {GOOD}", GOOD),
    (f"pupil {GOOD} joined in September", GOOD),
    (f"UPN: {BAD}", None),  # wrong check letter
    ("UPN: A000200005001", None),  # unknown local authority code
    (f"code {GOOD}X", None),  # not a whole token
    ("Product SKU B801200005001X", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_unique_pupil_number(text: str, expected: str | None) -> None:
    hits = found(text, InformationType.UK_UNIQUE_PUPIL_NUMBER)
    assert hits == ([expected] if expected else [])
