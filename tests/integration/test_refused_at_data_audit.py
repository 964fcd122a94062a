"""Content the receive stage refuses after DATA (bare line endings, too big)
is still a message the gateway received: one audit record, verdict reject,
its reason code, events received and rejected, durable before the 550 or
552; a record that cannot be written turns the refusal into 451."""

from __future__ import annotations

import pytest
from gwtest import SmtpConn, make_message
from sqlalchemy import func, select

from gateway.audit import AuditQuery, SearchFilter, verify
from gateway.db import audit_records

SENDER = "alice@sender.example"
RECIPIENTS = ("bob@recipient.example", "carol@recipient.example")
BARE_LF = (b"From: alice@sender.example\r\nTo: bob@recipient.example\r\n"
           b"Subject: first\r\n\r\nhello\r\nbare\nLF\r\n")
# Over the test configuration's max_message_size (1,000,000 bytes).
TOO_BIG = make_message(body=("y" * 998 + "\r\n") * 1100)


async def refused(port: int, content: bytes) -> tuple[int, str]:
    """One transaction whose content is refused; the DATA reply."""
    conn = await SmtpConn.open(port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    assert (await conn.cmd(f"MAIL FROM:<{SENDER}>"))[0] == 250
    for address in RECIPIENTS:
        assert (await conn.cmd(f"RCPT TO:<{address}>"))[0] == 250
    assert (await conn.cmd("DATA"))[0] == 354
    code, text = await conn.cmd(content + b".")
    # The session goes on: the refusal ended the transaction, not the connection.
    assert (await conn.cmd("NOOP"))[0] == 250
    await conn.close()
    return code, text


async def record_count(gw) -> int:
    async with gw.engine.connect() as db:
        return int((await db.execute(select(func.count()).select_from(audit_records))).scalar())


@pytest.mark.parametrize(
    ("content", "code", "status", "reason"),
    [
        pytest.param(BARE_LF, 550, "5.5.2", "malformed_message", id="bare-LF"),
        pytest.param(TOO_BIG, 552, "5.3.4", "message_too_large", id="too-big"),
    ],
)
async def test_content_refused_after_data_has_one_audit_record(
    gateway, sink, content, code, status, reason
):
    assert await record_count(gateway) == 0
    got, text = await refused(gateway.port, content)
    assert (got, text.split()[0]) == (code, status), text

    # Durable before the reply: counted at once, with no waiting.
    assert await record_count(gateway) == 1
    (document,) = await AuditQuery(gateway.engine).search(SearchFilter())
    assert document["verdict"] == "reject"
    assert [r["code"] for r in document["reasons"]] == [reason]
    assert all(r["text"] for r in document["reasons"])
    assert document["sender"] == SENDER
    assert [r["address"] for r in document["recipients"]] == list(RECIPIENTS)
    assert document["received_at"]
    assert [e["type"] for e in document["events"]] == ["received", "rejected"]
    assert document["events"][1]["detail"]["reasons"] == [reason]
    # Nothing of the content was read: no subject, no types, no attachments.
    assert (document["subject"], document["information_types"], document["attachments"]) == (
        "", [], [])
    # It is found by its reason, as any other refusal is.
    found = await AuditQuery(gateway.engine).search(SearchFilter(reason=reason))
    assert [d["id"] for d in found] == [document["id"]]
    report = await verify(gateway.engine)
    assert report.ok, report.problems
    assert await sink.stays_empty(0.3)


async def test_refusal_whose_record_cannot_be_written_answers_451(gateway, sink, monkeypatch):
    """Fail closed: no 550 goes out without its record; 451 asks the client
    to try again, when the record can be written."""

    def broken(*args: object, **kwargs: object):
        async def write(conn: object) -> None:
            raise RuntimeError("the database is away")

        return write

    monkeypatch.setattr(gateway.audit, "record_op", broken)
    got, text = await refused(gateway.port, BARE_LF)
    assert (got, text.split()[0]) == (451, "4.3.0"), text
    assert "database" not in text
    assert await record_count(gateway) == 0
    monkeypatch.undo()
    got, text = await refused(gateway.port, BARE_LF)
    assert (got, text.split()[0]) == (550, "5.5.2"), text
    assert await record_count(gateway) == 1


async def test_refused_inbound_receipt_gets_no_record(gateway, sink):
    """Mail to the receipts domain (taken from anyone) is no message the
    gateway relays: refused or taken, it adds no record of its own."""
    conn = await SmtpConn.open(gateway.port)
    await conn.cmd("EHLO mta.recipient.example")
    assert (await conn.cmd("MAIL FROM:<>"))[0] == 250
    assert (await conn.cmd("RCPT TO:<r-anything@receipts.gateway.example.org>"))[0] == 250
    assert (await conn.cmd("DATA"))[0] == 354
    code, text = await conn.cmd(BARE_LF + b".")
    await conn.close()
    assert (code, text.split()[0]) == (550, "5.5.2"), text
    assert await record_count(gateway) == 0


async def test_receipt_address_beside_other_recipients_is_refused_with_its_record(
    gateway, sink
):
    """A receipt address mixed with recipients the message would be relayed
    to is refused (a receipt must never travel with relayed mail), and like
    every message received it has its record, written before the 550."""
    receipt = "r-anything@receipts.gateway.example.org"
    conn = await SmtpConn.open(gateway.port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    assert (await conn.cmd(f"MAIL FROM:<{SENDER}>"))[0] == 250
    for address in (receipt, RECIPIENTS[0]):
        assert (await conn.cmd(f"RCPT TO:<{address}>"))[0] == 250
    assert (await conn.cmd("DATA"))[0] == 354
    code, text = await conn.cmd(make_message() + b".")
    await conn.close()
    assert (code, text.split()[0]) == (550, "5.7.1"), text
    assert "mixed" in text
    assert await record_count(gateway) == 1
    (document,) = await AuditQuery(gateway.engine).search(
        SearchFilter(reason="receipt_address_mixed"))
    assert document["verdict"] == "reject"
    assert [r["address"] for r in document["recipients"]] == [receipt, RECIPIENTS[0]]
    assert [e["type"] for e in document["events"]] == ["received", "rejected"]
    assert document["subject"] == ""
    assert (await verify(gateway.engine)).ok
    assert await sink.stays_empty(0.3)


def _with_hops(count: int) -> bytes:
    hops = b"".join(
        f"Received: from relay{n}.example (relay{n}.example [192.0.2.{n % 250 + 1}])\r\n"
        f"\tby relay{n + 1}.example with ESMTP id H{n}; Sun, 29 Nov 2026 09:00:00 +0000\r\n"
        .encode() for n in range(count))
    return hops + make_message()


async def test_a_mail_loop_is_refused_after_max_hops_with_its_record(gateway, sink):
    """RFC 5321 6.3: more Received fields than `[server] max_hops` (100) is a
    loop; refused 554 5.4.6, recorded, never relayed.  Without it a routing
    mistake ran round about 85 times a second, a record each time, until
    the message outgrew max_message_size."""
    got, text = await refused(gateway.port, _with_hops(101))
    assert (got, text.split()[0]) == (554, "5.4.6"), text
    assert "more than 100 Received headers" in text
    (document,) = await AuditQuery(gateway.engine).search(
        SearchFilter(reason="too_many_hops"))
    assert document["verdict"] == "reject"
    assert [e["type"] for e in document["events"]] == ["received", "rejected"]
    assert (await verify(gateway.engine)).ok
    assert await sink.stays_empty(0.3)


async def test_hops_up_to_the_limit_and_quoted_ones_are_relayed(gateway, sink):
    """100 Received fields is not a loop; nor are Received lines in the body
    (a forwarded message quoted as text)."""
    conn = await SmtpConn.open(gateway.port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    quoted = make_message(body="---- Forwarded ----\r\n" + "Received: from x by y\r\n" * 150)
    for content in (_with_hops(100), quoted):
        assert (await conn.cmd(f"MAIL FROM:<{SENDER}>"))[0] == 250
        assert (await conn.cmd(f"RCPT TO:<{RECIPIENTS[0]}>"))[0] == 250
        assert (await conn.cmd("DATA"))[0] == 354
        code, text = await conn.cmd(content + b".")
        assert code == 250, text
    await conn.close()
    assert len(await sink.wait(2)) == 2
