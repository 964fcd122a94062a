"""End to end: real clients -> the gateway (in this process) -> the aiosmtpd sink.

The message must arrive byte-identical apart from the one `Received:` header
the gateway prepends; the envelope (SMTPUTF8, DSN parameters) is kept.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import smtplib
import ssl
from pathlib import Path

import aiosmtplib
import pytest
from faker import Faker
from gwtest import SmtpConn, dot_stuff, make_message, strip_received
from sqlalchemy import select

from gateway.db import queue_messages, queue_recipients

fake = Faker("en_GB")


def _body_with_edge_cases() -> str:
    # Lines starting with a dot (dot-stuffing), long lines, 8-bit text,
    # trailing spaces and an empty last line must all survive exactly.
    return (
        f"{fake.paragraph(nb_sentences=3)}\r\n"
        ".a line that starts with a dot\r\n"
        "..two dots\r\n"
        ".\tdot and tab\r\n"
        f"{'x' * 900}\r\n"
        "trailing spaces   \r\n"
        "Caf\u00e9 cr\u00e8me \u2013 \u00a3 sign\r\n"
        "\r\n"
    )


async def test_smtplib_message_arrives_byte_identical(gateway, sink):
    message = make_message(body=_body_with_edge_cases())

    def send() -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
            client.ehlo("client.sender.example")
            return client.sendmail(
                "alice@sender.example", ["bob@recipient.example"], message,
                mail_options=["BODY=8BITMIME"],
            )

    refused = await asyncio.to_thread(send)
    assert refused == {}
    (got,) = await sink.wait(1)
    received, rest = strip_received(got.content)
    assert rest == message
    assert b"gw.test.example" in received
    assert got.mail_from == "alice@sender.example"
    assert got.rcpt_tos == ("bob@recipient.example",)
    assert "BODY=8BITMIME" in got.mail_options


async def test_aiosmtplib_message_arrives_byte_identical(gateway, sink):
    message = make_message(body=_body_with_edge_cases(), subject=fake.sentence())
    errors, reply = await aiosmtplib.send(
        message,
        sender="carol@sender.example",
        recipients=["dave@recipient.example", "erin@recipient.example"],
        hostname="127.0.0.1",
        port=gateway.port,
    )
    assert errors == {}
    assert reply.startswith("2.0.0 Queued as ")
    (got,) = await sink.wait(1)
    assert strip_received(got.content)[1] == message
    assert got.rcpt_tos == ("dave@recipient.example", "erin@recipient.example")


async def test_raw_dot_stuffed_message_is_unstuffed_exactly(gateway, sink):
    message = make_message(body=".\r\n..\r\n.x\r\nend\r\n")
    conn = await SmtpConn.open(gateway.port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
    assert (await conn.cmd("RCPT TO:<bob@recipient.example>"))[0] == 250
    assert (await conn.cmd("DATA"))[0] == 354
    code, text = await conn.cmd(dot_stuff(message) + b".")
    assert code == 250, text
    await conn.close()
    (got,) = await sink.wait(1)
    assert strip_received(got.content)[1] == message


async def test_ehlo_advertises_the_extensions(gateway):
    conn = await SmtpConn.open(gateway.port)
    assert conn.banner[0] == 220
    code, text = await conn.cmd("EHLO client.example")
    await conn.close()
    assert code == 250
    keywords = {line.split()[0].upper() for line in text.splitlines()[1:]}
    assert {"SIZE", "8BITMIME", "SMTPUTF8", "PIPELINING", "ENHANCEDSTATUSCODES", "DSN"} <= keywords
    assert "STARTTLS" not in keywords  # no certificate configured
    assert "AUTH" not in keywords  # never before TLS
    size_line = next(line for line in text.splitlines() if line.upper().startswith("SIZE"))
    assert size_line.split()[1] == "1000000"


async def test_ehlo_advertises_starttls_with_a_certificate(gateway_factory, tls_files):
    gw = await gateway_factory({"server": tls_files.server_settings})
    conn = await SmtpConn.open(gw.port)
    code, text = await conn.cmd("EHLO client.example")
    await conn.close()
    assert code == 250
    assert "STARTTLS" in text.upper().split()


async def test_dsn_parameters_are_stored_and_passed_upstream(gateway, sink, db_url):
    message = make_message()
    conn = await SmtpConn.open(gateway.port)
    await conn.cmd("EHLO client.example")
    assert (await conn.cmd("MAIL FROM:<alice@sender.example> RET=HDRS ENVID=QQ+2Bxyz123"))[0] == 250
    assert (await conn.cmd(
        "RCPT TO:<bob@recipient.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@recipient.example"
    ))[0] == 250
    assert (await conn.cmd("RCPT TO:<carol@recipient.example> NOTIFY=NEVER"))[0] == 250
    await conn.cmd("DATA")
    code, text = await conn.cmd(message + b".")
    await conn.close()
    assert code == 250, text
    queue_id = text.split()[-1]

    (got,) = await sink.wait(1)
    assert "RET=HDRS" in got.mail_options
    assert "ENVID=QQ+2Bxyz123" in got.mail_options
    assert got.rcpt_options[0] == ("NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob@recipient.example")
    assert got.rcpt_options[1] == ("NOTIFY=NEVER",)

    async with gateway.engine.connect() as db:
        row = (await db.execute(
            select(queue_messages.c.envelope).where(queue_messages.c.id == queue_id)
        )).one()
        rcpts = (await db.execute(
            select(queue_recipients.c.address, queue_recipients.c.notify, queue_recipients.c.orcpt)
            .where(queue_recipients.c.message_id == queue_id)
            .order_by(queue_recipients.c.position)
        )).all()
    stored = json.loads(row.envelope)
    assert stored["ret"] == "HDRS"
    assert stored["envid"] == "QQ+2Bxyz123"
    assert [tuple(r) for r in rcpts] == [
        ("bob@recipient.example", "SUCCESS,FAILURE", "rfc822;bob@recipient.example"),
        ("carol@recipient.example", "NEVER", None),
    ]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("MAIL FROM:<a@sender.example> RET=SOMETIMES", 501),
        ("MAIL FROM:<a@sender.example> ENVID=bad\u00e9", 501),
        ("MAIL FROM:<a@sender.example> FROBNICATE=1", 555),
        ("MAIL FROM:<a@sender.example> SIZE=abc", 501),
    ],
)
async def test_bad_mail_parameters_are_refused(gateway, command, expected):
    conn = await SmtpConn.open(gateway.port)
    await conn.cmd("EHLO client.example")
    code, _ = await conn.cmd(command)
    await conn.close()
    assert code == expected


@pytest.mark.parametrize(
    "params", ["NOTIFY=SOMETIMES", "NOTIFY=NEVER,SUCCESS", "ORCPT=no-semicolon", "XFOO=1"]
)
async def test_bad_rcpt_parameters_are_refused(gateway, params):
    conn = await SmtpConn.open(gateway.port)
    await conn.cmd("EHLO client.example")
    await conn.cmd("MAIL FROM:<a@sender.example>")
    code, _ = await conn.cmd(f"RCPT TO:<b@recipient.example> {params}")
    await conn.close()
    assert code in (501, 555)


async def test_smtputf8_address_is_relayed(gateway, sink):
    sender = "j\u00f6rg@absender.example"
    recipient = "\u00e9lodie@recipient.example"
    message = make_message(sender=sender, to=recipient, subject="Gr\u00fc\u00dfe")
    conn = await SmtpConn.open(gateway.port)
    await conn.cmd("EHLO client.example")
    # Without SMTPUTF8 a non-ASCII address is refused ...
    assert (await conn.cmd(f"MAIL FROM:<{sender}>"))[0] == 553
    # ... with it, accepted.
    assert (await conn.cmd(f"MAIL FROM:<{sender}> SMTPUTF8 BODY=8BITMIME"))[0] == 250
    assert (await conn.cmd(f"RCPT TO:<{recipient}>"))[0] == 250
    await conn.cmd("DATA")
    code, text = await conn.cmd(message + b".")
    await conn.close()
    assert code == 250, text
    (got,) = await sink.wait(1)
    assert got.mail_from == sender
    assert got.rcpt_tos == (recipient,)
    assert got.smtputf8
    assert "SMTPUTF8" in got.mail_options
    assert strip_received(got.content)[1] == message


async def test_pipelined_commands_get_replies_in_order(gateway, sink):
    message = make_message()
    conn = await SmtpConn.open(gateway.port)
    await conn.cmd("EHLO client.example")
    await conn.send(
        b"MAIL FROM:<alice@sender.example>\r\n"
        b"RCPT TO:<bob@recipient.example>\r\n"
        b"RCPT TO:<x@@bad>\r\n"
        b"RCPT TO:<carol@recipient.example>\r\n"
        b"DATA\r\n"
    )
    codes = [(await conn.reply())[0] for _ in range(5)]
    assert codes[0] == 250 and codes[1] == 250 and codes[2] in (501, 553)
    assert codes[3] == 250 and codes[4] == 354
    code, _ = await conn.cmd(message + b".")
    await conn.close()
    assert code == 250
    (got,) = await sink.wait(1)
    assert got.rcpt_tos == ("bob@recipient.example", "carol@recipient.example")


async def test_several_messages_on_one_connection(gateway, sink):
    messages = [make_message(subject=f"n{i}") for i in range(5)]
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gateway.port)
    await client.connect()
    for message in messages:
        await client.sendmail("alice@sender.example", ["bob@recipient.example"], message)
    await client.quit()
    got = await sink.wait(5)
    assert sorted(strip_received(m.content)[1] for m in got) == sorted(messages)


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
async def test_swaks_message_is_relayed(gateway, sink, tmp_path: Path):
    message = make_message(to="frank@recipient.example", body=fake.paragraph() + "\r\n")
    path = tmp_path / "message.eml"
    # swaks ends the data with CRLF "." CRLF itself: give it the message
    # without its last line ending, so what it sends is exactly `message`.
    path.write_bytes(message.removesuffix(b"\r\n"))
    proc = await asyncio.create_subprocess_exec(
        "swaks", "--server", f"127.0.0.1:{gateway.port}",
        "--from", "alice@sender.example", "--to", "frank@recipient.example",
        "--helo", "swaks.sender.example", "--data", f"@{path}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode(errors="replace")
    assert b"250 2.0.0 Queued as" in out
    (got,) = await sink.wait(1)
    received, rest = strip_received(got.content)
    assert rest == message
    assert b"swaks.sender.example" in received
    assert got.rcpt_tos == ("frank@recipient.example",)


async def test_starttls_then_relay(gateway_factory, sink, tls_files):
    gw = await gateway_factory({"server": tls_files.server_settings})
    context = ssl.create_default_context(cafile=str(tls_files.ca_file))
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=gw.port, tls_context=context, start_tls=False,
    )
    await client.connect()
    await client.starttls(tls_context=context, server_hostname="gw.test.example")
    message = make_message()
    await client.sendmail("alice@sender.example", ["bob@recipient.example"], message)
    await client.quit()
    (got,) = await sink.wait(1)
    assert strip_received(got.content)[1] == message
