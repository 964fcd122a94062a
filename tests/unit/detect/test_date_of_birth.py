import pytest
from engine_support import found

from gateway.model import InformationType

CASES = [
    ("DOB: 12/03/2015", "12/03/2015"),
    ("D.O.B 1.7.09", "1.7.09"),
    ("date of birth 2011-09-30", "2011-09-30"),
    ("She was born on 3rd March 2012.", "3rd March 2012"),
    ("Born: March 3, 2012", "March 3, 2012"),
    ("Jacob Hall, 04/11/2016 (DOB)", "04/11/2016"),
    ("The meeting is on 12/03/2015.", None),  # a date, not a birth date
    ("Invoice dated 2023-01-15, due 14 February 2023", None),
    ("DOB: 31/02/2015", None),  # no such day
    ("DOB: 12/03/2099", None),  # in the future
    ("Date of birth: 45/13/2015", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_date_of_birth(text: str, expected: str | None) -> None:
    hits = found(text, InformationType.DATE_OF_BIRTH)
    assert hits == ([expected] if expected else [])
