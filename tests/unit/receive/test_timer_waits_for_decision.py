"""The session timer never cuts a message being decided.

A decision that kept the event loop busy longer than the session's
allowance (a bomb inspected on the loop, a slow commit) used to meet the
timer when the loop came back: 421 4.4.2 went out for a message that was
queued already, and the client sent it again.  The timer that fires
while the acceptor works now waits for its answer.  Here the timer is
made to fire (its callback run as the loop would run it late) while the
acceptor is at work.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import pytest
from gwtest import SmtpConn, dot_stuff, make_message

from gateway.model import Envelope
from gateway.receive.server import GatewaySMTP, ListenerConfig, start_listener

pytestmark = pytest.mark.timeout(30)


class SlowAcceptor:
    """Answers 250 once `go` is set; `started` is set when it begins."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.go = asyncio.Event()

    async def __call__(self, envelope: Envelope, content: Any, ahead: object = None) -> str:
        self.started.set()
        await self.go.wait()
        return "250 2.0.0 queued as TESTID"


@pytest.fixture
async def session() -> AsyncIterator[tuple[int, SlowAcceptor, list[GatewaySMTP]]]:
    acceptor = SlowAcceptor()
    sessions: list[GatewaySMTP] = []
    config = ListenerConfig(
        hostname="gw.test.example", trusted_networks=[ipaddress.ip_network("127.0.0.0/8")],
        max_message_size=100_000, max_recipients=10, idle_timeout=5.0, data_timeout=20.0)

    def make() -> GatewaySMTP:
        smtp = GatewaySMTP(config, acceptor, lambda: False)
        sessions.append(smtp)
        return smtp

    srv = await start_listener("127.0.0.1", 0, make)
    yield int(srv.sockets[0].getsockname()[1]), acceptor, sessions
    srv.close()
    await srv.wait_closed()


async def test_a_timer_that_fires_while_deciding_waits_for_the_answer(session) -> None:
    port, acceptor, sessions = session
    conn = await SmtpConn.open(port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
    assert (await conn.cmd("RCPT TO:<bob@recipient.example>"))[0] == 250
    assert (await conn.cmd("DATA"))[0] == 354
    await conn.send(dot_stuff(make_message()) + b".\r\n")
    await acceptor.started.wait()
    (smtp,) = sessions
    smtp._timeout_cb()  # the timer, late, while the message is decided
    acceptor.go.set()
    assert await conn.reply() == (250, "2.0.0 queued as TESTID")  # not 421
    assert await conn.cmd("NOOP") == (250, "2.0.0 OK")  # the session goes on
    await conn.close()


async def test_a_timer_between_commands_still_says_421_and_closes(session) -> None:
    port, _, sessions = session
    conn = await SmtpConn.open(port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    (smtp,) = sessions
    smtp._timeout_cb()
    code, _ = await conn.reply()
    assert code == 421
    await conn.close()
