"""`gateway passwords list|release|expire|keygen` as IT runs them (subprocesses),
with the sink as the upstream the separate password email goes through."""

from __future__ import annotations

import asyncio
import base64
import getpass
import json
import secrets
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from gwtest import Sink, clean_env, gateway_config, run_cli, write_config
from sqlalchemy import select, update

from gateway.audit import AuditRecipient, AuditRecord, AuditTrail
from gateway.db import audit_events, create_engine, queue_recipients
from gateway.errors import VaultError
from gateway.model import Envelope
from gateway.passwords import PasswordStore, PasswordVault, held_passwords, hold_op
from gateway.queue import NewMessage, QueueState, QueueStore, Writer
from gateway.queue.states import RecipientState

PASSWORD = "Mi7AA-Fpfeg-iFgs6-EEjab"
RECIPIENTS = ("dr.jones@nhs.example", "case.team@council.example")
SENDER = "alice@council.example"


def setup_held(db_url: str, key: bytes, ttl: timedelta = timedelta(days=7),
               now: float | None = None) -> tuple[str, ...]:
    async def run() -> tuple[str, ...]:
        engine = create_engine(db_url)
        writer = Writer(engine)
        writer.start()
        try:
            record = AuditRecord(
                id="QID1", message_id="<orig-1@council.example>",
                received_at=datetime.now(UTC), sender="alice@council.example",
                recipients=tuple(AuditRecipient(a) for a in RECIPIENTS),
                subject="Private and Confidential: referral", verdict="protect")
            record_op = AuditTrail().record_op(record)
            op = hold_op(PasswordVault([key]), "QID1", RECIPIENTS, PASSWORD, ttl,
                         audit_id="QID1", sender=SENDER, now=now)

            async def both(conn):  # type: ignore[no-untyped-def]
                await record_op(conn)
                return await op(conn)

            ids: tuple[str, ...] = await writer.submit(both)
            return ids
        finally:
            await writer.stop()
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture
def key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def config(tmp_path: Path, db_url: str, sink: Sink) -> Path:
    return write_config(tmp_path / "gateway.toml",
                        gateway_config(tmp_path, db_url, sink.port))


def env_with(key: bytes) -> dict[str, str]:
    return clean_env(GATEWAY_PASSWORD_KEY=base64.b64encode(key).decode())


def test_list_shows_rows_never_passwords(config: Path, db_url: str, key: bytes) -> None:
    ids = setup_held(db_url, key)
    result = run_cli("passwords", "list", config=config)  # no key needed to list
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout
    for held_id in ids:
        assert held_id in result.stdout
    assert "QID1" in result.stdout and "dr.jones@nhs.example" in result.stdout
    assert "2 password(s)" in result.stdout
    as_json = run_cli("passwords", "list", "--json", config=config)
    assert PASSWORD not in as_json.stdout and as_json.stdout.count('"state": "held"') == 2


def test_release_sends_a_separate_email_once(
    config: Path, db_url: str, key: bytes, sink: Sink
) -> None:
    first, _ = setup_held(db_url, key)
    result = run_cli("passwords", "release", first, config=config, env=env_with(key))
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    (sent,) = sink.wait_sync(1)
    assert sent.mail_from == "postmaster@gw.test.example"
    assert sent.rcpt_tos == ("dr.jones@nhs.example",)
    message = BytesParser(policy=policy.default).parsebytes(sent.content)
    assert message["From"] == "postmaster@gw.test.example"
    assert message["References"] == "<orig-1@council.example>"
    body = message.get_content()
    assert PASSWORD in body and "QID1" in body and "<orig-1@council.example>" in body
    # Which message it opens, in words a shared inbox can match: who sent it.
    assert f"a message from {SENDER} sent to dr.jones@nhs.example on " in " ".join(body.split())
    # Released by hand: no receipt confirmed anything.
    assert "has confirmed" not in body
    assert not message.is_multipart()  # only the password and the reference

    again = run_cli("passwords", "release", first, config=config, env=env_with(key))
    assert again.returncode == 1 and "already released" in again.stderr
    assert len(sink.snapshot()) == 1
    listed = run_cli("passwords", "list", "--state", "released", config=config)
    assert first in listed.stdout and PASSWORD not in listed.stdout


