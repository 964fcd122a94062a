"""Receipts and password release over real SMTP: client -> gateway -> sink,
and receipts sent back to the gateway the way Postfix, Exchange, Gmail and
Thunderbird write them.

A compliant message (AES-256 read-only zip, marked subject, password line)
goes out once per recipient with a VERP return path, DSN NOTIFY/RET/ENVID
and its own Disposition-Notification-To; its password leaves only after
that recipient's receipt, only to that recipient, only once; forged tokens,
replays and receipts for another message release nothing; the TTL destroys
the password; a restart between relay and receipt loses nothing; no receipt
in time tells the sender who to telephone.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from gwtest import RECIPIENTS_CSV, SinkMessage, SqliteSteps, audit_events_of
from policy_messages import ALLOWED, SENDER, Spec, person, record_text
from sqlalchemy import select, text
from structlog.testing import capture_logs
from unit.receipts.receipt_shapes import (
    exchange_dsn,
    exchange_mdn,
    exchange_ndr,
    gmail_bounce,
    postfix_dsn,
    thunderbird_mdn,
)

from gateway.app import Gateway
from gateway.audit import AuditQuery, EventFilter, SearchFilter
from gateway.audit.query import recipient_outcomes
from gateway.passwords import held_passwords
from gateway.queue import QueueState
from gateway.queue.held import decide_held
from gateway.queue.writer import sqlite_connection
from gateway.receipts.schema import receipt_requests
from gateway.settings import Settings

KEY = base64.b64encode(secrets.token_bytes(32)).decode()
DOMAIN = "receipts.gateway.example.org"
SECOND = "second@recipient.example"

Factory = Callable[..., Awaitable[Any]]


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", KEY)
    return KEY


def config(**sections: dict[str, Any]) -> dict[str, Any]:
    base: dict[str, Any] = {
        "policy": {"mode": "enforce"},
        "passwords": {"release": "on-receipt"},
        "receipts": {"check_interval": "200ms"},
    }
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return base


async def send(
    port: int, raw: bytes, rcpts: list[str], sender: str = SENDER,
    rcpt_options: list[str] | None = None,
) -> tuple[int, str]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    try:
        if rcpt_options:
            await client.ehlo()
            await client.mail(sender)
            for rcpt in rcpts:
                await client.rcpt(rcpt, options=rcpt_options)
            response = await client.data(raw)
            return response.code, response.message
        errors, reply = await client.sendmail(sender, rcpts, raw)
        assert not errors
        return 250, reply
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    finally:
        client.close()


async def give_back(port: int, to: str, raw: bytes) -> tuple[int, str]:
    """A receipt arriving at the gateway, from the null sender as MTAs send them."""
    return await send(port, raw, [to], sender="")


async def events(gw: Any, record_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The record's events once the emails on the wire are recorded: a
    password's `password_released` is written with its email's delivery,
    a moment after the sink has it."""
    for _ in range(100):
        if not await gw.store.count([QueueState.QUEUED, QueueState.ACTIVE]):
            break
        await asyncio.sleep(0.05)
    return await audit_events_of(gw, record_id)


async def held_rows(gw: Any, queue_id: str) -> dict[str, dict[str, Any]]:
    async with gw.engine.connect() as conn:
        rows = await conn.execute(
            select(held_passwords).where(held_passwords.c.queue_id == queue_id)
        )
        return {r.recipient: dict(r._mapping) for r in rows}


def texts(message: SinkMessage) -> str:
    parsed = email.message_from_bytes(message.content, policy=email.policy.default)
    out = [str(parsed["Subject"])]
    for part in parsed.walk():
        if part.get_content_maintype() == "text":
            out.append(part.get_content())
    return "\n".join(out)


def copy_for(messages: list[SinkMessage], rcpt: str) -> SinkMessage:
    (found,) = [m for m in messages if m.rcpt_tos == (rcpt,) and m.mail_from.startswith("dsn+")]
    return found


async def relay(gw: Any, sink: Any, spec: Spec, expect: int) -> tuple[str, list[SinkMessage]]:
    code, reply = await send(gw.port, spec.build(), spec.to)
    assert code == 250, reply
    got = await sink.wait(expect)
    return reply.split()[-1], got


async def nothing_more(sink: Any, count: int, seconds: float = 1.0) -> list[SinkMessage]:
    await asyncio.sleep(seconds)
    got = sink.snapshot()
    assert len(got) == count, [(m.mail_from, m.rcpt_tos) for m in got[count:]]
    return got


def mdn_address(message: SinkMessage) -> str:
    value = message.header("Disposition-Notification-To")
    assert value is not None
    return value.strip("<>")


# -- asking, receiving, releasing -------------------------------------------------


async def test_receipts_requested_and_password_released_per_recipient(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config())
    spec = Spec(person(20240501), to=[ALLOWED, SECOND])
    queue_id, got = await relay(gw, sink, spec, 2)

    for index, rcpt in enumerate([ALLOWED, SECOND]):
        copy = copy_for(got, rcpt)
        assert re.fullmatch(rf"dsn\+{queue_id}-{index}-[a-z2-7]{{20}}@{DOMAIN}", copy.mail_from)
        assert "RET=HDRS" in copy.mail_options
        assert f"ENVID={queue_id}-{index}" in copy.mail_options
        (options,) = copy.rcpt_options
        assert "NOTIFY=SUCCESS,FAILURE,DELAY" in options
        assert re.fullmatch(rf"mdn\+{queue_id}-{index}-[a-z2-7]{{20}}@{DOMAIN}",
                            mdn_address(copy))
        assert copy.content.startswith(b"Received: ")
        assert spec.password.encode() not in copy.content
    await nothing_more(sink, 2, 0.6)  # no password before a receipt

    first, second = copy_for(got, ALLOWED), copy_for(got, SECOND)
    message_id = first.header("Message-ID")

    # Postfix: delivered to the first recipient -> their password, to them only.
    dsn = postfix_dsn(to=first.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0",
                      original_message_id=message_id, orcpt=f"rfc822;{ALLOWED}")
    assert (await give_back(gw.port, first.mail_from, dsn))[0] == 250
    got = await sink.wait(3)
    password_mail = got[2]
    assert password_mail.rcpt_tos == (ALLOWED,)
    assert password_mail.mail_from == ""
    assert spec.password in texts(password_mail)
    assert queue_id in texts(password_mail)
    assert password_mail.header("From") == "postmaster@gw.test.example"
    # Which message it opens: who sent it (a shared inbox has many that day).
    assert f"a message from {SENDER} sent to {ALLOWED}" in " ".join(texts(password_mail).split())

    # Replayed: nothing more, not even an audit event.
    assert (await give_back(gw.port, first.mail_from, dsn))[0] == 250
    await nothing_more(sink, 3)

    # Exchange MDN (displayed) from the second recipient: read proves delivery.
    mdn = exchange_mdn(to=mdn_address(second), recipient=SECOND,
                       original_message_id=message_id)
    assert (await give_back(gw.port, mdn_address(second), mdn))[0] == 250
    got = await sink.wait(4)
    assert got[3].rcpt_tos == (SECOND,)
    assert spec.password in texts(got[3])
    await nothing_more(sink, 4, 0.5)

    trail = await events(gw, queue_id)
    types = [t for t, _ in trail]
    assert types.count("delivery_confirmed") == 1
    assert types.count("read_confirmed") == 1
    assert types.count("password_released") == 2
    confirmed = next(d for t, d in trail if t == "delivery_confirmed")
    assert confirmed == {"recipient": ALLOWED, "index": 0, "kind": "dsn", "status": "2.0.0",
                         "outcome": "delivered", "authenticated": True,
                         "correlated_by": "token"}
    released = [d for t, d in trail if t == "password_released"]
    assert {d["to"] for d in released} == {ALLOWED, SECOND}
    assert {d["how"] for d in released} == {"on-receipt"}
    assert all(spec.password not in json.dumps(d) for _, d in trail)
    rows = await held_rows(gw, queue_id)
    assert {r["state"] for r in rows.values()} == {"released"}
    assert all(r["ciphertext"] is None for r in rows.values())


