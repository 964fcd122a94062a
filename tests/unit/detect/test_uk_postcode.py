import pytest
from engine_support import found

from gateway.model import InformationType

CASES = [
    ("The family lives at 12 Acacia Road, Leeds LS6 2AB.", "LS6 2AB"),
    ("Home address: 4 Mill Lane, SW1A 1AA", "SW1A 1AA"),
    ("Name: Amelia Jones, DOB 01/02/2014, postcode M1 1AE", "M1 1AE"),
    ("Our office is at 1 High Street, Leeds LS1 4AP.", None),  # business address
    ("Deliver to the depot at B33 8TH please", None),
    ("Product code AB1 2CD", None),  # a postcode shape without context
    ("lives at QQ1 1AA", None),  # Q is never a first letter
    ("lives at LS1 1CI", None),  # C and I are never inward letters
    ("Kind regards,\nJo Bloggs\nLeeds City Council, Leeds LS1 1UR", None),  # signature
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_postcode(text: str, expected: str | None) -> None:
    hits = found(text, InformationType.UK_POSTCODE)
    assert hits == ([expected] if expected else [])