def test_release_to_another_address(config: Path, db_url: str, key: bytes, sink: Sink) -> None:
    _, second = setup_held(db_url, key)
    # On the allow-list by its domain row (@recipient.example).
    result = run_cli("passwords", "release", second, "--to", "duty.desk@recipient.example",
                     config=config, env=env_with(key))
    assert result.returncode == 0, result.stderr
    (sent,) = sink.wait_sync(1)
    assert sent.rcpt_tos == ("duty.desk@recipient.example",)


def test_failed_send_keeps_it_held(config: Path, db_url: str, key: bytes, sink: Sink) -> None:
    first, _ = setup_held(db_url, key)
    sink.fail("rcpt", "550 5.1.1 no such user")
    result = run_cli("passwords", "release", first, config=config, env=env_with(key))
    assert result.returncode == 1 and "refused" in result.stderr
    sink.clear_rules()
    retry = run_cli("passwords", "release", first, config=config, env=env_with(key))
    assert retry.returncode == 0, retry.stderr


def test_release_refused_when_expired_or_no_key(config: Path, db_url: str, key: bytes) -> None:
    past = datetime.now(UTC).timestamp() - 3600
    first, _ = setup_held(db_url, key, ttl=timedelta(minutes=1), now=past)
    no_key = run_cli("passwords", "release", first, config=config)
    assert no_key.returncode == 1 and "no password key" in no_key.stderr
    expired = run_cli("passwords", "release", first, config=config, env=env_with(key))
    assert expired.returncode == 1 and "expired" in expired.stderr
    swept = run_cli("passwords", "expire", config=config)
    assert swept.returncode == 0 and "2 password(s) expired" in swept.stdout


def queue_message(db_url: str, state: QueueState, delivered: tuple[str, ...] = ()) -> None:
    """QID1 in the queue, to RECIPIENTS, in `state`; `delivered` of them accepted."""

    async def run() -> None:
        engine = create_engine(db_url)
        writer = Writer(engine)
        writer.start()
        try:
            store = QueueStore(engine, writer)
            insert, _ = store.insert_op(NewMessage(
                envelope=Envelope(mail_from=SENDER, rcpt_tos=RECIPIENTS),
                content=b"Subject: referral\r\n\r\nsee the attachment\r\n",
                state=state, audit_id="QID1", id="QID1"))

            async def write(conn):  # type: ignore[no-untyped-def]
                await insert(conn)
                await conn.execute(
                    update(queue_recipients)
                    .where(queue_recipients.c.message_id == "QID1",
                           queue_recipients.c.address.in_(delivered))
                    .values(state=RecipientState.DELIVERED.value))

            await writer.submit(write)
        finally:
            await writer.stop()
            await engine.dispose()

    asyncio.run(run())


def test_release_for_a_recipient_the_message_has_not_reached_is_refused(
    config: Path, db_url: str, key: bytes, sink: Sink
) -> None:
    """Still deferred for the first recipient: its password would open
    nothing they hold, so it is refused (exit 1, saying why) unless
    --force, which the trail records; the second, delivered, goes."""
    first, second = setup_held(db_url, key)
    queue_message(db_url, QueueState.DEFERRED, delivered=(RECIPIENTS[1],))
    for to in ([], ["--to", SENDER]):
        refused = run_cli("passwords", "release", first, *to, config=config,
                          env=env_with(key))
        assert refused.returncode == 1, refused.stdout
        assert "has not reached dr.jones@nhs.example" in refused.stderr
        assert "deferred" in refused.stderr and "--force" in refused.stderr
        assert PASSWORD not in refused.stdout + refused.stderr
    assert asyncio.run(_state(db_url, first)) == "held"
    assert sink.snapshot() == []
    delivered = run_cli("passwords", "release", second, config=config, env=env_with(key))
    assert delivered.returncode == 0, delivered.stderr
    forced = run_cli("passwords", "release", first, "--force", config=config,
                     env=env_with(key))
    assert forced.returncode == 0, forced.stderr
    assert [m.rcpt_tos for m in sink.wait_sync(2)] == [(RECIPIENTS[1],), (RECIPIENTS[0],)]
    released = {d["held_id"]: d for d in asyncio.run(_released_events(db_url))}
    assert released[first]["undelivered"] == "deferred"
    assert "undelivered" not in released[second]


