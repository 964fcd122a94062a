"""Every reply carries an RFC 3463 enhanced status code, as Postfix's do.

The gateway advertises ENHANCEDSTATUSCODES, so RFC 2034 holds it to a code
in every 2xx, 4xx and 5xx reply except the greeting and the replies to
HELO and EHLO -- including the ones aiosmtpd itself would write (`250 OK`,
`221 Bye`, `500 Error: command "FOO" not recognized`...).  Each reply is
checked word for word over a real socket.
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl

import pytest
from argon2 import PasswordHasher
from gwtest import SmtpConn, make_message

ENHANCED = re.compile(r"[245]\.\d{1,3}\.\d{1,3} ")


async def says(conn: SmtpConn, line: str | bytes) -> tuple[int, str]:
    """The reply to `line`, checked to carry an enhanced code of its class."""
    code, text = await conn.cmd(line)
    assert ENHANCED.match(text), (line, code, text)
    assert text[0] == str(code)[0], (line, code, text)
    return code, text


async def test_every_command_reply_carries_an_enhanced_code(gateway):
    conn = await SmtpConn.open(gateway.port)
    # RFC 5321 4.2: the greeting needs no enhanced code; it names ESMTP.
    assert conn.banner == (220, "gw.test.example ESMTP secure-sharing gateway")

    assert await says(conn, "MAIL FROM:<alice@sender.example>") == (
        503, "5.5.1 Error: send HELO first")
    assert await says(conn, "RCPT TO:<bob@recipient.example>") == (
        503, "5.5.1 Error: send HELO first")
    assert await says(conn, "DATA") == (503, "5.5.1 Error: send HELO first")
    assert await says(conn, "AUTH PLAIN") == (503, "5.5.1 Error: send EHLO first")

    assert await conn.cmd("HELO client.example") == (250, "gw.test.example")
    assert await says(conn, "AUTH PLAIN") == (502, "5.5.2 Error: command not recognized")

    code, text = await conn.cmd("EHLO client.example")
    lines = text.splitlines()
    assert code == 250 and lines[0] == "gw.test.example" and "ENHANCEDSTATUSCODES" in lines
    assert not any(ENHANCED.match(line) for line in lines)  # RFC 2034: not in EHLO's

    assert await says(conn, "NOOP") == (250, "2.0.0 OK")
    assert await says(conn, "RSET") == (250, "2.0.0 OK")
    assert await says(conn, "RSET now") == (501, "5.5.4 Syntax: RSET")

    # An unknown command is not echoed back.
    assert await says(conn, "FOO <script>") == (502, "5.5.2 Error: command not recognized")
    assert await says(conn, b"\xff\xfeOO") == (500, "5.5.2 Error: bad syntax")
    assert await says(conn, b"") == (500, "5.5.2 Error: bad syntax")
    # Over the command limit (512) and over the stream's line limit (1001).
    assert await says(conn, "NOOP " + "x" * 600) == (500, "5.5.2 Line too long")
    assert await says(conn, "NOOP " + "x" * 3000) == (500, "5.5.2 Line too long")

    # STARTTLS was not advertised: not implemented here.
    assert await says(conn, "STARTTLS") == (502, "5.5.1 Error: command not implemented")
    assert await says(conn, "STARTTLS now") == (501, "5.5.4 Syntax: STARTTLS")
    assert await says(conn, "EXPN staff") == (502, "5.5.1 Error: command not implemented")
    # No verification: neither a yes nor a no, and the address not echoed.
    for argument in ("bob@recipient.example", "<<<nonsense"):
        assert await says(conn, f"VRFY {argument}") == (
            252, "2.5.2 Cannot VRFY user; try RCPT to attempt delivery")
    assert await says(conn, "VRFY") == (501, "5.5.4 Syntax: VRFY <address>")
    # AUTH is only offered after STARTTLS (not configured here).
    assert (await says(conn, "AUTH PLAIN"))[0] == 538

    code, text = await says(conn, "HELP")
    assert code == 214 and text.startswith("2.0.0 Supported commands: ")
    assert text.split()[3:] == [
        "DATA", "EHLO", "HELO", "HELP", "MAIL", "NOOP", "QUIT", "RCPT", "RSET", "VRFY"]
    assert await says(conn, "HELP mail") == (
        214, "2.0.0 Syntax: MAIL FROM:<address> [parameters]")
    assert await says(conn, "HELP EXPN") == (
        501, "5.5.4 Supported commands: " + " ".join(text.split()[3:]))

    # The transaction's own replies keep theirs; 354 needs none.
    assert await says(conn, "MAIL FROM:<alice@sender.example>") == (250, "2.1.0 Sender OK")
    assert await says(conn, "RCPT TO:<bob@recipient.example>") == (250, "2.1.5 Recipient OK")
    assert await says(conn, "DATA now") == (501, "5.5.4 Syntax: DATA")
    assert (await conn.cmd("DATA"))[0] == 354
    code, text = await says(conn, make_message() + b".")
    assert (code, text.split()[:3]) == (250, ["2.0.0", "Queued", "as"])

    assert await says(conn, "QUIT now") == (501, "5.5.4 Syntax: QUIT")
    assert await says(conn, "QUIT") == (221, "2.0.0 Bye")
    assert await conn.reader.read() == b""
    conn.writer.close()


def _hash(password: str) -> str:
    return PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(password)


def _plain(login: str, password: str) -> str:
    return base64.b64encode(f"\0{login}\0{password}".encode()).decode()


async def test_starttls_and_auth_replies_carry_enhanced_codes(gateway_factory, tls_files):
    gw = await gateway_factory({
        "server": tls_files.server_settings,
        "users": [{"name": "scanner", "password_hash": _hash("correct horse battery")}],
    })
    conn = await SmtpConn.open(gw.port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    offered = (await says(conn, "HELP"))[1].split()
    assert "STARTTLS" in offered and "AUTH" not in offered
    assert await says(conn, "STARTTLS") == (220, "2.0.0 Ready to start TLS")
    context = ssl.create_default_context(cafile=str(tls_files.ca_file))
    await conn.writer.start_tls(context, server_hostname="gw.test.example")
    assert (await conn.cmd("EHLO client.example"))[0] == 250

    assert await says(conn, "STARTTLS") == (554, "5.5.1 Error: TLS already active")
    offered = (await says(conn, "HELP"))[1].split()
    assert "AUTH" in offered and "STARTTLS" not in offered
    syntax = (501, "5.5.4 Syntax: AUTH mechanism [initial-response]")
    assert await says(conn, "AUTH") == syntax
    assert await says(conn, "AUTH PLAIN one two") == syntax
    assert (await says(conn, "AUTH CRAM-MD5"))[0] == 504
    assert (await says(conn, "AUTH PLAIN !!!"))[0] == 501
    assert (await conn.cmd("AUTH LOGIN"))[0] == 334  # the challenge: no code
    assert (await says(conn, "*"))[0] == 501
    assert (await says(conn, "AUTH PLAIN " + _plain("scanner", "wrong")))[0] == 535
    assert (await says(conn, "AUTH PLAIN " + _plain("scanner", "correct horse battery")))[0] == 235
    assert await says(conn, "AUTH PLAIN " + _plain("scanner", "correct horse battery")) == (
        503, "5.5.1 Error: already authenticated")
    await conn.close()


@pytest.mark.parametrize("stage", ["command", "data"])
async def test_idle_client_is_told_421_then_disconnected(gateway_factory, sink, stage):
    gw = await gateway_factory({"server": {"idle_timeout": "1s"}})
    conn = await SmtpConn.open(gw.port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    if stage == "data":
        await says(conn, "MAIL FROM:<alice@sender.example>")
        await says(conn, "RCPT TO:<bob@recipient.example>")
        assert (await conn.cmd("DATA"))[0] == 354
        await conn.send(b"Subject: half a message\r\n")
    code, text = await conn.reply(timeout=10)
    assert (code, text) == (421, "4.4.2 gw.test.example Error: timeout exceeded")
    assert await asyncio.wait_for(conn.reader.read(), 5) == b""
    conn.writer.close()
    assert await sink.stays_empty(0.3)
