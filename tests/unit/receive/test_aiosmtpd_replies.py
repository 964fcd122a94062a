"""aiosmtpd's own bare replies never reach the client (see GatewaySMTP.push).

A bare `GatewaySMTP` listener on a real socket.  The walk through every
command is tests/integration/test_reply_codes.py; here the corners that
need the listener's insides: a failure inside the failure handler, and the
gates that `require_auth` puts before HELP and VRFY.
"""

from __future__ import annotations

import pytest
from gwtest import SmtpConn
from receive_listener import Listener

from gateway.receive.server import GatewaySMTP

pytestmark = pytest.mark.timeout(30)


async def test_a_failing_failure_handler_still_answers_451_without_detail(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_noop(self: GatewaySMTP, arg: str | None) -> None:
        raise RuntimeError("secret detail of the first failure")

    async def broken_handler(self: GatewaySMTP, error: Exception) -> str:
        raise ValueError("secret detail of the second failure")

    monkeypatch.setattr(GatewaySMTP, "smtp_NOOP", broken_noop)
    monkeypatch.setattr(GatewaySMTP, "handle_exception", broken_handler)
    port, captured = await listener()
    conn = await SmtpConn.open(port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    assert await conn.cmd("NOOP") == (451, "4.3.0 Temporary local problem, try again later")
    assert await conn.cmd("RSET") == (250, "2.0.0 OK")  # the session goes on
    await conn.close()
    assert captured.failures == [None]  # counted, as the gateway's other 451s are


async def test_a_command_that_fails_answers_451_and_is_counted(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`handle_exception`'s 451 goes to the composition root (`failed`),
    which counts it under `gateway_messages_refused{stage="error"}`: an
    alert on that rate sees a failing command as it sees a failing DATA."""
    async def broken_rcpt(self: GatewaySMTP, arg: str) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(GatewaySMTP, "smtp_RCPT", broken_rcpt)
    port, captured = await listener()
    conn = await SmtpConn.open(port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
    assert await conn.cmd("RCPT TO:<bob@recipient.example>") == (
        451, "4.3.0 Temporary local problem, try again later")
    assert await conn.cmd("RSET") == (250, "2.0.0 OK")
    await conn.close()
    assert captured.failures == [None]


async def test_require_auth_gates_help_and_vrfy_with_an_enhanced_code(
    listener: Listener,
) -> None:
    port, _ = await listener(require_auth=True)
    conn = await SmtpConn.open(port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    for command in ("HELP", "VRFY bob@recipient.example"):
        assert await conn.cmd(command) == (530, "5.7.0 Authentication required")
    assert await conn.cmd("NOOP") == (250, "2.0.0 OK")
    await conn.close()