def test_release_while_held_for_authorisation_is_refused(
    config: Path, db_url: str, key: bytes, sink: Sink
) -> None:
    first, _ = setup_held(db_url, key)
    queue_message(db_url, QueueState.HELD)
    refused = run_cli("passwords", "release", first, "--to", SENDER, config=config,
                      env=env_with(key))
    assert refused.returncode == 1 and "held for authorisation" in refused.stderr
    assert sink.snapshot() == []


async def _state(db_url: str, held_id: str) -> str:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            return str((await conn.execute(select(held_passwords.c.state).where(
                held_passwords.c.id == held_id))).scalar())
    finally:
        await engine.dispose()


async def _released_events(db_url: str) -> list[dict[str, Any]]:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(audit_events.c.detail).where(
                audit_events.c.type == "password_released"))
            return [json.loads(text) for text in rows.scalars()]
    finally:
        await engine.dispose()


def test_keygen_makes_a_usable_key() -> None:
    result = run_cli("passwords", "keygen")
    assert result.returncode == 0
    assert len(base64.b64decode(result.stdout.strip())) == 32


# -- --to: the parsed address, the allow-list, the pinned route ----------------------


def released_events(db_url: str) -> list[dict[str, object]]:
    async def run() -> list[dict[str, object]]:
        engine = create_engine(db_url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    select(audit_events.c.detail)
                    .where(audit_events.c.record_id == "QID1",
                           audit_events.c.type == "password_released")
                    .order_by(audit_events.c.seq)
                )
                return [json.loads(r[0]) for r in rows]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def held_state(db_url: str, held_id: str) -> str:
    async def run() -> str:
        engine = create_engine(db_url)
        try:
            async with engine.connect() as conn:
                return str((await conn.execute(
                    select(held_passwords.c.state).where(held_passwords.c.id == held_id)
                )).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture
def secure_sink(tls_files: Any) -> Iterator[Sink]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls_files.cert_file), str(tls_files.key_file))
    upstream = Sink(tls_context=context)
    upstream.start()
    try:
        yield upstream
    finally:
        upstream.close()


@pytest.fixture
def pinned_config(
    tmp_path: Path, db_url: str, sink: Sink, secure_sink: Sink, tls_files: Any
) -> Path:
    """dr.jones@nhs.example and @secure.example are pinned to the route `nhsmail`."""
    (tmp_path / "recipients.csv").write_text(
        "address,name,job_title,department,organisation,telephone,secure_route\n"
        "dr.jones@nhs.example,Dr Jones,GP,,NHS Practice,01632 960002,nhsmail\n"
        "@secure.example,Secure Team,Caseworker,,Secure Council,01632 960003,nhsmail\n"
        "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n",
        encoding="utf-8",
    )
    routes = {"nhsmail": {"host": "127.0.0.1", "port": secure_sink.port,
                          "tls": "starttls-verify", "ca_file": str(tls_files.ca_file)}}
    return write_config(tmp_path / "pinned.toml",
                        gateway_config(tmp_path, db_url, sink.port, {"routes": routes}))


@pytest.mark.parametrize("written", ["<dr.jones@nhs.example>", "dr.jones@nhs.example ",
                                     "DR.JONES@nhs.example"])
