"""Hostile SMTP clients: smuggling (the published smtpsmug cases, each with
a pipelined second message), open-relay attempts, oversize input and slow
clients.  Each gets a clear reply or is cut off; nothing smuggled or relayed
is ever delivered; the gateway answers the next connection afterwards."""

from __future__ import annotations

import asyncio
import time

import pytest
from gwtest import SmtpConn, dot_stuff, make_message
from hostile_support import ehlo, send_data, still_serves
from sqlalchemy import func, select

from gateway.db import queue_messages

# The listener is database-agnostic: SQLite only, to keep `make test` fast.
pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]

HEAD = (
    b"From: alice@sender.example\r\nTo: bob@recipient.example\r\n"
    b"Subject: first\r\nMessage-ID: <first@sender.example>\r\n\r\nhello"
)
SMUGGLED = (
    b"MAIL FROM:<ceo@sender.example>\r\n"
    b"RCPT TO:<victim@recipient.example>\r\n"
    b"DATA\r\n"
    b"From: ceo@sender.example\r\nSubject: SMUGGLED\r\n\r\nwire the money\r\n"
)
# The end-of-data sequences of SEC Consult's smtpsmug tool, and the ones
# other receivers were found to accept.
SEQUENCES = {
    "LF.LF": b"\n.\n",
    "LF.CRLF": b"\n.\r\n",
    "CR.CRLF": b"\r.\r\n",
    "CRLF.CR": b"\r\n.\r",
    "CR.CR": b"\r.\r",
    "CRLF-NUL.CRLF": b"\r\n\x00.\r\n",
    "CRLF.LF": b"\r\n.\n",
    "LF.CR": b"\n.\r",
    "CRLF.NUL-CRLF": b"\r\n.\x00\r\n",
}
SECOND = make_message(subject="second, pipelined", message_id="<second@sender.example>")


async def _queue_rows(gateway) -> int:
    async with gateway.engine.connect() as db:
        return int((await db.execute(select(func.count()).select_from(queue_messages))).scalar())


@pytest.mark.parametrize("split", [False, True], ids=["one-write", "split-at-sequence"])
@pytest.mark.parametrize("sequence", list(SEQUENCES.values()), ids=list(SEQUENCES))
async def test_smuggling_sequence_then_pipelined_second_message(
    gateway, sink, sequence, split
):
    conn = await ehlo(gateway.port)
    await conn.send(b"MAIL FROM:<alice@sender.example>\r\nRCPT TO:<bob@recipient.example>\r\n"
                    b"DATA\r\n")
    assert [(await conn.reply())[0] for _ in range(3)] == [250, 250, 354]
    # Everything in one go, as smtpsmug does: message, fake terminator,
    # smuggled transaction, real terminator, then a pipelined MAIL/RCPT/DATA.
    payload = HEAD + sequence + SMUGGLED + b"\r\n.\r\n"
    pipelined = b"MAIL FROM:<alice@sender.example>\r\nRCPT TO:<bob@recipient.example>\r\nDATA\r\n"
    if split:  # the sequence straddles two TCP segments
        cut = len(HEAD) + 1
        await conn.send(payload[:cut])
        await asyncio.sleep(0.05)
        await conn.send(payload[cut:] + pipelined)
    else:
        await conn.send(payload + pipelined)
    code, text = await conn.reply()
    assert (code, text.split()[0]) == (550, "5.5.2"), text
    # the pipelined commands are answered as commands, not taken as data
    assert [(await conn.reply())[0] for _ in range(3)] == [250, 250, 354]
    await conn.send(dot_stuff(SECOND) + b".\r\n")
    code, text = await conn.reply()
    assert code == 250, text
    await conn.close()

    (got,) = await sink.wait(1)
    assert got.content.endswith(SECOND)
    await asyncio.sleep(0.3)
    assert len(sink.snapshot()) == 1
    assert all(b"SMUGGLED" not in m.content and m.rcpt_tos == ("bob@recipient.example",)
               for m in sink.snapshot())
    assert await _queue_rows(gateway) == 1


