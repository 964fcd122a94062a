"""With an audit key, verify holds the chain to the gateway's signing rhythm.

A database administrator who edits a row and recomputes every hash after it
leaves a chain that links; the signed checkpoints after the edit no longer
match it, so they must go (deleted, unsigned, or given another key id).  The
gateway signs one each time the chain passes a multiple of
`checkpoint_every`: a stretch longer than that without one is the trace.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from audit_support import life, make_record, owner_tamper
from sqlalchemy import select

from gateway.audit import AuditEvent, AuditKeys, AuditTrail, EventType, purge, verify
from gateway.audit.chain import GENESIS, event_content, link, record_content
from gateway.cli import main
from gateway.db import create_engine
from gateway.db.schema import audit_events, audit_records
from gateway.passwords import PasswordVault, hold_op
from gateway.queue import Writer
from gateway.web.integrity import Integrity

KEY = "s" * 40
EVERY = 5
COVERAGE = "covered by no validly signed checkpoint"


def write_config(folder: Path, url: str, extra: str = "") -> Path:
    """A gateway.toml with the audit key (and `extra`), its files beside it."""
    (folder / "recipients.csv").write_text(
        "address,name,job_title,department,organisation,telephone,secure_route\n",
        encoding="utf-8")
    (folder / "audit.key").write_text(KEY + "\n", encoding="utf-8")
    config = folder / "gateway.toml"
    config.write_text(f'[database]\nurl = "{url}"\n\n[audit]\nkey_file = "audit.key"\n{extra}',
                      encoding="utf-8")
    return config


async def write_trail(writer: Writer, trail: AuditTrail, n: int) -> None:
    """n messages, two chain rows each (the record with its life, `relayed`)."""
    for _ in range(n):
        record = make_record()
        await writer.submit(trail.record_op(record, life(record)))
        await writer.submit(trail.events_op(record.id, [
            AuditEvent(EventType.RELAYED, record.received_at, {"code": 250})
        ]))


async def rehash_from(engine: Any, tamper: Any, first: int) -> None:
    """Recompute prev_hash and hash of every row from seq `first` on, as a
    careful attacker would after changing one."""
    async with engine.connect() as conn:
        rows: list[tuple[int, str, Any]] = [
            (r["seq"], "audit_records", r) for r in (await conn.execute(
                select(audit_records).where(audit_records.c.seq >= first)
            )).mappings().all()
        ] + [
            (r["seq"], "audit_events", r) for r in (await conn.execute(
                select(audit_events).where(audit_events.c.seq >= first)
            )).mappings().all()
        ]
        prev = GENESIS
        for table in (audit_records, audit_events):
            found = (await conn.execute(
                select(table.c.hash).where(table.c.seq == first - 1)
            )).scalar()
            prev = str(found) if found else prev
    for seq, table, row in sorted(rows, key=lambda r: r[0]):
        if table == "audit_records":
            content = record_content(row["id"], row["message_id"], row["received_at"],
                                     row["sender"], row["verdict"], row["marking"],
                                     row["purpose"], row["terms"], row["document"], row["events"])
        else:
            content = event_content(row["record_id"], row["at"], row["type"], row["detail"])
        new = link(prev, content)
        await tamper(f"UPDATE {table} SET prev_hash = :p, hash = :h WHERE seq = :s",
                     p=prev, h=new, s=seq)
        prev = new


async def renumber_down_from(tamper: Any, seq: int) -> None:
    """Close the gap a deleted row left at seq - 1."""
    for table in ("audit_records", "audit_events"):
        await tamper(f"UPDATE {table} SET seq = -(seq - 1) WHERE seq >= {seq}",
                     f"UPDATE {table} SET seq = -seq WHERE seq < 0")
    await tamper(f"UPDATE audit_record_terms SET record_seq = record_seq - 1 "
                 f"WHERE record_seq >= {seq}")


# Kept checkpoints are moved onto the rewritten chain (their hash), which
# only the signature then contradicts.
_MOVED = ("hash = coalesce((SELECT hash FROM audit_records r WHERE r.seq = audit_checkpoints.seq),"
          " (SELECT hash FROM audit_events e WHERE e.seq = audit_checkpoints.seq))")
ERASE_CHECKPOINTS = {
    "deleted": "DELETE FROM audit_checkpoints WHERE seq >= 3",
    "unsigned": f"UPDATE audit_checkpoints SET signature = NULL, key_id = NULL, {_MOVED} "
                "WHERE seq >= 3",
    "signed with another key": f"UPDATE audit_checkpoints SET key_id = 'ffffffffffffffff', "
                               f"{_MOVED} WHERE seq >= 3",
}


@pytest.mark.parametrize("how", sorted(ERASE_CHECKPOINTS))
async def test_a_rewrite_whose_checkpoints_were_erased_is_caught(engine, writer, tamper, how):
    keys = AuditKeys([KEY])
    await write_trail(writer, AuditTrail(keys, EVERY), 10)  # seq 1-20
    assert (await verify(engine, keys, checkpoint_every=EVERY)).ok
    await tamper("UPDATE audit_records SET sender = 'someone.else@council.example' "
                 "WHERE seq = 3")
    await rehash_from(engine, tamper, 3)
    await tamper(ERASE_CHECKPOINTS[how])
    # Without the rhythm to hold it to, the rewrite is perfect:
    assert (await verify(engine, keys)).ok
    report = await verify(engine, keys, checkpoint_every=EVERY)
    assert not report.ok
    assert len(report.problems) == 1 and COVERAGE in report.problems[0]
    assert report.problems[0].startswith("rows seq 5-20 are covered by no validly signed")


async def test_a_record_deleted_and_the_rest_relinked_is_caught(engine, writer, tamper):
    keys = AuditKeys([KEY])
    await write_trail(writer, AuditTrail(keys, EVERY), 10)
    await tamper("DELETE FROM audit_record_terms WHERE record_seq = 3",
                 "DELETE FROM audit_records WHERE seq = 3")
    await renumber_down_from(tamper, 4)
    await rehash_from(engine, tamper, 3)
    await tamper("DELETE FROM audit_checkpoints WHERE seq >= 3")
    assert (await verify(engine, keys)).ok
    report = await verify(engine, keys, checkpoint_every=EVERY)
    assert [COVERAGE in p for p in report.problems] == [True]


async def test_an_untouched_signed_trail_verifies_whatever_the_setting_now(engine, writer):
    """checkpoint_every changed since the rows were written (either way) is
    not mistaken for checkpoints gone: each periodic checkpoint carries the
    spacing it was written under."""
    keys = AuditKeys([KEY])
    await write_trail(writer, AuditTrail(keys, EVERY), 10)
    for every in (EVERY, 2, 3, 50):
        report = await verify(engine, keys, checkpoint_every=every)
        assert report.ok, (every, report.problems)
        assert report.checkpoints_signed == report.checkpoints >= 3


async def test_a_key_configured_on_an_older_trail_asks_for_a_checkpoint(engine, writer):
    """Rows written before the key was configured have unsigned checkpoints:
    verify says so and how to sign the head; one signed checkpoint at the head
    vouches for everything before it."""
    await write_trail(writer, AuditTrail(None, EVERY), 6)
    keys = AuditKeys([KEY])
    report = await verify(engine, keys, checkpoint_every=EVERY)
    assert not report.ok and COVERAGE in report.problems[0]
    assert "`gateway audit checkpoint` signs the head now" in report.problems[0]
    async with engine.begin() as conn:
        await AuditTrail(keys, EVERY).write_checkpoint(conn, "manual")
    report = await verify(engine, keys, checkpoint_every=EVERY)
    assert report.ok, report.problems
    # The gateway carries on, and signs at the next multiple.
    await write_trail(writer, AuditTrail(keys, EVERY), 4)
    assert (await verify(engine, keys, checkpoint_every=EVERY)).ok


async def test_password_commands_sign_their_checkpoints(tmp_path, db_url, engine, writer):
    """`gateway passwords expire` appends to the trail: a checkpoint it
    writes on a boundary is signed with the configured key and spacing, like
    the gateway's own (it wrote unsigned ones every 1,000 rows)."""
    keys = AuditKeys([KEY])
    trail = AuditTrail(keys, 2)
    await write_trail(writer, trail, 1)  # seq 1-2, a checkpoint at 2
    # A password held long ago (seq 3): expiring it is seq 4, a boundary.
    await writer.submit(hold_op(PasswordVault([os.urandom(32)]), "Q1", ["gp@nhs.example"],
                                "synthetic-password", timedelta(hours=1), trail=trail,
                                now=time.time() - 86_400))
    config = write_config(tmp_path, db_url, "checkpoint_every = 2\n")
    assert await asyncio.to_thread(main, ["passwords", "expire", "--config", str(config)]) == 0
    report = await verify(engine, keys, checkpoint_every=2)
    assert report.ok, report.problems
    assert (report.last_seq, report.checkpoints, report.checkpoints_signed) == (4, 2, 2)


