"""`gateway audit purge`: remove records past `[audit] retention`, keeping the
chain verifiable.

Only a prefix of the chain can go, or the rows left behind would link to
rows that are gone.  The cut is therefore just before the first row that
must stay: the first record received on or after the cut-off, or the first
event at or after it (a recent `purged` event, an approval of an old held
message), or the record of a message not finished yet (still queued,
deferred or held: its queue rows stay, and so must its record).  Everything up to the cut is deleted (records, their search
index, events); a `cut` checkpoint, signed when a key is configured, records
the hash of the last removed row so `verify` starts from it.  Rows of
expired records that lie after the cut (events that came late) go in a later
purge, once the rows before them have expired too.

The purge is itself audited: a `purged` event (record_id "purge-<time>")
appended after the cut says what was removed.

It verifies the whole chain first and refuses when it does not verify: the
rows it would remove are the evidence of what was done to them, and once
they are cut off `verify` starts from the cut and finds nothing.  `force`
purges all the same (retention may be a legal duty too); the `purged`
event then says it was forced and how many problems verify had found.

The other stages' rows about the same messages (the queue's, the receipts
desk's, the password store's) may go in the same transaction: `also`
(gateway.operate.retention, which `gateway audit purge` passes) removes
them and says how many, and the `purged` event counts them too.  A purge
that finds no trail rows to cut but such rows to remove still audits
itself, without a new cut.

Deletes pass the append-only triggers only inside this transaction: on
PostgreSQL through SET LOCAL gateway.audit_purge (and the connecting role
must have DELETE: the owner, not gateway_app); on SQLite through a row in
audit_purge_guard, removed again before commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, case, cast, delete, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit.record import AuditEvent, EventType, utc
from gateway.audit.trail import AuditTrail, Head, lock_and_read_head
from gateway.audit.verify import verify
from gateway.db.schema import (
    audit_checkpoints,
    audit_events,
    audit_purge_guard,
    audit_record_terms,
    audit_records,
    queue_messages,
)
from gateway.errors import AuditIntegrityError, StoreError
from gateway.queue.states import FINISHED


@dataclass(frozen=True, slots=True)
class PurgeResult:
    cutoff: datetime
    cut_seq: int  # rows with seq <= cut_seq are (or would be) removed
    records: int
    events: int
    dry_run: bool
    checkpoint_id: int | None = None
    # Rows of other tables about the messages purged (`also`): table -> rows.
    elsewhere: Mapping[str, int] = field(default_factory=dict)
    # What verify found before a forced purge (nothing otherwise).
    problems: tuple[str, ...] = ()

    @property
    def removed_anything(self) -> bool:
        return bool(self.records or self.events or any(self.elsewhere.values()))


# (connection, cutoff, dry_run) -> rows removed (or that would be) per table.
Elsewhere = Callable[[AsyncConnection, datetime, bool], Awaitable[dict[str, int]]]


async def purge(
    engine: AsyncEngine,
    trail: AuditTrail,
    retention: timedelta,
    dry_run: bool = False,
    now: datetime | None = None,
    also: Elsewhere | None = None,
    force: bool = False,
) -> PurgeResult:
    cutoff = utc(now or datetime.now(UTC)) - retention
    report = await verify(engine, trail.keys, checkpoint_every=trail.checkpoint_every)
    if not report.ok and not force:
        raise AuditIntegrityError(
            "the audit trail does not verify, so nothing was purged: the rows a purge removes "
            "would take the evidence with them.\n"
            + "".join(f"  {problem}\n" for problem in report.problems)
            + "Run `gateway audit verify` and find out what happened; `gateway audit purge "
            "--force` purges all the same, and its audit event says so."
        )
    try:
        result = await _purge(engine, trail, retention, cutoff, dry_run, also,
                              tuple(report.problems))
    except DBAPIError as exc:
        if "permission denied" in str(exc):
            raise StoreError(
                "audit purge needs a database role allowed to DELETE from the audit tables "
                "(the owner that ran `gateway db upgrade`, not gateway_app)"
            ) from exc
        raise
    return result


async def _purge(
    engine: AsyncEngine, trail: AuditTrail, retention: timedelta, cutoff: datetime,
    dry_run: bool, also: Elsewhere | None, problems: tuple[str, ...],
) -> PurgeResult:
    async with engine.begin() as conn:
        head = await lock_and_read_head(conn)
        keep_record = (await conn.execute(
            select(func.min(audit_records.c.seq)).where(audit_records.c.received_at >= cutoff)
        )).scalar()
        bound = int(keep_record) if keep_record is not None else head.seq + 1
        keep_event = (await conn.execute(
            select(func.min(audit_events.c.seq))
            .where(audit_events.c.seq < bound, audit_events.c.at >= cutoff)
        )).scalar()
        if keep_event is not None:
            bound = int(keep_event)
        # A message still queued, deferred or held keeps its record however
        # old (its queue rows stay too, gateway.operate.retention): its
        # approval or delivery is still to come, and would otherwise be
        # shared with no record of recipient, purpose or method.
        keep_active = (await conn.execute(
            select(func.min(audit_records.c.seq)).where(
                audit_records.c.seq < bound,
                audit_records.c.id.in_(
                    select(queue_messages.c.id)
                    .where(queue_messages.c.state.not_in([s.value for s in FINISHED]))
                ),
            )
        )).scalar()
        if keep_active is not None:
            bound = int(keep_active)
        cut = bound - 1
        previous_cut = (await conn.execute(
            select(func.max(audit_checkpoints.c.seq)).where(audit_checkpoints.c.kind == "cut")
        )).scalar() or 0
        records = int((await conn.execute(
            select(func.count()).select_from(audit_records).where(audit_records.c.seq <= cut)
        )).scalar_one())
        events = int((await conn.execute(
            select(func.count()).select_from(audit_events).where(audit_events.c.seq <= cut)
        )).scalar_one())
        # and the events kept in the removed records' rows (migration 0007).
        # Text edited out of JSON counts none rather than stopping the purge
        # (SQLite; PostgreSQL's constraint refuses it, migration 0008).
        kept: Any = audit_records.c.events
        if conn.dialect.name == "postgresql":
            kept = cast(kept, JSON)
        else:
            kept = case((func.json_valid(kept), kept))
        events += int((await conn.execute(
            select(func.coalesce(func.sum(func.json_array_length(kept)), 0))
            .where(audit_records.c.seq <= cut, audit_records.c.events.is_not(None))
        )).scalar_one())
        elsewhere = await also(conn, cutoff, dry_run) if also is not None else {}
        detail: dict[str, Any] = {
            "cutoff": cutoff.isoformat(), "retention_days": retention.days,
            "records": records, "events": events, "previous_cut": int(previous_cut),
            **elsewhere,
        }
        if problems:
            detail.update(forced=True, verify_problems=len(problems))
        if keep_active is not None:
            detail["kept_from_seq"] = int(keep_active)  # a message not finished yet
        if cut <= previous_cut:
            result = PurgeResult(cutoff, int(previous_cut), 0, 0, dry_run, elsewhere=elsewhere,
                                 problems=problems)
            if result.removed_anything and not dry_run:
                detail.update(records=0, events=0)
                await _audit_purge(conn, trail, {**detail, "cut_seq": int(previous_cut)})
            return result
        if dry_run:
            return PurgeResult(cutoff, cut, records, events, True, elsewhere=elsewhere,
                               problems=problems)
        cut_hash = await _hash_at(conn, cut)
        await _allow_delete(conn, True)
        await conn.execute(delete(audit_record_terms).where(audit_record_terms.c.record_seq <= cut))
        await conn.execute(delete(audit_events).where(audit_events.c.seq <= cut))
        await conn.execute(delete(audit_records).where(audit_records.c.seq <= cut))
        await _allow_delete(conn, False)
        point = await trail.write_checkpoint(conn, "cut", Head(cut, cut_hash), detail)
        await _audit_purge(conn, trail, {**detail, "cut_seq": cut, "checkpoint": point.id})
    return PurgeResult(cutoff, cut, records, events, False, point.id, elsewhere, problems)


async def _audit_purge(conn: AsyncConnection, trail: AuditTrail, detail: dict[str, Any]) -> None:
    at = datetime.now(UTC)
    await trail.append_events(conn, f"purge-{at.strftime('%Y%m%dT%H%M%SZ')}", [
        AuditEvent(EventType.PURGED, at, detail)
    ])


async def _hash_at(conn: AsyncConnection, seq: int) -> str:
    for table in (audit_records, audit_events):
        found = (await conn.execute(select(table.c.hash).where(table.c.seq == seq))).scalar()
        if found is not None:
            return str(found)
    # The row at the cut is itself gone (an earlier purge cut exactly there).
    found = (await conn.execute(
        select(audit_checkpoints.c.hash).where(audit_checkpoints.c.seq == seq)
        .order_by(audit_checkpoints.c.id.desc()).limit(1)
    )).scalar()
    if found is None:
        raise AuditIntegrityError(f"no audit row at seq {seq} to cut at: run `gateway audit verify`")
    return str(found)


async def _allow_delete(conn: AsyncConnection, allowed: bool) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT set_config('gateway.audit_purge', :v, true)"),
                           {"v": "on" if allowed else "off"})
    elif allowed:
        await conn.execute(insert(audit_purge_guard).values(id=1))
    else:
        await conn.execute(delete(audit_purge_guard))
