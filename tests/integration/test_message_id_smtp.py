"""A password or personal data in the Message-ID, over real SMTP.

A program that builds the Message-ID from what it holds can put there the
password of the attachment ("<Kettle-Harbour-93@...>") or the person the
message is about ("<Jack.Wilson.DOB.14-06-2013@...>"): it travels to the
recipient with the message.  Either is refused (password_in_message,
personal_data_in_body), and the trail keeps the Message-ID with it
replaced: in the record's column and document, the auditors' view, the
export, and the sender's notification.  A mail program's own Message-ID
(random letters and digits, a forwarded message's shaped like a person's
address) is no reason to refuse anything."""

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
from faker import Faker
from fixtures_content import aes_zip
from policy_messages import ALLOWED, MARKING, SENDER, only_record
from sqlalchemy import select, text

from gateway.audit.query import AuditQuery
from gateway.db import audit_records

Factory = Callable[..., Awaitable[Any]]
PASSWORD = "Kettle-Harbour-93"
NOTES = b"Referral notes, NHS number 943 476 5919."
DOMAIN = "cases.council.example"


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", base64.b64encode(secrets.token_bytes(32)).decode())


def _child() -> tuple[str, str]:
    """A made-up child's name, as an identifier writes it, and date of birth."""
    fake = Faker("en_GB")
    fake.seed_instance(8098)
    name = f"{fake.first_name()}.{fake.last_name()}"
    return name, fake.date_of_birth(minimum_age=3, maximum_age=15).strftime("%d-%m-%Y")


def _message(message_id: str, body: str = "Please see the attached referral.\n",
             attachment: bool = True) -> bytes:
    mail = EmailMessage(policy=SMTP)
    mail["From"] = SENDER
    mail["To"] = ALLOWED
    mail["Subject"] = f"{MARKING}: referral"
    mail["Message-ID"] = message_id
    mail.set_content(body)
    if attachment:
        zipped = aes_zip(256, {"referral.txt": NOTES}, PASSWORD, read_only=True)
        mail.add_attachment(zipped, maintype="application", subtype="zip",
                            filename="referral.zip")
    return mail.as_bytes(policy=SMTP)


async def _send(port: int, raw: bytes) -> tuple[int, str]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    try:
        await client.sendmail(SENDER, [ALLOWED], raw)
        return 250, ""
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    finally:
        client.close()


async def _everything_kept(gw: Any) -> str:
    """The trail's text: the record's column and document, the auditors'
    view, the export (with the events), every row of the audit tables."""
    async with gw.engine.connect() as conn:
        kept = [str((await conn.execute(select(audit_records.c.message_id))).all())]
        kept.append(str((await conn.execute(text("SELECT * FROM audit_records_v"))).all()))
        kept.append(str((await conn.execute(text("SELECT * FROM audit_events_v"))).all()))
        for table in ("audit_records", "audit_events", "audit_record_terms"):
            kept.append(str((await conn.execute(text(f"SELECT * FROM {table}"))).all()))
    kept += [json.dumps(document, ensure_ascii=False)
             async for document in AuditQuery(gw.engine).export()]
    return "\n".join(kept)


@pytest.mark.parametrize(
    "body",
    ["Please see the attached referral.\n",
     f"Please see the attached referral.\nPassword: {PASSWORD}\n"],
    ids=["only-in-the-message-id", "also-stated-in-the-text"],
)
async def test_a_password_in_the_message_id_is_refused_and_never_kept(
    gateway_factory: Factory, sink: Any, body: str
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await _send(gw.port, _message(f"<{PASSWORD}@{DOMAIN}>", body))
    assert code == 550, reply
    record = await only_record(gw)
    assert [r["code"] for r in record["reasons"]] == ["password_in_message"]
    assert "Message-ID header" in record["reasons"][0]["text"]
    assert record["message_id"] == f"<[redacted]@{DOMAIN}>"
    assert PASSWORD not in await _everything_kept(gw)
    (note,) = await sink.wait(1)  # the sender's notification only: nothing went out
    assert note.rcpt_tos == (SENDER,)
    assert PASSWORD.encode() not in note.content
    assert b"[redacted]" not in note.content  # no In-Reply-To naming no message


async def test_personal_data_in_the_message_id_is_refused_and_never_kept(
    gateway_factory: Factory, sink: Any
) -> None:
    name, born = _child()
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await _send(
        gw.port, _message(f"<{name}.DOB.{born}@{DOMAIN}>", "Nothing personal here.\n",
                          attachment=False))
    assert code == 550, reply
    record = await only_record(gw)
    assert [r["code"] for r in record["reasons"]] == ["personal_data_in_body"]
    assert "Message-ID header" in record["reasons"][0]["text"]
    assert record["message_id"] == f"<[redacted]@{DOMAIN}>"
    kept = await _everything_kept(gw)
    for value in (name, born, name.split(".")[1]):
        assert value not in kept
    (note,) = await sink.wait(1)
    assert note.rcpt_tos == (SENDER,)
    assert born.encode() not in note.content and name.encode() not in note.content


@pytest.mark.parametrize(
    "message_id",
    [
        "<CAJ6q+Sarah.Jones7@mail.gmail.com>",  # a forwarded message's, like an address
        f"<{os.urandom(12).hex()}.{os.urandom(4).hex()}@{DOMAIN}>",
        "<1795992353.4857773457.JavaMail.app@nhs.example>",
    ],
    ids=["address-shaped", "random", "numbers"],
)
async def test_a_mail_programs_message_id_is_delivered_and_kept(
    gateway_factory: Factory, sink: Any, message_id: str
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    raw = _message(message_id, "Fire drill moved to Thursday.\n", attachment=False)
    code, reply = await _send(gw.port, raw)
    assert code == 250, reply
    (delivered,) = await sink.wait(1)
    assert f"Message-ID: {message_id}".encode() in delivered.content
    record = await only_record(gw)
    assert record["verdict"] == "deliver"
    assert record["message_id"] == message_id
