"""Receipts with no report part, over real SMTP: client -> gateway -> sink,
and back to the recipient's receipt address.

An out-of-office reply quoting a subject with a bounce's words in it, and
an old Exim's plain-text delay warning, leave the recipient's password
held (no `delivery_failed`, no `password_destroyed`, no "failed" report to
the sender); the delivery report after the delay still releases it.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import aiosmtplib
import pytest
from gwtest import SinkMessage, audit_events_of
from policy_messages import ALLOWED, MARKING, SENDER, Spec, person
from sqlalchemy import select
from structlog.testing import capture_logs
from unit.receipts.receipt_shapes import exim_delay_warning, out_of_office, postfix_dsn

from gateway.passwords import held_passwords
from gateway.queue import QueueState

KEY = base64.b64encode(secrets.token_bytes(32)).decode()

Factory = Callable[..., Awaitable[Any]]


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", KEY)
    return KEY


CONFIG: dict[str, Any] = {
    "policy": {"mode": "enforce"},
    "passwords": {"release": "on-receipt"},
    "receipts": {"check_interval": "200ms"},
}


async def send(port: int, raw: bytes, rcpts: list[str], sender: str) -> tuple[int, str]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    try:
        errors, reply = await client.sendmail(sender, rcpts, raw)
        assert not errors
        return 250, reply
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    finally:
        client.close()


async def sent_out(gw: Any, sink: Any, spec: Spec) -> tuple[str, SinkMessage]:
    code, reply = await send(gw.port, spec.build(), spec.to, SENDER)
    assert code == 250, reply
    (copy,) = await sink.wait(1)
    return reply.split()[-1], copy


async def settled_events(gw: Any, record_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The record's events once nothing the gateway made is still on the wire."""
    for _ in range(100):
        if not await gw.store.count([QueueState.QUEUED, QueueState.ACTIVE]):
            break
        await asyncio.sleep(0.05)
    return await audit_events_of(gw, record_id)


async def password_state(gw: Any, queue_id: str) -> str:
    async with gw.engine.connect() as conn:
        (state,) = (await conn.execute(
            select(held_passwords.c.state).where(held_passwords.c.queue_id == queue_id)
        )).scalars().all()
    return str(state)


async def test_an_out_of_office_reply_keeps_the_password_held(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(CONFIG)
    spec = Spec(person(31), subject=f"{MARKING}: Undelivered medication")
    queue_id, copy = await sent_out(gw, sink, spec)
    reply = out_of_office(to=copy.mail_from, recipient=ALLOWED,
                          original_message_id=copy.header("Message-ID"),
                          subject=f"Out of Office: {MARKING}: Undelivered medication")
    with capture_logs() as logs:
        code, _ = await send(gw.port, reply, [copy.mail_from], sender="")
    assert code == 250  # taken, so the recipient's system does not retry it
    assert await sink.stays_empty(0.8, after=1)  # no "failed" report to the sender
    types = [t for t, _ in await settled_events(gw, queue_id)]
    assert not {"delivery_failed", "password_destroyed", "receipt_other"} & set(types)
    assert await password_state(gw, queue_id) == "held"
    assert [e["reason"] for e in logs if e["event"] == "receipt_dropped"] == ["auto_reply"]
    # The recipient's genuine delivery report still releases it.
    dsn = postfix_dsn(to=copy.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0",
                      original_message_id=copy.header("Message-ID"))
    assert (await send(gw.port, dsn, [copy.mail_from], sender=""))[0] == 250
    got = await sink.wait(2)
    assert got[1].rcpt_tos == (ALLOWED,) and got[1].mail_from == ""


async def test_a_plain_text_delay_warning_is_a_delay_and_keeps_the_password(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(CONFIG)
    spec = Spec(person(32))
    queue_id, copy = await sent_out(gw, sink, spec)
    warning = exim_delay_warning(to=copy.mail_from, recipient=ALLOWED)
    assert (await send(gw.port, warning, [copy.mail_from], sender=""))[0] == 250
    assert await sink.stays_empty(0.8, after=1)
    trail = await settled_events(gw, queue_id)
    delayed = [d for t, d in trail if t == "delivery_delayed"]
    assert [(d["outcome"], d["status"], d["standard"]) for d in delayed] == [
        ("delayed", "4.0.0", False)]
    assert not {"delivery_failed", "password_destroyed"} & {t for t, _ in trail}
    assert await password_state(gw, queue_id) == "held"
    dsn = postfix_dsn(to=copy.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0",
                      original_message_id=copy.header("Message-ID"))
    assert (await send(gw.port, dsn, [copy.mail_from], sender=""))[0] == 250
    got = await sink.wait(2)
    assert got[1].rcpt_tos == (ALLOWED,) and spec.password in got[1].content.decode()
