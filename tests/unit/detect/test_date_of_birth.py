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
    # A contact card's birthday, in either of vCard's forms.
    ("BEGIN:VCARD\nVERSION:3.0\nFN:Jack Jones\nBDAY:2015-03-14\nEND:VCARD\n", "2015-03-14"),
    ("BEGIN:VCARD\nFN:Jack Jones\nBDAY;VALUE=date:20150314\nEND:VCARD\n", "20150314"),
    ("Jack's bday 14/03/2015", "14/03/2015"),
    # A calendar's birthday event, on the day.
    (
        "BEGIN:VEVENT\nSUMMARY:Jack Jones birthday\nDTSTART;VALUE=DATE:20150314\n"
        "RRULE:FREQ=YEARLY\nEND:VEVENT\n",
        "20150314",
    ),
    # Any other event, a time of day, a birthday still to come: no.
    ("BEGIN:VEVENT\nSUMMARY:Strategy meeting\nDTSTART;VALUE=DATE:20150314\nEND:VEVENT\n", None),
    ("SUMMARY:Jack Jones birthday\nDTSTART:20150314T090000Z\n", None),
    ("SUMMARY:Jack Jones birthday\nDTSTART;VALUE=DATE:20990314\n", None),
    ("BDAY:20150231", None),  # no such day
    ("Ref 20150314 for the birthday card order", None),  # eight digits, no property
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_date_of_birth(text: str, expected: str | None) -> None:
    hits = found(text, InformationType.DATE_OF_BIRTH)
    assert hits == ([expected] if expected else [])