def test_the_cli_holds_the_chain_to_the_configured_rhythm(tmp_path: Path, db_url: str, capsys):
    keys = AuditKeys([KEY])

    async def seed_and_rewrite() -> None:
        engine = create_engine(db_url)
        writer = Writer(engine)
        writer.start()
        await write_trail(writer, AuditTrail(keys, EVERY), 10)
        await writer.stop()
        tamper = owner_tamper(engine)
        await tamper("UPDATE audit_records SET verdict = 'deliver' WHERE seq = 7")
        await rehash_from(engine, tamper, 7)
        await tamper("DELETE FROM audit_checkpoints WHERE seq >= 7")
        await engine.dispose()

    asyncio.run(seed_and_rewrite())
    config = write_config(tmp_path, db_url, f"checkpoint_every = {EVERY}\n")
    code = main(["audit", "verify", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 1
    assert "audit trail FAILED verification" in out and "rows seq 10-20 are covered" in out


@pytest.mark.parametrize("table, column, respelt", [
    ("audit_records", "received_at", "strftime('%Y%m%dT%H%M%S', received_at) || substr(received_at, 20)"),
    ("audit_records", "received_at", "replace(received_at, ' ', 'T')"),
    ("audit_records", "received_at", "received_at || '+00:00'"),
    ("audit_events", "at", "replace(at, ' ', 'T') || 'Z'"),
    ("audit_record_terms", "received_at", "replace(received_at, ' ', 'T')"),
])
async def test_a_time_respelt_on_sqlite_is_caught(engine, writer, tamper, table, column, respelt):
    """SQLite keeps times as text and compares them as text: the same
    instant spelt otherwise hashes the same and drops out of every
    date-bounded search.  verify names it."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps times as timestamptz: there is no other spelling")
    await write_trail(writer, AuditTrail(None, 1000), 3)
    assert (await verify(engine)).ok
    where = "record_seq = 3" if table == "audit_record_terms" else "seq IN (3, 4)"
    await tamper(f"UPDATE {table} SET {column} = {respelt} WHERE {where}")
    report = await verify(engine)
    assert not report.ok
    expected = ("search index of record" if table == "audit_record_terms"
                else "its time is stored spelt otherwise")
    assert len(report.problems) == 1 and expected in report.problems[0], report.problems


async def test_the_oldest_rows_deleted_behind_a_planted_cut_are_caught(engine, writer, tamper):
    """Without a key a `cut` checkpoint is unsigned: deleting the oldest rows
    and adding one looked like a purge.  A purge writes a `purged` event
    after its cut, in the same transaction; a cut without one is named."""
    await write_trail(writer, AuditTrail(None, 1000), 4)  # seq 1-8
    async with engine.connect() as conn:
        at_4 = (await conn.execute(select(audit_events.c.hash).where(audit_events.c.seq == 4)
                                   )).scalar_one()
    await tamper("DELETE FROM audit_record_terms WHERE record_seq <= 4",
                 "DELETE FROM audit_events WHERE seq <= 4",
                 "DELETE FROM audit_records WHERE seq <= 4",
                 "INSERT INTO audit_checkpoints (at, kind, seq, hash, detail) "
                 "VALUES (:at, 'cut', 4, :h, '{}')", at=datetime.now(UTC), h=at_4)
    report = await verify(engine)
    assert report.cut_seq == 4 and report.records == 2
    assert len(report.problems) == 1
    assert report.problems[0].startswith("the purge cut at seq 4 (")
    assert report.problems[0].endswith("has no `purged` event after it: the rows before it were "
                                       "deleted outside `gateway audit purge`")


async def test_a_real_purge_is_followed_by_its_event(engine, writer):
    trail = AuditTrail(None, 1000)
    await write_trail(writer, trail, 4)
    result = await purge(engine, trail, timedelta(days=30),
                         now=datetime.now(UTC) + timedelta(days=3650))
    assert result.cut_seq == 8
    report = await verify(engine)
    assert report.ok, report.problems
    assert report.cut_seq == 8


async def test_the_consoles_integrity_check_holds_the_chain_to_the_rhythm(
    db_url, engine, writer, tamper
):
    """The console's Integrity page runs verify with the configured spacing."""
    keys = AuditKeys([KEY])
    await write_trail(writer, AuditTrail(keys, EVERY), 10)
    await tamper("DELETE FROM audit_checkpoints WHERE seq >= 12")
    integrity = Integrity(db_url, keys, checkpoint_every=EVERY)
    assert integrity.start()
    await integrity.wait()
    assert integrity.last is not None and integrity.last.report is not None
    assert [COVERAGE in p for p in integrity.last.report.problems] == [True]
