"""The listener over real sockets: no open relay, no tricky addresses, no
SMTP smuggling, limits, and 451 on any internal failure.

"Nothing relayed" is shown by sending one ordinary marker message after the
refused ones: the sink must then hold exactly the marker, and the queue
exactly one row.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import aiosmtplib
import pytest
from argon2 import PasswordHasher
from gwtest import SmtpConn, make_message, strip_received
from policy_messages import ALLOWED, SENDER, Spec, person
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from unit.receipts.receipt_shapes import postfix_dsn

from gateway.db import audit_records, queue_messages

MARKER_SUBJECT = "marker message"


async def send_marker(port: int) -> bytes:
    message = make_message(subject=MARKER_SUBJECT)
    await aiosmtplib.send(
        message, sender="alice@sender.example", recipients=["bob@recipient.example"],
        hostname="127.0.0.1", port=port,
    )
    return message


async def assert_only_marker_relayed(gateway, sink, marker: bytes) -> None:
    (got,) = await sink.wait(1)
    assert strip_received(got.content)[1] == marker
    async with gateway.engine.connect() as db:
        count = (await db.execute(select(func.count()).select_from(queue_messages))).scalar()
    assert count == 1
    assert len(sink.snapshot()) == 1


async def ehlo(port: int) -> SmtpConn:
    conn = await SmtpConn.open(port)
    code, _ = await conn.cmd("EHLO client.example")
    assert code == 250
    return conn


# --------------------------------------------------------------------------
# open relay


async def test_untrusted_peer_gets_550_at_rcpt(gateway_factory, sink):
    gw = await gateway_factory({"server": {"trusted_networks": ["10.0.0.0/8"]}})
    conn = await ehlo(gw.port)
    assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
    code, text = await conn.cmd("RCPT TO:<bob@recipient.example>")
    assert (code, text.split()[0]) == (550, "5.7.1")
    assert (await conn.cmd("DATA"))[0] == 503
    await conn.close()
    assert await sink.stays_empty(0.5)
    async with gw.engine.connect() as db:
        assert (await db.execute(select(func.count()).select_from(queue_messages))).scalar() == 0


TRICKS = [
    "<a@b@c.example>",
    "<@route.example:u@x.example>",
    "<@a.example,@b.example:u@x.example>",
    "<u%x.example@gw.example>",
    "<u!x@y.example>",
    '<"a@x.example"@y.example>',
    '<"u\\\\"@y.example>',
    "<u@[192.0.2.1]>",
    "<u@[IPv6:2001:db8::1]>",
    "<u@localhost>",
    "<.u@x.example>",
    "<u..v@x.example>",
    "<u@-x.example>",
    "<@x.example>",
    "<u@>",
    "u@x.example>",
    "<u@x.example",
    "<<u@x.example>>",
]
RAW_TRICKS = [b"<a\x00b@x.example>", b"<a\rb@x.example>", b"<ab@x.example\r>"]


async def test_tricky_recipients_are_refused(gateway, sink):
    conn = await ehlo(gateway.port)
    for address in TRICKS:
        assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
        code, text = await conn.cmd(f"RCPT TO:{address}")
        assert code in (501, 553), (address, text)
        assert text.split()[0] in ("5.1.3", "5.5.4", "5.5.2"), (address, text)
        assert (await conn.cmd("DATA"))[0] == 503, address
        assert (await conn.cmd("RSET"))[0] == 250
    await conn.close()
    await assert_only_marker_relayed(gateway, sink, await send_marker(gateway.port))


async def test_tricky_senders_are_refused(gateway, sink):
    conn = await ehlo(gateway.port)
    for address in [*TRICKS[:9], "<u@localhost>"]:
        code, text = await conn.cmd(f"MAIL FROM:{address}")
        assert code in (501, 553), (address, text)
        assert (await conn.cmd("RCPT TO:<bob@recipient.example>"))[0] == 503, address
    await conn.close()
    await assert_only_marker_relayed(gateway, sink, await send_marker(gateway.port))


async def test_control_characters_in_addresses_are_refused(gateway, sink):
    conn = await ehlo(gateway.port)
    for address in RAW_TRICKS:
        code, text = await conn.cmd(b"MAIL FROM:" + address)
        assert 500 <= code < 600, (address, text)
        assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
        code, text = await conn.cmd(b"RCPT TO:" + address)
        assert 500 <= code < 600, (address, text)
        assert (await conn.cmd("RSET"))[0] == 250
    await conn.close()
    await assert_only_marker_relayed(gateway, sink, await send_marker(gateway.port))


async def test_lf_inside_an_address_splits_nothing_into_a_relay(gateway, sink):
    conn = await ehlo(gateway.port)
    assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
    await conn.send(b"RCPT TO:<victim\n@x.example>\r\n")
    first = await conn.reply()
    assert 500 <= first[0] < 600
    await conn.close()
    await assert_only_marker_relayed(gateway, sink, await send_marker(gateway.port))


def _hash(password: str) -> str:
    return PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(password)


@pytest.fixture
def auth_overrides(tls_files):
    return {
        "server": {"trusted_networks": ["10.0.0.0/8"], **tls_files.server_settings},
        "users": [{"name": "scanner", "password_hash": _hash("correct horse battery")}],
    }


async def tls_client(port: int, tls_files) -> aiosmtplib.SMTP:
    """An aiosmtplib client connected, past STARTTLS and its second EHLO."""
    import ssl

    context = ssl.create_default_context(cafile=str(tls_files.ca_file))
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await client.connect()
    await client.starttls(tls_context=context, server_hostname="gw.test.example")
    await client.ehlo()
    return client


async def test_auth_before_starttls_is_refused(gateway_factory, sink, auth_overrides):
    gw = await gateway_factory(auth_overrides)
    conn = await SmtpConn.open(gw.port)
    code, text = await conn.cmd("EHLO client.example")
    assert "AUTH" not in [line.split()[0].upper() for line in text.splitlines()[1:]]
    assert "STARTTLS" in text.upper()
    code, text = await conn.cmd("AUTH PLAIN AHNjYW5uZXIAY29ycmVjdCBob3JzZSBiYXR0ZXJ5")
    assert code >= 500, text
    assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
    assert (await conn.cmd("RCPT TO:<bob@recipient.example>"))[0] == 550
    await conn.close()
    assert await sink.stays_empty(0.5)


async def test_auth_after_starttls_lets_an_untrusted_client_relay(
    gateway_factory, sink, auth_overrides, tls_files
):
    gw = await gateway_factory(auth_overrides)
    client = await tls_client(gw.port, tls_files)
    assert "auth" in client.esmtp_extensions
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await client.login("scanner", "wrong password")
    await client.login("scanner", "correct horse battery")
    message = make_message()
    errors, _ = await client.sendmail("alice@sender.example", ["bob@recipient.example"], message)
    await client.quit()
    assert errors == {}
    (got,) = await sink.wait(1)
    received, rest = strip_received(got.content)
    assert rest == message
    assert b" with ESMTPSA id " in received  # RFC 3848: TLS and AUTH


async def test_max_auth_failures_from_the_config_ends_the_session(
    gateway_factory, sink, auth_overrides, tls_files
):
    """`[server] max_auth_failures = 1`: the first refused AUTH ends the
    session with 421 4.7.0 (the default, 3, lets the client above retry)."""
    overrides = {**auth_overrides,
                 "server": {**auth_overrides["server"], "max_auth_failures": 1}}
    gw = await gateway_factory(overrides)
    client = await tls_client(gw.port, tls_files)
    token = base64.b64encode(b"\0scanner\0wrong password").decode()
    reply = await client.execute_command(b"AUTH", b"PLAIN", token.encode())
    assert (reply.code, reply.message) == (
        421, "4.7.0 Error: too many authentication failures")
    client.close()
    assert await sink.stays_empty(0.2)


async def test_connections_per_untrusted_client_are_limited(gateway_factory, sink):
    """`[server] max_connections_per_client`: a third session from one
    untrusted address, while two are open, is told 421 4.7.0 instead of the
    greeting and closed; once one ends, a new one is greeted again."""
    from structlog.testing import capture_logs

    gw = await gateway_factory({"server": {"trusted_networks": ["10.0.0.0/8"],
                                           "max_connections_per_client": 2}})
    first, second = await SmtpConn.open(gw.port), await SmtpConn.open(gw.port)
    assert first.banner[0] == second.banner[0] == 220
    with capture_logs() as logs:
        third = await SmtpConn.open(gw.port)
        assert third.banner == (421, "4.7.0 Error: too many connections from 127.0.0.1")
        assert await third.reader.read() == b""  # closed
    third.writer.close()
    (cut,) = [e for e in logs if e["event"] == "client_connections_exceeded"]
    assert (cut["client"], cut["limit"], cut["log_level"]) == ("127.0.0.1", 2, "warning")
    assert (await first.cmd("QUIT"))[0] == 221
    await first.close()
    for _ in range(100):  # the server counts the session closed once it sees the close
        again = await SmtpConn.open(gw.port)
        if again.banner[0] == 220:
            break
        again.writer.close()
        await asyncio.sleep(0.02)
    assert again.banner[0] == 220
    assert (await again.cmd("EHLO client.example"))[0] == 250
    await again.close()
    await second.close()


async def test_trusted_clients_are_not_limited(gateway_factory, sink):
    """The organisation's own mail server (trusted_networks) opens as many
    sessions as its load needs, as Postfix exempts $mynetworks."""
    gw = await gateway_factory({"server": {"max_connections_per_client": 1}})
    conns = [await SmtpConn.open(gw.port) for _ in range(3)]
    assert [c.banner[0] for c in conns] == [220, 220, 220]
    marker = await send_marker(gw.port)
    await assert_only_marker_relayed(gw, sink, marker)
    for conn in conns:
        await conn.close()


def require_auth(overrides: dict, trusted: list[str]) -> dict:
    return {**overrides, "server": {**overrides["server"], "trusted_networks": trusted,
                                    "require_auth": True}}


async def test_require_auth_refuses_even_trusted_peers(gateway_factory, sink, auth_overrides):
    gw = await gateway_factory(require_auth(auth_overrides, ["127.0.0.0/8"]))
    conn = await ehlo(gw.port)
    assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
    assert await conn.cmd("RCPT TO:<bob@recipient.example>") == (
        530, "5.7.0 Authentication required")
    assert (await conn.cmd("DATA"))[0] == 503
    await conn.close()
    assert await sink.stays_empty(0.3)


async def test_require_auth_still_takes_receipts_from_anyone(
    gateway_factory, sink, auth_overrides
):
    """The receipts domain takes mail from any host: a recipient's MTA
    sends its DSN unauthenticated, from the null sender.  Refused at MAIL,
    it never arrived and no on-receipt password was ever released."""
    gw = await gateway_factory(require_auth(auth_overrides, ["10.0.0.0/8"]))
    domain = gw.settings.receipts.domain
    conn = await SmtpConn.open(gw.port)
    assert (await conn.cmd("EHLO mx.remote.example"))[0] == 250
    assert (await conn.cmd("MAIL FROM:<>"))[0] == 250
    assert await conn.cmd("RCPT TO:<bob@recipient.example>") == (
        530, "5.7.0 Authentication required")
    assert (await conn.cmd(f"RCPT TO:<dsn+Q1-0-aaaaaaaaaaaaaaaaaaaa@{domain}>"))[0] == 250
    assert (await conn.cmd("VRFY bob@recipient.example"))[0] == 530
    await conn.close()
    assert await sink.stays_empty(0.3)


async def test_require_auth_releases_a_password_on_a_receipt_from_an_untrusted_host(
    gateway_factory, sink, auth_overrides, tls_files, monkeypatch
):
    import ssl

    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", base64.b64encode(bytes(range(32))).decode())
    overrides = require_auth(auth_overrides, ["10.0.0.0/8"])
    gw = await gateway_factory({**overrides, "policy": {"mode": "enforce"},
                                "passwords": {"release": "on-receipt"}})
    spec = Spec(person(20240611))
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gw.port, start_tls=False)
    await client.connect()
    await client.starttls(tls_context=ssl.create_default_context(cafile=str(tls_files.ca_file)),
                          server_hostname="gw.test.example")
    await client.login("scanner", "correct horse battery")
    _, reply = await client.sendmail(SENDER, spec.to, spec.build())
    await client.quit()
    (copy,) = await sink.wait(1)
    assert spec.password.encode() not in copy.content

    dsn = postfix_dsn(to=copy.mail_from, recipient=ALLOWED, envid=f"{reply.split()[-1]}-0",
                      original_message_id=copy.header("Message-ID"),
                      orcpt=f"rfc822;{ALLOWED}")
    receipt = await SmtpConn.open(gw.port)  # a recipient's MTA: untrusted, no AUTH
    assert (await receipt.cmd("EHLO mx.remote.example"))[0] == 250
    assert (await receipt.cmd("MAIL FROM:<>"))[0] == 250
    assert (await receipt.cmd(f"RCPT TO:<{copy.mail_from}>"))[0] == 250
    assert (await receipt.cmd("DATA"))[0] == 354
    await receipt.send(dsn.replace(b"\r\n.", b"\r\n..") + b"\r\n.\r\n")
    assert (await receipt.reply())[0] == 250
    await receipt.close()
    (_, password_mail) = await sink.wait(2)
    assert password_mail.rcpt_tos == (ALLOWED,)
    assert spec.password.encode() in password_mail.content


# --------------------------------------------------------------------------
# smuggling

SMUGGLED = (
    b"MAIL FROM:<ceo@sender.example>\r\n"
    b"RCPT TO:<victim@recipient.example>\r\n"
    b"DATA\r\n"
    b"From: ceo@sender.example\r\nSubject: smuggled\r\n\r\nwire the money\r\n"
)
FIRST = b"From: alice@sender.example\r\nTo: bob@recipient.example\r\nSubject: first\r\n\r\nhello"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(FIRST + b"\n.\n" + SMUGGLED, id="LF.LF"),
        pytest.param(FIRST + b"\n.\r\n" + SMUGGLED, id="LF.CRLF"),
        pytest.param(FIRST + b"\r.\r" + SMUGGLED, id="CR.CR"),
        pytest.param(FIRST + b"\r\n.\r" + SMUGGLED, id="CRLF.CR"),
        pytest.param(FIRST + b"\r.\r\n" + SMUGGLED, id="CR.CRLF"),
        pytest.param(FIRST + b"\r\n.\n" + SMUGGLED, id="CRLF.LF"),
        pytest.param(FIRST + b"\r\nbare\nLF\r\n", id="bare-LF"),
        pytest.param(FIRST + b"\r\nbare\rCR\r\n", id="bare-CR"),
        pytest.param(FIRST + b"\r\nNUL\x00byte\r\n", id="NUL"),
        pytest.param(b"\n.\n" + SMUGGLED, id="LF.LF-at-start"),
        pytest.param(b".\r" + SMUGGLED, id="dot-CR-at-start"),
    ],
)
async def test_smuggling_is_refused_and_nothing_relayed(gateway, sink, data):
    conn = await ehlo(gateway.port)
    await conn.cmd("MAIL FROM:<alice@sender.example>")
    await conn.cmd("RCPT TO:<bob@recipient.example>")
    assert (await conn.cmd("DATA"))[0] == 354
    await conn.send(data + b"\r\n.\r\n")
    code, text = await conn.reply()
    assert (code, text.split()[0]) == (550, "5.5.2"), text
    # The connection is back in command state: the smuggled commands were
    # swallowed as data, and the next command is answered as such.
    assert (await conn.cmd("NOOP"))[0] == 250
    await conn.close()
    marker = await send_marker(gateway.port)
    await assert_only_marker_relayed(gateway, sink, marker)
    assert all(b"smuggled" not in m.content for m in sink.snapshot())


async def test_empty_message_is_accepted(gateway, sink):
    conn = await ehlo(gateway.port)
    await conn.cmd("MAIL FROM:<alice@sender.example>")
    await conn.cmd("RCPT TO:<bob@recipient.example>")
    await conn.cmd("DATA")
    code, _ = await conn.cmd(b".")
    await conn.close()
    assert code == 250
    (got,) = await sink.wait(1)
    assert strip_received(got.content)[1] == b""


# --------------------------------------------------------------------------
# limits


async def test_size_parameter_over_the_limit_gets_552(gateway, sink):
    conn = await ehlo(gateway.port)
    code, text = await conn.cmd("MAIL FROM:<alice@sender.example> SIZE=1000001")
    assert (code, text.split()[0]) == (552, "5.3.4")
    assert (await conn.cmd("MAIL FROM:<alice@sender.example> SIZE=1000"))[0] == 250
    await conn.close()


async def test_body_over_the_limit_gets_552_and_connection_recovers(gateway, sink):
    conn = await ehlo(gateway.port)
    await conn.cmd("MAIL FROM:<alice@sender.example>")
    await conn.cmd("RCPT TO:<bob@recipient.example>")
    await conn.cmd("DATA")
    big = make_message(body=("y" * 998 + "\r\n") * 1100)
    code, text = await conn.cmd(big + b".")
    assert (code, text.split()[0]) == (552, "5.3.4")
    assert (await conn.cmd("NOOP"))[0] == 250
    await conn.close()
    await assert_only_marker_relayed(gateway, sink, await send_marker(gateway.port))


async def test_a_very_long_line_over_the_limit_gets_552(gateway, sink):
    conn = await ehlo(gateway.port)
    await conn.cmd("MAIL FROM:<alice@sender.example>")
    await conn.cmd("RCPT TO:<bob@recipient.example>")
    await conn.cmd("DATA")
    code, text = await conn.cmd(b"Subject: x\r\n\r\n" + b"z" * 1_200_000 + b"\r\n.")
    assert (code, text.split()[0]) == (552, "5.3.4")
    await conn.close()
    await assert_only_marker_relayed(gateway, sink, await send_marker(gateway.port))


async def test_message_just_under_the_limit_is_accepted(gateway, sink):
    body = ("w" * 998 + "\r\n") * 900
    message = make_message(body=body)
    assert len(message) < 1_000_000
    await aiosmtplib.send(message, sender="alice@sender.example",
                          recipients=["bob@recipient.example"], hostname="127.0.0.1",
                          port=gateway.port)
    (got,) = await sink.wait(1)
    assert strip_received(got.content)[1] == message


async def test_too_many_recipients_gets_452(gateway, sink):
    conn = await ehlo(gateway.port)
    await conn.cmd("MAIL FROM:<alice@sender.example>")
    for n in range(10):
        assert (await conn.cmd(f"RCPT TO:<r{n}@recipient.example>"))[0] == 250
    code, text = await conn.cmd("RCPT TO:<r10@recipient.example>")
    assert (code, text.split()[0]) == (452, "4.5.3")
    await conn.cmd("DATA")
    code, _ = await conn.cmd(make_message() + b".")
    await conn.close()
    assert code == 250
    (got,) = await sink.wait(1)
    assert got.rcpt_tos == tuple(f"r{n}@recipient.example" for n in range(10))


# --------------------------------------------------------------------------
# internal failures


async def test_pipeline_failure_answers_451_without_detail(gateway, sink, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internal detail /etc/passwd")

    monkeypatch.setattr(gateway.pipeline, "run", explode)
    conn = await ehlo(gateway.port)
    await conn.cmd("MAIL FROM:<alice@sender.example>")
    await conn.cmd("RCPT TO:<bob@recipient.example>")
    await conn.cmd("DATA")
    code, text = await conn.cmd(make_message() + b".")
    await conn.close()
    assert (code, text.split()[0]) == (451, "4.3.0")
    assert "secret" not in text and "RuntimeError" not in text
    monkeypatch.undo()
    await assert_only_marker_relayed(gateway, sink, await send_marker(gateway.port))


async def test_command_handler_failure_answers_451_without_detail(gateway, sink, monkeypatch):
    import gateway.receive.server as server_module

    def explode(*args, **kwargs):
        raise KeyError("secret internal detail")

    monkeypatch.setattr(server_module, "address_problem", explode)
    conn = await ehlo(gateway.port)
    code, text = await conn.cmd("MAIL FROM:<alice@sender.example>")
    await conn.close()
    assert (code, text.split()[0]) == (451, "4.3.0")
    assert "secret" not in text and "KeyError" not in text


async def cut_connections(gw) -> None:
    """Close every pooled database connection, so the next use must reconnect.
    (The SQLite writer keeps a synchronous engine of its own.)"""
    for _ in range(200):
        if gw.engine.pool.checkedout() == 0:
            break
        await asyncio.sleep(0.01)
    await gw.engine.dispose()
    writer_engine = getattr(gw.writer, "_sync_engine", None)
    if writer_engine is not None:
        await asyncio.to_thread(writer_engine.dispose)


async def test_database_unavailable_answers_451_and_accepts_nothing(
    gateway_factory, sink, db_url, request
):
    """The database goes away under a running gateway: 451, nothing queued.

    The poller is kept quiet (it would otherwise hold a pooled connection
    opened before the outage at the moment the pool is emptied)."""
    gateway = await gateway_factory({"queue": {"poll_interval": "1h"}})
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        db_file = Path(url.database)
        folder = db_file.parent
        hidden = folder.with_name("db-away")
        folder.rename(hidden)
        folder.write_text("not a directory")  # the path cannot be opened now

        def restore() -> None:
            folder.unlink()
            hidden.rename(folder)
    else:
        admin = request.getfixturevalue("pg_admin")
        template = request.getfixturevalue("_pg_template")
        admin.drop(url.database)

        def restore() -> None:
            # An empty, migrated database under the same name.
            admin.create(url.database, template=template)

    await cut_connections(gateway)
    try:
        for _ in range(2):
            conn = await ehlo(gateway.port)
            await conn.cmd("MAIL FROM:<alice@sender.example>")
            await conn.cmd("RCPT TO:<bob@recipient.example>")
            await conn.cmd("DATA")
            code, text = await conn.cmd(make_message() + b".")
            await conn.close()
            assert (code, text.split()[0]) == (451, "4.3.0"), text
    finally:
        await cut_connections(gateway)
        restore()
    assert await sink.stays_empty(0.5)
    async with gateway.engine.connect() as db:
        assert (await db.execute(select(func.count()).select_from(queue_messages))).scalar() == 0
        assert (await db.execute(select(func.count()).select_from(audit_records))).scalar() == 0
    # And it recovers once the database is back.
    await assert_only_marker_relayed(gateway, sink, await send_marker(gateway.port))


async def test_shutting_down_answers_421(gateway, sink):
    conn = await ehlo(gateway.port)
    await conn.cmd("MAIL FROM:<alice@sender.example>")
    gateway._shutting_down = True
    code, text = await conn.cmd("RCPT TO:<bob@recipient.example>")
    assert (code, text.split()[0]) == (421, "4.3.2")
    gateway._shutting_down = False
    await conn.close()





async def test_logs_hold_no_addresses_content_or_passwords(
    gateway_factory, sink, auth_overrides, tls_files
):
    import ssl

    from structlog.testing import capture_logs

    gw = await gateway_factory(auth_overrides)
    context = ssl.create_default_context(cafile=str(tls_files.ca_file))
    with capture_logs() as logs:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gw.port, start_tls=False)
        await client.connect()
        await client.starttls(tls_context=context, server_hostname="gw.test.example")
        await client.login("scanner", "correct horse battery")
        await client.sendmail("secret.sender@sender.example", ["hidden.rcpt@recipient.example"],
                              make_message(subject="Confidential subject line",
                                           body="Body text 943 476 5919\r\n"))
        await client.quit()
        await sink.wait(1)
        for _ in range(50):
            if any(e["event"] == "delivery_attempted" for e in logs):
                break
            await asyncio.sleep(0.05)
    events = {e["event"] for e in logs}
    assert {"auth_checked", "message_queued", "delivery_attempted"} <= events
    text = repr(logs)
    for secret in ("secret.sender", "hidden.rcpt", "Confidential subject", "943 476 5919",
                   "correct horse"):
        assert secret not in text
    # The AUTH user name is operational data, as the client's address: logged.
    (checked,) = [e for e in logs if e["event"] == "auth_checked"]
    assert (checked["user"], checked["client"]) == ("scanner", "127.0.0.1")
    # Its size, as Postfix's qmgr logs it: what was queued, Received included.
    (queued,) = [e for e in logs if e["event"] == "message_queued"]
    (got,) = sink.snapshot()
    assert queued["size"] == len(got.content)


@pytest.mark.parametrize("reset", ["RSET", "EHLO again.example"])
async def test_reset_forgets_earlier_recipients(gateway, sink, reset):
    conn = await ehlo(gateway.port)
    await conn.cmd("MAIL FROM:<mallory@sender.example>")
    assert (await conn.cmd("RCPT TO:<earlier@recipient.example>"))[0] == 250
    assert (await conn.cmd(reset))[0] == 250
    assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
    assert (await conn.cmd("RCPT TO:<later@recipient.example>"))[0] == 250
    await conn.cmd("DATA")
    assert (await conn.cmd(make_message() + b"."))[0] == 250
    await conn.close()
    (got,) = await sink.wait(1)
    assert (got.mail_from, got.rcpt_tos) == ("alice@sender.example", ("later@recipient.example",))


async def test_client_gone_in_the_middle_of_data_queues_nothing(gateway, sink):
    conn = await ehlo(gateway.port)
    await conn.cmd("MAIL FROM:<alice@sender.example>")
    await conn.cmd("RCPT TO:<bob@recipient.example>")
    await conn.cmd("DATA")
    await conn.send(make_message()[:100])
    conn.writer.close()
    await asyncio.sleep(0.3)
    await assert_only_marker_relayed(gateway, sink, await send_marker(gateway.port))


async def test_nested_mail_and_missing_steps_are_refused(gateway):
    conn = await ehlo(gateway.port)
    assert (await conn.cmd("RCPT TO:<bob@recipient.example>"))[0] == 503
    assert (await conn.cmd("DATA"))[0] == 503
    await conn.cmd("MAIL FROM:<alice@sender.example>")
    assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 503
    assert (await conn.cmd("DATA"))[0] == 503
    await conn.close()
    fresh = await SmtpConn.open(gateway.port)
    assert (await fresh.cmd("MAIL FROM:<alice@sender.example>"))[0] == 503  # no EHLO yet
    await fresh.close()


async def test_starttls_resets_state_and_ignores_injected_plaintext(
    gateway_factory, sink, tls_files
):
    """Commands pipelined after STARTTLS in clear (CVE-2011-0411 style) and
    a transaction begun before TLS must not survive the upgrade."""
    import ssl

    gw = await gateway_factory({"server": tls_files.server_settings})
    conn = await ehlo(gw.port)
    assert (await conn.cmd("MAIL FROM:<before-tls@sender.example>"))[0] == 250
    await conn.send(b"STARTTLS\r\nRSET\r\nMAIL FROM:<injected@sender.example>\r\n")
    code, _ = await conn.reply()
    assert code == 220
    context = ssl.create_default_context(cafile=str(tls_files.ca_file))
    await conn.writer.start_tls(context, server_hostname="gw.test.example")
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    # Neither the pre-TLS MAIL nor the injected one is in effect.
    assert (await conn.cmd("RCPT TO:<bob@recipient.example>"))[0] == 503
    assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
    assert (await conn.cmd("RCPT TO:<bob@recipient.example>"))[0] == 250
    await conn.cmd("DATA")
    assert (await conn.cmd(make_message() + b"."))[0] == 250
    await conn.close()
    (got,) = await sink.wait(1)
    assert got.mail_from == "alice@sender.example"


async def test_repeated_recipient_is_relayed_once(gateway, sink):
    conn = await ehlo(gateway.port)
    await conn.cmd("MAIL FROM:<alice@sender.example>")
    for address in ("bob@recipient.example", "bob@recipient.example", "bob@RECIPIENT.example",
                    "Bob@recipient.example"):
        assert (await conn.cmd(f"RCPT TO:<{address}>"))[0] == 250
    await conn.cmd("DATA")
    assert (await conn.cmd(make_message() + b"."))[0] == 250
    await conn.close()
    (got,) = await sink.wait(1)
    # The local part may be case-sensitive: Bob@ is another mailbox.
    assert got.rcpt_tos == ("bob@recipient.example", "Bob@recipient.example")
