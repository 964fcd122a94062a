"""A password written in the message without the word "password": the
inspect stage tries the message's own words on an attachment still unopened,
and says where the one that opens it is written (and whether that place can
be taken out)."""

from __future__ import annotations

import pytest
from fixtures_content import NHS, aes_zip, encrypted_docx, encrypted_pdf, mail

from gateway.inspect import inspect_message, scan_text

REAL = "Kettle-Harbour-93"


def _zip(password: str = REAL) -> list[tuple[str, bytes, str]]:
    archive = aes_zip(256, {"a.csv": f"NHS number {NHS}".encode()}, password, read_only=True)
    return [("report.zip", archive, "application/zip")]


def _openers(raw: bytes) -> list[tuple[str, bool]]:
    inspection = inspect_message(raw)
    assert inspection.attachments[0].password_opens
    return [(c.location, c.removable) for c in inspection.passwords if c.opens]


@pytest.mark.parametrize(
    "body",
    [
        f"Report attached. Key: {REAL}",
        f"Code to open it: {REAL}",
        f"Code: {REAL}",
        f"PASSWORD {REAL}",
        f"Passwort: {REAL}",
        f"Report attached.\nKey:\n{REAL}\n",
    ],
)
def test_a_password_under_a_loose_label_opens_and_can_be_taken_out(body: str) -> None:
    assert _openers(mail(body, attachments=_zip())) == [("body", True)]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"body": f"Report attached.\n\n{REAL}\n"}, [("body", False)]),
        ({"body": f"Report attached, open it with {REAL} as usual."}, [("body", False)]),
        ({"subject": f"Private and Confidential: report ({REAL})"}, [("subject", False)]),
        ({"headers": {"X-Password": REAL}}, [("header", False)]),
        ({"headers": {"X-Reference": f"case 12 {REAL}"}}, [("header", False)]),
    ],
    ids=["alone-on-a-line", "mid-sentence", "subject", "x-password", "other-header"],
)
def test_a_password_written_elsewhere_opens_and_cannot_be_taken_out(
    kwargs: dict[str, object], expected: list[tuple[str, bool]]
) -> None:
    raw = mail(attachments=_zip(), **kwargs)  # type: ignore[arg-type]
    assert _openers(raw) == expected


def test_a_password_in_a_second_attachment() -> None:
    attachments = [*_zip(), ("pw.txt", f"{REAL}\n".encode(), "text/plain")]
    assert _openers(mail(attachments=attachments)) == [("attachment", False)]


def test_an_aes_256_pdf_opened_by_a_code_line() -> None:
    pdf = encrypted_pdf(f"NHS number {NHS}", "AES-256", user_password=REAL)
    raw = mail(f"Code: {REAL}", attachments=[("report.pdf", pdf, "application/pdf")])
    assert _openers(raw) == [("body", True)]


def test_an_encrypted_office_file_opened_by_a_key_line() -> None:
    document = encrypted_docx([[f"NHS number {NHS}"]], REAL)
    raw = mail(f"Key: {REAL}", attachments=[(
        "report.docx", document,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )])
    assert _openers(raw) == [("body", True)]


def test_the_stated_password_also_written_elsewhere_is_listed_there_too() -> None:
    # "Password: X" is taken out of the body, but the same X in the subject
    # or a second attachment would still travel with the attachment.
    attachments = [*_zip(), ("pw.txt", f"{REAL}\n".encode(), "text/plain")]
    raw = mail(f"Password: {REAL}", subject=f"Report {REAL}", attachments=attachments)
    assert sorted(_openers(raw)) == [("attachment", False), ("body", True), ("subject", False)]


def test_a_password_nothing_in_the_message_opens_changes_nothing() -> None:
    raw = mail("Report attached. I will ring you with the key.\nCode: ABCD-1234",
               subject="Report (ref 5521-XY)", attachments=_zip("Never-Written-77"))
    inspection = inspect_message(raw)
    assert not inspection.attachments[0].password_opens
    assert inspection.passwords == ()
    assert not any(s.inside_encrypted for s in inspection.segments)


def test_a_loose_label_is_no_stated_password() -> None:
    # "Code: ..." that opens nothing is just text: it is not a candidate the
    # policy could hold against the sender as a mistyped password.
    inspection = inspect_message(mail("Code: ABCD-1234", attachments=_zip()))
    assert inspection.passwords == ()


def test_without_an_encrypted_attachment_no_word_is_a_password() -> None:
    inspection = inspect_message(mail(f"Key: {REAL}\n{REAL}", subject=REAL))
    assert inspection.passwords == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Key: {REAL}", REAL),
        (f"Code to open it: {REAL}", REAL),
        (f"PASSWORD {REAL}", REAL),
        (f"Passwort: {REAL}", REAL),
        (f"The PIN - {REAL}", REAL),
    ],
)
def test_scan_text_reads_loose_labels_for_the_transform(text: str, expected: str) -> None:
    assert [value for value, _ in scan_text(text)] == [expected]
