"""A compliant message whose text is in UTF-16 or UTF-32, over real SMTP.

Outlook and some case-management systems write a body in UTF-16.  The
gateway rewrites the text (the handling notice, a password line taken out)
and writes it back in UTF-8, so the message is delivered (250), the notice
readable; it used to be answered 451 for ever, since the stdlib cannot
write such a part as 7bit text.
"""

from __future__ import annotations

import base64
import email
import json
import secrets
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTP, default
from typing import Any, cast

import pytest
from gwtest import strip_received
from policy_messages import ALLOWED, MARKING, SENDER, person, protected_zip, record_text, send
from sqlalchemy import select

from gateway.db import audit_records

Factory = Callable[..., Awaitable[Any]]
PASSWORD = "Tangerine-Lamp-42"


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", base64.b64encode(secrets.token_bytes(32)).decode())


def wide_message(charset: str, body: str) -> bytes:
    mail = MIMEMultipart()
    mail["From"] = SENDER
    mail["To"] = ALLOWED
    mail["Subject"] = f"{MARKING}: referral"
    mail["Message-ID"] = f"<{secrets.token_hex(8)}@council.example>"
    mail.attach(MIMEText(body, "plain", charset))
    attachment = MIMEApplication(protected_zip(PASSWORD, record_text(person(20240720))), "zip")
    attachment.add_header("Content-Disposition", "attachment", filename="referral.zip")
    mail.attach(attachment)
    return mail.as_bytes(policy=SMTP)


def delivered_body(content: bytes) -> str:
    message = cast(EmailMessage, email.message_from_bytes(strip_received(content)[1],
                                                          policy=default))
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


@pytest.mark.parametrize("mode", ["enforce", "protect"])
@pytest.mark.parametrize("charset", ["utf-16", "utf-32"])
async def test_a_wide_charset_body_is_delivered_with_its_notice(
    gateway_factory: Factory, sink: Any, mode: str, charset: str
) -> None:
    gw = await gateway_factory({"policy": {"mode": mode}})
    body = ("Hello,\nThe referral is attached; I will phone you with the password.\n"
            "Purpose: child protection referral\nThanks\n")
    code, reply = await send(gw.port, wide_message(charset, body))
    assert code == 250, reply
    (got,) = await sink.wait(1)
    text = delivered_body(got.content)
    assert "I will phone you with the password." in text
    assert "Purpose: child protection referral" not in text  # taken out: the text was rewritten


@pytest.mark.parametrize("charset", ["utf-16", "utf-32"])
async def test_a_password_in_a_wide_charset_body_is_taken_out_and_held(
    gateway_factory: Factory, sink: Any, charset: str
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    body = f"Hello,\nPurpose: child protection referral\nPassword: {PASSWORD}\nThanks\n"
    code, reply = await send(gw.port, wide_message(charset, body))
    assert code == 250, reply
    (got,) = await sink.wait(1)
    assert PASSWORD not in delivered_body(got.content)
    assert PASSWORD.encode(charset)[4:] not in got.content
    async with gw.engine.connect() as conn:
        (document,) = [json.loads(r[0]) for r in await conn.execute(
            select(audit_records.c.document))]
    assert "password held" in document["method"]
