"""A spool that fails while DATA streams in (its disk full, its folder
gone) never desynchronises SMTP: the reading goes on to the real
terminator, the answer is one 451 4.3.0, nothing of the body is taken as a
command or logged, and the session goes on with the next transaction.

The full disk is simulated under the real `DataCollector` (`full_spool`):
its spool file is a real buffered file whose raw writes fail with ENOSPC
past `room` bytes, so a write that fills the buffer fails, and so does the
close that flushes what is left in it.  (A collector that let its close's
second ENOSPC out of `feed` left the rest of DATA to be read as commands: a
body of dot-stuffed `MAIL FROM`/`RCPT TO`/`DATA` lines was queued, from a
forged sender to any recipient.)
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any, BinaryIO

import pytest
from gwtest import SmtpConn, dot_stuff, full_spool, make_message
from receive_listener import Captured
from structlog.testing import capture_logs

import gateway.receive.data as data_module
from gateway.receive import replies
from gateway.receive.data import SPOOL_THRESHOLD, DataCollector, read_data
from gateway.receive.server import GatewaySMTP, ListenerConfig, start_listener

pytestmark = pytest.mark.timeout(120)


# -- the collector ----------------------------------------------------------------


@pytest.mark.parametrize("room", [0, 100, 5000])
def test_a_full_spool_never_raises_out_of_feed_and_close(
    monkeypatch: pytest.MonkeyPatch, room: int
):
    made = full_spool(monkeypatch, room)
    collector = DataCollector(max_size=1 << 20, spool_threshold=64)
    # Line by line, as read_data feeds a body of dot-stuffed lines.
    for n in range(2000):
        collector.feed(b"line %d of the report\r\n" % n)
    assert isinstance(collector.error, OSError) and collector.error.errno == errno.ENOSPC
    assert collector.size == sum(len(b"line %d of the report\r\n" % n) for n in range(2000))
    assert not collector.bare_line_ending
    assert collector.result() is None
    collector.close()
    assert [file.closed for file in made] == [True]


def test_a_flush_that_fails_at_the_end_is_no_result(monkeypatch: pytest.MonkeyPatch):
    """The last bytes wait in the file's buffer: the flush in result() is
    where the disk is found full."""
    made = full_spool(monkeypatch, 5)
    collector = DataCollector(max_size=1 << 20, spool_threshold=10)
    collector.feed(b"0123456789\r\n")
    assert collector.error is None
    assert collector.result() is None
    assert isinstance(collector.error, OSError) and collector.error.errno == errno.ENOSPC
    collector.close()
    assert made[0].closed


def test_any_failure_while_keeping_is_an_error_not_an_exception(
    monkeypatch: pytest.MonkeyPatch,
):
    def broken(dir: str | None = None) -> BinaryIO:
        raise RuntimeError("not a disk problem")

    monkeypatch.setattr(data_module, "tempfile", SimpleNamespace(TemporaryFile=broken))
    collector = DataCollector(max_size=1 << 20, spool_threshold=4)
    collector.feed(b"ab\r\n")
    collector.feed(b"cd\r\n")
    assert isinstance(collector.error, RuntimeError)
    assert collector.result() is None
    collector.close()


async def test_a_failing_settle_is_an_error_not_an_exception(monkeypatch: pytest.MonkeyPatch):
    def broken(content: bytes) -> bool:
        raise MemoryError

    monkeypatch.setattr(data_module, "line_endings_clean_unlocked", broken)
    reader = asyncio.StreamReader(limit=64 * 1024)
    reader.feed_data(b"x" * (data_module.UNLOCKED_FROM + 10) + b"\r\n.\r\nNOOP\r\n")
    collector = DataCollector(max_size=1 << 22, spool_threshold=1 << 22)
    await read_data(reader, collector, 64 * 1024, lambda: None)
    assert isinstance(collector.error, MemoryError)
    assert collector.result() is None
    assert await reader.read(6) == b"NOOP\r\n"  # read to the terminator, not past it


# -- over a real socket, at the real spool threshold --------------------------------

SMUGGLED = (
    b"RSET\r\n"
    b"MAIL FROM:<forged@evil.example>\r\n"
    b"RCPT TO:<smuggled@victim.example>\r\n"
    b"DATA\r\n"
    b"From: forged@evil.example\r\nTo: smuggled@victim.example\r\nSubject: SMUGGLED\r\n\r\n"
    b"smuggled body\r\n"
)


def smuggling_body(size: int, dot_lines: bool) -> bytes:
    """About `size` bytes of content repeating SMTP commands; with
    `dot_lines`, a line starting with a dot before each (stuffed on the
    wire, so the reader feeds the collector a line at a time there)."""
    block = (b".x\r\n" if dot_lines else b"x\r\n") + SMUGGLED
    return make_message(subject="monthly figures", body="") + block * (size // len(block))


Opened = Callable[..., Awaitable[tuple[int, Captured, list[None]]]]


@pytest.fixture
async def listener_counting(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Opened]:
    """A listener with the real chunk size and spool threshold; the 451s it
    gives itself counted (`failed`)."""
    servers: list[asyncio.Server] = []

    async def make(**config: Any) -> tuple[int, Captured, list[None]]:
        captured = Captured()
        failures: list[None] = []
        listen_config = ListenerConfig(
            hostname="gw.test.example",
            trusted_networks=[ipaddress.ip_network("127.0.0.0/8")],
            max_message_size=8_000_000, max_recipients=10, idle_timeout=30.0,
            data_timeout=60.0, **config,
        )
        srv = await start_listener("127.0.0.1", 0, lambda: GatewaySMTP(
            listen_config, captured, lambda: False, failed=lambda: failures.append(None)))
        servers.append(srv)
        return int(srv.sockets[0].getsockname()[1]), captured, failures

    yield make
    for srv in servers:
        srv.close()
        await srv.wait_closed()


async def transaction(conn: SmtpConn, recipient: str, content: bytes) -> tuple[int, str]:
    assert await conn.cmd("MAIL FROM:<alice@sender.example>") == (250, "2.1.0 Sender OK")
    assert (await conn.cmd(f"RCPT TO:<{recipient}>"))[0] == 250
    assert (await conn.cmd("DATA"))[0] == 354
    await conn.send(dot_stuff(content) + b".\r\n")
    return await conn.reply(timeout=60)


async def replies_until_closed(conn: SmtpConn) -> list[tuple[int, str]]:
    """QUIT, then every reply the server still sends before it closes."""
    await conn.send(b"QUIT\r\n")
    answered = []
    while True:
        try:
            answered.append(await conn.reply(timeout=30))
        except ConnectionError:
            return answered


@pytest.mark.parametrize("dot_lines", [True, False])
@pytest.mark.parametrize("room", [0, SPOOL_THRESHOLD + 200_000])
async def test_a_spool_that_fills_mid_data_is_one_451_and_nothing_is_smuggled(
    listener_counting: Opened, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    tmp_path: Any, dot_lines: bool, room: int,
):
    """room 0: the first write to the spool (the megabyte held in memory)
    fails; past the threshold: the disk fills while the rest streams in."""
    full_spool(monkeypatch, room)
    port, captured, failures = await listener_counting(spool_dir=str(tmp_path))
    caplog.set_level(logging.INFO)
    conn = await SmtpConn.open(port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    with capture_logs() as logs:
        code, text = await transaction(
            conn, "bob@recipient.example", smuggling_body(1_700_000, dot_lines))
    assert f"{code} {text}" == replies.S451_INTERNAL
    assert failures == [None]
    # The session goes on, and nothing of the body was ever a command: the
    # next transaction is answered as sent, then QUIT and nothing else.
    second = make_message(subject="second")
    assert await transaction(conn, "carol@recipient.example", second) == (
        250, "2.0.0 captured")
    assert await replies_until_closed(conn) == [(221, "2.0.0 Bye")]
    ((envelope, content, _),) = captured.messages
    assert envelope.mail_from == "alice@sender.example"
    assert envelope.rcpt_tos == ("carol@recipient.example",) and content == second
    # The failure is logged naming the spool and what went wrong; nothing of
    # the body is logged, anywhere.
    (failure,) = [entry for entry in logs if entry["event"] == "data_spool_failed"]
    assert failure["reason"] == os.strerror(errno.ENOSPC)
    assert failure["spool_dir"] == str(tmp_path)
    assert not [entry for entry in logs if entry["event"] == "smtp_command_failed"]
    logged = repr(logs) + caplog.text
    for word in ("forged", "smuggled", "SMUGGLED", "unrecognised", "monthly figures"):
        assert word not in logged


async def test_a_spool_folder_that_is_gone_is_451_and_the_session_goes_on(
    listener_counting: Opened, tmp_path: Any,
):
    gone = tmp_path / "gone"
    port, captured, failures = await listener_counting(spool_dir=str(gone))
    conn = await SmtpConn.open(port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    with capture_logs() as logs:
        code, text = await transaction(
            conn, "bob@recipient.example", smuggling_body(SPOOL_THRESHOLD + 5000, True))
    assert f"{code} {text}" == replies.S451_INTERNAL
    assert failures == [None]
    (failure,) = [entry for entry in logs if entry["event"] == "data_spool_failed"]
    assert failure["error"] == "FileNotFoundError" and failure["spool_dir"] == str(gone)
    assert await transaction(conn, "carol@recipient.example", make_message()) == (
        250, "2.0.0 captured")
    assert await replies_until_closed(conn) == [(221, "2.0.0 Bye")]
    assert len(captured.messages) == 1

