"""A password email that fails for good does not lose the password.

Released on receipt (or to the sender), a password goes into a queued
email; its held row stays sealed (`queued`) until the delivery worker
records that email delivered.  Refused by the next server, or given up at
`[queue] max_age`, the row is held again, `password_release_failed` says so
on the original message's record (never `password_released`), and the
sender is told whom to telephone; `gateway passwords release` can then send
it again.  Over real SMTP: client -> gateway -> sink, receipts given back.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from gwtest import SinkMessage, run_cli, wait_state, write_config
from policy_messages import ALLOWED, SENDER, Spec, person
from sqlalchemy import select
from structlog.testing import capture_logs
from unit.receipts.receipt_shapes import postfix_dsn

from gateway.audit import AuditQuery
from gateway.errors import VaultError
from gateway.passwords import held_passwords

KEY = base64.b64encode(secrets.token_bytes(32)).decode()

Factory = Callable[..., Awaitable[Any]]


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", KEY)
    return KEY


def config(release: str = "on-receipt", **sections: dict[str, Any]) -> dict[str, Any]:
    base: dict[str, Any] = {
        "policy": {"mode": "enforce"},
        "passwords": {"release": release},
        "receipts": {"check_interval": "200ms"},
    }
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return base


async def send(port: int, raw: bytes, rcpts: list[str], sender: str = SENDER) -> str:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    try:
        errors, reply = await client.sendmail(sender, rcpts, raw)
        assert not errors
        return reply
    finally:
        client.close()


def texts(message: SinkMessage) -> str:
    parsed = email.message_from_bytes(message.content, policy=email.policy.default)
    out = [str(parsed["Subject"])]
    for part in parsed.walk():
        if part.get_content_maintype() == "text":
            out.append(part.get_content())
    return " ".join("\n".join(out).split())


async def events(gw: Any, record_id: str) -> list[tuple[str, dict[str, Any]]]:
    document = await AuditQuery(gw.engine).get(record_id)
    assert document is not None
    return [(str(e["type"]), e["detail"]) for e in document["events"]]


async def held_row(gw: Any, queue_id: str) -> dict[str, Any]:
    async with gw.engine.connect() as conn:
        (row,) = (await conn.execute(
            select(held_passwords).where(held_passwords.c.queue_id == queue_id))).all()
    return dict(row._mapping)


async def row_in(gw: Any, queue_id: str, state: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        row = await held_row(gw, queue_id)
        if row["state"] == state:
            return row
        assert time.monotonic() < deadline, f"held row is {row['state']}, wanted {state}"
        await asyncio.sleep(0.05)


async def confirmed(gw: Any, sink: Any, spec: Spec) -> tuple[str, SinkMessage]:
    """The message relayed, and its recipient's delivery receipt given back."""
    queue_id = (await send(gw.port, spec.build(), spec.to)).split()[-1]
    (copy,) = await sink.wait(1)
    dsn = postfix_dsn(to=copy.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0")
    await send(gw.port, dsn, [copy.mail_from], sender="")
    return queue_id, copy


def no_password_in(spec: Spec, trail: list[tuple[str, dict[str, Any]]], logs: Any) -> None:
    assert spec.password not in json.dumps(trail)
    assert spec.password not in json.dumps(logs, default=str)


async def test_a_refused_password_email_holds_the_password_again_and_tells_the_sender(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config())
    spec = Spec(person(20240601))
    with capture_logs() as logs:
        queue_id = (await send(gw.port, spec.build(), spec.to)).split()[-1]
        (copy,) = await sink.wait(1)
        # From now on the recipient's server refuses mail for them: the
        # email carrying the password is refused.
        sink.fail("rcpt", "550 5.1.1 no such user", match=ALLOWED)
        dsn = postfix_dsn(to=copy.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0")
        await send(gw.port, dsn, [copy.mail_from], sender="")
        row = await row_in(gw, queue_id, "held")
        got = await sink.wait(2)
    # Sealed still, naming the email that failed; nothing released.
    assert row["ciphertext"] is not None and row["release_queue_id"]
    assert row["released_at"] is None and row["released_to"] is None
    trail = await events(gw, queue_id)
    types = [t for t, _ in trail]
    assert "password_released" not in types
    assert types.index("delivery_confirmed") < types.index("password_release_failed")
    (failed,) = [d for t, d in trail if t == "password_release_failed"]
    assert failed == {"held_id": row["id"], "recipient": ALLOWED, "how": "on-receipt",
                      "to": ALLOWED, "email": row["release_queue_id"],
                      "why": "rejected by upstream", "code": 550, "held_again": True}
    # The sender is told whom to ring, and that IT can send it again.
    notice = got[1]
    assert notice.rcpt_tos == (SENDER,) and notice.mail_from == ""
    body = texts(notice)
    assert "could not be emailed" in body and queue_id in body
    assert ALLOWED in body and "Recipient Team" in body and "01632 960001" in body
    assert "550 5.1.1" in body and "gateway passwords release" in body
    assert spec.password not in body
    no_password_in(spec, trail, logs)
    # A manual release can take it: it is there to send.
    sink.clear_rules()
    opened = await gw.passwords.open(row["id"])
    assert opened.password == spec.password


async def test_a_delivered_password_email_releases_it_then(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config())
    spec = Spec(person(20240602))
    queue_id, _ = await confirmed(gw, sink, spec)
    got = await sink.wait(2)
    assert spec.password in texts(got[1])
    row = await row_in(gw, queue_id, "released")
    assert row["ciphertext"] is None and row["release_queue_id"]
    trail = await events(gw, queue_id)
    (released,) = [d for t, d in trail if t == "password_released"]
    assert released == {"held_id": row["id"], "recipient": ALLOWED, "how": "on-receipt",
                        "to": ALLOWED, "email": row["release_queue_id"]}
    assert "password_release_failed" not in [t for t, _ in trail]


async def test_a_password_email_deferred_past_max_age_holds_it_again(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config(queue={"retry": ["200ms"], "max_age": "2s"}))
    spec = Spec(person(20240603))
    queue_id = (await send(gw.port, spec.build(), spec.to)).split()[-1]
    (copy,) = await sink.wait(1)
    sink.fail("rcpt", "451 4.2.1 mailbox busy", match=ALLOWED)
    dsn = postfix_dsn(to=copy.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0")
    await send(gw.port, dsn, [copy.mail_from], sender="")
    queued = await row_in(gw, queue_id, "queued")
    # While its email waits the row stays sealed, and no release takes it.
    assert queued["ciphertext"] is not None
    with pytest.raises(VaultError, match="on its way"):
        await gw.passwords.claim(queued["id"])
    row = await row_in(gw, queue_id, "held")
    assert row["ciphertext"] is not None
    (failed,) = [d for t, d in await events(gw, queue_id) if t == "password_release_failed"]
    assert failed["why"] == "expired in queue" and failed["code"] == 451
    got = await sink.wait(2)
    assert got[1].rcpt_tos == (SENDER,) and "could not be emailed" in texts(got[1])


async def test_the_ttl_destroys_a_password_whose_email_is_still_queued(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config(passwords={"ttl": "3s"}))
    spec = Spec(person(20240604))
    queue_id = (await send(gw.port, spec.build(), spec.to)).split()[-1]
    (copy,) = await sink.wait(1)
    sink.fail("rcpt", "451 4.2.1 mailbox busy", match=ALLOWED)
    dsn = postfix_dsn(to=copy.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0")
    await send(gw.port, dsn, [copy.mail_from], sender="")
    queued = await row_in(gw, queue_id, "queued")
    email_id = queued["release_queue_id"]
    row = await row_in(gw, queue_id, "expired")
    assert row["ciphertext"] is None
    (expired,) = [d for t, d in await events(gw, queue_id) if t == "password_expired"]
    assert expired["release_queued"] == email_id and expired["to"] == ALLOWED
    # The email in the queue goes after all: the trail says it went.
    sink.clear_rules()
    got = await sink.wait(2)
    assert got[1].rcpt_tos == (ALLOWED,)
    for _ in range(200):
        trail = await events(gw, queue_id)
        if "password_released" in [t for t, _ in trail]:
            break
        await asyncio.sleep(0.05)
    (released,) = [d for t, d in trail if t == "password_released"]
    assert released["email"] == email_id and released["expired_before"] is True
    row = await held_row(gw, queue_id)
    assert row["state"] == "expired" and row["ciphertext"] is None


async def test_a_refused_password_email_to_the_sender_is_held_and_not_sent_again(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory(config(release="sender"))
    spec = Spec(person(20240605))
    sink.fail("rcpt", "550 5.1.1 no such user", match=SENDER)
    with capture_logs() as logs:
        queue_id = (await send(gw.port, spec.build(), spec.to)).split()[-1]
        row = await row_in(gw, queue_id, "held")
    assert row["ciphertext"] is not None and row["release_queue_id"]
    trail = await events(gw, queue_id)
    (failed,) = [d for t, d in trail if t == "password_release_failed"]
    assert failed["how"] == "sender" and failed["to"] == SENDER and failed["code"] == 550
    assert "password_released" not in [t for t, _ in trail]
    no_password_in(spec, trail, logs)
    # Housekeeping does not send it again and again to an address that
    # refused it: IT releases it by hand.
    await asyncio.sleep(1.0)
    assert (await held_row(gw, queue_id))["state"] == "held"
    assert [m.rcpt_tos for m in sink.snapshot()] == [(ALLOWED,)]


async def test_queue_bounce_of_a_password_email_holds_it_again(
    gateway_factory: Factory, gateway_config: Callable[..., dict[str, Any]], sink: Any,
    tmp_path: Path,
) -> None:
    overrides = config(queue={"retry": ["1h"]})
    gw = await gateway_factory(overrides)
    spec = Spec(person(20240606))
    queue_id = (await send(gw.port, spec.build(), spec.to)).split()[-1]
    (copy,) = await sink.wait(1)
    sink.fail("rcpt", "451 4.2.1 mailbox busy", match=ALLOWED)
    dsn = postfix_dsn(to=copy.mail_from, recipient=ALLOWED, envid=f"{queue_id}-0")
    await send(gw.port, dsn, [copy.mail_from], sender="")
    email_id = (await row_in(gw, queue_id, "queued"))["release_queue_id"]
    await wait_state(gw, email_id, "deferred")
    cli = write_config(tmp_path / "cli.toml", gateway_config(overrides))
    given_up = await asyncio.to_thread(run_cli, "queue", "bounce", email_id, config=cli)
    assert given_up.returncode == 0, given_up.stderr
    row = await held_row(gw, queue_id)
    assert row["state"] == "held" and row["ciphertext"] is not None
    (failed,) = [d for t, d in await events(gw, queue_id) if t == "password_release_failed"]
    assert failed["why"] == "given up by the administrator" and failed["code"] is None
    sink.clear_rules()
    got = await sink.wait(2)
    assert got[1].rcpt_tos == (SENDER,) and "cancelled by IT" in texts(got[1])


async def test_queue_bounce_of_a_deferred_message_destroys_its_held_password(
    gateway_factory: Factory, gateway_config: Callable[..., dict[str, Any]], sink: Any,
    tmp_path: Path,
) -> None:
    """IT gives up on a message its recipient's server keeps deferring: the
    message never reaches them, so their held password is destroyed with
    the bounce (reason delivery_failed), not kept for [passwords] ttl."""
    overrides = config(queue={"retry": ["1h"]})
    gw = await gateway_factory(overrides)
    sink.fail("rcpt", "451 4.2.1 mailbox busy", match=ALLOWED)
    spec = Spec(person(20240607))
    queue_id = (await send(gw.port, spec.build(), spec.to)).split()[-1]
    await wait_state(gw, queue_id, "deferred")
    assert (await held_row(gw, queue_id))["state"] == "held"
    cli = write_config(tmp_path / "cli.toml", gateway_config(overrides))
    given_up = await asyncio.to_thread(run_cli, "queue", "bounce", queue_id, config=cli)
    assert given_up.returncode == 0, given_up.stderr
    row = await held_row(gw, queue_id)
    assert row["state"] == "destroyed" and row["ciphertext"] is None
    trail = await events(gw, queue_id)
    (destroyed,) = [d for t, d in trail if t == "password_destroyed"]
    assert destroyed == {"held_id": row["id"], "recipient": ALLOWED,
                         "reason": "delivery_failed"}
    assert spec.password not in json.dumps(trail)