def test_to_the_recipient_however_written_keeps_their_pinned_route(
    pinned_config: Path, db_url: str, key: bytes, sink: Sink, secure_sink: Sink, written: str
) -> None:
    first, _ = setup_held(db_url, key)
    result = run_cli("passwords", "release", first, "--to", written,
                     config=pinned_config, env=env_with(key))
    assert result.returncode == 0, result.stderr
    (sent,) = secure_sink.wait_sync(1)
    assert sent.tls
    assert [a.lower() for a in sent.rcpt_tos] == ["dr.jones@nhs.example"]
    message = BytesParser(policy=policy.default).parsebytes(sent.content)
    assert str(message["To"]).lower() == "dr.jones@nhs.example"
    assert not sink.snapshot()
    (event,) = released_events(db_url)
    assert str(event["to"]).lower() == "dr.jones@nhs.example"


def test_to_an_allow_listed_address_with_a_secure_route_uses_it(
    pinned_config: Path, db_url: str, key: bytes, sink: Sink, secure_sink: Sink
) -> None:
    _, second = setup_held(db_url, key)
    result = run_cli("passwords", "release", second, "--to", "team@secure.example",
                     config=pinned_config, env=env_with(key))
    assert result.returncode == 0, result.stderr
    (sent,) = secure_sink.wait_sync(1)
    assert sent.tls and sent.rcpt_tos == ("team@secure.example",)
    assert not sink.snapshot()


@pytest.mark.parametrize("to", ["evil@attacker.example", "<evil@attacker.example>",
                                "someone@recipient.example.attacker.example"])
def test_to_an_address_off_the_allow_list_is_refused(
    config: Path, db_url: str, key: bytes, sink: Sink, to: str
) -> None:
    first, _ = setup_held(db_url, key)
    result = run_cli("passwords", "release", first, "--to", to, config=config,
                     env=env_with(key))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "allow-list" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert not sink.snapshot()
    assert held_state(db_url, first) == "held"
    assert released_events(db_url) == []


def test_to_the_original_sender_is_allowed(
    config: Path, db_url: str, key: bytes, sink: Sink
) -> None:
    first, _ = setup_held(db_url, key)
    result = run_cli("passwords", "release", first, "--to", f"<{SENDER}>", config=config,
                     env=env_with(key))
    assert result.returncode == 0, result.stderr
    (sent,) = sink.wait_sync(1)
    assert sent.rcpt_tos == (SENDER,)
    (event,) = released_events(db_url)
    assert event["to"] == SENDER


# -- a release racing another: every email that leaves is audited --------------------


def release_elsewhere(db_url: str, key: bytes, held_id: str) -> str:
    """Another release of the same row meanwhile (the receipts desk, or a
    second admin): "released", or why it was refused."""

    async def run() -> str:
        engine = create_engine(db_url)
        writer = Writer(engine)
        writer.start()
        try:
            store = PasswordStore(engine, writer, PasswordVault([key]))
            await store.release(held_id, how="on-receipt")
            return "released"
        except VaultError as exc:
            return str(exc)
        finally:
            await writer.stop()
            await engine.dispose()

    return asyncio.run(run())


def test_a_release_during_a_slow_send_cannot_release_it_again(
    config: Path, db_url: str, key: bytes, sink: Sink
) -> None:
    first, _ = setup_held(db_url, key)
    sink.delay("data", 4.0, times=1)
    command = [sys.executable, "-m", "gateway", "passwords", "release", first,
               "--config", str(config)]
    cli = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env_with(key), cwd=str(config.parent))
    try:
        deadline = time.monotonic() + 30
        while sink.delays_started == 0:  # the password email is on the wire
            assert time.monotonic() < deadline and cli.poll() is None
            time.sleep(0.05)
        other = release_elsewhere(db_url, key, first)
        out, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
    sent = [m for m in sink.snapshot() if PASSWORD.encode() in m.content]
    events = released_events(db_url)
    manual = [e for e in events if e["how"] == "manual"]
    # The email that left is in the trail, and nothing released it a second time.
    assert len(sent) == 1 and len(manual) == 1, (other, out, err, events)
    assert cli.returncode == 0, err
    assert other != "released" and "being released" in other
    assert len(events) == 1
    assert held_state(db_url, first) == "released"


