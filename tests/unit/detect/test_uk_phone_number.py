import pytest
from engine_support import found

from gateway.model import InformationType

CASES = [
    ("Mum's mobile is 07700 900123", "07700 900123"),  # drama range: possible + context
    ("Please ring her at home on 0113 496 0555.", "0113 496 0555"),
    ("Dad: +44 (0)20 7946 0321", "+44 (0)20 7946 0321"),
    ("contact 0161 496 0000 after 6pm", "0161 496 0000"),
    ("Call our switchboard on 0113 496 0000", None),  # business contact
    ("Freephone 0800 123 4567 for advice", None),  # not a person's line
    ("Order 01234 from stock", None),
    ("Kind regards,\nJo Bloggs\nFamily Support Worker\nTel: 0113 496 0999\n", None),
    ("-- \nJo Bloggs | Head of Year 9\nM: 07700 900456\n", None),
    ("The number 0999 999 9999 is not real", None),  # invalid range
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_phone_number(text: str, expected: str | None) -> None:
    hits = found(text, InformationType.UK_PHONE_NUMBER)
    assert hits == ([expected] if expected else [])
