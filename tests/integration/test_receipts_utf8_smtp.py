"""Receipts with UTF-8 fields (RFC 6532/6533: what SMTPUTF8 systems write)
over real SMTP: each is recorded, and the sender's copy, when they get one,
is written and delivered; never 451 for ever.

The copy used to be written with the email package's SMTP policy, which
cannot write a non-ASCII field: the whole receipt failed with 451 on every
try and was never recorded (a failure report is copied to the sender by
default, so any German server's "Postfach voll – Jürgen" did it).
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import aiosmtplib
import pytest
from gwtest import SinkMessage, audit_events_of
from policy_messages import ALLOWED, SENDER, Spec, person
from unit.receipts.receipt_shapes import exchange_mdn, postfix_dsn

from gateway.queue import QueueState

Factory = Callable[..., Awaitable[Any]]


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY",
                       base64.b64encode(secrets.token_bytes(32)).decode())


CONFIG: dict[str, Any] = {
    "policy": {"mode": "enforce"},
    "passwords": {"release": "on-receipt"},
    "receipts": {"check_interval": "200ms"},
}


async def send(port: int, raw: bytes, rcpts: list[str], sender: str,
               rcpt_options: list[str] | None = None) -> tuple[int, str]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    try:
        await client.ehlo()
        await client.mail(sender)
        for rcpt in rcpts:
            await client.rcpt(rcpt, options=rcpt_options or [])
        response = await client.data(raw)
        return response.code, response.message
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    finally:
        client.close()


async def trail(gw: Any, record_id: str) -> list[tuple[str, dict[str, Any]]]:
    for _ in range(100):
        if not await gw.store.count([QueueState.QUEUED, QueueState.ACTIVE]):
            break
        await asyncio.sleep(0.05)
    return await audit_events_of(gw, record_id)


def report_fields(message: SinkMessage) -> bytes:
    """The copy's machine-readable report part, as written."""
    parsed = email.message_from_bytes(message.content, policy=email.policy.compat32)
    for part in parsed.walk():
        if part.get_content_type() == "message/delivery-status":
            return b"".join(p.as_bytes() for p in part.get_payload())
        if part.get_content_type() == "message/disposition-notification":
            return part.as_bytes()
    raise AssertionError("no report part")


def words(message: SinkMessage) -> str:
    parsed = email.message_from_bytes(message.content, policy=email.policy.default)
    return " ".join(p.get_content() for p in parsed.walk()
                    if p.get_content_type() == "text/plain")


