"""A zip mixing encrypted entries with a harmless clear one, over real SMTP.

`zip -P pw case.zip notes.txt` then `zip case.zip README.txt` leaves the
case notes encrypted (ZipCrypto, or AES but editable) beside a clear
README.  The encrypted entry is judged as if it were alone: weak or
editable encryption is refused, and the message counts as carrying
personal data (the allow-list and the subject marking apply) however
harmless the README.  A compliant one (AES-256, read-only) is delivered as
an AES zip: recorded `aes-256`, its password held.
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
from policy_messages import (
    ALLOWED,
    MARKING,
    SENDER,
    STRANGER,
    person,
    protected_zip,
    record_text,
)
from sqlalchemy import select

from gateway.db import audit_records
from gateway.transform import ZIP_NAME

Factory = Callable[..., Awaitable[Any]]
PASSWORD = "Tangerine-Lamp-42"
README = b"Open with 7-Zip or Windows 11."
RO = (0o100444 << 16) | 0x01
RW = 0o100644 << 16


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", base64.b64encode(secrets.token_bytes(32)).decode())


def notes_zip(*, aes: bool, read_only: bool) -> bytes:
    """Case notes encrypted, then a clear README added as `zip` adds it."""
    encrypted = protected_zip(PASSWORD, record_text(person(20240611)), aes=aes,
                              read_only=read_only, entry="notes.txt")
    buffer = io.BytesIO(encrypted)
    with zipfile.ZipFile(buffer, "a") as zf:
        info = zipfile.ZipInfo("README.txt", date_time=(2024, 6, 11, 9, 0, 0))
        info.create_system = 3
        info.external_attr = RO
        zf.writestr(info, README)
    return buffer.getvalue()


def message(data: bytes, *, to: str = ALLOWED, subject: str = f"{MARKING}: case notes",
            password_line: bool = False) -> bytes:
    mail = EmailMessage(policy=SMTP)
    mail["From"] = SENDER
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = f"<{os.urandom(8).hex()}@council.example>"
    body = "Please see the attached file.\n"
    if password_line:
        body += f"Password: {PASSWORD}\n"
    mail.set_content(body)
    mail.add_attachment(data, maintype="application", subtype="zip", filename="notes.zip")
    return mail.as_bytes(policy=SMTP)


async def send(port: int, raw: bytes, to: str) -> tuple[int, str]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    try:
        await client.sendmail(SENDER, [to], raw)
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


@pytest.mark.parametrize("mode", ["enforce", "protect"])
@pytest.mark.parametrize(
    ("aes", "read_only", "encryption", "codes"),
    [
        (False, False, "zipcrypto", ["weak_encryption", "not_read_only"]),
        (False, True, "zipcrypto", ["weak_encryption"]),
        (True, False, "aes-256", ["not_read_only"]),
    ],
    ids=["zipcrypto-editable", "zipcrypto-read-only", "aes-editable"],
)
async def test_weak_or_editable_entry_beside_a_clear_readme_is_refused(
    gateway_factory: Factory, sink: Any, mode: str, aes: bool, read_only: bool,
    encryption: str, codes: list[str],
) -> None:
    gw = await gateway_factory({"policy": {"mode": mode}})
    code, reply = await send(gw.port, message(notes_zip(aes=aes, read_only=read_only)), ALLOWED)
    assert code == 550, reply
    record = await only_record(gw)
    assert record["verdict"] == "reject"
    assert [r["code"] for r in record["reasons"]] == codes
    assert record["attachments"] == [{"filename": "notes.zip", "content_type": "application/zip",
                                      "encryption": encryption, "read_only": read_only}]
    (note,) = await sink.wait(1)  # the sender's notification, nothing to the recipient
    assert note.rcpt_tos == (SENDER,)


async def test_to_a_stranger_unmarked_every_rule_applies(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    raw = message(notes_zip(aes=False, read_only=False), to=STRANGER, subject="notes")
    code, reply = await send(gw.port, raw, STRANGER)
    assert code == 550, reply
    record = await only_record(gw)
    assert [r["code"] for r in record["reasons"]] == [
        "weak_encryption", "not_read_only", "missing_subject_marking", "recipient_not_allowed"
    ]
    (note,) = await sink.wait(1)
    assert note.rcpt_tos == (SENDER,)


async def test_aes_read_only_entry_beside_a_clear_readme_is_an_aes_zip(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    raw = message(notes_zip(aes=True, read_only=True), password_line=True)
    code, reply = await send(gw.port, raw, ALLOWED)
    assert code == 250, reply
    (got,) = await sink.wait(1)
    assert PASSWORD.encode() not in got.content
    record = await only_record(gw)
    assert record["verdict"] == "deliver"
    assert record["attachments"] == [{"filename": "notes.zip", "content_type": "application/zip",
                                      "encryption": "aes-256", "read_only": True}]
    assert "password held" in record["method"]
    assert "uk_nhs_number" in record["information_types"]


async def test_aes_read_only_entry_beside_a_clear_readme_still_needs_an_allowed_recipient(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    raw = message(notes_zip(aes=True, read_only=True), to=STRANGER)
    code, reply = await send(gw.port, raw, STRANGER)
    assert code == 550, reply
    record = await only_record(gw)
    assert [r["code"] for r in record["reasons"]] == ["recipient_not_allowed"]


@pytest.mark.parametrize("mode", ["enforce", "protect"])
async def test_personal_data_in_the_clear_sibling_never_leaves_in_clear(
    gateway_factory: Factory, sink: Any, mode: str
) -> None:
    """The AES entry is compliant, but the entry added beside it in clear
    holds an NHS number: refused in enforce; in protect the whole zip goes
    inside the gateway's own AES zip, so the number never travels readable."""
    nhs = "943 476 5919"
    buffer = io.BytesIO(notes_zip(aes=True, read_only=True))
    with zipfile.ZipFile(buffer, "a") as zf:
        info = zipfile.ZipInfo("summary.txt", date_time=(2024, 6, 11, 9, 0, 0))
        info.create_system, info.external_attr = 3, RO
        zf.writestr(info, f"Referral for Amelia Hartley, NHS number {nhs}.".encode())
    gw = await gateway_factory({"policy": {"mode": mode}})
    code, reply = await send(gw.port, message(buffer.getvalue(), password_line=True), ALLOWED)
    if mode == "enforce":
        assert code == 550, reply
        assert "unencrypted_attachment" in [r["code"] for r in (await only_record(gw))["reasons"]]
        return
    assert code == 250, reply
    (got,) = [m for m in await sink.wait(1) if m.rcpt_tos == (ALLOWED,)]
    delivered = email.message_from_bytes(got.content, policy=default)
    names = [part.get_filename() for part in delivered.iter_attachments()]
    assert names == [ZIP_NAME]  # notes.zip travels only inside the gateway's AES zip
    (outer,) = delivered.iter_attachments()
    with zipfile.ZipFile(io.BytesIO(outer.get_content())) as zf:
        assert all(info.flag_bits & 0x1 for info in zf.infolist())  # every entry encrypted
