import pytest
from engine_support import found

from gateway.model import InformationType

CASES = [
    ("She was diagnosed with epilepsy last year.", ["diagnosed", "epilepsy"]),
    ("The pupil has ADHD and an EHCP.", ["ADHD", "EHCP"]),
    ("Name: Oliver Smith. Religion: Muslim", ["Religion", "Muslim"]),
    ("There are child protection concerns about her.", ["child protection"]),
    ("Please complete the safeguarding training by Friday.", []),  # topic, not a person
    ("Mental health awareness week starts on Monday.", []),
    ("The SEND policy has been updated.", []),
    ("Kind regards,\nJo Bloggs\nDesignated Safeguarding Lead\nTel: 0113 496 0000", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_special_category(text: str, expected: list[str]) -> None:
    assert found(text, InformationType.SPECIAL_CATEGORY) == expected
