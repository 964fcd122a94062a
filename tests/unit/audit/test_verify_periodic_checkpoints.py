"""verify names a periodic checkpoint deleted between two that remain.

The later checkpoints still vouch for the rows (each row's hash covers the
one before), so the chain itself verifies; but a checkpoint row deleted is
evidence removed from the trail, and an auditor expects verify to say so.
Each periodic checkpoint says, signed with it, where the chain was before
the rows that passed the multiple (`from`), so a multiple passed between
two remaining checkpoints shows the one taken there is gone.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from audit_support import life, make_record
from sqlalchemy import select, text

from gateway.audit import AuditEvent, AuditKeys, AuditTrail, EventType, purge, verify
from gateway.db.schema import audit_checkpoints

KEY = "s" * 40
EVERY = 5
MISSING = "a periodic checkpoint is missing between"


async def write_trail(writer, trail: AuditTrail, n: int) -> None:  # type: ignore[no-untyped-def]
    """n messages, two chain rows each, one transaction per row."""
    for _ in range(n):
        record = make_record()
        await writer.submit(trail.record_op(record, life(record)))
        await writer.submit(trail.events_op(record.id, [
            AuditEvent(EventType.RELAYED, record.received_at, {"code": 250})]))


async def periodic(engine) -> list[tuple[int, int, dict]]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        rows = (await conn.execute(
            select(audit_checkpoints.c.id, audit_checkpoints.c.seq, audit_checkpoints.c.detail)
            .where(audit_checkpoints.c.kind == "periodic").order_by(audit_checkpoints.c.seq)
        )).all()
    return [(int(i), int(s), json.loads(d)) for i, s, d in rows]


async def test_each_periodic_checkpoint_says_where_the_chain_was(engine, writer):
    await write_trail(writer, AuditTrail(AuditKeys([KEY]), EVERY), 10)  # seq 1-20
    assert [(seq, detail) for _, seq, detail in await periodic(engine)] == [
        (seq, {"every": EVERY, "from": seq - 1}) for seq in (5, 10, 15, 20)]


@pytest.mark.parametrize("keyed", [True, False], ids=["signed", "no key"])
async def test_a_middle_checkpoint_deleted_is_named(engine, writer, tamper, keyed):
    keys = AuditKeys([KEY]) if keyed else AuditKeys(())
    await write_trail(writer, AuditTrail(keys, EVERY), 10)
    assert (await verify(engine, keys, checkpoint_every=EVERY)).ok
    (first, _, _), (gone, _, _), (third, _, _), _ = await periodic(engine)
    await tamper(f"DELETE FROM audit_checkpoints WHERE id = {gone}")

    report = await verify(engine, keys, checkpoint_every=EVERY)
    assert not report.ok
    assert report.problems == [
        f"{MISSING} checkpoint #{first} (periodic at seq 5) and checkpoint #{third} "
        f"(periodic at seq 15): the chain passed seq 10, a multiple of {EVERY} "
        f"(checkpoint_every), before the rows checkpoint #{third} (periodic at seq 15) was "
        "taken after (from seq 14), and the gateway takes one each time it passes one: it "
        "was deleted (or, with an audit key, replaced by one not validly signed by it)"]


async def test_the_first_checkpoint_deleted_is_named(engine, writer, tamper):
    keys = AuditKeys([KEY])
    await write_trail(writer, AuditTrail(keys, EVERY), 10)
    (gone, _, _), (second, _, _), _, _ = await periodic(engine)
    await tamper(f"DELETE FROM audit_checkpoints WHERE id = {gone}")
    (problem,) = (await verify(engine, keys, checkpoint_every=EVERY)).problems
    assert problem.startswith(f"{MISSING} the chain's start and checkpoint #{second} "
                              "(periodic at seq 10): the chain passed seq 5,")


async def test_batches_that_pass_several_multiples_are_no_gap(engine, writer):
    """A batch of 12 rows passes two multiples of 5 and takes one
    checkpoint: nothing is missing."""
    keys = AuditKeys([KEY])
    trail = AuditTrail(keys, EVERY)
    records = [make_record() for _ in range(12)]
    await asyncio.gather(*(writer.submit(trail.record_op(r, life(r))) for r in records))
    await write_trail(writer, trail, 6)
    found = await periodic(engine)
    assert found[0][2]["from"] < 5 and found[0][1] >= 10  # one checkpoint for both multiples
    report = await verify(engine, keys, checkpoint_every=EVERY)
    assert report.ok, report.problems


async def test_a_purge_and_a_changed_setting_are_no_gap(engine, writer):
    keys = AuditKeys([KEY])
    await write_trail(writer, AuditTrail(keys, EVERY), 6)
    # The setting changed: the pair across the change is not compared.
    await write_trail(writer, AuditTrail(keys, 3), 6)
    trail = AuditTrail(keys, 3)
    await purge(engine, trail, timedelta(days=30), now=datetime.now(UTC) + timedelta(days=3650))
    await write_trail(writer, trail, 4)
    report = await verify(engine, keys, checkpoint_every=EVERY)
    assert report.ok, report.problems


async def test_checkpoints_written_before_from_was_kept_are_not_held_to_it(engine, writer,
                                                                           tamper):
    """An older trail's periodic checkpoints say only `every`: verify
    compares nothing it cannot know (and their signatures are checked as
    ever, so their detail is as written)."""
    await write_trail(writer, AuditTrail(None, EVERY), 10)
    await tamper("UPDATE audit_checkpoints SET detail = :d", d=json.dumps({"every": EVERY}))
    (_, _, _), (gone, _, _), _, _ = await periodic(engine)
    await tamper(f"DELETE FROM audit_checkpoints WHERE id = {gone}")
    assert (await verify(engine, checkpoint_every=EVERY)).ok
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM audit_checkpoints"))).scalar() == 3