async def test_smuggled_commands_are_never_executed_even_with_valid_final_dot(gateway, sink):
    """`\\n.\\r\\n` right at the start of the data (a zero-length first message)."""
    code, text = await send_data(gateway.port, b"\n.\r\n" + SMUGGLED + b"\r\n")
    assert (code, text.split()[0]) == (550, "5.5.2"), text
    await still_serves(gateway, sink)
    assert all(b"SMUGGLED" not in m.content for m in sink.snapshot())


# --------------------------------------------------------------------------
# open relay


RELAY_TRICKS = [
    "victim%evil.example@gw.test.example",  # %-hack
    "@gw.test.example:victim@evil.example",  # source route
    "@a.example,@b.example:victim@evil.example",
    '"victim@evil.example"@gw.test.example',  # quoted local part
    '"victim%evil.example"@recipient.example',
    "victim@[127.0.0.1]",
    "victim@[IPv6:::1]",
    "victim!evil.example@recipient.example",  # bang path
    "victim@evil.example@recipient.example",
]


@pytest.mark.parametrize("address", RELAY_TRICKS)
async def test_untrusted_peer_cannot_relay_with_tricks(gateway_factory, sink, address):
    gw = await gateway_factory({"server": {"trusted_networks": ["192.0.2.0/24"]}})
    conn = await ehlo(gw.port)
    assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
    for target in (address, "bob@recipient.example", "victim@evil.example"):
        code, text = await conn.cmd(f"RCPT TO:<{target}>")
        assert 500 <= code < 600, (target, code, text)
    assert (await conn.cmd("DATA"))[0] == 503
    await conn.close()
    assert await sink.stays_empty(0.3)
    assert await _queue_rows(gw) == 0


@pytest.mark.parametrize("address", RELAY_TRICKS)
async def test_trusted_peer_tricky_addresses_are_refused(gateway, sink, address):
    """Even from a trusted network a routing trick is refused, never re-routed."""
    conn = await ehlo(gateway.port)
    assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
    code, text = await conn.cmd(f"RCPT TO:<{address}>")
    assert code in (501, 553), text
    assert (await conn.cmd("DATA"))[0] == 503
    await conn.close()
    await still_serves(gateway, sink)
    assert len(sink.snapshot()) == 1


# --------------------------------------------------------------------------
# oversize


async def test_oversize_declared_and_actual_and_long_lines(gateway, sink):
    conn = await ehlo(gateway.port)
    code, text = await conn.cmd("MAIL FROM:<alice@sender.example> SIZE=999999999999")
    assert (code, text.split()[0]) == (552, "5.3.4")
    # a command line far over the limit
    code, text = await conn.cmd(b"NOOP " + b"x" * 100_000)
    assert 500 <= code < 600, text
    await conn.close()
    # a body over max_message_size (1 MB in the test config)
    code, text = await send_data(gateway.port, make_message(body=("z" * 998 + "\r\n") * 1500))
    assert (code, text.split()[0]) == (552, "5.3.4")
    # one 3 MB line without any CR or LF
    code, text = await send_data(gateway.port, b"Subject: x\r\n\r\n" + b"q" * 3_000_000 + b"\r\n")
    assert (code, text.split()[0]) == (552, "5.3.4")
    await still_serves(gateway, sink)
    assert len(sink.snapshot()) == 1


async def test_too_many_recipients_gets_452(gateway, sink):
    conn = await ehlo(gateway.port)
    await conn.cmd("MAIL FROM:<alice@sender.example>")
    codes = [(await conn.cmd(f"RCPT TO:<r{n}@recipient.example>"))[0] for n in range(50)]
    assert codes[:10] == [250] * 10 and set(codes[10:]) == {452}
    await conn.close()
    await still_serves(gateway, sink)


