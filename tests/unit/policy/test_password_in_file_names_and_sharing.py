"""A password written in an attachment's file name, or in the sharing
fields (X-Sharing-Purpose, X-Sharing-Consent, X-Authorised-By).

A file name travels in clear with the attachment, as the subject does: a
password there that opens the attachment is refused (password_in_message),
in any spelling of the name a mail program reads (Content-Disposition
filename, Content-Type name, RFC 2231).  What the audit record keeps of the
file name and of the sharing fields has the password replaced, as the
subject's copy has."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest
from fixtures_content import aes_zip

from gateway.detect import build_engine
from gateway.model import Action, Envelope, ReasonCode
from gateway.pipeline import REDACTED, Decision, Pipeline, redact_sharing
from gateway.settings import Settings
from gateway.transform import SharingFacts

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@children.example,Duty Team,Duty Social Worker,,Children's Services,01632 960003,\n"
)
ENVELOPE = Envelope("alice@council.example", ("duty.team@children.example",))
PASSWORD = "Zq7!marmalade-Otter"
NOTES = b"Referral notes, NHS number 943 476 5919."


def _pipeline(tmp_path: Path, mode: str = "enforce") -> Pipeline:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    return Pipeline(Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": mode}}))


def _message(
    filename: str = "referral.zip",
    *,
    headers: dict[str, str] | None = None,
    part_headers: dict[str, str] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = "alice@council.example"
    message["To"] = "duty.team@children.example"
    message["Subject"] = "Private and Confidential: referral"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content("Referral attached.\n\nRegards\nAlice\n")
    zipped = aes_zip(256, {"referral.txt": NOTES}, PASSWORD, read_only=True)
    message.add_attachment(zipped, maintype="application", subtype="zip", filename=filename)
    attachment = message.get_payload()[1]
    for name, value in (part_headers or {}).items():
        attachment[name] = value
    return message.as_bytes().replace(b"\n", b"\r\n")


def _audit_fields(decision: Decision) -> str:
    """Everything of the message the audit record keeps."""
    return repr((decision.subject, decision.message_id, decision.purpose, decision.consent,
                 decision.authorised_by, [a.filename for a in decision.attachments],
                 [(r.text, r.fix) for r in decision.verdict.reasons]))


def _refused_for_the_password(decision: Decision) -> str:
    assert decision.verdict.action == Action.REJECT
    (reason,) = decision.verdict.reasons
    assert reason.code == ReasonCode.PASSWORD_IN_MESSAGE, decision.verdict.reasons
    assert PASSWORD not in _audit_fields(decision)
    return reason.text


@pytest.mark.parametrize("mode", ["enforce", "protect"])
@pytest.mark.parametrize(
    ("filename", "header", "kept"),
    [
        (f"referral - password {PASSWORD}.zip", False, f"referral - password {REDACTED}.zip"),
        (f"referral - password {PASSWORD}.zip", True, f"referral - password {REDACTED}.zip"),
        (f"referral (password {PASSWORD}).zip", True, f"referral (password {REDACTED}).zip"),
        (f"{PASSWORD}.zip", False, f"{REDACTED}.zip"),
        (f"referral-{PASSWORD}.zip", True, f"referral-{REDACTED}.zip"),
    ],
    ids=["stated", "stated-and-header", "in-brackets-and-header", "alone", "joined-and-header"],
)
def test_a_password_in_the_file_name_is_refused_and_kept_out_of_the_record(
    tmp_path: Path, mode: str, filename: str, header: bool, kept: str
) -> None:
    headers = {"X-Attachment-Password": PASSWORD} if header else {}
    decision = _pipeline(tmp_path, mode).run(ENVELOPE, _message(filename, headers=headers))
    text = _refused_for_the_password(decision)
    assert "an attachment's file name" in text
    assert "another attachment" not in text
    assert [a.filename for a in decision.attachments] == [kept]


@pytest.mark.parametrize("form", ["content-type-name", "rfc2231"])
def test_every_spelling_of_the_file_name_is_read(tmp_path: Path, form: str) -> None:
    raw = _message("referral.zip")
    if form == "content-type-name":
        raw = raw.replace(b'; filename="referral.zip"', b"").replace(
            b"Content-Type: application/zip",
            f'Content-Type: application/zip; name="password {PASSWORD}.zip"'.encode())
    else:
        encoded = f"password%20{PASSWORD.replace('!', '%21')}.zip"
        raw = raw.replace(b'filename="referral.zip"',
                          f"filename*=UTF-8''{encoded}".encode())
    decision = _pipeline(tmp_path).run(ENVELOPE, raw)
    _refused_for_the_password(decision)
    assert [a.filename for a in decision.attachments] == [f"password {REDACTED}.zip"]


def test_a_file_name_without_the_password_is_kept_as_it_is(tmp_path: Path) -> None:
    decision = _pipeline(tmp_path).run(
        ENVELOPE, _message("referral.zip", headers={"X-Attachment-Password": PASSWORD}))
    assert decision.verdict.action == Action.DELIVER, decision.verdict.reasons
    assert decision.password == PASSWORD
    assert [a.filename for a in decision.attachments] == ["referral.zip"]


@pytest.mark.parametrize(
    ("header", "value", "field"),
    [
        ("X-Sharing-Purpose", f"Referral; the password is {PASSWORD}", "purpose"),
        ("X-Sharing-Consent", f"verbal; password {PASSWORD}", "consent"),
        ("X-Authorised-By", f"Head of Service ({PASSWORD})", "authorised_by"),
    ],
)
def test_a_password_in_a_sharing_field_is_kept_out_of_the_record(
    tmp_path: Path, header: str, value: str, field: str
) -> None:
    raw = _message(headers={"X-Attachment-Password": PASSWORD, header: value})
    decision = _pipeline(tmp_path).run(ENVELOPE, raw)
    _refused_for_the_password(decision)
    kept = getattr(decision, field)
    assert kept is not None and REDACTED in kept


def test_a_password_stated_in_a_sharing_value_is_redacted_even_if_it_opens_nothing() -> None:
    cleaned = redact_sharing(
        build_engine(),
        SharingFacts(purpose="Referral; the password is Other-Secret-77", consent="verbal",
                     authorised_by="Head of Service"),
        {PASSWORD},
    )
    assert cleaned == SharingFacts(purpose=f"Referral; the password is {REDACTED}",
                                   consent="verbal", authorised_by="Head of Service")


def test_a_password_in_a_parts_description_names_the_header_not_the_subject(
    tmp_path: Path,
) -> None:
    raw = _message(part_headers={"Content-Description": f"the password is {PASSWORD}"})
    text = _refused_for_the_password(_pipeline(tmp_path).run(ENVELOPE, raw))
    assert "a header of the message" in text
    assert "subject" not in text



def test_a_raw_utf8_file_name_is_read_and_recorded_with_its_letters(tmp_path: Path) -> None:
    """The child named in the text, and in the file name written in raw
    UTF-8 (SMTPUTF8): detection reads the name's real letters, and the
    record keeps them, less the name."""
    child = "William Jennings"
    name = f"{child} – Überweisung März.csv"
    raw = (
        "From: alice@council.example\r\nTo: duty.team@children.example\r\n"
        "Subject: Private and Confidential: referral\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
        "--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Child: {child}, date of birth 18/03/2014, NHS number 943 476 5919.\r\n"
        f'--XX\r\nContent-Type: text/csv; name="{name}"\r\n'
        f'Content-Disposition: attachment; filename="{name}"\r\n\r\n'
        "school,year\r\nExample Primary,4\r\n--XX--\r\n"
    ).encode()
    envelope = Envelope("alice@council.example", ("duty.team@children.example",),
                        smtputf8=True)
    reading = _pipeline(tmp_path).read(raw)
    assert name in [s.text for s in reading.segments if s.filename == name]
    decision = _pipeline(tmp_path).run(envelope, raw)
    assert [a.filename for a in decision.attachments] == [
        f"{REDACTED} – Überweisung März.csv"]
