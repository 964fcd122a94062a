"""The console's reads that the audit and password modules do not offer.

Searches themselves go through `AuditQuery` (the same statement as
`gateway audit search`); this module adds keyset paging on top of it, the
dashboard's per-day counts, and the held passwords close to expiry.

Paging: a search is ordered newest first by (received_at, seq).  The cursor
of the next page is (T, k): the oldest time shown, and how many records with
exactly that time were already shown.  The next page is the same search with
`until` = T + 1 microsecond (so T itself is still included), skipping k rows.
Every page is therefore an index range from its start, as fast as the first;
k is almost always 0 or 1.

Dashboard counts are index ranges over the window (records by received_at;
reasons by (field, key, received_at) in the search index, one range per
reason code), so their cost follows the window, not the size of the trail.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import AuditQuery, SearchFilter
from gateway.audit.chain import term_key
from gateway.audit.record import utc
from gateway.db.schema import audit_events, audit_record_terms, audit_records
from gateway.model import ReasonCode
from gateway.passwords import HeldState, held_passwords

_r = audit_records
_t = audit_record_terms
_TICK = timedelta(microseconds=1)


# -- search paging ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cursor:
    at: datetime
    skip: int = 0

    def encode(self) -> str:
        return f"{utc(self.at).isoformat()}~{self.skip}"

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        when, _, skip = text.partition("~")
        try:
            at = utc(datetime.fromisoformat(when))
            count = int(skip or "0")
        except ValueError:
            return None
        return cls(at, max(0, min(count, 10_000)))


@dataclass(frozen=True, slots=True)
class Page:
    documents: list[dict[str, Any]]
    next: Cursor | None


async def search_page(
    query: AuditQuery, search: SearchFilter, cursor: Cursor | None, size: int
) -> Page:
    """One page of `search`, newest first, starting at `cursor`."""
    skip = 0
    if cursor is not None:
        try:
            bound: datetime | None = cursor.at + _TICK
        except OverflowError:
            bound = None  # the calendar's last moment: every record is at or before it
        if bound is not None:
            until = bound if search.until is None else min(utc(search.until), bound)
            search = replace(search, until=until)
        skip = cursor.skip
    documents = (await query.search(search, limit=skip + size + 1))[skip:]
    more = len(documents) > size
    documents = documents[:size]
    if not more or not documents:
        return Page(documents, None)
    oldest = utc(datetime.fromisoformat(documents[-1]["received_at"]))
    same = sum(1 for d in documents
               if utc(datetime.fromisoformat(d["received_at"])) == oldest)
    if cursor is not None and utc(cursor.at) == oldest:
        same += cursor.skip  # a run of equal times longer than one page
    return Page(documents, Cursor(oldest, same))


async def search_all(
    query: AuditQuery, search: SearchFilter, batch: int = 500
) -> AsyncIterator[dict[str, Any]]:
    """Every match, newest first, page by page (downloads: flat memory)."""
    cursor: Cursor | None = None
    while True:
        page = await search_page(query, search, cursor, batch)
        for document in page.documents:
            yield document
        if page.next is None:
            return
        cursor = page.next


# -- dashboard -------------------------------------------------------------------------


def _day(engine: AsyncEngine, column: Any) -> ColumnElement[str]:
    """The UTC calendar day of a timestamp column, as YYYY-MM-DD text."""
    if engine.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    # SQLite keeps DateTime as 'YYYY-MM-DD HH:MM:SS.ffffff' text, in UTC here
    # (the trail stores every time in UTC).
    return func.substr(column, 1, 10)


@dataclass(frozen=True, slots=True)
class Dashboard:
    days: list[str]  # oldest first
    by_verdict: dict[str, dict[str, int]]  # day -> verdict -> count
    by_reason: dict[str, dict[str, int]]  # day -> reason -> count
    top_rejected: list[tuple[str, int]]
    totals: dict[str, int]  # verdict -> count in the window
    built_at: float


async def dashboard(engine: AsyncEngine, days: int, now: datetime | None = None) -> Dashboard:
    today = utc(now or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=days - 1)
    names = [(start + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(days)]
    in_window = _r.c.received_at >= start
    record_day = _day(engine, _r.c.received_at)
    reasons_join = _r.join(_t, and_(_t.c.record_seq == _r.c.seq, _t.c.field == "reason"))
    by_verdict: dict[str, dict[str, int]] = {d: {} for d in names}
    by_reason: dict[str, dict[str, int]] = {d: {} for d in names}
    totals: dict[str, int] = {}
    async with engine.connect() as conn:
        for day, verdict, count in await conn.execute(
            select(record_day, _r.c.verdict, func.count())
            .where(in_window).group_by(record_day, _r.c.verdict)
        ):
            if day in by_verdict:
                by_verdict[day][verdict] = int(count)
                totals[verdict] = totals.get(verdict, 0) + int(count)
        # One index range per reason code on (field, key, received_at): each is
        # an index-only count, where a join from the window's records would
        # visit every record of the window.
        term_day = _day(engine, _t.c.received_at)
        for code in ReasonCode:
            for day, count in await conn.execute(
                select(term_day, func.count())
                .where(_t.c.field == "reason", _t.c.key == term_key(code.value),
                       _t.c.received_at >= start)
                .group_by(term_day)
            ):
                if day in by_reason:
                    by_reason[day][code.value] = int(count)
        top = [
            (str(reason), int(count)) for reason, count in await conn.execute(
                select(_t.c.value, func.count().label("n")).select_from(reasons_join)
                .where(in_window, _r.c.verdict == "reject")
                .group_by(_t.c.value).order_by(func.count().desc(), _t.c.value).limit(10)
            )
        ]
    return Dashboard(names, by_verdict, by_reason, top, totals, time.time())


# -- held passwords ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExpiringPassword:
    """A held password's bookkeeping (never the password or its ciphertext)."""

    id: str
    record_id: str
    sender: str | None
    recipient: str
    expires_at: float


async def passwords_expiring(
    engine: AsyncEngine, within: timedelta, limit: int = 20, now: float | None = None
) -> list[ExpiringPassword]:
    """Still-held passwords that expire within `within`, soonest first."""
    horizon = (time.time() if now is None else now) + within.total_seconds()
    h = held_passwords.c
    query = (
        select(h.id, h.queue_id, h.audit_id, h.sender, h.recipient, h.expires_at)
        .where(h.state == HeldState.HELD.value, h.expires_at <= horizon)
        .order_by(h.expires_at).limit(limit)
    )
    async with engine.connect() as conn:
        return [
            ExpiringPassword(str(id_), str(audit_id or queue_id), sender, str(recipient),
                             float(expires_at))
            for id_, queue_id, audit_id, sender, recipient, expires_at
            in await conn.execute(query)
        ]


# -- console activity ---------------------------------------------------------------------


async def console_events(engine: AsyncEngine, record_id: str) -> list[dict[str, Any]]:
    """The console's own events filed under `record_id` (one day), in chain
    order.  There is no audit_records row for them, so AuditQuery.get does
    not see them; the (record_id, type) index answers this directly."""
    e = audit_events.c
    query = (select(e.at, e.type, e.detail).where(e.record_id == record_id)
             .order_by(e.seq).limit(5000))
    async with engine.connect() as conn:
        return [{"at": utc(at).isoformat(), "type": str(type_), "detail": json.loads(detail)}
                for at, type_, detail in await conn.execute(query)]
