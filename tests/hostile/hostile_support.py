"""Helpers for the hostile-input suite (imported as `hostile_support`)."""

from __future__ import annotations

import asyncio
import time

import aiosmtplib
from gwtest import SmtpConn, make_message, strip_received

MARKER_SUBJECT = "marker after hostile input"


async def ehlo(port: int) -> SmtpConn:
    conn = await SmtpConn.open(port)
    code, _ = await conn.cmd("EHLO client.example")
    assert code == 250
    return conn


async def still_serves(gateway, sink, timeout: float = 20) -> None:
    """The gateway answers a fresh connection and relays an ordinary message."""
    marker = make_message(subject=MARKER_SUBJECT)
    await aiosmtplib.send(
        marker, sender="alice@sender.example", recipients=["bob@recipient.example"],
        hostname="127.0.0.1", port=gateway.port, timeout=30,
    )
    deadline = time.monotonic() + timeout
    while not any(
        m.content.startswith(b"Received:") and strip_received(m.content)[1] == marker
        for m in sink.snapshot()
    ):
        assert time.monotonic() < deadline, "the marker message was not relayed"
        await asyncio.sleep(0.02)


async def send_data(port: int, data: bytes, rcpt: str = "bob@recipient.example",
                    timeout: float = 60) -> tuple[int, str]:
    """One transaction with raw DATA bytes (terminator added); the final reply."""
    conn = await ehlo(port)
    try:
        assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
        assert (await conn.cmd(f"RCPT TO:<{rcpt}>"))[0] == 250
        assert (await conn.cmd("DATA"))[0] == 354
        await conn.send(data + b".\r\n")
        return await conn.reply(timeout)
    finally:
        await conn.close()
