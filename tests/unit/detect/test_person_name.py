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


# A number at the end of the line before is that row's last cell, not a
# house number of "Amy Smith Street".
def test_a_name_after_a_row_ending_in_a_number() -> None:
    text = "Jack Jones 4857773457\nAmy Smith 4010232137"
    assert found(text, InformationType.PERSON_NAME) == ["Jack Jones", "Amy Smith"]


def test_a_flat_number_on_the_line_before_is_still_an_address() -> None:
    assert found("Flat 3\nRose Court, DOB 02/05/2013", InformationType.PERSON_NAME) == []


# A name with a health or safeguarding fact about it in the same sentence.
SENTENCE_CASES = [
    ("Mrs Jane Jones is HIV positive.", ["Jane Jones"]),
    ("Priya Patel has been self-harming.", ["Priya Patel"]),
    ("Jack Jones has been diagnosed with epilepsy and takes medication at lunch.", ["Jack Jones"]),
    ("Mohammed Al-Hassan has type 1 diabetes.", ["Mohammed Al-Hassan"]),
    ("Our new manager, Sarah Johnson, starts Monday", []),
    ("Jack Jones from Finance is on leave", []),
    ("Sarah Johnson is our new SEND officer.", []),
]


@pytest.mark.parametrize(("text", "expected"), SENTENCE_CASES)
def test_person_name_with_special_category_in_the_sentence(text: str, expected: list[str]) -> None:
    assert found(text, InformationType.PERSON_NAME) == expected
