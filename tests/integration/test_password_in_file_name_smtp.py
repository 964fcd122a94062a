"""A password in an attachment's file name or in the sharing headers, and a
raw UTF-8 file name, over real SMTP: what the audit trail keeps.

The password that opens the attachment, written in its file name, is
refused (password_in_message) like one in the subject; the record's copy
of the file name, and of the purpose, the limits to consent and the
authoriser, has it replaced.  A file name sent in raw UTF-8 (SMTPUTF8) is
recorded with its letters."""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

import aiosmtplib
import pytest
from fixtures_content import aes_zip
from policy_messages import ALLOWED, MARKING, SENDER, only_record

Factory = Callable[..., Awaitable[Any]]
PASSWORD = "Zq7!marmalade-Otter"
NOTES = b"Referral notes, NHS number 943 476 5919."


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", base64.b64encode(secrets.token_bytes(32)).decode())


def _message(filename: str, headers: dict[str, str]) -> bytes:
    mail = EmailMessage(policy=SMTP)
    mail["From"] = SENDER
    mail["To"] = ALLOWED
    mail["Subject"] = f"{MARKING}: referral"
    mail["Message-ID"] = f"<{os.urandom(8).hex()}@council.example>"
    for name, value in headers.items():
        mail[name] = value
    mail.set_content("Please see the attached referral.\n")
    zipped = aes_zip(256, {"referral.txt": NOTES}, PASSWORD, read_only=True)
    mail.add_attachment(zipped, maintype="application", subtype="zip", filename=filename)
    return mail.as_bytes(policy=SMTP)


async def _send(port: int, raw: bytes, options: tuple[str, ...] = ()) -> tuple[int, str]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    try:
        await client.sendmail(SENDER, [ALLOWED], raw, mail_options=list(options))
        return 250, ""
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    finally:
        client.close()


@pytest.mark.parametrize(
    ("filename", "headers", "field", "kept"),
    [
        (f"referral - password {PASSWORD}.zip", {}, "attachments",
         [{"filename": "referral - password [redacted].zip", "content_type": "application/zip",
           "encryption": "aes-256", "read_only": True}]),
        (f"referral ({PASSWORD}).zip", {"X-Attachment-Password": PASSWORD}, "attachments",
         [{"filename": "referral ([redacted]).zip", "content_type": "application/zip",
           "encryption": "aes-256", "read_only": True}]),
        ("referral.zip", {"X-Attachment-Password": PASSWORD,
                          "X-Sharing-Purpose": f"Referral; the password is {PASSWORD}"},
         "purpose", "Referral; the password is [redacted]"),
        ("referral.zip", {"X-Attachment-Password": PASSWORD,
                          "X-Sharing-Consent": f"verbal; password {PASSWORD}"},
         "consent", "verbal; password [redacted]"),
        ("referral.zip", {"X-Attachment-Password": PASSWORD,
                          "X-Authorised-By": f"Head of Service ({PASSWORD})"},
         "authorised_by", "Head of Service ([redacted])"),
    ],
    ids=["file-name", "file-name-and-header", "purpose", "consent", "authorised-by"],
)
async def test_the_password_is_refused_and_never_in_the_record(
    gateway_factory: Factory, sink: Any, filename: str, headers: dict[str, str], field: str,
    kept: object,
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await _send(gw.port, _message(filename, headers))
    assert code == 550, reply
    record = await only_record(gw)
    assert [r["code"] for r in record["reasons"]] == ["password_in_message"]
    assert record[field] == kept
    assert PASSWORD not in json.dumps(record, ensure_ascii=False)
    (note,) = await sink.wait(1)  # the sender's notification only
    assert note.rcpt_tos == (SENDER,)
    assert PASSWORD.encode() not in note.content


async def test_a_raw_utf8_file_name_is_recorded_with_its_letters(
    gateway_factory: Factory, sink: Any
) -> None:
    name = "Überweisung März.pdf"
    raw = (
        f"From: {SENDER}\r\nTo: {ALLOWED}\r\nSubject: Résumé attached\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
        "--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n"
        f'--XX\r\nContent-Type: application/octet-stream; name="{name}"\r\n'
        f'Content-Disposition: attachment; filename="{name}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--XX--\r\n"
    ).encode()
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await _send(gw.port, raw, ("SMTPUTF8", "BODY=8BITMIME"))
    assert code == 250, reply
    await sink.wait(1)
    record = await only_record(gw)
    assert [a["filename"] for a in record["attachments"]] == [name]
