"""Replies to pipelined commands go out together (RFC 2920), and a reply is
never held while the client still has to send something.

A bare `GatewaySMTP` listener on a real socket; the server's writes are
counted by recording every `StreamWriter.write` that starts with a reply
code (the test client's own writes are commands).
"""

from __future__ import annotations

import asyncio

import pytest
from gwtest import SmtpConn, make_message
from receive_listener import Listener

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def server_writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    writes: list[bytes] = []
    original = asyncio.StreamWriter.write

    def write(self: asyncio.StreamWriter, data: bytes | bytearray | memoryview) -> None:
        chunk = bytes(data)
        if chunk[:1].isdigit():
            writes.append(chunk)
        original(self, data)

    monkeypatch.setattr(asyncio.StreamWriter, "write", write)
    return writes


async def read_replies(conn: SmtpConn, count: int) -> list[int]:
    return [(await conn.reply())[0] for _ in range(count)]


async def test_pipelined_transaction_is_answered_in_one_write(
    listener: Listener, server_writes: list[bytes]
):
    port, captured = await listener()
    conn = await SmtpConn.open(port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    server_writes.clear()
    await conn.send(
        b"MAIL FROM:<alice@sender.example>\r\n"
        b"RCPT TO:<bob@recipient.example>\r\n"
        b"RCPT TO:<bad@@recipient.example>\r\n"
        b"RCPT TO:<carol@recipient.example>\r\n"
        b"DATA\r\n"
    )
    assert await read_replies(conn, 5) == [250, 250, 553, 250, 354]
    # Every command was in the server's buffer before the first was answered.
    assert len(server_writes) == 1
    assert [line[:3] for line in server_writes[0].split(b"\r\n") if line] == [
        b"250", b"250", b"553", b"250", b"354"]
    assert (await conn.cmd(make_message() + b"\r\n."))[0] == 250
    assert captured.messages[0][0].rcpt_tos == ("bob@recipient.example", "carol@recipient.example")
    await conn.close()


async def test_multi_line_ehlo_reply_is_one_write(listener: Listener, server_writes: list[bytes]):
    port, _ = await listener()
    conn = await SmtpConn.open(port)
    server_writes.clear()
    code, text = await conn.cmd("EHLO client.example")
    assert code == 250 and "PIPELINING" in text and "DSN" in text
    assert len(server_writes) == 1 and server_writes[0].count(b"\r\n") >= 6
    await conn.close()


async def test_reply_is_not_held_for_a_command_still_on_its_way(listener: Listener):
    """MAIL's reply must go out although more bytes follow it: they are not
    yet a whole command, and the client may wait for the reply to send the rest."""
    port, captured = await listener()
    conn = await SmtpConn.open(port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    await conn.send(b"MAIL FROM:<alice@sender.example>\r\nRCPT TO:<bob@rec")
    assert (await conn.reply(timeout=5))[0] == 250
    await conn.send(b"ipient.example>\r\n")
    assert (await conn.reply(timeout=5))[0] == 250
    assert (await conn.cmd("DATA"))[0] == 354
    assert (await conn.cmd(make_message() + b"\r\n."))[0] == 250
    assert len(captured.messages) == 1
    await conn.close()


async def test_quit_after_pipelined_commands_flushes_every_reply(listener: Listener):
    port, _ = await listener()
    conn = await SmtpConn.open(port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    await conn.send(b"NOOP\r\nRSET\r\nMAIL FROM:<alice@sender.example>\r\nQUIT\r\n")
    assert await read_replies(conn, 4) == [250, 250, 250, 221]
    await conn.close()


async def test_answer_to_data_goes_out_with_the_next_pipelined_reply(
    listener: Listener, server_writes: list[bytes]
):
    port, captured = await listener()
    conn = await SmtpConn.open(port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    for command in ("MAIL FROM:<alice@sender.example>", "RCPT TO:<bob@recipient.example>"):
        assert (await conn.cmd(command))[0] == 250
    assert (await conn.cmd("DATA"))[0] == 354
    server_writes.clear()
    await conn.send(make_message() + b"\r\n.\r\nMAIL FROM:<alice@sender.example>\r\nRSET\r\n")
    assert await read_replies(conn, 3) == [250, 250, 250]
    assert len(captured.messages) == 1
    assert len(server_writes) <= 2  # answer + MAIL held together, RSET's last
    await conn.close()
