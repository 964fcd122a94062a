"""What a mail administrator sees of a session: the client's address and the
AUTH user name in the log lines a fail2ban rule or an incident review reads,
AUTH guesses cut off after `max_auth_failures`, one 421 (not two) when the
gateway stops during DATA, and HELO/EHLO's 501 with its enhanced code.

A bare `GatewaySMTP` listener on a real socket, with a password check, TLS
(AUTH is only offered after STARTTLS) and a shutting-down switch.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from gwtest import SmtpConn
from structlog.testing import capture_logs

from gateway.model import Envelope
from gateway.receive import replies
from gateway.receive.data import MessageContent
from gateway.receive.server import GatewaySMTP, ListenerConfig, start_listener

pytestmark = pytest.mark.timeout(30)

USER, PASSWORD = "scanner", "correct horse battery"


@dataclass
class Session:
    """One listener: its port, its sessions, and the switch `stop` flips."""

    port: int
    protocols: list[GatewaySMTP] = field(default_factory=list)
    shutting_down: bool = False


Listen = Callable[..., Awaitable[Session]]


@pytest.fixture
async def listen(tls_files: Any) -> AsyncIterator[Listen]:
    servers: list[asyncio.Server] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls_files.cert_file), str(tls_files.key_file))

    async def make(
        acceptor: Callable[[Envelope, MessageContent, object], Awaitable[str]] | None = None,
        **config: Any,
    ) -> Session:
        settings: dict[str, Any] = {
            "hostname": "gw.test.example",
            "trusted_networks": [ipaddress.ip_network("10.0.0.0/8")],  # not the test's client
            "max_message_size": 10_000,
            "max_recipients": 10,
            "idle_timeout": 10.0,
            "tls_context": context,
            **config,
        }
        listener_config = ListenerConfig(**settings)
        session = Session(0)

        async def captured(envelope: Envelope, content: MessageContent, ahead: object = None
                           ) -> str:
            return "250 2.0.0 captured"

        def protocol() -> GatewaySMTP:
            smtp = GatewaySMTP(listener_config, acceptor or captured,
                               lambda: session.shutting_down,
                               lambda login, password: (login, password) == (USER, PASSWORD))
            session.protocols.append(smtp)
            return smtp

        srv = await start_listener("127.0.0.1", 0, protocol)
        servers.append(srv)
        session.port = int(srv.sockets[0].getsockname()[1])
        return session

    yield make
    for srv in servers:
        srv.close()
        await srv.wait_closed()


async def tls_session(port: int, ca_file: Any) -> SmtpConn:
    conn = await SmtpConn.open(port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    assert (await conn.cmd("STARTTLS"))[0] == 220
    await conn.writer.start_tls(ssl.create_default_context(cafile=str(ca_file)),
                                server_hostname="gw.test.example")
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    return conn


def plain(login: str, password: str) -> str:
    return "AUTH PLAIN " + base64.b64encode(f"\0{login}\0{password}".encode()).decode()


async def test_relay_denied_names_the_client_and_its_helo(listen: Listen) -> None:
    session = await listen()
    conn = await SmtpConn.open(session.port)
    with capture_logs() as logs:
        assert (await conn.cmd("EHLO client.example"))[0] == 250
        assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
        assert (await conn.cmd("RCPT TO:<bob@recipient.example>"))[0] == 550
    local_port = conn.writer.get_extra_info("sockname")[1]
    await conn.close()
    (denied,) = [e for e in logs if e["event"] == "relay_denied"]
    assert denied["client"] == "127.0.0.1"
    assert denied["client_port"] == local_port
    assert denied["helo"] == "client.example"
    assert "bob@recipient.example" not in repr(logs)  # an address in the mail: never logged


async def test_auth_checked_names_the_user_and_client_never_the_password(
    listen: Listen, tls_files: Any
) -> None:
    session = await listen()
    conn = await tls_session(session.port, tls_files.ca_file)
    with capture_logs() as logs:
        assert (await conn.cmd(plain(USER, "wrong guess")))[0] == 535
        assert (await conn.cmd(plain(USER, PASSWORD)))[0] == 235
    await conn.close()
    checked = [e for e in logs if e["event"] == "auth_checked"]
    assert [(e["success"], e["user"], e["client"]) for e in checked] == [
        (False, USER, "127.0.0.1"), (True, USER, "127.0.0.1")]
    assert "wrong guess" not in repr(logs) and PASSWORD not in repr(logs)


async def test_auth_guesses_end_the_session_after_max_auth_failures(
    listen: Listen, tls_files: Any
) -> None:
    session = await listen(max_auth_failures=3)
    conn = await tls_session(session.port, tls_files.ca_file)
    with capture_logs() as logs:
        assert (await conn.cmd(plain(USER, "guess 1")))[0] == 535
        assert (await conn.cmd(plain("admin", "guess 2")))[0] == 535
        assert await conn.cmd(plain(USER, "guess 3")) == (
            421, "4.7.0 Error: too many authentication failures")
        assert await conn.reader.read() == b""  # closed: no fourth guess
    conn.writer.close()
    (cut,) = [e for e in logs if e["event"] == "auth_failures_exceeded"]
    assert (cut["client"], cut["failures"], cut["log_level"]) == ("127.0.0.1", 3, "warning")


async def test_a_successful_auth_leaves_the_failure_count_alone(
    listen: Listen, tls_files: Any
) -> None:
    """Failures count per session: two, then the right password, works."""
    session = await listen(max_auth_failures=3)
    conn = await tls_session(session.port, tls_files.ca_file)
    assert (await conn.cmd(plain(USER, "guess 1")))[0] == 535
    assert (await conn.cmd(plain(USER, "guess 2")))[0] == 535
    assert (await conn.cmd(plain(USER, PASSWORD)))[0] == 235
    assert (await conn.cmd("NOOP"))[0] == 250
    await conn.close()


async def test_auth_logs_no_deprecation_warning(
    listen: Listen, tls_files: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """aiosmtpd's AUTH sets the deprecated Session.login_data, which logged
    a plain-text warning line in the JSON log at every first AUTH."""
    session = await listen()
    conn = await tls_session(session.port, tls_files.ca_file)
    with caplog.at_level(logging.WARNING, logger="mail.log"):
        assert (await conn.cmd(plain(USER, PASSWORD)))[0] == 235
    await conn.close()
    assert not [r for r in caplog.records if "login_data" in r.getMessage()]


async def test_stopping_during_data_answers_one_421(listen: Listen) -> None:
    """The gateway stops while a message arrives: the acceptor answers 421
    (app.Gateway.accept), then the stop tells every session 421
    (`shut_down`).  The client got both, two replies to one command."""
    session: Session

    async def stopping(envelope: Envelope, content: MessageContent, ahead: object = None) -> str:
        session.shutting_down = True
        return replies.S421_SHUTTING_DOWN

    session = await listen(acceptor=stopping, trusted_networks=[
        ipaddress.ip_network("127.0.0.0/8")])
    conn = await SmtpConn.open(session.port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
    assert (await conn.cmd("RCPT TO:<bob@recipient.example>"))[0] == 250
    assert (await conn.cmd("DATA"))[0] == 354
    await conn.send(b"Subject: half\r\n\r\nhello\r\n")
    assert await conn.cmd(".") == (421, "4.3.2 Service shutting down, try again later")
    for smtp in session.protocols:  # as Gateway.stop does once DATA is over
        smtp.shut_down()
    assert await asyncio.wait_for(conn.reader.read(), 10) == b""
    conn.writer.close()


@pytest.mark.parametrize("command", ["HELO", "EHLO"])
async def test_helo_without_a_name_has_an_enhanced_code(listen: Listen, command: str) -> None:
    session = await listen()
    conn = await SmtpConn.open(session.port)
    assert await conn.cmd(command) == (501, f"5.5.4 Syntax: {command} hostname")
    await conn.close()
