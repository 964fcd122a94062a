"""With an audit key, a checkpoint the key does not vouch for is not
believed: the gateway signs every checkpoint once it has a key, so an
unsigned one written since (or one whose signature does not verify) is the
forgery, named as such, and never taken as evidence that rows were cut
off or rewritten.  Without the key, signed checkpoints cannot be checked,
and the summary says so rather than reading as a plain pass."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from audit_support import life, make_record
from sqlalchemy import text

from gateway.audit import AuditEvent, AuditKeys, AuditTrail, EventType, verify
from gateway.queue import Writer

KEY = "u" * 40
EVERY = 5
NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


async def write_trail(writer: Writer, trail: AuditTrail, n: int) -> None:
    """n messages, two chain rows each."""
    for _ in range(n):
        record = make_record()
        await writer.submit(trail.record_op(record, life(record)))
        await writer.submit(trail.events_op(record.id, [
            AuditEvent(EventType.RELAYED, record.received_at, {"code": 250})
        ]))


async def plant(engine, seq: int, hash_: str, signature: str | None = None,
                key_id: str = "0123456789abcdef") -> int:
    """As the gateway's own role may: a checkpoint row of one's own making."""
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO audit_checkpoints (at, kind, seq, hash, detail, key_id, signature) "
            "VALUES (:at, 'manual', :seq, :hash, '{}', :key_id, :signature)"
        ), {"at": NOW, "seq": seq, "hash": hash_, "key_id": key_id if signature else None, "signature": signature})
        return int((await conn.execute(text("SELECT max(id) FROM audit_checkpoints"))).scalar())


@pytest.mark.parametrize("seq", [9999, 5], ids=["past the head", "inside the chain"])
async def test_an_unsigned_checkpoint_planted_on_a_keyed_trail_is_the_forgery(
    engine, writer, seq
):
    keys = AuditKeys([KEY])
    await write_trail(writer, AuditTrail(keys, EVERY), 10)  # seq 1-20, signed checkpoints
    planted = await plant(engine, seq, "a" * 64)

    report = await verify(engine, keys, checkpoint_every=EVERY)

    assert not report.ok
    assert len(report.problems) == 1, report.problems
    assert report.problems[0].startswith(
        f"checkpoint #{planted} (manual at seq {seq}) is not signed though the trail has a "
        "key: it was not written by the gateway")
    assert report.details == [[]]  # no rows said to be missing or rewritten


@pytest.mark.parametrize("ours", [True, False], ids=["our key id", "another key id"])
async def test_a_badly_signed_checkpoint_says_nothing_about_the_rows(engine, writer, ours):
    keys = AuditKeys([KEY])
    await write_trail(writer, AuditTrail(keys, EVERY), 10)
    key_id = AuditKeys.key_id(KEY) if ours else "0123456789abcdef"
    planted = await plant(engine, 9999, "a" * 64, signature="b" * 64, key_id=key_id)

    report = await verify(engine, keys, checkpoint_every=EVERY)

    if ours:
        assert report.problems == [f"checkpoint #{planted} (manual at seq 9999) forged or "
                                   "altered: its signature does not verify"]
    else:  # it cannot be checked here: a warning, and not believed either
        assert report.ok, report.problems
        assert any(w.startswith(f"checkpoint #{planted} ") for w in report.warnings)


async def test_unsigned_checkpoints_from_before_the_key_still_count(engine, writer, tamper):
    """A trail kept without a key, then with one: its older checkpoints are
    no forgery, and still show rows of theirs rewritten."""
    await write_trail(writer, AuditTrail(None, EVERY), 6)  # seq 1-12, unsigned
    keys = AuditKeys([KEY])
    await write_trail(writer, AuditTrail(keys, EVERY), 4)  # seq 13-20, signed
    report = await verify(engine, keys, checkpoint_every=EVERY)
    assert report.ok, report.problems
    assert report.checkpoints_unsigned >= 2 and report.checkpoints_signed >= 1

    async with engine.connect() as conn:
        old = (await conn.execute(text(
            "SELECT id, seq FROM audit_checkpoints WHERE signature IS NULL ORDER BY id LIMIT 1"
        ))).one()
    await tamper("UPDATE audit_checkpoints SET hash = :h WHERE id = :i", h="c" * 64, i=old.id)
    report = await verify(engine, keys, checkpoint_every=EVERY)
    assert report.problems == [f"checkpoint #{old.id} at seq {old.seq} does not match the "
                               f"chain: rows up to seq {old.seq} were rewritten"]


async def test_signed_checkpoints_verified_without_the_key_are_said_not_checked(
    engine, writer
):
    await write_trail(writer, AuditTrail(AuditKeys([KEY]), EVERY), 10)

    report = await verify(engine, None, checkpoint_every=EVERY)

    assert report.ok  # every hash still checked: exit 0, as documented
    count = report.checkpoints
    assert count >= 3 and report.checkpoints_not_checked == count
    assert (f"{count} checkpoints: 0 signature(s) verified, 0 unsigned, {count} signed "
            "checkpoint(s) not checked (no key given)") in report.summary()
    assert any(n.startswith(f"{count} signed checkpoint(s) not checked (no key given)")
               for n in report.notes)
