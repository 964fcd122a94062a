"""Outlook's winmail.dat (TNEF) over real SMTP: the files inside it are
judged, and protected, as the attachments the recipient's Outlook shows.

Outlook with rich text sends its attachments inside one
application/ms-tnef part.  An AES-256 read-only zip there, under a marked
subject with the password telephoned, is as compliant as the same zip
attached directly: delivered, never refused as hidden encrypted content.
In protect mode the files inside go into the protected zip as files of
their own (nobody can open a winmail.dat taken out of a zip), and an AES
one stays an attachment.  The refusal names the file by its kind and says
that Outlook sent it inside winmail.dat.
"""

from __future__ import annotations

import base64
import email
import io
import json
import os
import secrets
import zipfile
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.policy import SMTP, default
from typing import Any

import aiosmtplib
import pytest
from fixtures_content import docx, tnef
from policy_messages import ALLOWED, MARKING, SENDER, person, protected_zip, record_text
from sqlalchemy import select

from gateway.db import audit_records
from gateway.transform import ZIP_NAME

Factory = Callable[..., Awaitable[Any]]
PASSWORD = "Xk9#mPq2$vLw8!zR"
WHO = person(20250318)
NOTE = "Referral attached. I will phone you with the password."


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", base64.b64encode(secrets.token_bytes(32)).decode())


# Built once: AES salts differ between runs of the same builder.
REFERRAL = protected_zip(PASSWORD, record_text(WHO), read_only=True, entry="referral.txt")


def case_notes() -> bytes:
    return docx([[f"{WHO.name}, NHS number {WHO.nhs}, born {WHO.dob}."]])


def outlook_message(files: dict[str, bytes], *, body: str = NOTE,
                    subject: str = f"{MARKING}: referral") -> bytes:
    """What Exchange sends for a rich-text Outlook message: the text, then
    winmail.dat holding the attachments."""
    mail = EmailMessage(policy=SMTP)
    mail["From"] = SENDER
    mail["To"] = ALLOWED
    mail["Subject"] = subject
    mail["Message-ID"] = f"<{os.urandom(8).hex()}@council.example>"
    mail["X-MS-TNEF-Correlator"] = f"<{os.urandom(8).hex()}@council.example>"
    mail.set_content(body + "\n")
    mail.add_attachment(tnef(body, files), maintype="application", subtype="ms-tnef",
                        filename="winmail.dat")
    return mail.as_bytes(policy=SMTP)


async def send(port: int, raw: bytes) -> tuple[int, str]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    try:
        await client.sendmail(SENDER, [ALLOWED], raw)
        return 250, ""
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    finally:
        client.close()


async def only_record(gw: Any) -> dict[str, Any]:
    async with gw.engine.connect() as conn:
        rows = await conn.execute(select(audit_records.c.document))
        (document,) = [json.loads(r[0]) for r in rows]
    return document


def files_of(content: bytes) -> dict[str, bytes]:
    delivered = email.message_from_bytes(content, policy=default)
    out: dict[str, bytes] = {}
    for part in delivered.iter_attachments():
        assert isinstance(part, EmailMessage)
        data = part.get_content()
        assert isinstance(data, bytes)
        out[str(part.get_filename())] = data
    return out


@pytest.mark.parametrize("mode", ["enforce", "protect"])
async def test_an_aes_read_only_zip_inside_winmail_dat_is_delivered(
    gateway_factory: Factory, sink: Any, mode: str
) -> None:
    gw = await gateway_factory({"policy": {"mode": mode}})
    raw = outlook_message({"referral.zip": REFERRAL})
    code, reply = await send(gw.port, raw)
    assert code == 250, reply
    (got,) = [m for m in await sink.wait(1) if m.rcpt_tos == (ALLOWED,)]
    assert files_of(got.content) == {"winmail.dat": tnef(NOTE, {"referral.zip": REFERRAL})}
    record = await only_record(gw)
    assert record["verdict"] == "deliver"
    assert record["reasons"] == []
    assert {"filename": "referral.zip", "content_type": "application/zip",
            "encryption": "aes-256", "read_only": True} in record["attachments"]


async def test_an_editable_aes_zip_inside_winmail_dat_is_named_for_what_it_is(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    editable = protected_zip(PASSWORD, record_text(WHO), read_only=False)
    code, reply = await send(gw.port, outlook_message({"referral.zip": editable}))
    assert code == 550, reply
    record = await only_record(gw)
    (reason,) = record["reasons"]
    assert reason["code"] == "not_read_only"
    assert reason["text"].startswith(
        "Attachment 1 (a zip archive, sent by Outlook inside winmail.dat) is encrypted")
    assert "referral.zip" not in reason["text"]  # file names can show personal data


async def test_a_clear_document_inside_winmail_dat_is_refused_by_its_kind(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await send(gw.port, outlook_message({"case notes.docx": case_notes()}))
    assert code == 550, reply
    assert "Attachment 1 (a Word document, sent by Outlook inside winmail.dat)" in reply
    assert "an Outlook attachment" not in reply


async def test_protect_mode_zips_the_files_inside_winmail_dat_not_winmail_dat(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory({"policy": {"mode": "protect"}})
    notes = case_notes()
    raw = outlook_message({"case notes.docx": notes, "referral.zip": REFERRAL},
                          subject=f"{MARKING}: case notes")
    code, reply = await send(gw.port, raw)
    assert code == 250, reply
    (got,) = [m for m in await sink.wait(1) if m.rcpt_tos == (ALLOWED,)]
    files = files_of(got.content)
    # The AES zip stays an attachment as it came; the clear document goes
    # into the gateway's zip; winmail.dat itself travels nowhere.
    assert sorted(files) == sorted([ZIP_NAME, "referral.zip"])
    assert files["referral.zip"] == REFERRAL
    with zipfile.ZipFile(io.BytesIO(files[ZIP_NAME])) as zf:
        assert [i.filename for i in zf.infolist()] == ["message.txt", "case notes.docx"]
        assert all(info.flag_bits & 0x1 for info in zf.infolist())
    assert WHO.nhs.encode() not in got.content
    record = await only_record(gw)
    assert record["verdict"] == "protect"


async def test_a_file_name_inside_winmail_dat_that_shows_personal_data_is_neutral(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory({"policy": {"mode": "protect"}})
    named = f"{WHO.name} {WHO.nhs}.docx"
    raw = outlook_message({named: case_notes()}, subject=f"{MARKING}: case notes")
    code, reply = await send(gw.port, raw)
    assert code == 250, reply
    (got,) = [m for m in await sink.wait(1) if m.rcpt_tos == (ALLOWED,)]
    files = files_of(got.content)
    assert sorted(files) == [ZIP_NAME]
    with zipfile.ZipFile(io.BytesIO(files[ZIP_NAME])) as zf:
        assert [i.filename for i in zf.infolist()] == ["message.txt", "attachment-2-1.docx"]
    assert WHO.nhs.encode() not in got.content
