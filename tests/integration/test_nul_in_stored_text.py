"""A NUL the sender can put in a value the gateway stores as text gets a
definite answer, the same on SQLite and PostgreSQL (whose text type cannot
hold U+0000): never the 451 of a write that fails every time.

Raw NUL bytes are refused in DATA; these NULs appear only after decoding (an
RFC 2047 encoded-word, a base64 body) or in a command's parameter.  A value
taken from the message is stored with U+FFFD in the NUL's place, hashed as
stored; an address is refused at MAIL or RCPT.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from gwtest import SmtpConn
from sqlalchemy import select

from gateway.audit import AuditQuery, SearchFilter, verify
from gateway.db import audit_records

SENDER = "alice@sender.example"
RECIPIENT = "bob@recipient.example"


def message(extra: str = "", body: str = "hello\r\n", encoding: str = "7bit") -> bytes:
    return (f"From: {SENDER}\r\nTo: {RECIPIENT}\r\nSubject: review\r\n{extra}"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n{body}").encode()


BODY_LINE = base64.b64encode(b"Purpose: annual review\x00 meeting\r\nHello.\r\n").decode()


async def transaction(port: int, content: bytes, rcpt_params: str = "") -> list[tuple[int, str]]:
    """MAIL, RCPT and DATA; every reply up to the first refusal."""
    conn = await SmtpConn.open(port)
    replies = [await conn.cmd("EHLO client.example")]
    for line in (f"MAIL FROM:<{SENDER}>", f"RCPT TO:<{RECIPIENT}>{rcpt_params}", "DATA"):
        replies.append(await conn.cmd(line))
        if replies[-1][0] >= 400:
            await conn.close()
            return replies
    replies.append(await conn.cmd(content + b"."))
    await conn.close()
    return replies


async def stored(gw: Any) -> dict[str, Any]:
    """The one record, as the trail reads it, with its own columns."""
    (document,) = await AuditQuery(gw.engine).search(SearchFilter())
    async with gw.engine.connect() as db:
        row = (await db.execute(select(audit_records.c.message_id, audit_records.c.purpose)
                                .where(audit_records.c.id == document["id"]))).one()
    report = await verify(gw.engine)
    assert report.ok, report.problems
    return {**document, "message_id_column": row.message_id, "purpose_column": row.purpose}


@pytest.mark.parametrize(
    ("content", "field", "expected"),
    [
        pytest.param(message("X-Sharing-Purpose: =?utf-8?q?purpose=00nul?=\r\n"),
                     "purpose", "purpose\ufffdnul", id="purpose-header"),
        pytest.param(message(body=BODY_LINE + "\r\n", encoding="base64"),
                     "purpose", "annual review\ufffd meeting", id="purpose-body-line"),
        pytest.param(message("X-Sharing-Consent: =?utf-8?q?none=00given?=\r\n"),
                     "consent", "none\ufffdgiven", id="consent-header"),
        pytest.param(message("X-Authorised-By: =?utf-8?q?Head=00Teacher?=\r\n"),
                     "authorised_by", "Head\ufffdTeacher", id="authorised-by-header"),
        pytest.param(message("Message-ID: =?utf-8?q?<a=00b@sender.example>?=\r\n"),
                     "message_id", "<a\ufffdb@sender.example>", id="message-id"),
    ],
)
async def test_nul_decoded_from_the_message_is_stored_as_replacement(
    gateway, sink, content, field, expected
):
    replies = await transaction(gateway.port, content)
    assert replies[-1][0] == 250, replies
    document = await stored(gateway)
    assert document[field] == expected
    if field == "purpose":
        assert document["purpose_column"] == expected
    if field == "message_id":
        assert document["message_id_column"] == expected
    await sink.wait(1)


async def test_nul_in_orcpt_is_refused_at_rcpt(gateway, sink):
    replies = await transaction(gateway.port, message(), " ORCPT=rfc822;a\x00b@recipient.example")
    assert replies[-1][0] == 501, replies
    assert await sink.stays_empty(0.3)


async def test_nul_in_an_address_is_refused(gateway, sink):
    conn = await SmtpConn.open(gateway.port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    assert (await conn.cmd("MAIL FROM:<a\x00b@sender.example> SMTPUTF8"))[0] == 553
    assert (await conn.cmd(f"MAIL FROM:<{SENDER}> SMTPUTF8"))[0] == 250
    assert (await conn.cmd("RCPT TO:<a\x00b@recipient.example>"))[0] == 553
    await conn.close()