async def test_a_failure_report_with_a_utf8_reply_is_recorded_and_copied(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(CONFIG)
    spec = Spec(person(6533))
    code, reply = await send(gw.port, spec.build(), spec.to, SENDER)
    assert code == 250, reply
    queue_id = reply.split()[-1]
    (copy,) = await sink.wait(1)
    dsn = postfix_dsn(to=copy.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0",
                      action="failed", status="5.2.2")
    dsn = dsn.replace(b"Recipient address rejected: User unknown",
                      "Postfach voll – Jürgen".encode()).replace(
        b"Reporting-MTA: dns; mx.recipient.example",
        "Reporting-MTA: dns; mx.çhildrens.example".encode())
    code, reply = await send(gw.port, dsn, [copy.mail_from], "")
    assert code == 250, reply
    forwarded = (await sink.wait(2))[1]
    assert forwarded.rcpt_tos == (SENDER,) and forwarded.mail_from == ""
    fields = report_fields(forwarded)
    assert b"Action: failed" in fields and fields.isascii()
    # The reply as the remote server wrote it, not a replacement a byte.
    assert b"Postfach voll \\x{2013} J\\x{FC}rgen" in fields
    assert "Postfach voll – Jürgen" in words(forwarded)
    assert "mx.çhildrens.example" in words(forwarded)
    failed = [d for t, d in await trail(gw, queue_id) if t == "delivery_failed"]
    assert failed and failed[0]["status"] == "5.2.2"


async def test_a_read_receipt_with_utf8_fields_releases_and_is_copied(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(CONFIG)
    spec = Spec(person(6532), headers=[("Disposition-Notification-To", SENDER)])
    code, reply = await send(gw.port, spec.build(), spec.to, SENDER,
                             rcpt_options=["NOTIFY=FAILURE"])
    assert code == 250, reply
    queue_id = reply.split()[-1]
    (copy,) = await sink.wait(1)
    to = copy.header("Disposition-Notification-To")
    assert to is not None
    mdn = exchange_mdn(to=to.strip("<>"), recipient=ALLOWED,
                       original_message_id=copy.header("Message-ID"))
    mdn = mdn.replace(b"Reporting-UA: EXCH01.recipient.example; Microsoft Exchange Server 2019",
                      "Reporting-UA: Zoë’s PC; Outlook".encode()).replace(
        b"MDN-sent-automatically; displayed",
        "MDN-sent-automatically; displayed\r\nX-Commentaire: lu par Zoë".encode())
    code, reply = await send(gw.port, mdn, [to.strip("<>")], "")
    assert code == 250, reply
    got = await sink.wait(3)
    (forwarded,) = [m for m in got[1:] if m.rcpt_tos == (SENDER,)]
    (password,) = [m for m in got[1:] if m.rcpt_tos == (ALLOWED,)]
    assert spec.password in words(password)
    assert report_fields(forwarded).isascii()
    types = [t for t, _ in await trail(gw, queue_id)]
    assert "read_confirmed" in types and "password_released" in types


async def test_a_utf8_final_recipient_is_audited_as_written(
    gateway_factory: Factory, sink: Any
) -> None:
    """Raw UTF-8 (SMTPUTF8) and RFC 6533's utf-8 type both: the trail had
    "zo\ufffd\ufffd.head@..." for the first and the escapes for the second."""
    gw = await gateway_factory(CONFIG)
    final = "zoë.head@recipient.example"
    for number, field in [(1, f"rfc822; {final}"), (2, "utf-8; zo\\x{EB}.head@recipient.example")]:
        spec = Spec(person(6500 + number))
        code, reply = await send(gw.port, spec.build(), spec.to, SENDER)
        assert code == 250, reply
        queue_id = reply.split()[-1]
        # Each relayed copy; the first's receipt releases a password too.
        (copy,) = [m for m in await sink.wait(2 * number - 1)
                   if m.mail_from.startswith(f"dsn+{queue_id}-")]
        dsn = postfix_dsn(to=copy.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0").replace(
            f"Final-Recipient: rfc822; {ALLOWED}".encode(),
            f"Final-Recipient: {field}".encode())
        code, reply = await send(gw.port, dsn, [copy.mail_from], "")
        assert code == 250, reply
        (detail,) = [d for t, d in await trail(gw, queue_id)
                     if t in ("delivery_confirmed", "receipt_other")]
        assert detail["final_recipient"] == final


async def test_a_global_delivery_report_releases_the_password(
    gateway_factory: Factory, sink: Any
) -> None:
    """RFC 6533's message/global-delivery-status, what Postfix sends about
    SMTPUTF8 mail: it was dropped as unreadable, and never released."""
    gw = await gateway_factory(CONFIG)
    spec = Spec(person(6534))
    code, reply = await send(gw.port, spec.build(), spec.to, SENDER)
    assert code == 250, reply
    queue_id = reply.split()[-1]
    (copy,) = await sink.wait(1)
    dsn = postfix_dsn(to=copy.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0",
                      original_message_id=copy.header("Message-ID"), smtputf8=True)
    code, reply = await send(gw.port, dsn, [copy.mail_from], "")
    assert code == 250, reply
    password = (await sink.wait(2))[1]
    assert password.rcpt_tos == (ALLOWED,) and spec.password in words(password)
    types = [t for t, _ in await trail(gw, queue_id)]
    assert "delivery_confirmed" in types and "password_released" in types