async def test_bogus_command_flood_is_cut_off(gateway, sink):
    conn = await ehlo(gateway.port)
    closed = False
    for _ in range(200):
        try:
            code, text = await conn.cmd("XYZZY")
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            closed = True
            break
        assert code >= 500
        if "too many" in text.lower():
            # Told so, then the connection is gone: the next command finds it closed.
            with pytest.raises((ConnectionError, OSError, asyncio.IncompleteReadError)):
                await conn.cmd("NOOP")
            closed = True
            break
        # Each unknown command is answered as Postfix answers it, client's text not echoed.
        assert (code, text) == (502, "5.5.2 Error: command not recognized")
    assert closed, "200 unknown commands and still talking"
    await conn.close()
    await still_serves(gateway, sink)


# --------------------------------------------------------------------------
# slow and silent clients (idle timeout 2 s)


async def _closed_within(conn: SmtpConn, seconds: float) -> float:
    """Seconds until the server closed the connection (fails if it did not)."""
    started = time.monotonic()
    try:
        while True:
            data = await asyncio.wait_for(conn.reader.read(4096), seconds)
            if not data:
                return time.monotonic() - started
    except (ConnectionError, OSError):
        return time.monotonic() - started
    except TimeoutError as exc:
        raise AssertionError(f"still connected after {seconds}s") from exc


async def test_silent_client_is_disconnected(gateway_factory, sink):
    gw = await gateway_factory({"server": {"idle_timeout": "2s"}})
    conn = await SmtpConn.open(gw.port)
    assert conn.banner[0] == 220
    took = await _closed_within(conn, 10)
    assert took < 6
    conn.writer.close()
    await still_serves(gw, sink)


async def _drip(conn: SmtpConn, data: bytes, interval: float, budget: float) -> float:
    """Send one byte every `interval` s; seconds until the server cut us off."""
    started = time.monotonic()
    for byte in data:
        try:
            conn.writer.write(bytes([byte]))
            await conn.writer.drain()
        except (ConnectionError, OSError):
            return time.monotonic() - started
        if conn.reader.at_eof():
            return time.monotonic() - started
        await asyncio.sleep(interval)
        if time.monotonic() - started > budget:
            break
    return await _closed_within(conn, 5) + (time.monotonic() - started)


async def test_slowloris_command_one_byte_per_second_is_cut_off(gateway_factory, sink):
    gw = await gateway_factory({"server": {"idle_timeout": "2s"}})
    conn = await SmtpConn.open(gw.port)
    took = await _drip(conn, b"EHLO slowloris.example.org.and.then.some.more\r\n", 1.0, 15)
    assert took < 8, f"a client sending 1 byte/s was served for {took:.1f}s"
    conn.writer.close()
    await still_serves(gw, sink)


async def test_slowloris_in_data_is_cut_off_and_nothing_queued(gateway_factory, sink):
    gw = await gateway_factory({"server": {"idle_timeout": "2s"}})
    conn = await ehlo(gw.port)
    await conn.cmd("MAIL FROM:<alice@sender.example>")
    await conn.cmd("RCPT TO:<bob@recipient.example>")
    assert (await conn.cmd("DATA"))[0] == 354
    took = await _drip(conn, make_message() + b".\r\n", 1.0, 15)
    assert took < 8, f"a DATA dribble of 1 byte/s was served for {took:.1f}s"
    conn.writer.close()
    assert await _queue_rows(gw) == 0
    await still_serves(gw, sink)


async def test_many_silent_connections_do_not_block_service(gateway_factory, sink):
    gw = await gateway_factory({"server": {"idle_timeout": "2s"}})
    idle = [await SmtpConn.open(gw.port) for _ in range(100)]
    await still_serves(gw, sink)  # served while 100 connections sit idle
    took = await asyncio.gather(*[_closed_within(c, 10) for c in idle])
    assert max(took) < 6
    for c in idle:
        c.writer.close()
