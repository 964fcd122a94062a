"""Retention: purge removes a prefix of the chain past `[audit] retention`,
leaves a (signed) cut checkpoint so verify stays green, and audits itself."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from gateway.audit import (
    AuditEvent,
    AuditKeys,
    AuditQuery,
    AuditTrail,
    EventType,
    SearchFilter,
    purge,
    verify,
)
from gateway.db.schema import (
    audit_checkpoints,
    audit_events,
    audit_record_terms,
    audit_records,
    queue_messages,
    queue_recipients,
)
from gateway.errors import AuditIntegrityError
from gateway.operate.retention import remove_finished
from gateway.passwords.schema import held_passwords
from gateway.receipts.schema import receipt_requests

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=7 * 365)
SIX_YEARS = timedelta(days=6 * 365)
KEY = "s" * 40


async def count(engine, table) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_purge_removes_old_records_and_verify_stays_green(engine, seed, trail, writer):
    old = await seed(3, received_at=OLD)  # seq 1-15
    new = await seed(2, received_at=NOW)  # seq 16-25
    result = await purge(engine, trail, SIX_YEARS)
    assert (result.records, result.events, result.cut_seq, result.dry_run) == (3, 12, 15, False)

    report = await verify(engine)
    assert report.ok, report.problems
    assert (report.cut_seq, report.first_seq, report.records) == (15, 16, 2)
    assert await count(engine, audit_records) == 2
    assert await count(engine, audit_record_terms) == 2 * 5
    remaining = await AuditQuery(engine).search(SearchFilter(), None)
    assert {d["id"] for d in remaining} == {r.id for r in new}
    assert await AuditQuery(engine).get(old[0].id) is None

    # The purge audited itself, after the cut.
    async with engine.connect() as conn:
        (record_id, type_, detail) = (await conn.execute(
            select(audit_events.c.record_id, audit_events.c.type, audit_events.c.detail)
            .where(audit_events.c.type == "purged")
        )).one()
        cut = (await conn.execute(select(audit_checkpoints.c.kind, audit_checkpoints.c.seq)
                                  .where(audit_checkpoints.c.kind == "cut"))).one()
    assert record_id.startswith("purge-") and type_ == EventType.PURGED.value
    assert '"records":3' in detail and '"cut_seq":15' in detail
    assert tuple(cut) == ("cut", 15)

    # The chain goes on from where it was; a second purge finds nothing.
    more = await seed(1, received_at=NOW)
    assert (await verify(engine)).ok
    again = await purge(engine, trail, SIX_YEARS)
    assert (again.records, again.events) == (0, 0)
    assert more[0].id in {d["id"] for d in await AuditQuery(engine).search(SearchFilter())}


async def test_dry_run_removes_nothing(engine, seed, trail):
    await seed(2, received_at=OLD)
    await seed(1, received_at=NOW)
    result = await purge(engine, trail, SIX_YEARS, dry_run=True)
    assert (result.records, result.events, result.cut_seq, result.dry_run) == (2, 8, 10, True)
    assert await count(engine, audit_records) == 3
    assert await count(engine, audit_checkpoints) == 0


async def test_late_events_of_old_records_wait_for_a_later_purge(engine, seed, trail, writer):
    (old,) = await seed(1, received_at=OLD, with_relay=False)  # seq 1-4
    await seed(1, received_at=NOW - timedelta(days=10), with_relay=False)  # seq 5-8
    await writer.submit(trail.events_op(old.id, [  # seq 9: late, old
        AuditEvent(EventType.RELAYED, OLD + timedelta(days=1))
    ]))
    result = await purge(engine, trail, SIX_YEARS)
    assert (result.cut_seq, result.records) == (4, 1)
    assert (await verify(engine)).ok
    # Ten days later in a world with a 5-day retention, the rest can go.
    result = await purge(engine, trail, timedelta(days=5))
    assert (result.cut_seq, result.records, result.events) == (9, 1, 4)
    report = await verify(engine)
    assert report.ok, report.problems
    assert report.records == 0


async def test_purging_everything_leaves_a_verifiable_chain(engine, seed, trail):
    await seed(2, received_at=OLD)
    await purge(engine, trail, SIX_YEARS)
    assert await count(engine, audit_records) == 0
    assert (await verify(engine)).ok
    await seed(1, received_at=NOW)  # links to the purge event, after the cut
    report = await verify(engine)
    assert report.ok, report.problems
    assert (report.cut_seq, report.records, report.events) == (10, 1, 5)


async def test_signed_cut_and_a_forged_one(engine, seed, tamper):
    keys = AuditKeys([KEY])
    signing = AuditTrail(keys)
    await seed(2, received_at=OLD)
    await seed(1, received_at=NOW)
    await purge(engine, signing, SIX_YEARS)
    report = await verify(engine, keys)
    assert report.ok, report.problems
    assert report.checkpoints_signed == 1

    # Someone deletes more old rows and adds an unsigned "cut" to excuse it.
    await tamper(
        "DELETE FROM audit_events WHERE seq <= 13",
        "DELETE FROM audit_record_terms WHERE record_seq <= 13",
        "DELETE FROM audit_records WHERE seq <= 13",
    )
    async with engine.begin() as conn:
        hash_13 = "0" * 64
        await conn.execute(text(
            "INSERT INTO audit_checkpoints (at, kind, seq, hash, detail) "
            "VALUES (:at, 'cut', 13, :h, '{}')"), {"at": NOW, "h": hash_13})
    found = (await verify(engine, keys)).problems
    assert found[0] == ("checkpoint #2 (cut at seq 13) is not validly signed: the purge it "
                        "claims is not trusted")
    assert "rows seq 11-13 missing (deleted)" in found


async def test_purge_refuses_a_trail_that_does_not_verify(engine, seed, trail, tamper):
    """An old record edited: cutting it off would take the evidence with it
    (verify then starts from the cut and finds nothing).  The purge refuses,
    dry run or not, and removes nothing; forced, it goes ahead and its
    audit event says it was forced over one problem."""
    old = await seed(2, received_at=OLD)
    await seed(1, received_at=NOW)
    await tamper(f"UPDATE audit_records SET purpose = 'nothing to see' WHERE id = '{old[0].id}'")
    for dry_run in (True, False):
        with pytest.raises(AuditIntegrityError) as refused:
            await purge(engine, trail, SIX_YEARS, dry_run=dry_run)
        assert "does not verify, so nothing was purged" in str(refused.value)
        assert f"record {old[0].id}" in str(refused.value)
        assert "--force" in str(refused.value)
    assert await count(engine, audit_records) == 3
    assert await count(engine, audit_checkpoints) == 0

    result = await purge(engine, trail, SIX_YEARS, force=True)
    assert result.records == 2 and len(result.problems) == 1
    async with engine.connect() as conn:
        detail = json.loads((await conn.execute(
            select(audit_events.c.detail).where(audit_events.c.type == "purged")
        )).scalar_one())
    assert (detail["forced"], detail["verify_problems"], detail["records"]) == (True, 1, 2)
    report = await verify(engine)
    assert report.ok, report.problems  # what was wrong went with the cut: hence the refusal
    # ... and verify says so, without the auditor querying the events.
    (forced,) = [n for n in report.notes if "was forced" in n]
    assert forced.startswith(f"the purge up to seq {result.cut_seq} (")
    assert ("was forced past 1 problem(s) verify found then (`gateway audit purge --force`; "
            "its `purged` event, seq ") in forced
    assert forced.endswith("the rows it removed may have included rows altered, which can no "
                           "longer be checked")


async def test_purge_needs_no_trigger_bypass_and_leaves_triggers_armed(engine, seed, trail):
    await seed(1, received_at=OLD)
    await seed(1, received_at=NOW)
    await purge(engine, trail, SIX_YEARS)
    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            guard = (await conn.execute(text("SELECT count(*) FROM audit_purge_guard"))).scalar()
            assert guard == 0
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM audit_records"))
    except Exception as exc:
        assert "append-only" in str(exc)
    else:
        raise AssertionError("delete after purge was allowed")


# -- the other stages' rows about the same messages ---------------------------------------------

def _message(queue_id: str, state: str, at: datetime) -> dict[str, Any]:
    return {"id": queue_id, "created_at": at.timestamp(), "mail_from": "sender@council.example",
            "envelope": "{}", "content": b"", "size": 0, "state": state, "attempts": 1,
            "next_attempt_at": at.timestamp(), "updated_at": at.timestamp()}


def _recipient(queue_id: str) -> dict[str, Any]:
    return {"message_id": queue_id, "position": 0, "address": "gp@nhs.example",
            "state": "delivered", "route": "upstream"}


def _receipt(queue_id: str, at: datetime) -> dict[str, Any]:
    return {"queue_id": queue_id, "idx": 0, "recipient": "gp@nhs.example", "route": "upstream",
            "sender": "sender@council.example", "name": "Dr Rhys Jones",
            "telephone": "01632 960001", "sender_mdn": False, "created_at": at.timestamp()}


def _held(queue_id: str, state: str, at: datetime) -> dict[str, Any]:
    return {"id": f"h-{queue_id}-{state}", "queue_id": queue_id, "recipient": "gp@nhs.example",
            "created_at": at.timestamp(), "expires_at": at.timestamp() + 86400, "state": state}


async def _operational_rows(engine) -> None:
    """Queue, receipt and password rows: old finished messages (they go),
    an old message still deferred and a recent one (they stay), and rows
    whose message was deleted from the queue, old and recent."""
    messages = [_message("old-delivered", "delivered", OLD), _message("old-bounced", "bounced", OLD),
                _message("old-refused", "rejected", OLD), _message("old-deferred", "deferred", OLD),
                _message("new-delivered", "delivered", NOW)]
    async with engine.begin() as conn:
        await conn.execute(queue_messages.insert(), messages)
        await conn.execute(queue_recipients.insert(), [_recipient(m["id"]) for m in messages])
        await conn.execute(receipt_requests.insert(), [
            _receipt("old-delivered", OLD), _receipt("old-deferred", OLD),
            _receipt("new-delivered", NOW), _receipt("old-deleted", OLD),
            _receipt("new-deleted", NOW),
        ])
        await conn.execute(held_passwords.insert(), [
            _held("old-delivered", "released", OLD), _held("old-delivered", "held", OLD),
            # Its email still queued: it may yet fail and be held again.
            _held("old-delivered", "queued", OLD),
            _held("old-deferred", "expired", OLD), _held("old-deleted", "destroyed", OLD),
            _held("new-delivered", "released", NOW),
        ])


async def _ids(engine, column) -> set[str]:
    async with engine.connect() as conn:
        return {str(v) for v in (await conn.execute(select(column))).scalars()}


async def test_purge_removes_the_finished_messages_other_rows(engine, seed, trail):
    """Past retention, the queue's row of a finished message (its envelope),
    its recipients, its receipt requests (names, telephones) and its held
    password rows go with its record: otherwise every address of the years
    purged stayed in those tables."""
    await seed(2, received_at=OLD)
    await seed(1, received_at=NOW)
    await _operational_rows(engine)
    expected = {"receipt_requests": 2, "held_passwords": 2, "queue_recipients": 3,
                "queue_messages": 3}

    planned = await purge(engine, trail, SIX_YEARS, dry_run=True, also=remove_finished)
    assert dict(planned.elsewhere) == expected
    assert await count(engine, queue_messages) == 5  # a dry run removes nothing

    result = await purge(engine, trail, SIX_YEARS, also=remove_finished)
    assert result.records == 2 and dict(result.elsewhere) == expected
    assert await _ids(engine, queue_messages.c.id) == {"old-deferred", "new-delivered"}
    assert await _ids(engine, queue_recipients.c.message_id) == {"old-deferred", "new-delivered"}
    assert await _ids(engine, receipt_requests.c.queue_id) == {
        "old-deferred", "new-delivered", "new-deleted"}
    assert await _ids(engine, held_passwords.c.id) == {
        "h-old-delivered-held", "h-old-delivered-queued", "h-old-deferred-expired",
        "h-new-delivered-released"}
    async with engine.connect() as conn:
        detail = json.loads((await conn.execute(
            select(audit_events.c.detail).where(audit_events.c.type == "purged")
        )).scalar_one())
    assert {k: detail[k] for k in expected} == expected
    assert (detail["records"], detail["checkpoint"]) == (2, result.checkpoint_id)
    report = await verify(engine)
    assert report.ok, report.problems


async def test_a_purge_with_no_trail_to_cut_still_removes_and_audits_the_rest(
    engine, seed, trail
):
    """The trail past retention went in an earlier purge (or before the
    queue's rows were purged at all): the old finished messages' rows still
    go, and the `purged` event says so, with no new cut."""
    await seed(1, received_at=OLD)
    await purge(engine, trail, SIX_YEARS)  # the trail only, as before
    await _operational_rows(engine)
    result = await purge(engine, trail, SIX_YEARS, also=remove_finished)
    assert (result.records, result.events, result.checkpoint_id) == (0, 0, None)
    assert result.elsewhere["queue_messages"] == 3 and result.removed_anything
    async with engine.connect() as conn:
        details = [json.loads(d) for d in (await conn.execute(
            select(audit_events.c.detail).where(audit_events.c.type == "purged")
            .order_by(audit_events.c.seq)
        )).scalars()]
        cuts = (await conn.execute(select(func.count()).select_from(audit_checkpoints)
                                   .where(audit_checkpoints.c.kind == "cut"))).scalar_one()
    assert len(details) == 2 and cuts == 1
    assert details[1]["queue_messages"] == 3 and details[1]["records"] == 0
    assert "checkpoint" not in details[1] and details[1]["cut_seq"] == details[0]["cut_seq"]
    assert (await verify(engine)).ok
    again = await purge(engine, trail, SIX_YEARS, also=remove_finished)
    assert not again.removed_anything


@pytest.mark.parametrize("state", ["held", "deferred", "queued"])
async def test_a_message_not_finished_keeps_its_record_however_old(engine, seed, trail, state):
    """A message still held for approval (or queued, or deferred) past
    retention keeps its queue row, so its record must stay too: approved
    later, it would otherwise be shared with no record of recipient,
    purpose or method.  The cut stops just before it."""
    first, waiting, third = await seed(3, received_at=OLD)  # seq 1-5, 6-10, 11-15
    await seed(1, received_at=NOW)
    async with engine.begin() as conn:
        await conn.execute(queue_messages.insert(), [
            _message(first.id, "delivered", OLD), _message(waiting.id, state, OLD)])
    result = await purge(engine, trail, SIX_YEARS, also=remove_finished)
    assert (result.cut_seq, result.records) == (5, 1)
    assert await AuditQuery(engine).get(first.id) is None
    assert await AuditQuery(engine).get(waiting.id) is not None
    assert await AuditQuery(engine).get(third.id) is not None  # after it in the chain
    async with engine.connect() as conn:
        detail = json.loads((await conn.execute(
            select(audit_events.c.detail).where(audit_events.c.type == "purged")
        )).scalar_one())
    assert detail["kept_from_seq"] == 6
    assert (await verify(engine)).ok
    # Once it is finished, the next purge takes it.
    async with engine.begin() as conn:
        await conn.execute(queue_messages.update().where(queue_messages.c.id == waiting.id)
                           .values(state="delivered"))
    again = await purge(engine, trail, SIX_YEARS)
    assert again.records == 2 and await AuditQuery(engine).get(waiting.id) is None
    assert (await verify(engine)).ok
