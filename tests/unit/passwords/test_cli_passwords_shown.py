"""`gateway passwords list` and `release`'s refusals show a recipient address
as the other commands do (gateway.audit.visible): a C1 control or a
bidirectional override the sender put in RCPT TO under SMTPUTF8 is named,
never sent to the terminal to act.  (Such addresses are refused at RCPT
now; rows held before that still hold them.)"""

from __future__ import annotations

import asyncio
import base64
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from gwtest import Sink, clean_env, gateway_config, run_cli, write_config

from gateway.audit import AuditRecipient, AuditRecord, AuditTrail
from gateway.db import create_engine
from gateway.passwords import PasswordStore, PasswordVault, hold_op
from gateway.queue import Writer

SPOOFING = "a\x9b2J\x9b31mred\u202etxt.exe@recipient.example"
SHOWN = "a<U+009B>2J<U+009B>31mred<U+202E>txt.exe@recipient.example"


def hold_for(db_url: str, key: bytes, recipient: str) -> str:
    async def run() -> str:
        engine = create_engine(db_url)
        writer = Writer(engine)
        writer.start()
        try:
            record = AuditRecord(
                id="QID2", message_id="<orig-2@council.example>",
                received_at=datetime.now(UTC), sender="alice@council.example",
                recipients=(AuditRecipient(recipient),),
                subject="Private and Confidential: referral", verdict="protect")
            record_op = AuditTrail().record_op(record)
            op = hold_op(PasswordVault([key]), "QID2", (recipient,), "Mi7AA-Fpfeg-iFgs6-EEjab",
                         timedelta(days=7), audit_id="QID2", sender="alice@council.example")

            async def both(conn):  # type: ignore[no-untyped-def]
                await record_op(conn)
                return await op(conn)

            (held_id,) = await writer.submit(both)
            return str(held_id)
        finally:
            await writer.stop()
            await engine.dispose()

    return asyncio.run(run())


def released_by_receipt(db_url: str, key: bytes, held_id: str) -> None:
    """Released as a receipt releases it, to the recipient."""
    async def run() -> None:
        engine = create_engine(db_url)
        writer = Writer(engine)
        writer.start()
        try:
            store = PasswordStore(engine, writer, PasswordVault([key]), AuditTrail())
            await store.release(held_id, how="receipt")
        finally:
            await writer.stop()
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture
def key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def config(tmp_path: Path, db_url: str, sink: Sink) -> Path:
    return write_config(tmp_path / "gateway.toml", gateway_config(tmp_path, db_url, sink.port))


def shown_only(output: str) -> None:
    assert SHOWN in output
    assert not any(ch in output for ch in "\x1b\x9b\u202e")


def test_list_names_what_would_act(config: Path, db_url: str, key: bytes) -> None:
    held_id = hold_for(db_url, key, SPOOFING)
    listed = run_cli("passwords", "list", config=config)
    assert listed.returncode == 0, listed.stderr
    assert held_id in listed.stdout
    shown_only(listed.stdout)


def test_release_refused_names_what_would_act(config: Path, db_url: str, key: bytes) -> None:
    held_id = hold_for(db_url, key, SPOOFING)
    released_by_receipt(db_url, key, held_id)
    env = clean_env(GATEWAY_PASSWORD_KEY=base64.b64encode(key).decode())
    again = run_cli("passwords", "release", held_id, config=config, env=env)
    assert again.returncode == 1 and "already released" in again.stderr
    shown_only(again.stderr)