async def test_exchange_dsn_and_thunderbird_mdn_with_release_on_read(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config(receipts={"release_on": "read"}))
    spec = Spec(person(7))
    queue_id, got = await relay(gw, sink, spec, 1)
    copy = got[0]
    message_id = copy.header("Message-ID")
    dsn = exchange_dsn(to=copy.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0",
                       original_message_id=message_id)
    assert (await give_back(gw.port, copy.mail_from, dsn))[0] == 250
    await nothing_more(sink, 1)  # delivered is not enough under release_on = "read"
    mdn = thunderbird_mdn(to=mdn_address(copy), recipient=ALLOWED,
                          original_message_id=message_id)
    assert (await give_back(gw.port, mdn_address(copy), mdn))[0] == 250
    got = await sink.wait(2)
    assert got[1].rcpt_tos == (ALLOWED,) and spec.password in texts(got[1])
    types = [t for t, _ in await events(gw, queue_id)]
    assert types.index("delivery_confirmed") < types.index("read_confirmed")
    assert types.index("read_confirmed") < types.index("password_released")


async def test_forged_token_and_receipt_for_another_message_release_nothing(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config())
    spec_a, spec_b = Spec(person(1)), Spec(person(2), password="Other-Secret-77")
    queue_a, got = await relay(gw, sink, spec_a, 1)
    queue_b, got = await relay(gw, sink, spec_b, 2)
    copy_a = got[0]

    # A guessed tag on a well-formed address: 250, dropped.
    forged = re.sub(r"-[a-z2-7]{20}@", "-" + "a" * 20 + "@", copy_a.mail_from)
    dsn = postfix_dsn(to=forged, recipient=ALLOWED, envid=f"{queue_a}-0")
    assert (await give_back(gw.port, forged, dsn))[0] == 250
    # A token of message A made by hand for message B: the HMAC fails.
    other = copy_a.mail_from.replace(queue_a, queue_b)
    assert (await give_back(gw.port, other, postfix_dsn(
        to=other, recipient=ALLOWED, envid=f"{queue_b}-0")))[0] == 250
    # A's genuine token carrying B's report (ENVID, then Message-ID): dropped.
    assert (await give_back(gw.port, copy_a.mail_from, postfix_dsn(
        to=copy_a.mail_from, recipient=ALLOWED, envid=f"{queue_b}-0")))[0] == 250
    message_b = got[1].header("Message-ID")
    assert (await give_back(gw.port, mdn_address(copy_a), exchange_mdn(
        to=mdn_address(copy_a), recipient=ALLOWED, original_message_id=message_b)))[0] == 250
    # Not a receipt address at all, correlating with nothing: refused.
    assert (await give_back(gw.port, f"someone@{DOMAIN}", postfix_dsn(
        to=f"someone@{DOMAIN}", recipient=ALLOWED, envid="NOTOURS-1")))[0] == 550

    await nothing_more(sink, 2)
    for queue_id in (queue_a, queue_b):
        types = [t for t, _ in await events(gw, queue_id)]
        assert "delivery_confirmed" not in types and "password_released" not in types
        assert {r["state"] for r in (await held_rows(gw, queue_id)).values()} == {"held"}


async def test_tokenless_receipt_is_audited_but_releases_nothing(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config())
    queue_id, got = await relay(gw, sink, Spec(person(3)), 1)
    to = f"postmaster@{DOMAIN}"
    dsn = postfix_dsn(to=to, recipient=ALLOWED, envid=f"{queue_id}-0")
    assert (await give_back(gw.port, to, dsn))[0] == 250
    assert (await give_back(gw.port, to, dsn))[0] == 250  # audited once
    await nothing_more(sink, 1)
    trail = await events(gw, queue_id)
    unverified = [d for t, d in trail if t == "receipt_unverified"]
    assert len(unverified) == 1
    assert unverified[0]["authenticated"] is False
    assert unverified[0]["correlated_by"] == "envid"
    assert "password_released" not in [t for t, _ in trail]
    assert "delivery_confirmed" not in [t for t, _ in trail]
    # The genuine receipt still counts afterwards.
    assert (await give_back(gw.port, got[0].mail_from, postfix_dsn(
        to=got[0].mail_from, recipient=ALLOWED, envid=f"{queue_id}-0")))[0] == 250
    assert (await sink.wait(2))[1].rcpt_tos == (ALLOWED,)


async def test_failure_is_audited_and_forwarded_to_the_sender(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config())
    spec = Spec(person(4))
    queue_id, got = await relay(gw, sink, spec, 1)
    copy = got[0]
    bounce = gmail_bounce(to=copy.mail_from, recipient=ALLOWED,
                          original_message_id=copy.header("Message-ID"))
    assert (await give_back(gw.port, copy.mail_from, bounce))[0] == 250
    got = await sink.wait(2)
    forwarded = got[1]
    assert forwarded.rcpt_tos == (SENDER,) and forwarded.mail_from == ""
    report = email.message_from_bytes(forwarded.content, policy=email.policy.compat32)
    assert report.get_content_type() == "multipart/report"
    assert "Action: failed" in forwarded.content.decode()
    assert spec.password not in forwarded.content.decode()
    await nothing_more(sink, 2)
    failed = [d for t, d in await events(gw, queue_id) if t == "delivery_failed"]
    assert failed and failed[0]["status"] == "5.1.1" and failed[0]["index"] == 0
    # It never arrived: its password is not kept for the ttl.
    held = (await held_rows(gw, queue_id))[ALLOWED]
    assert held["state"] == "destroyed" and held["ciphertext"] is None
    destroyed = [d for t, d in await events(gw, queue_id) if t == "password_destroyed"]
    assert destroyed == [{"held_id": held["id"], "recipient": ALLOWED,
                          "reason": "delivery_failed"}]


async def test_a_failure_for_one_recipient_keeps_the_others_password(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config())
    queue_id, got = await relay(gw, sink, Spec(person(14), to=[ALLOWED, SECOND]), 2)
    first = copy_for(got, ALLOWED)
    bounce = postfix_dsn(to=first.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0",
                         action="failed", status="5.2.2")
    assert (await give_back(gw.port, first.mail_from, bounce))[0] == 250
    await sink.wait(3)  # the failure, forwarded to the sender
    rows = await held_rows(gw, queue_id)
    assert rows[ALLOWED]["state"] == "destroyed" and rows[SECOND]["state"] == "held"