def test_a_release_killed_mid_send_is_taken_over_with_again(
    tmp_path: Path, db_url: str, key: bytes, sink: Sink
) -> None:
    """`passwords release` killed while its email was on the wire leaves
    its claim, which refused every release until the password's ttl (7
    days here).  `--again` takes it over once it is older than any send
    could take (10 route timeouts and the end of DATA's wait: 11 s with
    1 s each), and the release's event says the earlier one may have sent it."""
    data = gateway_config(tmp_path, db_url, sink.port)
    data["upstream"]["timeout"] = "1s"
    data["upstream"]["data_done_timeout"] = "1s"
    config = write_config(tmp_path / "gateway.toml", data)
    first, _ = setup_held(db_url, key)
    sink.delay("data", 30.0, times=1)
    cli = subprocess.Popen(
        [sys.executable, "-m", "gateway", "passwords", "release", first, "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_with(key),
        cwd=str(config.parent))
    try:
        deadline = time.monotonic() + 30
        while sink.delays_started == 0:  # the password email is on the wire
            assert time.monotonic() < deadline and cli.poll() is None
            time.sleep(0.02)
        cli.kill()
        cli.communicate(timeout=10)
    finally:
        if cli.poll() is None:
            cli.kill()
    claimed_by = time.monotonic()
    assert held_state(db_url, first) == "releasing"

    again = run_cli("passwords", "release", first, config=config, env=env_with(key))
    assert again.returncode == 1
    assert "being released" in again.stderr and "run again with --again" in again.stderr
    too_soon = run_cli("passwords", "release", first, "--again", config=config,
                       env=env_with(key))
    assert too_soon.returncode == 1 and "--again takes it over from" in too_soon.stderr

    time.sleep(max(0.0, claimed_by + 11.5 - time.monotonic()))
    taken = run_cli("passwords", "release", first, "--again", config=config, env=env_with(key))
    assert taken.returncode == 0, taken.stderr
    sent = [m for m in sink.snapshot() if PASSWORD.encode() in m.content]
    assert len(sent) == 1  # the killed send never finished its DATA
    (event,) = released_events(db_url)
    assert event["how"] == "manual" and event["to"] == RECIPIENTS[0]
    assert event["account"] == getpass.getuser()  # who released it by hand
    earlier = event["earlier_unfinished"]
    assert isinstance(earlier, dict) and earlier["to"] == RECIPIENTS[0]
    assert held_state(db_url, first) == "released"
    assert PASSWORD not in taken.stdout + taken.stderr


def test_rekey_says_to_keep_the_old_key_for_the_receipts_of_mail_already_sent(
    config: Path, db_url: str, key: bytes
) -> None:
    """The receipts key is derived from the password keys when none of its
    own is set: removing the old key at once would drop the receipts of
    mail already out as forged, so rekey says how long to keep it."""
    setup_held(db_url, key)
    newer = secrets.token_bytes(32)
    both = clean_env(GATEWAY_PASSWORD_KEY=",".join(
        base64.b64encode(k).decode() for k in (newer, key)))
    result = run_cli("passwords", "rekey", config=config, env=both)
    assert result.returncode == 0, result.stderr
    assert "2 password(s) re-sealed" in result.stdout
    assert "Keep the old key(s) configured until [passwords] ttl (7 days)" in result.stdout
    own = dict(both, GATEWAY_RECEIPTS_KEY=base64.b64encode(secrets.token_bytes(32)).decode())
    result = run_cli("passwords", "rekey", config=config, env=own)
    assert result.returncode == 0, result.stderr
    assert "Keep the old key" not in result.stdout
