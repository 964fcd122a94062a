"""The receipt timeout's notice over real SMTP names what did come back.

A recipient's mail system reported the message delivered to, and opened
at, a personal mailbox outside the allow-list (an automatic forward); the
notice at the sink said "No delivery or read receipt has come back" of
them, and suggested having the password emailed on.  A deletion unread, a
delay and a report without the token were hidden the same way.

The timeout is the desk's own round (`tick`) run as if its time had come,
so the receipts cannot race the sweep on a busy machine.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiosmtplib
import pytest
from gwtest import SinkMessage, audit_events_of
from policy_messages import ALLOWED, SENDER, Spec, person
from unit.receipts.receipt_shapes import exchange_mdn, postfix_dsn

from gateway.queue import QueueState

DOMAIN = "receipts.gateway.example.org"
SECOND = "second@recipient.example"
HOME = "duty.home@gmail.example"  # not on the test allow-list

Factory = Callable[..., Awaitable[Any]]


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY",
                       base64.b64encode(secrets.token_bytes(32)).decode())


def settings(**receipts: str) -> dict[str, Any]:
    # The sweep never runs by itself: the test runs it once, as if late.
    return {"policy": {"mode": "enforce"}, "passwords": {"release": "on-receipt"},
            "receipts": {"timeout": "1h", "check_interval": "1h", **receipts}}


async def send(port: int, raw: bytes, rcpts: list[str], sender: str = SENDER) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    try:
        errors, reply = await client.sendmail(sender, rcpts, raw)
        assert not errors, reply
    finally:
        client.close()


async def settled_events(gw: Any, queue_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The record's events once nothing is queued or on the wire."""
    for _ in range(100):
        if not await gw.store.count([QueueState.QUEUED, QueueState.ACTIVE]):
            break
        await asyncio.sleep(0.05)
    return await audit_events_of(gw, queue_id)


async def relay(gw: Any, sink: Any, spec: Spec) -> tuple[str, list[SinkMessage]]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gw.port, timeout=30)
    await client.connect()
    try:
        _, reply = await client.sendmail(SENDER, spec.to, spec.build())
    finally:
        client.close()
    queue_id = reply.split()[-1]
    got = await sink.wait(len(spec.to))
    # A report before the relay is recorded is answered 451: wait for it.
    assert "relayed" in [t for t, _ in await settled_events(gw, queue_id)]
    return queue_id, got


def copy_for(messages: list[SinkMessage], rcpt: str) -> SinkMessage:
    (found,) = [m for m in messages if m.rcpt_tos == (rcpt,)]
    return found


def mdn_address(copy: SinkMessage) -> str:
    value = copy.header("Disposition-Notification-To")
    assert value is not None
    return value.strip("<>")


async def timeout_notice(gw: Any, sink: Any, count: int) -> str:
    """Run the desk's round as if the timeout had passed; the notice's words."""
    _, timed_out = await gw.desk.tick(time.time() + 2 * 3600)
    assert timed_out
    notice = (await sink.wait(count, timeout=10))[count - 1]
    assert notice.rcpt_tos == (SENDER,) and notice.mail_from == ""
    parsed = email.message_from_bytes(notice.content, policy=email.policy.default)
    assert "no receipt yet" in str(parsed["Subject"])
    return str(parsed.get_content())  # type: ignore[attr-defined]


def words(text: str) -> str:
    return " ".join(text.split())


def notes(text: str) -> dict[str, list[str]]:
    """What the notice says under each recipient's line, by address."""
    out: dict[str, list[str]] = {}
    who = ""
    for line in text.splitlines():
        if line.startswith("    - "):
            out[who].append(line[6:])
        elif line.startswith("  ") and ": " in line:
            who = line.strip().split(": ")[0]
            out[who] = []
    return out


async def test_a_forward_outside_is_named_in_the_timeout_notice(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(settings())
    spec = Spec(person(31))
    queue_id, got = await relay(gw, sink, spec)
    copy = got[0]
    # The recipient's system auto-forwards: delivered to, and read at, HOME.
    await send(gw.port, postfix_dsn(to=copy.mail_from, recipient=HOME,
                                    orcpt=f"rfc822;{ALLOWED}", envid=f"{queue_id}-0"),
               [copy.mail_from], sender="")
    await send(gw.port, exchange_mdn(to=mdn_address(copy), recipient=HOME,
                                     original_message_id=copy.header("Message-ID")),
               [mdn_address(copy)], sender="")

    notice = await timeout_notice(gw, sink, 2)
    text = words(notice)
    assert notes(notice)[ALLOWED] == [
        f"their mail system reported that it was forwarded to {HOME}, a mailbox outside "
        "the organisations you may share with, and opened there."]
    assert "No delivery or read receipt has come back" not in text
    assert (f"it was forwarded to {HOME}, a mailbox outside the organisations you may "
            "share with, and opened there") in text
    assert "tell your data protection officer" in text
    assert f"Do not have the password emailed to {ALLOWED}" in text
    assert spec.password not in text

    trail = await settled_events(gw, queue_id)
    (timeout,) = [d for t, d in trail if t == "receipt_timeout"]
    assert timeout["came_back"] == ["forwarded_outside"]
    assert HOME not in str(timeout)  # the address stays in the receipt's own events
    assert "password_released" not in [t for t, _ in trail]


async def test_a_deletion_a_delay_and_an_unverified_report_are_named(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(settings(release_on="read"))
    spec = Spec(person(32), to=[ALLOWED, SECOND])
    queue_id, got = await relay(gw, sink, spec)
    first, second = copy_for(got, ALLOWED), copy_for(got, SECOND)
    # The first deleted it unread; the second's delivery was delayed, and
    # someone wrote a report without its token saying it was delivered.
    await send(gw.port, exchange_mdn(to=mdn_address(first), recipient=ALLOWED,
                                     original_message_id=first.header("Message-ID"),
                                     disposition="deleted"),
               [mdn_address(first)], sender="")
    await send(gw.port, postfix_dsn(to=second.mail_from, recipient=SECOND, action="delayed",
                                    status="4.4.1", envid=f"{queue_id}-1"),
               [second.mail_from], sender="")
    postmaster = f"postmaster@{DOMAIN}"
    await send(gw.port, postfix_dsn(to=postmaster, recipient=SECOND, envid=f"{queue_id}-1",
                                    message_id="<forged@elsewhere.example>"),
               [postmaster], sender="")

    notice = await timeout_notice(gw, sink, 3)
    assert "No delivery or read receipt has come back" not in words(notice)
    said = notes(notice)
    assert said[ALLOWED] == ["they deleted it without reading it."]
    delayed, unverified = said[SECOND]
    assert delayed.startswith("their mail system reported that delivery was delayed "
                              "(last report on ")
    assert unverified == ("a report came that the gateway could not verify, saying it was "
                          "delivered; it does not count as a receipt.")
    assert "data protection officer" not in notice

    timeouts = {d["recipient"]: d["came_back"]
                for t, d in await settled_events(gw, queue_id) if t == "receipt_timeout"}
    assert timeouts == {ALLOWED: ["deleted_unread"], SECOND: ["delayed", "unverified"]}