async def test_senders_own_requests_are_kept_and_answered(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config(passwords={"release": "manual"}))
    spec = Spec(person(5), headers=[("Disposition-Notification-To", SENDER)])
    code, reply = await send(gw.port, spec.build(), [ALLOWED],
                             rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
    assert code == 250, reply
    queue_id = reply.split()[-1]
    (copy,) = await sink.wait(1)
    # The sender's own read-receipt address is replaced by the gateway's.
    assert mdn_address(copy).startswith("mdn+")
    assert SENDER not in (copy.header("Disposition-Notification-To") or "")
    assert copy.content.count(b"Disposition-Notification-To") == 1
    message_id = copy.header("Message-ID")
    await give_back(gw.port, copy.mail_from, postfix_dsn(
        to=copy.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0"))
    await give_back(gw.port, mdn_address(copy), exchange_mdn(
        to=mdn_address(copy), recipient=ALLOWED, original_message_id=message_id))
    got = await sink.wait(3)
    assert [m.rcpt_tos for m in got[1:]] == [(SENDER,), (SENDER,)]
    kinds = {m.header("Subject") for m in got[1:]}
    assert kinds == {"Delivery report: delivered", "Read report: displayed"}
    assert all(spec.password not in texts(m) for m in got)  # manual: nothing released
    await nothing_more(sink, 3)


async def test_release_to_sender_at_acceptance(gateway_factory: Factory, sink: Any) -> None:
    gw = await gateway_factory(config(passwords={"release": "sender"}))
    spec = Spec(person(6))
    queue_id, got = await relay(gw, sink, spec, 2)
    to_sender = next(m for m in got if m.rcpt_tos == (SENDER,))
    body = texts(to_sender)
    assert spec.password in body
    assert "Recipient Team" in body and "01632 960001" in body
    relayed = next(m for m in got if m.rcpt_tos == (ALLOWED,))
    assert spec.password.encode() not in relayed.content
    # A receipt later releases nothing more: it has gone to the sender.
    await give_back(gw.port, relayed.mail_from, postfix_dsn(
        to=relayed.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0"))
    await nothing_more(sink, 2)
    released = [d for t, d in await events(gw, queue_id) if t == "password_released"]
    assert [(d["how"], d["to"]) for d in released] == [("sender", SENDER)]


async def test_ttl_destroys_the_password(gateway_factory: Factory, sink: Any) -> None:
    gw = await gateway_factory(config(passwords={"ttl": "1s"}))
    spec = Spec(person(8))
    queue_id, got = await relay(gw, sink, spec, 1)
    for _ in range(50):
        rows = await held_rows(gw, queue_id)
        if rows[ALLOWED]["state"] == "expired":
            break
        await asyncio.sleep(0.1)
    assert rows[ALLOWED]["state"] == "expired"
    assert rows[ALLOWED]["ciphertext"] is None
    assert "password_expired" in [t for t, _ in await events(gw, queue_id)]
    await give_back(gw.port, got[0].mail_from, postfix_dsn(
        to=got[0].mail_from, recipient=ALLOWED, envid=f"{queue_id}-0"))
    # The recipient confirmed receipt of content nobody can open now: the
    # sender is told, once, and nothing goes to the recipient.
    got = await sink.wait(2)
    notice = got[1]
    assert notice.rcpt_tos == (SENDER,) and notice.mail_from == ""
    body = texts(notice)
    assert "cannot open your message" in body and queue_id in body
    assert "Recipient Team" in body and "01632 960001" in body
    assert "send the message again" in body and spec.password not in body
    # A read receipt after it is no news.
    await give_back(gw.port, mdn_address(got[0]), thunderbird_mdn(
        to=mdn_address(got[0]), recipient=ALLOWED,
        original_message_id=got[0].header("Message-ID")))
    await nothing_more(sink, 2)
    assert "password_released" not in [t for t, _ in await events(gw, queue_id)]


async def test_a_receipt_after_expiry_under_release_on_read_tells_the_sender_once(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config(passwords={"ttl": "1s"},
                                      receipts={"release_on": "read"}))
    queue_id, got = await relay(gw, sink, Spec(person(18)), 1)
    for _ in range(50):
        if (await held_rows(gw, queue_id))[ALLOWED]["state"] == "expired":
            break
        await asyncio.sleep(0.1)
    # Delivered: it would not have released under release_on = "read".
    await give_back(gw.port, got[0].mail_from, postfix_dsn(
        to=got[0].mail_from, recipient=ALLOWED, envid=f"{queue_id}-0"))
    await nothing_more(sink, 1)
    await give_back(gw.port, mdn_address(got[0]), thunderbird_mdn(
        to=mdn_address(got[0]), recipient=ALLOWED,
        original_message_id=got[0].header("Message-ID")))
    got = await sink.wait(2)
    assert got[1].rcpt_tos == (SENDER,) and "cannot open your message" in texts(got[1])
    await nothing_more(sink, 2)


async def test_restart_between_relay_and_receipt_loses_nothing(
    gateway_factory: Factory, gateway_config: Callable[..., dict[str, Any]], sink: Any,
    tmp_path: Path,
) -> None:
    # The first process is made here (the factory would stop it a second time).
    settings = Settings.model_validate({**gateway_config(config()), "config_dir": tmp_path})
    first = Gateway(settings)
    await first.start()
    spec = Spec(person(9))
    try:
        queue_id, got = await relay(first, sink, spec, 1)
    finally:
        await first.stop(grace=5)
    second = await gateway_factory(config())
    copy = got[0]
    dsn = postfix_dsn(to=copy.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0")
    assert (await give_back(second.port, copy.mail_from, dsn))[0] == 250
    got = await sink.wait(2)
    assert got[1].rcpt_tos == (ALLOWED,) and spec.password in texts(got[1])


async def test_no_receipt_in_time_tells_the_sender_once(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config(receipts={"timeout": "1s"}))
    queue_id, _ = await relay(gw, sink, Spec(person(10)), 1)
    got = await sink.wait(2, timeout=10)
    notice = got[1]
    assert notice.rcpt_tos == (SENDER,)
    body = texts(notice)
    assert "Recipient Team" in body and "01632 960001" in body and queue_id in body
    await nothing_more(sink, 2, 1.5)
    timeouts = [d for t, d in await events(gw, queue_id) if t == "receipt_timeout"]
    assert timeouts == [{"recipient": ALLOWED, "index": 0, "waited_seconds": 1,
                         "sender_told": True}]
    async with gw.engine.connect() as conn:
        (row,) = (await conn.execute(select(receipt_requests))).all()
    assert row.timeout_at is not None


async def test_mail_without_personal_data_asks_for_no_receipts(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config())
    raw = (b"From: caseworker@council.example\r\nTo: duty@recipient.example\r\n"
           b"Subject: Lunch\r\nMessage-ID: <lunch@council.example>\r\n\r\nSandwiches?\r\n")
    code, _ = await send(gw.port, raw, [ALLOWED, SECOND])
    assert code == 250
    (copy,) = await sink.wait(1)
    assert copy.mail_from == SENDER
    assert copy.rcpt_tos == (ALLOWED, SECOND)
    assert copy.header("Disposition-Notification-To") is None


async def test_receipt_addresses_cannot_be_mixed_with_others(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config())
    raw = b"Subject: x\r\n\r\nx\r\n"
    code, reply = await send(gw.port, raw, [f"postmaster@{DOMAIN}", ALLOWED])
    assert code == 550 and "mixed" in reply
    assert await sink.stays_empty(0.3)


async def test_a_delay_and_a_deletion_unread_are_audited_and_release_nothing(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config())
    spec = Spec(person(6))
    queue_id, got = await relay(gw, sink, spec, 1)
    copy = got[0]
    first, later = (
        postfix_dsn(to=copy.mail_from, recipient=ALLOWED, action="delayed", status="4.4.1",
                    envid=f"{queue_id}-0", message_id=f"<delay-{n}@mx.recipient.example>")
        for n in (1, 2)
    )
    # A delay may be reported again later: each report is kept, once.  The
    # first report received a second time is a replay, not a third delay.
    for report in (first, later, first):
        assert (await give_back(gw.port, copy.mail_from, report))[0] == 250
    deleted = exchange_mdn(to=mdn_address(copy), recipient=ALLOWED,
                           original_message_id=copy.header("Message-ID"), disposition="deleted")
    assert (await give_back(gw.port, mdn_address(copy), deleted))[0] == 250
    await nothing_more(sink, 1)
    trail = await events(gw, queue_id)
    noted = [(t, d["index"], d.get("status"), d["outcome"]) for t, d in trail
             if t in ("delivery_delayed", "deleted_unread")]
    assert noted == [("delivery_delayed", 0, "4.4.1", "delayed")] * 2 + [
        ("deleted_unread", 0, None, "deleted")
    ]
    types = [t for t, _ in trail]
    assert "delivery_confirmed" not in types and "password_released" not in types
    assert (await held_rows(gw, queue_id))[ALLOWED]["state"] == "held"


async def test_a_read_receipts_disposition_is_kept_in_the_rfcs_words_only(
    gateway_factory: Factory, sink: Any
) -> None:
    """The recipient's side writes the Disposition line, and a modifier can
    be any text: the trail keeps RFC 8098's words, never the rest."""
    gw = await gateway_factory(config())
    who = person(7)
    queue_id, got = await relay(gw, sink, Spec(who), 1)
    copy = got[0]
    free_text = f"{who.name} {who.nhs.replace(' ', '')} DOB {who.dob}"
    deleted = exchange_mdn(to=mdn_address(copy), recipient=ALLOWED,
                           original_message_id=copy.header("Message-ID"),
                           disposition=f"Deleted / Error, {free_text}")
    assert (await give_back(gw.port, mdn_address(copy), deleted))[0] == 250
    await nothing_more(sink, 1)
    trail = await events(gw, queue_id)
    (detail,) = [d for t, d in trail if t == "deleted_unread"]
    assert detail["disposition"] == "automatic-action/MDN-sent-automatically; deleted/error"
    kept = json.dumps(await AuditQuery(gw.engine).get(queue_id), ensure_ascii=False)
    assert "deleted_unread" in kept
    for value in who.values:
        assert value not in kept


# Requests whose receipt came in long ago: rows stay after their receipt.
_CONFIRMED = 3000


async def test_the_timeout_sweep_reads_only_the_requests_still_waiting(
    gateway_factory: Factory,
) -> None:
    """Every check_interval the desk looks for overdue receipts.  Confirmed
    requests stay in the table for good; the sweep's index (migration 0010)
    holds only those still waiting, so it does not read them all again each
    time (it did: 60 ms a minute at 500,000, on SQLite on the event loop)."""
    gw = await gateway_factory(config(receipts={"timeout": "1h", "check_interval": "1h"}))
    now = time.time()
    long_ago = now - 30 * 86400
    row = {"recipient": ALLOWED, "route": "upstream", "sender": "", "sender_mdn": False,
           "created_at": long_ago, "relayed_at": long_ago}
    confirmed = [{**row, "queue_id": f"old{n:06d}", "idx": 0, "delivered_at": long_ago + 60}
                 for n in range(_CONFIRMED)]
    async with gw.engine.begin() as conn:
        await conn.execute(receipt_requests.insert(), confirmed)
        await conn.execute(receipt_requests.insert(), {**row, "queue_id": "waiting", "idx": 0})
        if conn.dialect.name == "postgresql":
            await conn.execute(text("ANALYZE receipt_requests"))

    async def sweep(conn: Any) -> tuple[int, int]:
        """The sweep, and how many rows it read: SQLite's virtual machine
        steps (several per row read), PostgreSQL's tuples read in this
        transaction."""
        raw = sqlite_connection(conn)
        if raw is None:
            before = await _rows_read(conn)
            timed_out = await gw.desk._timeouts_op(now)(conn)
            return timed_out, await _rows_read(conn) - before
        with SqliteSteps(raw) as steps:
            timed_out = await gw.desk._timeouts_op(now)(conn)
        return timed_out, steps.count

    timed_out, read = await gw.writer.submit(sweep)
    assert timed_out == 1
    assert read < _CONFIRMED // 5, read  # every row: 3,002 on PostgreSQL, 18,121 steps
    async with gw.engine.connect() as conn:
        waiting = (await conn.execute(select(receipt_requests.c.timeout_at).where(
            receipt_requests.c.queue_id == "waiting"))).scalar_one()
    assert waiting == now


async def _rows_read(conn: Any) -> int:
    return int((await conn.execute(text(
        "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)"
        " FROM pg_stat_xact_user_tables WHERE relname = 'receipt_requests'"
    ))).scalar_one())


# -- fixes: hold before sender release, relayed DSNs, release_on = "read" timeouts ----

HOLD = {"enabled": True, "min_people": 1, "special_category": False}


async def test_release_to_sender_waits_for_the_authoriser(
    gateway_factory: Factory, sink: Any
) -> None:
    """Under HOLD nothing is released; approval sends the sender the password."""
    gw = await gateway_factory(config(passwords={"release": "sender"}, policy={"hold": HOLD}))
    spec = Spec(person(12))
    code, reply = await send(gw.port, spec.build(), spec.to)
    assert code == 250 and "held for authorisation" in reply, reply
    queue_id = reply.split()[3]
    (notice,) = await sink.wait(1)  # the sender hears it waits; no password
    assert notice.rcpt_tos == (SENDER,) and spec.password not in texts(notice)
    # check_interval 200ms: several housekeeping rounds
    assert await sink.stays_empty(1.0, after=1)
    assert (await held_rows(gw, queue_id))[ALLOWED]["state"] == "held"
    assert "password_released" not in [t for t, _ in await events(gw, queue_id)]

    assert await decide_held(gw.store, gw.audit, queue_id, True, "Dee Approver") is None
    got = (await sink.wait(3, timeout=10))[1:]
    to_sender = next(m for m in got if m.rcpt_tos == (SENDER,))
    body = texts(to_sender)
    assert spec.password in body
    assert "Recipient Team" in body and "01632 960001" in body and queue_id in body
    relayed = next(m for m in got if m.rcpt_tos == (ALLOWED,))
    assert spec.password.encode() not in relayed.content
    await nothing_more(sink, 3)
    types = [t for t, _ in await events(gw, queue_id)]
    assert types.index("approved") < types.index("password_released")
    released = [d for t, d in await events(gw, queue_id) if t == "password_released"]
    assert [(d["how"], d["to"]) for d in released] == [("sender", SENDER)]


async def test_rejected_hold_releases_nothing_to_the_sender(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config(passwords={"release": "sender"}, policy={"hold": HOLD}))
    spec = Spec(person(13))
    code, reply = await send(gw.port, spec.build(), spec.to)
    assert code == 250 and "held for authorisation" in reply, reply
    queue_id = reply.split()[3]
    assert await decide_held(gw.store, gw.audit, queue_id, False, "Dee Approver",
                             hostname="gw.example.org") is None
    held, refused = await sink.wait(2)  # the sender's two notices, no password
    assert (held.rcpt_tos, refused.rcpt_tos) == ((SENDER,), (SENDER,))
    assert spec.password not in texts(held) + texts(refused)
    assert "Decided by: Dee Approver" in texts(refused)
    await nothing_more(sink, 2)
    types = [t for t, _ in await events(gw, queue_id)]
    assert "password_released" not in types
    assert types[:4] == ["received", "held", "password_held", "rejected"]
    assert (await held_rows(gw, queue_id))[ALLOWED]["state"] == "destroyed"


async def test_a_relayed_dsn_confirms_nothing_and_releases_nothing(
    gateway_factory: Factory, sink: Any
) -> None:
    """RFC 3464 "relayed": handed to a system that sends no DSN, so no
    confirmation will follow; the timeout then tells the sender."""
    gw = await gateway_factory(config(receipts={"timeout": "2s"}))
    spec = Spec(person(14))
    queue_id, got = await relay(gw, sink, spec, 1)
    copy = got[0]
    for action in ("relayed", "expanded"):
        dsn = postfix_dsn(to=copy.mail_from, recipient=ALLOWED, action=action,
                          envid=f"{queue_id}-0", message_id=f"<{action}@mx.recipient.example>")
        assert (await give_back(gw.port, copy.mail_from, dsn))[0] == 250
    got = await sink.wait(2, timeout=10)
    notice = got[1]
    assert notice.rcpt_tos == (SENDER,) and spec.password not in texts(notice)
    await nothing_more(sink, 2)
    trail = await events(gw, queue_id)
    types = [t for t, _ in trail]
    assert "delivery_confirmed" not in types and "password_released" not in types
    noted = [(t, d["outcome"]) for t, d in trail if t == "receipt_other"]
    assert noted == [("receipt_other", "relayed"), ("receipt_other", "expanded")]
    assert "receipt_timeout" in types
    assert (await held_rows(gw, queue_id))[ALLOWED]["state"] == "held"


async def test_release_on_read_times_out_a_recipient_who_never_read_it(
    gateway_factory: Factory, sink: Any
) -> None:
    """Delivered (DSN) but no read receipt, or an MDN "deleted": the password
    is still held, so the sender is told after the timeout."""
    gw = await gateway_factory(config(receipts={"release_on": "read", "timeout": "2s"}))
    spec = Spec(person(15), to=[ALLOWED, SECOND])
    queue_id, got = await relay(gw, sink, spec, 2)
    first, second = copy_for(got, ALLOWED), copy_for(got, SECOND)
    assert (await give_back(gw.port, first.mail_from, postfix_dsn(
        to=first.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0")))[0] == 250
    assert (await give_back(gw.port, second.mail_from, postfix_dsn(
        to=second.mail_from, recipient=SECOND, envid=f"{queue_id}-1")))[0] == 250
    deleted = exchange_mdn(to=mdn_address(second), recipient=SECOND,
                           original_message_id=second.header("Message-ID"),
                           disposition="deleted")
    assert (await give_back(gw.port, mdn_address(second), deleted))[0] == 250
    got = await sink.wait(3, timeout=10)
    notice = got[2]
    assert notice.rcpt_tos == (SENDER,)
    body = texts(notice)
    assert ALLOWED in body and SECOND in body and "read" in body
    await nothing_more(sink, 3, 1.5)
    timeouts = [d for t, d in await events(gw, queue_id) if t == "receipt_timeout"]
    assert sorted(d["recipient"] for d in timeouts) == [ALLOWED, SECOND]
    assert all(d["awaited"] == "read" for d in timeouts)


async def test_release_on_read_does_not_time_out_a_read_recipient(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config(receipts={"release_on": "read", "timeout": "1s"}))
    spec = Spec(person(16))
    queue_id, got = await relay(gw, sink, spec, 1)
    copy = got[0]
    await give_back(gw.port, copy.mail_from, postfix_dsn(
        to=copy.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0"))
    await give_back(gw.port, mdn_address(copy), thunderbird_mdn(
        to=mdn_address(copy), recipient=ALLOWED, original_message_id=copy.header("Message-ID")))
    got = await sink.wait(2)
    assert got[1].rcpt_tos == (ALLOWED,) and spec.password in texts(got[1])
    await nothing_more(sink, 2, 2.0)
    assert "receipt_timeout" not in [t for t, _ in await events(gw, queue_id)]


async def test_timeout_notice_says_what_the_sender_can_do_with_the_password(
    gateway_factory: Factory, sink: Any
) -> None:
    """Protect mode: the gateway made the password, the sender never had it,
    so the notice must not tell them to read it out.  The sender's own
    password (the compliant message) may be read out."""
    gw = await gateway_factory(config(policy={"mode": "protect"}, receipts={"timeout": "1s"}))
    who = person(17)
    protected = Spec(who, with_zip=False, password_line=False, body_extra=record_text(who))
    await relay(gw, sink, protected, 1)
    notice = (await sink.wait(2, timeout=10))[1]
    assert notice.rcpt_tos == (SENDER,)
    body = " ".join(texts(notice).split())
    assert "read it out" not in body and "you do not have" in body
    assert "gateway passwords release" in body and "more than 1 second ago" in body
    # ... and by when: nobody is told again when the password is destroyed.
    async with gw.engine.connect() as conn:
        expires = (await conn.execute(select(held_passwords.c.expires_at))).scalar_one()
    when = datetime.fromtimestamp(expires, UTC).strftime("%d %B %Y %H:%M UTC")
    assert f"The gateway destroys the password on {when}" in body

    await relay(gw, sink, Spec(person(18)), 3)
    notice = (await sink.wait(4, timeout=10))[3]
    body = " ".join(texts(notice).split())
    assert "you may read it out" in body and "you do not have" not in body


async def test_a_receipt_before_the_relay_is_deferred_and_taken_after_it(
    gateway_factory: Factory, sink: Any
) -> None:
    """A message held for authorisation has been handed to no one, so a
    delivery report for it cannot be true: it is answered 451 (the sending
    system tries again), confirms nothing and releases no password.  The
    same report after the approval and the relay is taken, in order."""
    gw = await gateway_factory(config(policy={"hold": HOLD}))
    spec = Spec(person(15))
    code, reply = await send(gw.port, spec.build(), spec.to)
    assert code == 250 and "held for authorisation" in reply, reply
    queue_id = reply.split()[3]
    return_path = gw.receipts.return_path(queue_id, 0)
    dsn = postfix_dsn(to=return_path, recipient=ALLOWED, envid=f"{queue_id}-0",
                      message_id="<early@mx.recipient.example>")
    code, reply = await give_back(gw.port, return_path, dsn)
    assert (code, reply.split()[0]) == (451, "4.3.0"), reply
    await sink.wait(1)  # the sender's notice that it waits
    await nothing_more(sink, 1, 0.6)
    types = [t for t, _ in await events(gw, queue_id)]
    assert "delivery_confirmed" not in types and "password_released" not in types
    assert (await held_rows(gw, queue_id))[ALLOWED]["state"] == "held"

    assert await decide_held(gw.store, gw.audit, queue_id, True, "Dee Approver") is None
    copy = (await sink.wait(2, timeout=10))[1]
    assert copy.mail_from == return_path
    for _ in range(50):  # the relay's own commit follows the sink's 250
        if "relayed" in [t for t, _ in await events(gw, queue_id)]:
            break
        await asyncio.sleep(0.1)
    assert (await give_back(gw.port, return_path, dsn))[0] == 250
    got = await sink.wait(3, timeout=10)
    assert spec.password in texts(got[2]) and got[2].rcpt_tos == (ALLOWED,)
    types = [t for t, _ in await events(gw, queue_id)]
    assert types.index("relayed") < types.index("delivery_confirmed") < types.index(
        "password_released")


async def test_a_held_message_whose_password_expired_cannot_be_approved(
    gateway_factory: Factory, sink: Any
) -> None:
    """Approved after its password's ttl, a held message would go out with
    a file nobody could open and no password to follow: approval is refused
    with what to do instead; rejecting it still works."""
    gw = await gateway_factory(config(passwords={"release": "sender", "ttl": "1s"},
                                      policy={"hold": HOLD}))
    spec = Spec(person(16))
    code, reply = await send(gw.port, spec.build(), spec.to)
    assert code == 250 and "held for authorisation" in reply, reply
    queue_id = reply.split()[3]
    for _ in range(50):
        if (await held_rows(gw, queue_id))[ALLOWED]["state"] == "expired":
            break
        await asyncio.sleep(0.1)
    assert (await held_rows(gw, queue_id))[ALLOWED]["state"] == "expired"
    refused = await decide_held(gw.store, gw.audit, queue_id, True, "Dee Approver")
    assert refused is not None and "expired" in refused and "held reject" in refused
    (notice,) = await sink.wait(1)
    assert notice.rcpt_tos == (SENDER,)  # that it waits: nothing was relayed
    await nothing_more(sink, 1, 0.6)
    assert "approved" not in [t for t, _ in await events(gw, queue_id)]
    assert await decide_held(gw.store, gw.audit, queue_id, False, "Dee Approver") is None
    assert [t for t, _ in await events(gw, queue_id)][-1] == "rejected"


async def test_mail_for_the_receipts_domain_that_is_no_receipt_is_refused_and_logged(
    gateway_factory: Factory, sink: Any
) -> None:
    """Anyone may send to the receipts domain: what is neither a receipt
    address nor a report is refused, and the administrator can see it."""
    gw = await gateway_factory(config())
    junk = b"From: x@elsewhere.example\r\nSubject: offer\r\n\r\nBuy now.\r\n"
    with capture_logs() as logs:
        code, _ = await send(gw.port, junk, [f"offers@{DOMAIN}"], sender="x@elsewhere.example")
    assert code == 550
    (refused,) = [e for e in logs if e["event"] == "receipt_refused"]
    assert refused["reason"] == "not_a_receipt" and refused["peer"]
    assert await sink.stays_empty(0.3)


# -- fixes: unverified reports, early reports, contradictions, forwards ----------

OUTSIDE = "j.bloggs.home@gmail.example"  # not on the test allow-list
ALIAS = "duty.team@recipient.example"  # @recipient.example is on it


async def auditor_sees(gw: Any, queue_id: str) -> dict[str, Any]:
    """What `gateway audit search`, its CSV and the console count for it."""
    query = AuditQuery(gw.engine)

    async def found(*events: str) -> bool:
        wanted = SearchFilter(events=tuple(EventFilter.parse(e) for e in events))
        return queue_id in {d["id"] for d in await query.search(wanted, limit=None)}

    document = await query.get(queue_id)
    assert document is not None
    return {
        "never_confirmed": await found("never:delivery_confirmed"),
        "some_never_confirmed": await found("some-never:delivery_confirmed"),
        "has_failed": await found("has:delivery_failed"),
        "has_read": await found("has:read_confirmed"),
        "outcomes": recipient_outcomes(document),
    }


async def test_an_unverified_report_is_no_confirmation_or_failure_to_an_auditor(
    gateway_factory: Factory, sink: Any
) -> None:
    """Anyone can write a report without the token, to postmaster@ or to the
    tokenless return path, correlated by the ENVID or the Message-ID that
    the original's headers show: `receipt_unverified`, saying what it
    reported, never counted as a delivery, a read or a failure."""
    gw = await gateway_factory(config())
    queue_id, got = await relay(gw, sink, Spec(person(21)), 1)
    copy = got[0]
    message_id = copy.header("Message-ID")
    postmaster, tokenless = f"postmaster@{DOMAIN}", f"dsn+{queue_id}-0@{DOMAIN}"
    forged = [
        (postmaster, postfix_dsn(to=postmaster, recipient=ALLOWED, envid=f"{queue_id}-0")),
        (tokenless, postfix_dsn(to=tokenless, recipient=ALLOWED, action="failed",
                                status="5.1.1", original_message_id=message_id)),
        (postmaster, exchange_mdn(to=postmaster, recipient=ALLOWED,
                                  original_message_id=message_id)),
    ]
    for to, report in forged:
        assert (await give_back(gw.port, to, report))[0] == 250
    await nothing_more(sink, 1)
    trail = await events(gw, queue_id)
    types = [t for t, _ in trail]
    for counted in ("delivery_confirmed", "delivery_failed", "read_confirmed",
                    "password_released"):
        assert counted not in types
    unverified = sorted(((d["outcome"], d["correlated_by"], d["recipient"], d["kind"])
                         for t, d in trail if t == "receipt_unverified"))
    assert unverified == [("delivered", "envid", ALLOWED, "dsn"),
                          ("displayed", "message_id", ALLOWED, "mdn"),
                          ("failed", "message_id", ALLOWED, "dsn")]
    assert await auditor_sees(gw, queue_id) == {
        "never_confirmed": True, "some_never_confirmed": True, "has_failed": False,
        "has_read": False, "outcomes": ["no receipt"],
    }
    assert (await held_rows(gw, queue_id))[ALLOWED]["state"] == "held"


async def test_an_unverified_report_before_the_relay_is_deferred_too(
    gateway_factory: Factory, sink: Any
) -> None:
    """Held for authorisation, the message has gone nowhere: a tokenless
    report about it is answered 451 like a genuine one, and nothing is
    recorded before `approved` and `relayed`."""
    gw = await gateway_factory(config(policy={"hold": HOLD}))
    spec = Spec(person(22))
    code, reply = await send(gw.port, spec.build(), spec.to)
    assert code == 250 and "held for authorisation" in reply, reply
    queue_id = reply.split()[3]
    to = f"postmaster@{DOMAIN}"
    dsn = postfix_dsn(to=to, recipient=ALLOWED, envid=f"{queue_id}-0")
    code, reply = await give_back(gw.port, to, dsn)
    assert (code, reply.split()[0]) == (451, "4.3.0"), reply
    await sink.wait(1)  # the sender's notice that it waits
    types = [t for t, _ in await events(gw, queue_id)]
    assert "receipt_unverified" not in types and "delivery_confirmed" not in types

    assert await decide_held(gw.store, gw.audit, queue_id, True, "Dee Approver") is None
    await sink.wait(2, timeout=10)
    for _ in range(50):  # the relay's own commit follows the sink's 250
        if "relayed" in [t for t, _ in await events(gw, queue_id)]:
            break
        await asyncio.sleep(0.1)
    assert (await give_back(gw.port, to, dsn))[0] == 250
    types = [t for t, _ in await events(gw, queue_id)]
    assert types.index("approved") < types.index("relayed") < types.index("receipt_unverified")
    assert "delivery_confirmed" not in types


async def test_delivered_with_a_failure_status_confirms_nothing(
    gateway_factory: Factory, sink: Any
) -> None:
    """RFC 3464: the status class must agree with the action.  "delivered"
    with 5.1.1 is recorded as it was said and releases nothing."""
    gw = await gateway_factory(config())
    queue_id, got = await relay(gw, sink, Spec(person(23)), 1)
    copy = got[0]
    dsn = postfix_dsn(to=copy.mail_from, recipient=ALLOWED, status="5.1.1",
                      envid=f"{queue_id}-0")
    assert (await give_back(gw.port, copy.mail_from, dsn))[0] == 250
    await nothing_more(sink, 1)
    trail = await events(gw, queue_id)
    types = [t for t, _ in trail]
    assert "delivery_confirmed" not in types and "password_released" not in types
    (other,) = [d for t, d in trail if t == "receipt_other"]
    assert (other["outcome"], other["action"], other["status"]) == ("other", "delivered",
                                                                     "5.1.1")
    assert (await held_rows(gw, queue_id))[ALLOWED]["state"] == "held"


async def test_a_receipt_from_a_mailbox_outside_the_allow_list_releases_nothing(
    gateway_factory: Factory, sink: Any
) -> None:
    """On the recipient's own token, a DSN or MDN saying the message reached
    a mailbox neither the recipient nor allowed (an auto-forward to a
    personal mailbox) names it, confirms nothing, and the sender gets the
    timeout notice."""
    gw = await gateway_factory(config(receipts={"timeout": "2s"}))
    spec = Spec(person(24))
    queue_id, got = await relay(gw, sink, spec, 1)
    copy = got[0]
    dsn = postfix_dsn(to=copy.mail_from, recipient=OUTSIDE, orcpt=f"rfc822;{ALLOWED}",
                      envid=f"{queue_id}-0")
    assert (await give_back(gw.port, copy.mail_from, dsn))[0] == 250
    mdn = exchange_mdn(to=mdn_address(copy), recipient=OUTSIDE,
                       original_message_id=copy.header("Message-ID"))
    assert (await give_back(gw.port, mdn_address(copy), mdn))[0] == 250
    notice = (await sink.wait(2, timeout=10))[1]
    assert notice.rcpt_tos == (SENDER,) and spec.password not in texts(notice)
    await nothing_more(sink, 2)
    trail = await events(gw, queue_id)
    types = [t for t, _ in trail]
    for counted in ("delivery_confirmed", "read_confirmed", "password_released"):
        assert counted not in types
    assert "receipt_timeout" in types
    others = sorted((d["kind"], d["outcome"], d["final_recipient"], d["why"])
                    for t, d in trail if t == "receipt_other")
    assert others == [("dsn", "delivered", OUTSIDE, "final_recipient_not_allowed"),
                      ("mdn", "displayed", OUTSIDE, "final_recipient_not_allowed")]
    assert all(d["recipient"] == ALLOWED for t, d in trail if t == "receipt_other")
    assert (await held_rows(gw, queue_id))[ALLOWED]["state"] == "held"


async def test_an_allowed_alias_as_final_recipient_still_releases(
    gateway_factory: Factory, sink: Any
) -> None:
    """Exchange "Delivered:" naming an alias the allow-list allows: the
    confirmation stands, the password goes to the recipient, and the
    detail names the alias."""
    gw = await gateway_factory(config())
    spec = Spec(person(25))
    queue_id, got = await relay(gw, sink, spec, 1)
    copy = got[0]
    dsn = exchange_dsn(to=copy.mail_from, recipient=ALIAS, envid=f"{queue_id}-0",
                       original_message_id=copy.header("Message-ID"))
    assert (await give_back(gw.port, copy.mail_from, dsn))[0] == 250
    password_mail = (await sink.wait(2))[1]
    assert password_mail.rcpt_tos == (ALLOWED,) and spec.password in texts(password_mail)
    (confirmed,) = [d for t, d in await events(gw, queue_id) if t == "delivery_confirmed"]
    assert (confirmed["recipient"], confirmed["final_recipient"]) == (ALLOWED, ALIAS)
    assert confirmed["authenticated"] is True


async def test_a_failure_returning_the_whole_large_message_is_taken(
    gateway_factory: Factory, sink: Any
) -> None:
    """Exchange returns the whole message with its failure: a 3 MB report
    (past the 2 MiB a report may be) is read from its report part, the
    failure recorded, the password destroyed and the sender told."""
    gw = await gateway_factory(config(server={"max_message_size": 8_000_000}))
    spec = Spec(person(26))
    queue_id, got = await relay(gw, sink, spec, 1)
    copy = got[0]
    ndr = exchange_ndr(to=copy.mail_from, recipient=ALLOWED,
                       original_message_id=copy.header("Message-ID"),
                       attachment_size=3_000_000)
    assert len(ndr) > 3_000_000
    assert (await give_back(gw.port, copy.mail_from, ndr))[0] == 250
    forwarded = (await sink.wait(2))[1]
    assert forwarded.rcpt_tos == (SENDER,) and "Action: failed" in forwarded.content.decode()
    assert len(forwarded.content) < 100_000  # the report, not what it returned
    await nothing_more(sink, 2)
    trail = await events(gw, queue_id)
    (failed,) = [d for t, d in trail if t == "delivery_failed"]
    assert (failed["status"], failed["index"], failed["authenticated"]) == ("5.2.2", 0, True)
    assert (await held_rows(gw, queue_id))[ALLOWED]["state"] == "destroyed"


PLUS = "jo.bloggs+case@childrens.example"
PLUS_2 = "sam.jones+referrals@childrens.example"


async def test_a_report_naming_the_mailbox_without_its_subaddress_releases(
    gateway_factory: Factory, sink: Any, tmp_path: Path
) -> None:
    """RFC 5233: mail for jo.bloggs+case@ is delivered to jo.bloggs@, and the
    report says so.  That is the recipient, with an ENVID or without; the
    allow-list names only the subaddresses."""
    (tmp_path / "recipients.csv").write_text(
        RECIPIENTS_CSV
        + f"{PLUS},Jo Bloggs,Social Worker,,Childrens Services,01632 960002,\n"
        + f"{PLUS_2},Sam Jones,Social Worker,,Childrens Services,01632 960003,\n",
        encoding="utf-8")
    gw = await gateway_factory(config())
    spec = Spec(person(27), to=[PLUS, PLUS_2])
    queue_id, got = await relay(gw, sink, spec, 2)
    first, second = copy_for(got, PLUS), copy_for(got, PLUS_2)
    with_envid = postfix_dsn(to=first.mail_from, recipient="jo.bloggs@childrens.example",
                             envid=f"{queue_id}-0")
    assert (await give_back(gw.port, first.mail_from, with_envid))[0] == 250
    without = postfix_dsn(to=second.mail_from, recipient="Sam.Jones@childrens.example")
    assert (await give_back(gw.port, second.mail_from, without))[0] == 250
    got = await sink.wait(4)
    released = sorted(m.rcpt_tos for m in got[2:])
    assert released == [(PLUS,), (PLUS_2,)]
    assert all(spec.password in texts(m) for m in got[2:])
    trail = await events(gw, queue_id)
    confirmed = sorted((d["recipient"], d["final_recipient"])
                       for t, d in trail if t == "delivery_confirmed")
    assert confirmed == [(PLUS, "jo.bloggs@childrens.example"),
                         (PLUS_2, "Sam.Jones@childrens.example")]
    assert "receipt_other" not in [t for t, _ in trail]


X500 = ("IMCEAEX-_O=EXCHANGELABS_OU=EXCHANGE+20ADMINISTRATIVE+20GROUP_CN=RECIPIENTS_"
        "CN=abc123-duty@EURPRD01.PROD.OUTLOOK.COM")
THIRD = "third@recipient.example"


async def test_a_token_authenticated_report_is_not_dropped_for_an_odd_message_id(
    gateway_factory: Factory, sink: Any
) -> None:
    """The token names the message and the recipient: a returned Message-ID
    with a comment, or one rewritten on the way, does not drop the report;
    nor does a report with no ENVID naming an address that is not the
    recipient (it is audited, as the same read receipt is)."""
    gw = await gateway_factory(config())
    spec = Spec(person(28), to=[ALLOWED, SECOND, THIRD])
    queue_id, got = await relay(gw, sink, spec, 3)
    copies = [copy_for(got, rcpt) for rcpt in (ALLOWED, SECOND, THIRD)]
    message_id = copies[0].header("Message-ID")
    assert message_id is not None
    commented = postfix_dsn(to=copies[0].mail_from, recipient=ALLOWED, envid=f"{queue_id}-0",
                            original_message_id=f"{message_id} (added by postmaster@recipient)")
    rewritten = postfix_dsn(to=copies[1].mail_from, recipient=SECOND, envid=f"{queue_id}-1",
                            original_message_id="<DB9PR01MB0001@DB9PR01MB0001.prod.example>")
    x500 = postfix_dsn(to=copies[2].mail_from, recipient=X500,
                       original_message_id=message_id)
    for copy, report in zip(copies, (commented, rewritten, x500), strict=True):
        assert (await give_back(gw.port, copy.mail_from, report))[0] == 250
    got = await sink.wait(5)
    assert sorted(m.rcpt_tos for m in got[3:]) == [(ALLOWED,), (SECOND,)]
    await nothing_more(sink, 5)
    trail = await events(gw, queue_id)
    assert sorted(d["recipient"] for t, d in trail if t == "delivery_confirmed") == [
        ALLOWED, SECOND]
    (other,) = [d for t, d in trail if t == "receipt_other"]
    assert (other["recipient"], other["why"], other["authenticated"]) == (
        THIRD, "final_recipient_not_allowed", True)
    assert (await held_rows(gw, queue_id))[THIRD]["state"] == "held"


# -- fixes: a forwarded copy's failure, a confirmation after a destruction --------


async def test_a_failed_forward_of_the_recipients_copy_destroys_nothing(
    gateway_factory: Factory, sink: Any
) -> None:
    """Exchange Online refusing the recipient's own auto-forward to a
    personal mailbox (5.7.520) reports it on the recipient's token, with
    the recipient as Original-Recipient and the personal mailbox as
    Final-Recipient: that copy failed, not the recipient's.  Nothing is
    destroyed, the sender is not told their message failed, and the
    recipient's own receipt later releases the password as usual."""
    gw = await gateway_factory(config())
    spec = Spec(person(26))
    queue_id, got = await relay(gw, sink, spec, 1)
    copy = got[0]
    ndr = postfix_dsn(to=copy.mail_from, recipient=OUTSIDE, orcpt=f"rfc822;{ALLOWED}",
                      envid=f"{queue_id}-0", action="failed", status="5.7.520")
    assert (await give_back(gw.port, copy.mail_from, ndr))[0] == 250
    await nothing_more(sink, 1, seconds=0.5)
    trail = await events(gw, queue_id)
    types = [t for t, _ in trail]
    assert "delivery_failed" not in types and "password_destroyed" not in types
    (other,) = [d for t, d in trail if t == "receipt_other"]
    assert (other["recipient"], other["outcome"], other["final_recipient"], other["why"],
            other["status"]) == (ALLOWED, "failed", OUTSIDE, "forwarded_copy_failed", "5.7.520")
    assert (await held_rows(gw, queue_id))[ALLOWED]["state"] == "held"
    # The recipient's own mailbox: delivered, and the password goes to them.
    assert (await give_back(gw.port, copy.mail_from, postfix_dsn(
        to=copy.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0")))[0] == 250
    password_mail = (await sink.wait(2))[1]
    assert password_mail.rcpt_tos == (ALLOWED,) and spec.password in texts(password_mail)
    await nothing_more(sink, 2)


async def test_a_failure_naming_the_recipients_alias_still_destroys_the_password(
    gateway_factory: Factory, sink: Any
) -> None:
    """The allow-list names the final recipient with the recipient's own row
    (an alias of theirs): the failure is theirs."""
    gw = await gateway_factory(config())
    queue_id, got = await relay(gw, sink, Spec(person(27)), 1)
    copy = got[0]
    ndr = postfix_dsn(to=copy.mail_from, recipient=ALIAS, orcpt=f"rfc822;{ALLOWED}",
                      envid=f"{queue_id}-0", action="failed", status="5.2.2")
    assert (await give_back(gw.port, copy.mail_from, ndr))[0] == 250
    await sink.wait(2)  # the failure, forwarded to the sender
    assert (await held_rows(gw, queue_id))[ALLOWED]["state"] == "destroyed"
    (failed,) = [d for t, d in await events(gw, queue_id) if t == "delivery_failed"]
    assert failed["final_recipient"] == ALIAS


@pytest.mark.parametrize("release", ["on-receipt", "manual"])
async def test_a_confirmation_after_a_failure_destroyed_the_password_tells_the_sender(
    gateway_factory: Factory, sink: Any, release: str
) -> None:
    """A failure report destroyed the password; the recipient's mailbox then
    confirms delivery and reading: they hold content nobody can open, and
    the sender is told so once, whatever [passwords] release says."""
    gw = await gateway_factory(config(passwords={"release": release}))
    spec = Spec(person(28))
    queue_id, got = await relay(gw, sink, spec, 1)
    copy = got[0]
    assert (await give_back(gw.port, copy.mail_from, postfix_dsn(
        to=copy.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0", action="failed",
        status="5.2.2")))[0] == 250
    await sink.wait(2)  # the failure, forwarded to the sender
    assert (await held_rows(gw, queue_id))[ALLOWED]["state"] == "destroyed"
    with capture_logs() as logs:
        assert (await give_back(gw.port, copy.mail_from, postfix_dsn(
            to=copy.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0",
            message_id="<20240501120500.8A00B1C2D3@mx.recipient.example>")))[0] == 250
        notice = (await sink.wait(3))[2]
    assert notice.rcpt_tos == (SENDER,) and notice.mail_from == ""
    body = texts(notice)
    assert "cannot open your message" in body and queue_id in body
    assert "Recipient Team" in body and "01632 960001" in body
    assert "could not be delivered to them" in body and "send the message again" in body
    assert spec.password not in body
    (told,) = [e for e in logs if e["event"] == "password_destroyed_before_receipt"]
    assert told["reason"] == "delivery_failed" and ALLOWED not in json.dumps(told)
    # Read afterwards: no news.
    assert (await give_back(gw.port, mdn_address(copy), thunderbird_mdn(
        to=mdn_address(copy), recipient=ALLOWED,
        original_message_id=copy.header("Message-ID"))))[0] == 250
    await nothing_more(sink, 3)
    types = [t for t, _ in await events(gw, queue_id)]
    assert "read_confirmed" in types and "password_released" not in types


async def test_a_recipient_the_upstream_refuses_loses_its_password_at_once(
    gateway_factory: Factory, sink: Any
) -> None:
    """550 5.1.1 at RCPT from the smarthost: the gateway's own bounce goes to
    the sender and, in the same record, that recipient's held password is
    destroyed (reason delivery_failed), as a failure report destroys it;
    the other recipient's stays held."""
    gw = await gateway_factory(config())
    sink.fail("rcpt", "550 5.1.1 <second@recipient.example>: Recipient address rejected",
              match=SECOND)
    queue_id, got = await relay(gw, sink, Spec(person(29), to=[ALLOWED, SECOND]), 2)
    assert {m.rcpt_tos for m in got} == {(ALLOWED,), (SENDER,)}
    rows = await held_rows(gw, queue_id)
    assert rows[SECOND]["state"] == "destroyed" and rows[SECOND]["ciphertext"] is None
    assert rows[ALLOWED]["state"] == "held"
    trail = await events(gw, queue_id)
    destroyed = [d for t, d in trail if t == "password_destroyed"]
    assert destroyed == [{"held_id": rows[SECOND]["id"], "recipient": SECOND,
                          "reason": "delivery_failed"}]
    types = [t for t, _ in trail]
    assert types.index("delivery_failed") < types.index("password_destroyed")
