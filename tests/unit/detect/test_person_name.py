import pytest
from engine_support import found

from gateway.model import InformationType

CASES = [
    ("Name: Oliver Smith", "Oliver Smith"),
    ("Child's name - Tamsin Okonkwo", "Tamsin Okonkwo"),
    ("I am worried about the pupil Jayden Price in 4B.", "Jayden Price"),
    ("She is the mother of Amelia Jones.", "Amelia Jones"),
    ("Ffion Gwilt (DOB 02/05/2013) has moved school", "Ffion Gwilt"),
    ("We spoke to Mrs Barraclough about her son.", "Barraclough"),
    ("Grace Thornbury's NHS number is on file", "Grace Thornbury"),
    ("Our Finance Team will reply", None),  # capitalised, not a name
    ("Pupil Premium Grant allocations for 2025", None),
    ("Sarah Jones will chair the budget meeting on Monday.", None),  # no context
    ("Dear Tom,\nThe report is attached.\n\nKind regards,\nSarah Jones\nFinance Officer", None),
    ("Name: Finance Department", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_person_name(text: str, expected: str | None) -> None:
    hits = found(text, InformationType.PERSON_NAME)
    assert hits == ([expected] if expected else [])
