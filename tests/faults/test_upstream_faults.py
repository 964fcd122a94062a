"""The upstream misbehaves: every 4xx is deferred and delivered later, once;
every 5xx bounces to the sender and is audited `delivery_failed`; a greeting
then silence, a reset in the middle of DATA and replies dripped one byte
every 100 ms lose nothing."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiosmtplib
import pytest
from faults_support import FaultProxy
from gwtest import Sink, event_types, make_message, wait_state

pytestmark = pytest.mark.faults

SENDER = "alice@sender.example"
RCPT = "bob@recipient.example"

TEMPORARY = [
    "421 4.3.2 shutting down",
    "451 4.3.0 local problem",
    "452 4.3.1 insufficient storage",
]
PERMANENT = [
    "550 5.1.1 no such mailbox",
    "552 5.3.4 message too big",
    "554 5.7.1 transaction failed",
]
STAGES = ["mail", "rcpt", "data"]


async def send(port: int, message: bytes, recipients: list[str] | None = None) -> str:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    await client.mail(SENDER)
    for rcpt in recipients or [RCPT]:
        await client.rcpt(rcpt)
    response = await client.data(message)
    await client.quit()
    assert response.code == 250, response
    return response.message.split()[-1]






def copies(sink: Sink, message_id: str, sender: str = SENDER) -> int:
    needle = f"Message-ID: <{message_id}>".encode()
    return sum(1 for m in sink.snapshot() if m.mail_from == sender and needle in m.content)


def _id() -> str:
    return f"{uuid.uuid4().hex}@sender.example"


TEMPORARY_AT = [(stage, reply) for stage in STAGES for reply in TEMPORARY] + [
    ("rcpt", "552 5.3.4 message too big")]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("stage", "reply"), TEMPORARY_AT,
                         ids=[f"{r[:3]}-{s}" for s, r in TEMPORARY_AT])
async def test_temporary_reply_defers_then_delivers_once(
    gateway_factory, sink, figures, stage, reply
):
    gw = await gateway_factory({"queue": {"retry": ["500ms"]}})
    # match on the recipient for RCPT/DATA, on the sender for MAIL
    sink.fail(stage, reply, match="alice" if stage == "mail" else "bob", times=2)
    message_id = _id()
    queue_id = await send(gw.port, make_message(message_id=f"<{message_id}>"))
    message = await wait_state(gw, queue_id, "delivered", "bounced")
    assert message.state == "delivered", message
    assert message.attempts == 3  # two temporary failures, then success
    await asyncio.sleep(0.5)  # a duplicate would show by now
    n = copies(sink, message_id)
    assert n == 1
    types = await event_types(gw, queue_id)
    assert types.count("relayed") == 1 and "delivery_failed" not in types
    assert not [m for m in sink.snapshot() if m.mail_from == ""], "no bounce for a 4xx"
    figures(tried=1, accepted=1, delivered=1, lost=0, duplicates=n - 1,
            note=f"{reply[:3]} at {stage} x2")


# A 552 to RCPT is read as 452 (RFC 5321 4.5.3.1.10: "too many recipients"
# in older servers), deferred, not bounced: with the temporary replies below.
PERMANENT_AT = [(stage, reply) for stage in STAGES for reply in PERMANENT
                if not (stage == "rcpt" and reply.startswith("552"))]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("stage", "reply"), PERMANENT_AT,
                         ids=[f"{r[:3]}-{s}" for s, r in PERMANENT_AT])
async def test_permanent_reply_bounces_to_sender_and_is_audited(
    gateway_factory, sink, figures, stage, reply
):
    gw = await gateway_factory()
    # For MAIL, match the real sender only: the bounce (MAIL FROM:<>) goes through.
    sink.fail(stage, reply, match="alice" if stage == "mail" else "bob")
    message_id = _id()
    queue_id = await send(gw.port, make_message(message_id=f"<{message_id}>"))
    message = await wait_state(gw, queue_id, "bounced", "delivered")
    assert message.state == "bounced"
    assert message.attempts == 1  # a 5xx is never retried
    (recipient,) = message.recipients
    assert recipient.state == "failed" and recipient.last_code == int(reply[:3])
    types = await event_types(gw, queue_id)
    assert "delivery_failed" in types and "relayed" not in types
    got = await sink.wait(1)
    bounces = [m for m in got if m.mail_from == ""]
    assert len(bounces) == 1 and bounces[0].rcpt_tos == (SENDER,)
    assert f"Final-Recipient: rfc822; {RCPT}".encode() in bounces[0].content
    assert f"Status: {reply.split()[1]}".encode() in bounces[0].content
    assert copies(sink, message_id) == 0
    figures(tried=1, accepted=1, delivered=0, lost=0, duplicates=0,
            note=f"{reply[:3]} at {stage}: bounced + delivery_failed")


@pytest.mark.timeout(60)
async def test_one_recipient_temporary_one_permanent(gateway_factory, sink, figures):
    gw = await gateway_factory({"queue": {"retry": ["500ms"]}})
    sink.fail("rcpt", "452 4.2.2 mailbox full", match="later@", times=1)
    sink.fail("rcpt", "550 5.1.1 no such mailbox", match="never@")
    message_id = _id()
    queue_id = await send(
        gw.port,
        make_message(message_id=f"<{message_id}>"),
        ["later@recipient.example", "never@recipient.example", RCPT],
    )
    message = await wait_state(gw, queue_id, "bounced", "delivered")
    assert message.state == "bounced"
    states = {r.address: r.state for r in message.recipients}
    assert states == {
        "later@recipient.example": "delivered",
        "never@recipient.example": "failed",
        RCPT: "delivered",
    }
    await asyncio.sleep(0.5)
    delivered = [m for m in sink.snapshot() if m.mail_from == SENDER]
    assert sorted(r for m in delivered for r in m.rcpt_tos) == sorted(
        ["later@recipient.example", RCPT]
    )  # each recipient exactly once
    bounces = [m for m in sink.snapshot() if m.mail_from == ""]
    assert len(bounces) == 1 and b"never@recipient.example" in bounces[0].content
    figures(tried=1, accepted=1, delivered=1, lost=0, duplicates=0,
            note="3 rcpts: 452 once / 550 / ok")


# --------------------------------------------------------------------------
# connection-level faults, through the FaultProxy


async def _through_proxy(gateway_factory, proxy: FaultProxy, timeout: str = "2s"):
    return await gateway_factory(
        {
            "upstream": {"port": proxy.port, "timeout": timeout},
            "queue": {"retry": ["500ms"]},
        }
    )


@pytest.mark.timeout(90)
async def test_greeting_then_hang_defers_then_delivers(
    gateway_factory, sink, fault_proxy, figures
):
    fault_proxy.then("greet_hang", times=2)
    gw = await _through_proxy(gateway_factory, fault_proxy)
    ids = [_id() for _ in range(3)]
    queue_ids = [await send(gw.port, make_message(message_id=f"<{i}>")) for i in ids]
    for queue_id in queue_ids:
        await wait_state(gw, queue_id, "delivered", timeout=60)
    await asyncio.sleep(0.5)
    counts = [copies(sink, i) for i in ids]
    assert fault_proxy.connections["greet_hang"] == 2
    assert counts == [1, 1, 1]
    figures(tried=3, accepted=3, delivered=3, lost=0, duplicates=0,
            note="220 then silence on 2 connections")


@pytest.mark.timeout(90)
async def test_reset_mid_data_defers_then_delivers(gateway_factory, sink, fault_proxy, figures):
    fault_proxy.then("reset_data", times=2)
    gw = await _through_proxy(gateway_factory, fault_proxy)
    ids = [_id() for _ in range(3)]
    body = "line of text for a message reset in the middle of DATA\r\n" * 2000
    queue_ids = [
        await send(gw.port, make_message(message_id=f"<{i}>", body=body)) for i in ids
    ]
    for queue_id in queue_ids:
        message = await wait_state(gw, queue_id, "delivered", timeout=60)
        assert message.recipients[0].state == "delivered"
    await asyncio.sleep(0.5)
    counts = [copies(sink, i) for i in ids]
    assert fault_proxy.connections["reset_data"] >= 2
    assert counts == [1, 1, 1]
    for m in sink.snapshot():  # nothing truncated was stored upstream
        assert m.content.endswith(b"in the middle of DATA\r\n")
    figures(tried=3, accepted=3, delivered=3, lost=0, duplicates=0,
            note="RST after the first DATA block, twice")


@pytest.mark.timeout(150)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # slow: once is enough
async def test_slow_drip_replies_within_timeout_are_delivered(
    gateway_factory, sink, fault_proxy, figures
):
    """Each reply arrives one byte every 100 ms; a 20 s per-command timeout
    is enough for every reply (EHLO's ~150 bytes take ~15 s)."""
    fault_proxy.then("drip")
    gw = await _through_proxy(gateway_factory, fault_proxy, timeout="20s")
    message_id = _id()
    started = time.monotonic()
    queue_id = await send(gw.port, make_message(message_id=f"<{message_id}>"))
    message = await wait_state(gw, queue_id, "delivered", "deferred", "bounced", timeout=120)
    assert message.state == "delivered", message
    took = time.monotonic() - started
    assert copies(sink, message_id) == 1
    figures(tried=1, accepted=1, delivered=1, lost=0, duplicates=0,
            note=f"1 byte/100 ms, delivered in {took:.0f}s")


@pytest.mark.timeout(150)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # slow: once is enough
async def test_slow_drip_beyond_timeout_defers_then_delivers(
    gateway_factory, sink, fault_proxy, figures
):
    """With a 1 s timeout the dripped greeting times out: deferred, then
    delivered once the upstream answers at normal speed."""
    fault_proxy.then("drip", times=2)
    gw = await _through_proxy(gateway_factory, fault_proxy, timeout="1s")
    ids = [_id() for _ in range(2)]
    queue_ids = [await send(gw.port, make_message(message_id=f"<{i}>")) for i in ids]
    for queue_id in queue_ids:
        message = await wait_state(gw, queue_id, "delivered", timeout=90)
        assert message.attempts >= 2
    await asyncio.sleep(0.5)
    counts = [copies(sink, i) for i in ids]
    dup = sum(c - 1 for c in counts if c > 1)
    assert all(c >= 1 for c in counts)
    assert dup == 0, counts
    figures(tried=2, accepted=2, delivered=2, lost=0, duplicates=dup,
            note="drip timed out, retried at normal speed")
