"""A date of birth under a column or field name as software writes it.

Spreadsheets, exports and forms name the column `date_of_birth`,
`date-of-birth`, `DateOfBirth` or `birth_date`: the birth word is there,
joined by underscores, hyphens or capitals instead of spaces.
"""

from __future__ import annotations

import pytest
from engine_support import found

from gateway.model import InformationType, SegmentSource

# An exported table as the CSV extractor gives it: cells tab-separated.
ROWS = "Jacob Hall\t04/11/2016\n"


@pytest.mark.parametrize(
    "column",
    ["date_of_birth", "date-of-birth", "DateOfBirth", "Date_Of_Birth", "dob", "birth_date",
     "Birth-Date", "pupil_dob", "DATE_OF_BIRTH"],
)
def test_a_birth_column_named_as_software_writes_it(column: str) -> None:
    table = f"pupil\t{column}\n{ROWS}"
    assert found(table, InformationType.DATE_OF_BIRTH, SegmentSource.ATTACHMENT) == [
        "04/11/2016"
    ]


@pytest.mark.parametrize("field", ["date_of_birth=2011-09-30", "dateOfBirth: 2011-09-30"])
def test_a_birth_field_in_the_text(field: str) -> None:
    assert found(f"Record {field}", InformationType.DATE_OF_BIRTH) == ["2011-09-30"]


@pytest.mark.parametrize(
    "column", ["date_of_meeting", "date_of_entry", "datebirthed", "date_of_death"]
)
def test_other_dates_stay_dates(column: str) -> None:
    table = f"pupil\t{column}\n{ROWS}"
    assert found(table, InformationType.DATE_OF_BIRTH, SegmentSource.ATTACHMENT) == []
