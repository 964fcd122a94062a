"""A child's birthday in a contact card or calendar part is a date of birth,
read from the message as the gateway reads it (parse, extract, detect)."""

from __future__ import annotations

import pytest

from gateway.detect import build_engine
from gateway.inspect import inspect_message
from gateway.model import InformationType

_MESSAGE = (
    "From: Alice Smith <alice@council.example.gov.uk>\r\n"
    "To: duty.team@childrens.example.gov.uk\r\n"
    "Subject: Update\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="b1"\r\n'
    "\r\n"
    "--b1\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "See attached.\r\n"
    "--b1\r\n"
    "Content-Type: {content_type}\r\n"
    "\r\n"
    "{part}"
    "--b1--\r\n"
)
VCARD = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jack Jones\r\nBDAY:2015-03-14\r\nEND:VCARD\r\n"
CALENDAR = (
    "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Jack Jones birthday\r\n"
    "DTSTART;VALUE=DATE:20150314\r\nRRULE:FREQ=YEARLY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.mark.parametrize(
    ("content_type", "part"), [("text/vcard", VCARD), ("text/calendar", CALENDAR)]
)
def test_birthday_in_card_or_calendar_is_a_date_of_birth(content_type: str, part: str) -> None:
    raw = _MESSAGE.format(content_type=content_type, part=part).encode("ascii")
    inspection = inspect_message(raw)
    findings = build_engine().detect(inspection.segments)
    assert InformationType.DATE_OF_BIRTH in {f.info_type for f in findings}
