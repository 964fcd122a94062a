"""Passwords the sender wrote: where they are found, and which are not passwords."""

from __future__ import annotations

import pytest
from fixtures_content import NHS, PASSWORD, aes_zip, mail

from gateway.inspect import inspect_message, scan_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Password: Blue42", "Blue42"),
        ("password:Blue42", "Blue42"),
        ("Pwd - Blue42", "Blue42"),
        ("PW = Blue42", "Blue42"),
        ("The password is Blue42.", "Blue42"),
        ("the password for the attachment is Blue42", "Blue42"),
        ("Password for the attached spreadsheet: Blue42", "Blue42"),
        ('The password is "correct horse"', "correct horse"),
        ("Hi Sam,\n\nZip password: Blue42!\nThanks", "Blue42"),
    ],
)
def test_password_statements(text: str, expected: str) -> None:
    assert [value for value, _ in scan_text(text)] == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "I will send the password separately.",
        "The password is below",
        "Password reset instructions",
        "Your password is incorrect",
        "Please call me for the password",
        "passwords are case sensitive",
    ],
)
def test_not_password_statements(text: str) -> None:
    assert scan_text(text) == []


def test_trailing_punctuation_spelling_that_opens_wins() -> None:
    archive = aes_zip(256, {"a.csv": NHS.encode()}, password="Blue42.")
    inspection = inspect_message(
        mail("The password is Blue42.", attachments=[("a.zip", archive, "application/zip")])
    )
    assert inspection.attachments[0].password_opens
    assert inspection.passwords[0].value == "Blue42."


@pytest.mark.parametrize(
    ("kwargs", "location", "removable"),
    [
        ({"headers": {"X-Attachment-Password": PASSWORD}}, "header", True),
        ({"body": f"Password: {PASSWORD}"}, "body", True),
        ({"subject": f"Report - password: {PASSWORD}"}, "subject", False),
        ({"html": f"<p>Hello</p><p>The password is <b>{PASSWORD}</b></p>"}, "body", True),
    ],
    ids=["header", "body", "subject", "html-body"],
)
def test_where_the_password_is(kwargs: dict[str, object], location: str, removable: bool) -> None:
    archive = aes_zip(256, {"a.csv": NHS.encode()})
    attachments = [("a.zip", archive, "application/zip")]
    inspection = inspect_message(mail(attachments=attachments, **kwargs))  # type: ignore[arg-type]
    assert inspection.attachments[0].password_opens
    first = inspection.passwords[0]
    assert (first.location, first.removable, first.value) == (location, removable, PASSWORD)


def test_password_inside_another_attachment() -> None:
    archive = aes_zip(256, {"a.csv": NHS.encode()})
    note = f"Password: {PASSWORD}\n".encode()
    inspection = inspect_message(
        mail(attachments=[("a.zip", archive, "application/zip"), ("note.txt", note, "text/plain")])
    )
    zipped = next(a for a in inspection.attachments if a.filename == "a.zip")
    assert zipped.password_opens
    assert (inspection.passwords[0].location, inspection.passwords[0].removable) == (
        "attachment",
        False,
    )


def test_password_value_is_not_in_repr() -> None:
    inspection = inspect_message(mail(f"Password: {PASSWORD}"))
    assert PASSWORD not in repr(inspection.passwords)


def _local_extra_past_the_end(archive: bytes) -> bytes:
    """`archive` with its first local header's extra-field length pointing
    past the end of the file (the central directory still lists the entry):
    pyzipper fails with struct.error reading the AES salt when it opens it."""
    out = bytearray(archive)
    out[28:30] = (0x230B).to_bytes(2, "little")
    return bytes(out)


def test_an_archive_that_breaks_the_zip_library_when_opened_is_a_problem_of_its_own() -> None:
    # Found by the coverage-guided fuzzer: the archive lists fine, and only
    # opening it with the password in the body raised, which used to lose
    # the whole inspection (internal_error).  It stays unopened, so not clean.
    archive = _local_extra_past_the_end(aes_zip(256, {"a.csv": NHS.encode()}))
    inspection = inspect_message(
        mail(f"Password: {PASSWORD}", attachments=[("a.zip", archive, "application/zip")])
    )
    codes = {(p.code, p.detail) for p in inspection.problems}
    assert ("extract_failed", "opening zip: error") in codes
    # On the attachment's part, so the sender is told which attachment.
    failed = [p for p in inspection.problems if p.code == "extract_failed"]
    assert [p.part_path for p in failed] == [inspection.attachments[0].part_path]
    assert "internal_error" not in {code for code, _ in codes}
    assert not inspection.attachments[0].password_opens
    assert inspection.passwords and inspection.passwords[0].value == PASSWORD
