import random

import pytest
from engine_support import found
from synthetic_ids import bad_card_number, card_number

from gateway.model import InformationType

rng = random.Random(8)
VISA = card_number(rng, "4")
MASTERCARD = card_number(rng, "53")
AMEX = card_number(rng, "37", 15)
PLAIN = card_number(rng, "4").replace(" ", "")
BAD = bad_card_number(rng)

CASES = [
    (f"card {VISA} exp 09/27", VISA),
    (f"Paid with {MASTERCARD}", MASTERCARD),
    (f"Amex {AMEX}", AMEX),
    (f"card number {PLAIN}", PLAIN),
    (f"card {BAD}", None),  # fails Luhn
    (f"Order number {PLAIN} shipped", None),  # plain digits with order context
    (f"tracking {PLAIN}", None),
    ("card 9999 1234 5678 9995", None),  # no issuer starts with 9
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_payment_card(text: str, expected: str | None) -> None:
    hits = found(text, InformationType.PAYMENT_CARD_NUMBER)
    assert hits == ([expected] if expected else [])
