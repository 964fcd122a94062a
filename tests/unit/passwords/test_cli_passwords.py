"""`gateway passwords list|release|expire|keygen` as IT runs them (subprocesses),
with the sink as the upstream the separate password email goes through."""

from __future__ import annotations

import asyncio
import base64
import secrets
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from gwtest import Sink, clean_env, gateway_config, run_cli, write_config

from gateway.audit import AuditRecipient, AuditRecord, AuditTrail
from gateway.db import create_engine
from gateway.passwords import PasswordVault, hold_op
from gateway.queue import Writer

PASSWORD = "Mi7AA-Fpfeg-iFgs6-EEjab"
RECIPIENTS = ("dr.jones@nhs.example", "case.team@council.example")


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
                         audit_id="QID1", now=now)

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
    assert not message.is_multipart()  # only the password and the reference

    again = run_cli("passwords", "release", first, config=config, env=env_with(key))
    assert again.returncode == 1 and "already released" in again.stderr
    assert len(sink.snapshot()) == 1
    listed = run_cli("passwords", "list", "--state", "released", config=config)
    assert first in listed.stdout and PASSWORD not in listed.stdout


def test_release_to_another_address(config: Path, db_url: str, key: bytes, sink: Sink) -> None:
    _, second = setup_held(db_url, key)
    result = run_cli("passwords", "release", second, "--to", "duty.desk@council.example",
                     config=config, env=env_with(key))
    assert result.returncode == 0, result.stderr
    (sent,) = sink.wait_sync(1)
    assert sent.rcpt_tos == ("duty.desk@council.example",)


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


def test_keygen_makes_a_usable_key() -> None:
    result = run_cli("passwords", "keygen")
    assert result.returncode == 0
    assert len(base64.b64decode(result.stdout.strip())) == 32
