"""Inspection's bounds over real SMTP: a small zip of digit text, and a
message whose text is past `[server] max_inspected_text`.

The zip (a few kilobytes of mail, megabytes of digit groups once expanded)
was inspected on the event loop with no deadline on detection: for minutes
no other session was answered, and then it was judged on what it held.  It
is now inspected in a thread, under the inspection's deadline, while other
sessions are served, and refused as content that could not be checked.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading
import zipfile
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

import aiosmtplib
import pytest
from policy_messages import ALLOWED, MARKING, SENDER
from sqlalchemy import select

from gateway.db import audit_records

Factory = Callable[..., Awaitable[Any]]


def mail(subject: str, body: str, attachment: tuple[str, bytes] | None = None) -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = SENDER
    message["To"] = ALLOWED
    message["Subject"] = subject
    message["Message-ID"] = f"<{os.urandom(8).hex()}@council.example>"
    message.set_content(body)
    if attachment is not None:
        name, data = attachment
        message.add_attachment(data, maintype="application", subtype="zip", filename=name)
    return message.as_bytes(policy=SMTP)


def digits_zip(members: int) -> bytes:
    member = (b"0123456789 " * 100_000)[: 1024 * 1024 - 1]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for n in range(members):
            zf.writestr(f"f{n}.txt", member)
    return buffer.getvalue()


async def send(port: int, raw: bytes) -> tuple[int, str]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=120)
    await client.connect()
    try:
        await client.sendmail(SENDER, [ALLOWED], raw)
        return 250, ""
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    finally:
        client.close()


async def reasons_recorded(gw: Any) -> list[list[str]]:
    async with gw.engine.connect() as conn:
        rows = await conn.execute(select(audit_records.c.document))
        documents = [json.loads(r[0]) for r in rows]
    return sorted([r["code"] for r in d["reasons"]] for d in documents)


async def test_a_zip_of_digits_is_refused_while_other_mail_is_answered(
    gateway_factory: Factory, sink: Any
) -> None:
    # The inspection's deadline is three quarters of inspect_timeout (6 s);
    # detection would read the three megabytes of digit groups for far longer.
    gw = await gateway_factory({"policy": {"mode": "enforce"},
                                "server": {"inspect_timeout": "8s"}})
    bomb_raw = mail(f"{MARKING}: figures", "Figures attached.", ("figures.zip", digits_zip(3)))
    assert len(bomb_raw) < 64 * 1024
    bomb = asyncio.ensure_future(send(gw.port, bomb_raw))
    # Until the gateway has the bomb's DATA (its inspection has begun).
    while not gw.metrics.registry.get_sample_value("gateway_messages_received_total"):
        assert not bomb.done(), bomb.result()
        await asyncio.sleep(0.01)

    code, reply = await send(gw.port, mail("Lunch", "Lunch is moved to one o'clock."))
    assert code == 250, reply
    assert not bomb.done(), "the other session waited for the bomb's inspection"

    code, reply = await bomb
    assert code == 550, reply
    assert "5.7.1" in reply or "checked" in reply
    assert await reasons_recorded(gw) == [[], ["uninspectable_content"]]
    delivered = await sink.wait(2)  # the lunch message, and the sender's notice
    notice = next(m for m in delivered if m.rcpt_tos == (SENDER,))
    assert b"too long" in notice.content.replace(b"=\r\n", b"")


async def test_text_past_the_message_budget_is_refused_at_once(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"},
                                "server": {"max_inspected_text": 100_000}})
    rows = "".join(f"INV-{n:06d},widgets,{n % 97},12.50\n" for n in range(6_000))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("invoices.csv", rows)
    code, reply = await send(gw.port, mail(f"{MARKING}: invoices", "Invoices attached.",
                                           ("invoices.zip", buffer.getvalue())))
    assert code == 550, reply
    assert await reasons_recorded(gw) == [["uninspectable_content"]]
    (notice,) = await sink.wait(1)
    assert notice.rcpt_tos == (SENDER,)
    text = notice.content.replace(b"=\r\n", b"")
    assert b"more text than the gateway can check" in text
    assert b"split it" in text


async def test_a_turn_stays_taken_while_its_inspection_runs_past_the_timeout(
    gateway_factory: Factory, sink: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread cannot be stopped: when `inspect_timeout` answers 451 and the
    inspection still runs (a fault here: it is held), the message's turn
    stays taken, so a retry waits rather than starting another inspection
    beside it (six of them filled the thread pool and clean mail hung)."""
    gw = await gateway_factory({"policy": {"mode": "enforce"},
                                "server": {"inspect_timeout": "2s",
                                           "large_message_concurrency": 1,
                                           "max_message_size": 4 * 1024 * 1024}})
    held = threading.Event()
    run = gw.pipeline.run

    def stuck_once(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(gw.pipeline, "run", run)
        held.wait(60)
        return run(*args, **kwargs)

    monkeypatch.setattr(gw.pipeline, "run", stuck_once)
    large = mail("Minutes", "The minutes of the meeting follow.\n" * 40_000)
    assert len(large) > 1024 * 1024  # spooled: inspected in its turn
    try:
        code, reply = await send(gw.port, large)
        assert code == 451, reply
        code, reply = await send(gw.port, large)
        assert code == 451, reply  # its turn is still taken by the first
    finally:
        held.set()
    for _ in range(100):  # the turn comes back once the thread ends
        code, reply = await send(gw.port, large)
        if code == 250:
            break
        await asyncio.sleep(0.1)
    assert code == 250, reply
