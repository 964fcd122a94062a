import random

import pytest
from engine_support import found
from synthetic_ids import nino

from gateway.model import InformationType

rng = random.Random(5)
GOOD = nino(rng)
GOOD_COMPACT = nino(rng, spaced=False)

CASES = [
    (f"NI number {GOOD}", GOOD),
    (f"His details: {GOOD_COMPACT}.", GOOD_COMPACT),
    (f"national insurance: {GOOD_COMPACT[:8]}", GOOD_COMPACT[:8]),  # no suffix, context
    (f"ref {GOOD_COMPACT[:8]}", None),  # no suffix, no context
    (f"NINO {GOOD_COMPACT.lower()}", GOOD_COMPACT.lower()),
    ("NI number DA123456A", None),  # D is never a prefix letter
    ("NI number AO123456A", None),  # O is never the second letter
    ("NI number GB123456A", None),  # never issued
    ("NI number TN123456B", None),  # temporary numbers are not issued
    ("NI number AB123456E", None),  # suffix is A-D
    ("part no AB123456C7", None),  # not a whole token
    # Hyphens as on some forms, or a separator between every character.
    (f"NI no {GOOD.replace(' ', '-')}", GOOD.replace(" ", "-")),
    (f"Her number: {' '.join(GOOD_COMPACT)}", " ".join(GOOD_COMPACT)),
    (f"Her number: {'-'.join(GOOD_COMPACT)}", "-".join(GOOD_COMPACT)),
    (f"nino {' '.join(GOOD_COMPACT.lower())}", " ".join(GOOD_COMPACT.lower())),
    (f"NI number {' '.join(GOOD_COMPACT[:8])}", " ".join(GOOD_COMPACT[:8])),  # no suffix, context
    ("N I 1 2 3 4 5 6 A", None),  # I is never a prefix letter
    ("ref AB-12-34-56-E", None),  # suffix is A-D
    ("ref AB-12-34-56", None),  # no suffix, no context
    # Dots between every group, as some forms and exports write it.
    (f"NI no {GOOD.replace(' ', '.')}", GOOD.replace(" ", ".")),
    (f"National Insurance: {GOOD.replace(' ', '.')[:11]}", GOOD.replace(" ", ".")[:11]),
    ("see section AB.12.34.56.E", None),  # suffix is A-D
    ("version JG.10.37.59 released", None),  # no suffix, no context
    ("ref JG.1037.59.A", None),  # not dotted between every group
    # ... but no looser run of letters and digits.
    ("ref A B 12 34 56 C", None),
    ("ref AB 1 2 3 4 5 6 C", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_national_insurance_number(text: str, expected: str | None) -> None:
    hits = found(text, InformationType.UK_NATIONAL_INSURANCE_NUMBER)
    assert hits == ([expected] if expected else [])
