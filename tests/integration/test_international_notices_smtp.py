"""Mail the gateway writes itself (a refusal's notice, a password email)
reaches an internationalised address (RFC 6531): the sender who wrote
from `jörg@...`, the recipient `zoë@...` on the allow-list.  Without
SMTPUTF8 on its envelope the address could not even be written, and the
notice was deferred until it expired: nobody told."""

from __future__ import annotations

import base64
import email
import email.policy
import secrets
from typing import Any

import aiosmtplib
import pytest
from policy_messages import Spec, person

from gateway.policy.notify import NOTIFICATION_SUBJECT

SENDER = "jörg.müller@council.example"
RECIPIENT = "zoë@recipient.example"  # @recipient.example is on the test allow-list


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", base64.b64encode(secrets.token_bytes(32)).decode())


async def send(port: int, raw: bytes, to: list[str]) -> tuple[int, str]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    await client.connect()
    try:
        await client.mail(SENDER, options=["SMTPUTF8"], encoding="utf-8")
        for rcpt in to:
            await client.rcpt(rcpt, encoding="utf-8")
        response = await client.data(raw)
        return response.code, response.message
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    finally:
        client.close()


async def test_a_refusal_notice_reaches_an_internationalised_sender(
    gateway_factory: Any, sink: Any
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    # Not on the allow-list: refused, and the sender is told why.
    code, _ = await send(gw.port, Spec(person(31), to=["someone@elsewhere.example"]).build(),
                         ["someone@elsewhere.example"])
    assert code == 550
    (notice,) = await sink.wait(1)
    assert notice.rcpt_tos == (SENDER,) and notice.mail_from == "" and notice.smtputf8
    parsed = email.message_from_bytes(notice.content, policy=email.policy.default)
    assert str(parsed["Subject"]) == NOTIFICATION_SUBJECT and str(parsed["To"]) == SENDER


async def test_a_password_goes_to_an_internationalised_recipient_on_receipt(
    gateway_factory: Any, sink: Any
) -> None:
    from unit.receipts.receipt_shapes import postfix_dsn

    gw = await gateway_factory({"policy": {"mode": "enforce"},
                                "passwords": {"release": "on-receipt"}})
    spec = Spec(person(32), to=[RECIPIENT])
    code, reply = await send(gw.port, spec.build(), [RECIPIENT])
    assert code == 250, reply
    queue_id = reply.split()[-1]
    (copy,) = await sink.wait(1)
    receipt = postfix_dsn(to=copy.mail_from, recipient=RECIPIENT, envid=f"{queue_id}-0")
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gw.port)
    await client.connect()
    await client.sendmail("", [copy.mail_from], receipt)
    client.close()
    got = await sink.wait(2)
    password_mail = got[1]
    assert password_mail.rcpt_tos == (RECIPIENT,) and password_mail.smtputf8
    assert spec.password in password_mail.content.decode("utf-8", "replace")
