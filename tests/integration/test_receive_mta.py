"""The receive side as a Postfix administrator expects it, over real sockets:
who sent (client address, AUTH user) in the audit record and the log, an
authenticated user kept to its own sender addresses, `postmaster` taken,
quoted local parts and bracket-less paths taken, and `/readyz` checking the
smarthost's certificate as a delivery does."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiosmtplib
import pytest
from argon2 import PasswordHasher
from gwtest import Sink, SmtpConn, audit_events_of, make_message, strip_received, wait_state
from policy_messages import STRANGER, Spec, person
from structlog.testing import capture_logs

PASSWORD = "correct horse battery"
RECEIPTS = "receipts.gw.test.example"


def _hash(password: str) -> str:
    return PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(password)


def auth_config(tls_files: Any, senders: list[str] | None = None) -> dict[str, Any]:
    """Only authenticated clients relay (no trusted network)."""
    user: dict[str, Any] = {"name": "scanner", "password_hash": _hash(PASSWORD)}
    if senders is not None:
        user["senders"] = senders
    return {
        "server": {"trusted_networks": ["10.0.0.0/8"], **tls_files.server_settings},
        "users": [user],
    }


async def signed_in(port: int, tls_files: Any) -> aiosmtplib.SMTP:
    context = ssl.create_default_context(cafile=str(tls_files.ca_file))
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
    await client.connect()
    await client.starttls(tls_context=context, server_hostname="gw.test.example")
    await client.ehlo()
    await client.login("scanner", PASSWORD)
    return client


async def ehlo(port: int) -> SmtpConn:
    conn = await SmtpConn.open(port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    return conn


async def send_raw(conn: SmtpConn, sender: str, recipients: list[str], content: bytes) -> str:
    """One transaction by hand; the DATA reply's text.  `sender` and each
    recipient are written as they are (with or without brackets)."""
    code, text = await conn.cmd(f"MAIL FROM:{sender}")
    assert code == 250, text
    for rcpt in recipients:
        code, text = await conn.cmd(f"RCPT TO:{rcpt}")
        assert code == 250, (rcpt, text)
    assert (await conn.cmd("DATA"))[0] == 354
    code, text = await conn.cmd(content + b".")
    assert code == 250, text
    return text


def queue_id_of(reply: str) -> str:
    return reply.split()[-1]


def logged(logs: list[dict[str, Any]], event: str) -> dict[str, Any]:
    (found,) = [entry for entry in logs if entry["event"] == event]
    return found


async def received_detail(gw: Any, record_id: str) -> dict[str, Any]:
    (detail,) = [d for t, d in await audit_events_of(gw, record_id) if t == "received"]
    return detail


# --------------------------------------------------------------------------
# F9: who sent, in the record and the log


async def test_the_record_and_the_log_keep_the_authenticated_user_and_client(
    gateway_factory, sink, tls_files
):
    gw = await gateway_factory(auth_config(tls_files))
    message = make_message()
    client = await signed_in(gw.port, tls_files)
    with capture_logs() as logs:
        _, reply = await client.sendmail("anyone@sender.example", ["bob@recipient.example"],
                                         message)
    await client.quit()
    queue_id = queue_id_of(reply)
    await sink.wait(1)
    detail = await received_detail(gw, queue_id)
    assert detail["client"] == "127.0.0.1" and detail["auth_user"] == "scanner"
    assert detail["size"] > 0
    queued = logged(logs, "message_queued")
    assert (queued["queue_id"], queued["client"], queued["auth_user"]) == (
        queue_id, "127.0.0.1", "scanner")


async def test_a_trusted_client_is_recorded_without_a_user(gateway, sink):
    conn = await ehlo(gateway.port)
    with capture_logs() as logs:
        reply = await send_raw(conn, "<alice@sender.example>", ["<bob@recipient.example>"],
                               make_message())
    await conn.close()
    detail = await received_detail(gateway, queue_id_of(reply))
    assert detail["client"] == "127.0.0.1" and "auth_user" not in detail
    queued = logged(logs, "message_queued")
    assert queued["client"] == "127.0.0.1" and "auth_user" not in queued


async def test_a_policy_rejection_names_the_client_and_user(gateway_factory, sink, tls_files):
    gw = await gateway_factory({**auth_config(tls_files), "policy": {"mode": "enforce"}})
    spec = Spec(person(91), to=[STRANGER], plain_attachment=True)
    client = await signed_in(gw.port, tls_files)
    with capture_logs() as logs, pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await client.sendmail("caseworker@council.example", [STRANGER], spec.build())
    await client.quit()
    assert refused.value.code == 550
    rejected = logged(logs, "message_rejected")
    assert (rejected["client"], rejected["auth_user"]) == ("127.0.0.1", "scanner")
    detail = await received_detail(gw, rejected["audit_id"])
    assert (detail["client"], detail["auth_user"]) == ("127.0.0.1", "scanner")


async def test_a_refusal_at_data_names_the_client(gateway, sink):
    """F3: a `bare_line_ending` refusal can be traced to the program sending it."""
    conn = await ehlo(gateway.port)
    assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
    assert (await conn.cmd("RCPT TO:<bob@recipient.example>"))[0] == 250
    assert (await conn.cmd("DATA"))[0] == 354
    with capture_logs() as logs:
        code, _ = await conn.cmd(b"Subject: x\r\n\r\nbare\nLF\r\n.")
    await conn.close()
    assert code == 550
    refused = logged(logs, "data_refused")
    assert (refused["reason"], refused["client"]) == ("bare_line_ending", "127.0.0.1")
    rejected = logged(logs, "message_rejected")
    assert rejected["client"] == "127.0.0.1" and "auth_user" not in rejected
    detail = await received_detail(gateway, rejected["audit_id"])
    assert detail["client"] == "127.0.0.1"


# --------------------------------------------------------------------------
# F9: [[users]] senders


async def test_a_user_may_send_only_as_its_own_senders(gateway_factory, sink, tls_files):
    gw = await gateway_factory(auth_config(tls_files, senders=["*@council.example"]))
    client = await signed_in(gw.port, tls_files)
    with capture_logs() as logs, pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
        await client.mail("ceo@elsewhere.example")
    assert (refused.value.code, refused.value.message) == (
        553, "5.7.1 Sender address rejected: not owned by user scanner")
    (noted,) = [e for e in logs if e["event"] == "sender_refused"]
    assert noted["user"] == "scanner" and "ceo" not in str(noted)
    message = make_message()
    errors, _ = await client.sendmail("Scan.Desk@Council.Example", ["bob@recipient.example"],
                                      message)
    assert errors == {}
    await client.quit()
    (got,) = await sink.wait(1)
    assert got.mail_from == "Scan.Desk@Council.Example"


async def test_auth_inside_a_transaction_is_refused(gateway_factory, sink, tls_files):
    """RFC 4954: otherwise a MAIL FROM given before AUTH escapes `senders`."""
    gw = await gateway_factory(auth_config(tls_files))
    context = ssl.create_default_context(cafile=str(tls_files.ca_file))
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gw.port, start_tls=False, timeout=30)
    await client.connect()
    await client.starttls(tls_context=context, server_hostname="gw.test.example")
    await client.ehlo()
    await client.mail("ceo@elsewhere.example")
    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as refused:
        await client.login("scanner", PASSWORD)
    assert refused.value.code == 503
    client.close()
    assert await sink.stays_empty(0.3)


# --------------------------------------------------------------------------
# F4: postmaster


@pytest.mark.parametrize("written", ["<postmaster>", "<Postmaster>", "<POSTMASTER>"])
async def test_the_domainless_postmaster_is_taken_from_anyone(gateway_factory, sink, written):
    gw = await gateway_factory({"server": {"trusted_networks": ["10.0.0.0/8"],
                                           "postmaster": "it-desk@council.example"}})
    conn = await ehlo(gw.port)
    message = make_message()
    reply = await send_raw(conn, "<admin@remote.example>", [written], message)
    # Anything else is still refused to this untrusted client: no relay.
    assert (await conn.cmd("MAIL FROM:<admin@remote.example>"))[0] == 250
    assert (await conn.cmd("RCPT TO:<bob@recipient.example>"))[0] == 550
    await conn.close()
    (got,) = await sink.wait(1)
    assert got.rcpt_tos == ("it-desk@council.example",)
    assert strip_received(got.content)[1] == message
    await wait_state(gw, queue_id_of(reply), "delivered")


async def test_postmaster_goes_to_the_gateways_own_by_default(gateway, sink):
    conn = await ehlo(gateway.port)
    await send_raw(conn, "<alice@sender.example>", ["<postmaster>"], make_message())
    await conn.close()
    (got,) = await sink.wait(1)
    assert got.rcpt_tos == ("postmaster@gw.test.example",)


async def test_postmaster_of_the_receipts_domain_is_taken(gateway_factory, sink):
    """The gateway is that domain's MX: a person writing to its postmaster
    reaches IT's postmaster (a report to it stays the receipt desk's)."""
    gw = await gateway_factory({"server": {"trusted_networks": ["10.0.0.0/8"],
                                           "postmaster": "it-desk@council.example"},
                                "receipts": {"domain": RECEIPTS}})
    conn = await ehlo(gw.port)
    message = make_message(subject="your receipts domain")
    await send_raw(conn, "<admin@remote.example>", [f"<postmaster@{RECEIPTS}>"], message)
    await conn.close()
    (got,) = await sink.wait(1)
    assert got.rcpt_tos == ("it-desk@council.example",)
    assert strip_received(got.content)[1] == message


# --------------------------------------------------------------------------
# F16: quoted local parts, paths without brackets


async def test_quoted_local_parts_are_taken(gateway, sink):
    conn = await ehlo(gateway.port)
    message = make_message()
    await send_raw(conn, '<"john smith"@sender.example>',
                   ['<"quoted local"@recipient.example>', '<"john.smith"@recipient.example>'],
                   message)
    await conn.close()
    (got,) = await sink.wait(1)
    assert got.mail_from == '"john smith"@sender.example'
    # Quotes that quote nothing needing them are dropped (minimum quoting).
    assert got.rcpt_tos == ('"quoted local"@recipient.example', "john.smith@recipient.example")
    assert strip_received(got.content)[1] == message


HIDING = [
    '<"a@x.example"@recipient.example>',
    '<"a%x.example"@recipient.example>',
    '<"a!b"@recipient.example>',
    '<"a>b"@recipient.example>',
    '<"a,b"@recipient.example>',
    '<"a:b"@recipient.example>',
    '<"a\\"b"@recipient.example>',
    '<"a\\\\"@recipient.example>',
    '<"a\tb"@recipient.example>',
    '<""@recipient.example>',
    '<" "@recipient.example>',
    '<"abc@recipient.example>',
    '"john smith"@recipient.example',
]


async def test_quoted_local_parts_hide_nothing(gateway, sink):
    conn = await ehlo(gateway.port)
    for address in HIDING:
        assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
        code, text = await conn.cmd(f"RCPT TO:{address}")
        assert code in (501, 553), (address, text)
        assert (await conn.cmd("RSET"))[0] == 250
        code, text = await conn.cmd(f"MAIL FROM:{address}")
        assert code in (501, 553), (address, text)
    for raw in (b'<"a\x00b"@recipient.example>', b'<"a\rb"@recipient.example>',
                b'<"a\x7fb"@recipient.example>'):
        assert (await conn.cmd(b"MAIL FROM:" + raw))[0] >= 500
    await conn.close()
    assert await sink.stays_empty(0.3)


async def test_paths_without_brackets_are_taken(gateway, sink):
    """Postfix's default (strict_rfc821_envelopes = no): old devices write
    `MAIL FROM:user@domain`; the address is checked as any other."""
    conn = await ehlo(gateway.port)
    message = make_message()
    await send_raw(conn, "scanner@sender.example SIZE=2000", ["bob@recipient.example"], message)
    assert (await conn.cmd("MAIL FROM:u%x@sender.example"))[0] == 553
    assert (await conn.cmd("MAIL FROM:a@sender.example JUNK"))[0] == 555
    await conn.close()
    (got,) = await sink.wait(1)
    assert (got.mail_from, got.rcpt_tos) == ("scanner@sender.example", ("bob@recipient.example",))


# --------------------------------------------------------------------------
# F14: /readyz checks the smarthost's certificate


async def readyz(port: int) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 20)
    writer.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture(params=["starttls-verify", "implicit"])
def tls_upstream(request, tls_files, monkeypatch):
    """A smarthost with a certificate from tls_files' CA, counting the
    connections made to it."""
    import gwtest

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls_files.cert_file), str(tls_files.key_file))
    upstream = Sink(tls_context=context, implicit_tls=request.param == "implicit")
    upstream.connections = 0
    made = gwtest._SinkSMTP.__init__

    def counted(self: Any, sink: Sink) -> None:
        # One protocol per connection accepted, made before any TLS handshake.
        if sink is upstream:
            upstream.connections += 1
        made(self, sink)

    monkeypatch.setattr(gwtest._SinkSMTP, "__init__", counted)
    upstream.start()
    yield upstream, request.param
    upstream.close()


async def test_readyz_fails_when_the_certificate_does_not_verify(
    gateway_factory, tls_upstream, tmp_path
):
    import trustme

    upstream, mode = tls_upstream
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    gw = await gateway_factory({"upstream": {
        "host": "127.0.0.1", "port": upstream.port, "tls": mode, "ca_file": str(other_ca)}})
    with capture_logs() as logs:
        answers = [await readyz(gw.metrics_port) for _ in range(3)]
    for status, body in answers:
        assert status == 503
        assert "database: ok" in body
        (line,) = [x for x in body.splitlines() if x.startswith("upstream: ")]
        assert line.startswith(f"upstream: failing (127.0.0.1:{upstream.port}: "
                               "certificate not verified: "), line
        assert "unable to get local issuer certificate" in line
    (warned,) = [e for e in logs if e["event"] == "upstream_check_failed"]
    assert warned["log_level"] == "warning"
    assert warned["relay"] == f"127.0.0.1:{upstream.port}"
    assert warned["reason"] == (
        "certificate not verified: unable to get local issuer certificate")
    # Three probes, one handshake: a probe storm does not hammer the smarthost.
    assert upstream.connections == 1


async def test_readyz_is_ready_when_the_certificate_verifies(
    gateway_factory, tls_upstream, tls_files
):
    upstream, mode = tls_upstream
    gw = await gateway_factory({"upstream": {
        "host": "127.0.0.1", "port": upstream.port, "tls": mode,
        "ca_file": str(tls_files.ca_file)}})
    with capture_logs() as logs:
        _, body = await readyz(gw.metrics_port)  # 503 all the same: no password key here
    assert body.splitlines()[:2] == ["database: ok", "upstream: ok"]
    assert not [e for e in logs if e["event"] == "upstream_check_failed"]


async def test_an_upstream_down_is_warned_once_and_its_return_noted(gateway, sink):
    sink.stop()
    with capture_logs() as logs:
        for _ in range(3):
            status, body = await readyz(gateway.metrics_port)
            assert status == 503
            assert f"upstream: failing (127.0.0.1:{sink.port}: Connection refused)" in body
        sink.start()
        await readyz(gateway.metrics_port)
    (warned,) = [e for e in logs if e["event"] == "upstream_check_failed"]
    assert (warned["relay"], warned["reason"]) == (f"127.0.0.1:{sink.port}", "Connection refused")
    (back,) = [e for e in logs if e["event"] == "upstream_check_recovered"]
    assert back["relay"] == f"127.0.0.1:{sink.port}"
