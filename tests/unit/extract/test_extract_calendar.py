"""Invitations and contact cards: lines folded inside an identifier, values
in quoted-printable or escaped, and files in base64 inside them; and Word
field codes.  Each used to leave its personal data in clear."""

from __future__ import annotations

import base64

import pytest
from fixtures_content import docx

from gateway.extract import ExtractContext, build_registry
from gateway.extract.calendar import is_content_lines, read_content_lines
from gateway.extract.detect import TEXT
from gateway.model import Problem
from gateway.parse import ContentLimits

REGISTRY = build_registry()
NHS = "083 016 6130"  # synthetic, valid check digit
RECORD = f"name,nhs_number\nAlex Carter,{NHS}\n"


def extract(data: bytes, fmt: str | None = TEXT) -> tuple[str, list[Problem]]:
    ctx = ExtractContext.start(ContentLimits(), REGISTRY, "2")
    texts = REGISTRY.extract(data, ctx, fmt)
    return "\n".join(t.text for t in texts), ctx.problems


def event(*lines: str) -> bytes:
    return ("\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "BEGIN:VEVENT", *lines,
                         "END:VEVENT", "END:VCALENDAR"]) + "\r\n").encode()


@pytest.mark.parametrize(
    "data",
    [
        # Outlook folds at 75 octets, wherever that falls.
        event("SUMMARY:Review", f"DESCRIPTION:Review meeting. NHS number {NHS[:6]}",
              f" {NHS[6:]}"),
        event(f"DESCRIPTION:NHS number{NHS[:5]}", f"\t{NHS[5:]}"),
        event(f"DESCRIPTION:Attendees\\, notes\\nNHS number {NHS}"),
        (f"BEGIN:VCARD\nVERSION:3.0\nFN:Contact\nNOTE:NHS number {NHS[:5]}\n {NHS[5:]}\n"
         "END:VCARD\n").encode(),
        # vCard 2.1: quoted-printable with soft line breaks.
        (f"BEGIN:VCARD\r\nVERSION:2.1\r\nNOTE;ENCODING=QUOTED-PRINTABLE:NHS=20number {NHS[:5]}=\r\n"
         f"{NHS[5:10]}=\r\n{NHS[10:]}\r\nEND:VCARD\r\n").encode(),
    ],
    ids=["folded", "folded-tab", "escaped", "vcard-folded", "vcard-quoted-printable"],
)
def test_an_identifier_folded_or_encoded_is_read_whole(data: bytes) -> None:
    text, problems = extract(data)
    assert NHS in text
    assert problems == []


def test_an_invitations_attached_file_is_read() -> None:
    attached = base64.b64encode(RECORD.encode()).decode()
    lines = [f"ATTACH;FMTTYPE=text/csv;ENCODING=BASE64;VALUE=BINARY;X-FILENAME=list.csv:"
             f"{attached[:40]}", *(f" {attached[i:i + 60]}" for i in range(40, len(attached), 60))]
    text, problems = extract(event("SUMMARY:Review", *lines))
    assert NHS in text
    assert attached[:40] not in text
    assert problems == []


def test_a_data_uri_in_a_contact_card_is_read() -> None:
    data = base64.b64encode(RECORD.encode()).decode()
    card = f"BEGIN:VCARD\nVERSION:4.0\nNOTE:x\nSOURCE:data:text/csv;base64,{data}\nEND:VCARD\n"
    text, problems = extract(card.encode())
    assert NHS in text and problems == []


def test_base64_that_does_not_decode_is_a_problem_not_skipped() -> None:
    _, problems = extract(event("ATTACH;ENCODING=BASE64;VALUE=BINARY:@@not base64@@"))
    assert [p.code for p in problems] == ["malformed_document"]


def test_only_a_calendar_or_card_is_read_as_one() -> None:
    assert is_content_lines("\ufeff\r\nBEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert is_content_lines("begin:vcard\nFN:x\n")
    assert not is_content_lines("Notes\nBEGIN:VCALENDAR\n")
    assert not is_content_lines("BEGIN:VCALENDARS and more\n")
    # Plain text keeps its own reading: a line starting with a space is not folded.
    text, _ = extract(f"NHS number {NHS[:6]}\n {NHS[6:]}\n".encode())
    assert NHS not in text


def test_a_long_quoted_printable_value_is_joined_in_one_pass() -> None:
    # 100,000 soft line breaks: joined one by one, each join copied all
    # that came before it.
    card = "BEGIN:VCARD\nNOTE;QUOTED-PRINTABLE:" + "ab=\n" * 100_000 + "end\nEND:VCARD\n"
    lines = read_content_lines(card)
    assert "ab" * 100_000 + "end" in lines.text


def test_a_parameter_may_hold_a_quoted_colon() -> None:
    lines = read_content_lines('ATTENDEE;CN="Team: duty":mailto:duty@example.org\n')
    assert lines.text.strip() == 'ATTENDEE;CN="Team: duty":mailto:duty@example.org'
    assert lines.files == ()


def test_word_field_codes_are_read() -> None:
    field = f'</w:t><w:instrText> MERGEFIELD "NHS {NHS}" </w:instrText><w:t>'
    text, problems = extract(docx([["Dear parent", field]]), None)
    assert NHS in text and problems == []
