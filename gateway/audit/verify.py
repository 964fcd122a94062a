"""`gateway audit verify`: recompute the chain and say where it breaks.

The walk merges audit_records and audit_events in `seq` order, in pages of
seq ranges (primary-key range scans; memory stays flat), from the latest
purge cut (or GENESIS) up to the head seen at the start; rows appended while
verify runs are left for the next run.  For each position it checks:

- the position is there (a gap: "row seq N missing", i.e. deleted);
- the row's stored hash is the hash of its content linked to its stored
  prev_hash (otherwise the row was edited, or, when the row after it links
  straight past it, inserted);
- its prev_hash is the previous row's hash (otherwise rows were deleted and
  the rest renumbered, or the row before was inserted);
- a record's search-index rows (audit_record_terms) are the hashed `terms`;
- a checkpoint at this position holds this hash (a rewrite of the chain),
  and its HMAC signature verifies when a key is configured;
- no checkpoint points past the head (the tail was cut off);
- with a key, the chain is signed as far as the gateway signs it: it writes
  a checkpoint each time the chain passes a multiple of `checkpoint_every`,
  so a stretch longer than that with no validly signed checkpoint means
  checkpoints were deleted, unsigned or re-keyed.  Those are what a
  database administrator who rewrites the chain from some row onwards must
  get rid of (each one after the rewrite no longer matches it), so the
  rewrite shows even though every hash after it is valid;
- the chain still holds each anchor given, unchanged: a (seq, hash) kept
  outside the database, from `gateway audit checkpoint` or the gateway's
  `audit_anchor` log lines.  Checkpoints live in the database, so whoever
  cuts the tail off can delete the checkpoints after it too; an anchor
  kept elsewhere (a SIEM, a ticket, a printout) still shows the cut.

On PostgreSQL the server recomputes the hashes (chain.py's encoding in SQL)
and settles a page that has nothing wrong in one summary row; only a page
with a problem comes to Python row by row for the diagnosis.  The summaries
are computed by several helper connections at once (`workers`: hashing is
what costs, and each server process hashes on its own core), all reading in
the walk's snapshot (pg_export_snapshot), while the walk takes the pages in
seq order and joins each to the one before exactly as on one connection: a
page is only clean if its first row follows on from, and links to, the last
row of the page before.  So the problems found, and their order, do not
depend on how many helpers there are.  SQLite pages are checked in Python on
one connection.

After a problem the walk re-synchronises on the stored hash, so independent
problems further on are reported too (up to `max_problems`).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Text, cast, exists, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit.chain import (
    GENESIS,
    AuditKeys,
    checkpoint_message,
    event_content,
    link,
    record_content,
    term_key,
    terms_text,
    ts,
)
from gateway.audit.record import utc
from gateway.db.engine import read_one_snapshot
from gateway.db.schema import audit_checkpoints, audit_events, audit_record_terms, audit_records

_PAGE = 20_000
# Connections that summarise pages at once on PostgreSQL, each a server
# process hashing on a core of its own: verify is bound by the server's CPU.
# Four fill a server of up to four cores; on two the extra ones cost next to
# nothing and keep verify's share when something else is busy too.  A busy
# live server can be spared with fewer (`gateway audit verify --workers 1`).
DEFAULT_WORKERS = 4
_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f-]+")

# (seq, hash) of a chain row, kept outside the database.
Anchor = tuple[int, str]
_ANCHOR = re.compile(r"([1-9][0-9]*):([0-9a-fA-F]{64})")


def parse_anchor(text: str) -> Anchor:
    """`SEQ:HASH` as `gateway audit checkpoint` prints it and `audit_anchor`
    logs it; ValueError when it is not."""
    found = _ANCHOR.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"not SEQ:HASH (a positive number, a colon and 64 hex digits): {text!r}")
    return int(found.group(1)), found.group(2).lower()


@dataclass(slots=True)
class _Row:
    seq: int
    kind: str  # "record" | "event"
    label: str  # how a message names this row
    prev_hash: str
    hash: str
    self_ok: bool  # hash == sha256(prev_hash, content)
    terms_ok: bool = True  # records: the search index matches the hashed terms
    # SQLite: the time column's text is the form the gateway writes.  The
    # hash covers the instant; searches compare the text.
    time_ok: bool = True


def _label(kind: str, seq: int, ident: str, type_: str | None) -> str:
    if kind == "record":
        return f"record {ident} (seq {seq})"
    return f"event seq {seq} ({type_} of {ident})"


@dataclass(slots=True)
class VerifyReport:
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    records: int = 0
    # Rows of audit_events; the events a record was written with are in
    # its row (migration 0007) and verified with it, not counted here.
    events: int = 0
    first_seq: int | None = None
    last_seq: int = 0
    head_hash: str = GENESIS
    cut_seq: int = 0
    cut_at: str | None = None
    checkpoints: int = 0
    checkpoints_signed: int = 0
    checkpoints_unsigned: int = 0
    seconds: float = 0.0
    workers: int = 1  # connections that summarised pages (PostgreSQL helpers)

    @property
    def rows(self) -> int:
        return self.records + self.events

    def summary(self) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        span = (f"seq {self.first_seq}-{self.last_seq}" if self.first_seq is not None
                else "empty")
        lines = [
            f"{self.records} records, {self.events} event rows ({span}), head {self.head_hash[:16]}",
            f"{self.checkpoints} checkpoints: {self.checkpoints_signed} signature(s) verified, "
            f"{self.checkpoints_unsigned} unsigned",
        ]
        if self.cut_seq:
            lines.append(f"purged up to seq {self.cut_seq} ({self.cut_at})")
        lines.append(f"verified {self.rows} rows in {self.seconds:.1f}s ({rate:,.0f} rows/s, "
                     f"{self.workers} connection(s))")
        return "\n".join(lines)


class _Checker:
    def __init__(self, report: VerifyReport, max_problems: int) -> None:
        self.report = report
        self.max_problems = max_problems

    def problem(self, text: str) -> None:
        self.report.ok = False
        if len(self.report.problems) < self.max_problems:
            self.report.problems.append(text)

    @property
    def full(self) -> bool:
        return len(self.report.problems) >= self.max_problems


async def verify(
    engine: AsyncEngine,
    keys: AuditKeys | None = None,
    max_problems: int = 20,
    workers: int | None = None,
    anchors: Sequence[Anchor] = (),
    checkpoint_every: int | None = None,
) -> VerifyReport:
    """Walk the chain.  On PostgreSQL `workers` connections (default
    DEFAULT_WORKERS) summarise pages at once, besides the walk's own; no
    more than the engine's pool can give besides that one (a small pool
    would otherwise wait for ever on its own connections).

    `checkpoint_every` is `[audit] checkpoint_every`: with a key, a stretch
    of the chain longer than that without a validly signed checkpoint is a
    problem (None: not checked)."""
    keys = keys or AuditKeys(())
    workers = max(1, DEFAULT_WORKERS if workers is None else workers)
    workers = min(workers, _pool_room(engine) - 1)
    report = VerifyReport()
    check = _Checker(report, max_problems)
    started = time.perf_counter()
    async with engine.connect() as conn, AsyncExitStack() as stack:
        # One snapshot for the whole walk: a purge running meanwhile
        # cannot make rows vanish halfway.
        await read_one_snapshot(conn)
        in_sql = await _hash_in_sql(conn)
        helpers: list[AsyncConnection] = []
        if in_sql and workers > 1:
            # The helpers read in exactly the walk's snapshot (as pg_dump -j
            # does), so every page is seen as of the same moment.
            snapshot = str((await conn.execute(text("SELECT pg_export_snapshot()"))).scalar())
            helpers = [await _helper(stack, engine, snapshot) for _ in range(workers)]
        head = await _max_seq(conn)
        checkpoints = (await conn.execute(
            select(audit_checkpoints).order_by(audit_checkpoints.c.seq, audit_checkpoints.c.id)
        )).mappings().all()
        start_seq, start_hash, signed = _check_checkpoints(checkpoints, keys, head, report,
                                                           check)
        if start_seq:
            await _check_purge_audited(conn, start_seq, report, check)
        expected = {int(c["seq"]): c for c in checkpoints if int(c["seq"]) > start_seq}
        pages = list(_pages(start_seq, head))
        points = sorted(expected)
        summaries: _Summaries | None = None
        if helpers:
            summaries = _Prefetch(helpers, pages, points, ahead=2 * len(helpers) + 2)
        elif in_sql:
            summaries = _Inline(conn, pages, points)
        report.workers = max(1, len(helpers))
        try:
            await _walk(conn, summaries, pages, start_seq, start_hash, head, expected, report,
                        check)
        finally:
            if summaries is not None:
                await summaries.close()
        if keys.configured and checkpoint_every is not None:
            _check_signed_coverage(signed, start_seq, head, checkpoint_every, check)
        await _check_anchors(conn, anchors, (start_seq, start_hash), head, report, check)
    report.seconds = time.perf_counter() - started
    return report


def _pool_room(engine: AsyncEngine) -> int:
    """How many connections the engine's pool can have checked out at once."""
    pool = engine.pool
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", None)
    if not callable(size) or not isinstance(overflow, int) or overflow < 0:
        return 1 << 16  # not a bounded queue pool (NullPool, unlimited overflow)
    return max(1, int(size()) + overflow)


async def _helper(stack: AsyncExitStack, engine: AsyncEngine, snapshot: str) -> AsyncConnection:
    """A connection reading in the exported `snapshot`."""
    if not _SNAPSHOT_ID.fullmatch(snapshot):  # it goes into the SQL text below
        raise ValueError(f"unexpected snapshot id {snapshot!r}")
    conn = await stack.enter_async_context(engine.connect())
    await conn.execution_options(isolation_level="REPEATABLE READ")
    await conn.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
    # The helpers are the parallelism: a parallel plan on top would only add
    # processes competing for the same cores, and tuple-queue traffic.
    await conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    return conn


async def _max_seq(conn: AsyncConnection) -> int:
    top = 0
    for table in (audit_records, audit_events):
        value = (await conn.execute(select(func.max(table.c.seq)))).scalar()
        top = max(top, int(value or 0))
    return top


def _check_checkpoints(
    checkpoints: Any, keys: AuditKeys, head: int, report: VerifyReport, check: _Checker
) -> tuple[int, str, list[Any]]:
    """Signatures; returns where the walk starts (the latest trusted cut)
    and the checkpoints whose signature verified, in seq order."""
    start_seq, start_hash = 0, GENESIS
    signed: list[Any] = []
    for c in checkpoints:
        report.checkpoints += 1
        name = f"checkpoint #{c['id']} ({c['kind']} at seq {c['seq']})"
        signed_ok = False
        if c["signature"]:
            if keys.configured:
                message = checkpoint_message(c["kind"], int(c["seq"]), c["hash"], c["at"],
                                             c["detail"])
                verdict = keys.check(message, c["key_id"] or "", c["signature"])
                if verdict is None:
                    report.warnings.append(f"{name}: signed with a key not configured here")
                elif verdict:
                    signed_ok = True
                    report.checkpoints_signed += 1
                    signed.append(c)
                else:
                    check.problem(f"{name} forged or altered: its signature does not verify")
            else:
                report.warnings.append(f"{name}: signature not checked (no audit key)")
        else:
            report.checkpoints_unsigned += 1
        if c["kind"] == "cut" and int(c["seq"]) >= start_seq:
            if keys.configured and not signed_ok:
                # With a key, only a signed cut may excuse a missing prefix:
                # otherwise deleting old rows and adding a cut would hide it.
                check.problem(f"{name} is not validly signed: the purge it claims is not trusted")
                continue
            start_seq, start_hash = int(c["seq"]), str(c["hash"])
            report.cut_seq, report.cut_at = start_seq, ts(c["at"])
        if int(c["seq"]) > head:
            check.problem(f"rows after seq {head} missing: {name} was taken at seq {c['seq']}")
    return start_seq, start_hash, signed


async def _check_purge_audited(
    conn: AsyncConnection, cut_seq: int, report: VerifyReport, check: _Checker
) -> None:
    """The cut the walk starts from must be followed by the `purged` event
    the purge wrote with it (gateway.audit.purge, same transaction).

    Without a key anyone who can set the triggers aside could delete the
    oldest rows and add an unsigned cut after them; the event, a row of the
    chain after the cut, is one more thing to forge.  (With a key the cut's
    signature already settles it.)"""
    # The event's detail is JSON written with sorted keys and no spaces.
    found = (await conn.execute(
        select(audit_events.c.detail).where(
            audit_events.c.type == "purged", audit_events.c.seq > cut_seq,
            audit_events.c.detail.like(f'%"cut_seq":{cut_seq},%')
            | audit_events.c.detail.like(f'%"cut_seq":{cut_seq}}}%'),
        ).order_by(audit_events.c.seq).limit(10)
    )).scalars().all()
    for detail in found:
        try:
            if json.loads(detail).get("cut_seq") == cut_seq:
                return
        except (ValueError, AttributeError):
            continue
    check.problem(f"the purge cut at seq {cut_seq} ({report.cut_at}) has no `purged` event after "
                  "it: the rows before it were deleted outside `gateway audit purge`")


def _every_of(checkpoint: Any, every: int) -> int:
    """The spacing promised after `checkpoint`: `checkpoint_every` as it
    was when the gateway signed it (its detail, signed with it), or as
    configured now, whichever is longer: a setting changed since is not
    mistaken for checkpoints gone."""
    try:
        written = json.loads(checkpoint["detail"] or "{}").get("every")
    except (ValueError, AttributeError):
        written = None
    return max(every, written) if isinstance(written, int) and written > 0 else every


def _check_signed_coverage(
    signed: Sequence[Any], start_seq: int, head: int, every: int, check: _Checker
) -> None:
    """With a key, rows past the next multiple of `every` after the last
    validly signed checkpoint (or after the purge cut, or the chain's
    start) mean the checkpoints that would cover them are gone.

    One such checkpoint that still matches the chain vouches for every row
    before it (each row's hash covers the one before), so only the last
    needs finding; the walk has already compared each with the chain.  The
    rows after it, fewer than `every`, are the stretch only an anchor kept
    outside the database covers."""
    every = max(1, every)
    last = signed[-1] if signed else None
    since = max(start_seq, int(last["seq"])) if last is not None else start_seq
    spacing = _every_of(last, every) if last is not None and int(last["seq"]) >= start_seq \
        else every
    due = (since // spacing + 1) * spacing
    if head < due:
        return
    after = (f"the last validly signed checkpoint (#{last['id']}, seq {last['seq']})"
             if last is not None and int(last["seq"]) >= start_seq
             else f"seq {since}, where no checkpoint is validly signed by a key configured here")
    check.problem(
        f"rows seq {due}-{head} are covered by no validly signed checkpoint: the gateway signs "
        f"one each time the chain passes a multiple of {spacing} (checkpoint_every), so the "
        f"checkpoints after {after} were deleted, unsigned or signed with another key, as "
        f"someone who rewrote rows after seq {since} would have to.  (If the audit key was "
        "only just configured, or replaced without keeping the old one, `gateway audit "
        "checkpoint` signs the head now.)"
    )


async def _check_anchors(
    conn: AsyncConnection, anchors: Sequence[Anchor], start: Anchor, head: int,
    report: VerifyReport, check: _Checker,
) -> None:
    """Each anchor must still be in the chain with its hash (in the walk's
    snapshot).  One at the purge cut is compared with the cut's hash; one
    before it went with the purge and cannot be checked."""
    start_seq, start_hash = start
    found = await _hashes_at(conn, [seq for seq, _ in anchors if start_seq < seq <= head])
    if start_seq:
        found[start_seq] = start_hash
    for seq, expected in anchors:
        name = f"the anchor at seq {seq} (hash {expected[:16]}...)"
        if seq < start_seq or (seq == start_seq == 0):
            report.warnings.append(f"{name} is before the purge cut at seq {start_seq}: "
                                   "not checked")
        elif seq > head:
            check.problem(f"rows after seq {head} missing: {name} was taken at seq {seq}")
        elif seq not in found:
            check.problem(f"row seq {seq} missing: {name} was taken there")
        elif found[seq] != expected:
            check.problem(f"row seq {seq} does not match {name}: the chain was rewritten "
                          "there or before it")


def _pages(start: int, head: int) -> Iterator[tuple[int, int]]:
    low = start
    while low < head:
        yield low, min(head, low + _PAGE)
        low += _PAGE


async def _page_rows(conn: AsyncConnection, low: int, high: int, in_sql: bool) -> tuple[
    list[list[_Row]], list[int]
]:
    """Rows with low < seq <= high grouped by seq (each with its hash and
    index checked), and the seqs of index rows that belong to no record."""
    rows = await (_page_sql(conn, low, high) if in_sql else _page_python(conn, low, high))
    by_seq: dict[int, list[_Row]] = defaultdict(list)
    for row in rows:
        by_seq[row.seq].append(row)
    return [by_seq[s] for s in sorted(by_seq)], await _orphans(conn, low, high)


async def _orphans(conn: AsyncConnection, low: int, high: int) -> list[int]:
    """Seqs in (low, high] with search-index rows but no record."""
    found = (await conn.execute(
        select(audit_record_terms.c.record_seq).distinct()
        .where(audit_record_terms.c.record_seq > low, audit_record_terms.c.record_seq <= high,
               ~exists().where(audit_records.c.seq == audit_record_terms.c.record_seq))
    )).scalars().all()
    return sorted(int(s) for s in found)


async def _hashes_at(conn: AsyncConnection, seqs: Sequence[int]) -> dict[int, str]:
    hashes: dict[int, str] = {}
    for table in (audit_records, audit_events):
        for seq, hash_ in await conn.execute(
            select(table.c.seq, table.c.hash).where(table.c.seq.in_(list(seqs)))
        ):
            hashes[int(seq)] = str(hash_)
    return hashes


def _as_stored(column: Any, sqlite: bool) -> Any:
    """SQLite: a time column's text as stored, to compare with the form the
    gateway writes (elsewhere a constant: the column has a type of its own)."""
    return cast(column, Text) if sqlite else literal(None, Text)


def _written_form(value: datetime, stored: str | None) -> bool:
    """Whether `stored` (SQLite's text, None elsewhere) is how the gateway
    writes `value`: SQLAlchemy's `YYYY-MM-DD HH:MM:SS.ffffff`, in UTC.

    SQLite compares times as text, so a respelling of the same instant
    (`20261128T215736.512066`, a `T`, a zone) keeps the hash valid and takes
    the row out of every date-bounded search, report and view."""
    return stored is None or stored == utc(value).replace(tzinfo=None).isoformat(
        " ", "microseconds")


async def _page_python(conn: AsyncConnection, low: int, high: int) -> list[_Row]:
    out: list[_Row] = []
    sqlite = conn.dialect.name == "sqlite"
    index: dict[int, list[tuple[str, str, str, Any, bool]]] = defaultdict(list)
    for record_seq, field_, value, key, received_at, stored_at in await conn.execute(
        select(audit_record_terms.c.record_seq, audit_record_terms.c.field,
               audit_record_terms.c.value, audit_record_terms.c.key,
               audit_record_terms.c.received_at,
               _as_stored(audit_record_terms.c.received_at, sqlite))
        .where(audit_record_terms.c.record_seq > low, audit_record_terms.c.record_seq <= high)
    ):
        index[record_seq].append((field_, value, key, received_at,
                                  _written_form(received_at, stored_at)))
    records = await conn.execute(
        select(audit_records.c.seq, audit_records.c.id, audit_records.c.message_id,
               audit_records.c.received_at, audit_records.c.sender, audit_records.c.verdict,
               audit_records.c.marking, audit_records.c.purpose, audit_records.c.terms,
               audit_records.c.document, audit_records.c.events, audit_records.c.prev_hash,
               audit_records.c.hash, _as_stored(audit_records.c.received_at, sqlite))
        .where(audit_records.c.seq > low, audit_records.c.seq <= high)
    )
    for (seq, id_, message_id, received_at, sender, verdict, marking, purpose, terms, document,
         kept, prev_hash, hash_, stored_at) in records:
        content = record_content(id_, message_id, received_at, sender, verdict, marking, purpose,
                                 terms, document, kept)
        stored = index.get(seq, [])
        when = ts(received_at)
        terms_ok = (terms_text([(f, v) for f, v, _, _, _ in stored]) == terms
                    and all(ts(at) == when and key == term_key(v) and form
                            for _, v, key, at, form in stored))
        out.append(_Row(seq, "record", _label("record", seq, id_, None), prev_hash, hash_,
                        link(prev_hash, content) == hash_, terms_ok,
                        _written_form(received_at, stored_at)))
    events = await conn.execute(
        select(audit_events.c.seq, audit_events.c.record_id, audit_events.c.at,
               audit_events.c.type, audit_events.c.detail, audit_events.c.prev_hash,
               audit_events.c.hash, _as_stored(audit_events.c.at, sqlite))
        .where(audit_events.c.seq > low, audit_events.c.seq <= high)
    )
    for seq, record_id, at, type_, detail, prev_hash, hash_, stored_at in events:
        content = event_content(record_id, at, type_, detail)
        out.append(_Row(seq, "event", _label("event", seq, record_id, type_), prev_hash, hash_,
                        link(prev_hash, content) == hash_, True, _written_form(at, stored_at)))
    return out


# PostgreSQL recomputes the hashes itself (chain.py's encoding in SQL): the
# server hashes while Python only compares, which is what makes verify fast.
# Per row the cost is a handful of function calls, sha256 the dearest (over
# a microsecond a call, mostly OpenSSL's set-up), so every call saved counts.
def _lp(expr: str, nullable: bool = False) -> str:
    body = f"octet_length({expr})::text || ':' || {expr}"
    return f"(CASE WHEN {expr} IS NULL THEN '~' ELSE {body} END)" if nullable else f"({body})"


def _ts(expr: str) -> str:
    return f"to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"


def _lp_ts(expr: str) -> str:
    # to_char is the dearest call after sha256, and _lp would make it twice;
    # for years 1000-9999 its output is always 27 bytes, so the prefix is known.
    text_ = _ts(expr)
    return (f"(CASE WHEN {expr} >= '1000-01-01 00:00:00+00' AND {expr} < '10000-01-01 00:00:00+00'"
            f" THEN '27:' || {text_} ELSE {_lp(text_)} END)")


def _sha(prev: str, content: str) -> str:
    return f"encode(sha256(convert_to({prev} || E'\\n' || {content}, 'UTF8')), 'hex')"


_RECORD_CONTENT = " || ".join((
    "'6:record'", _lp("r.id"), _lp("r.message_id", True), _lp_ts("r.received_at"),
    _lp("r.sender"), _lp("r.verdict"), _lp("r.marking", True), _lp("r.purpose", True),
    _lp("r.terms"), _lp("r.document"),
    # the events kept in the row (migration 0007): no field at all when NULL
    f"coalesce({_lp('r.events')}, '')",
))
_EVENT_CONTENT = " || ".join((
    "'5:event'", _lp("e.record_id"), _lp_ts("e.at"), _lp("e.type"), _lp("e.detail"),
))
_TERM_TEXT = f"{_lp('field')} || {_lp('value')} || {_lp('key')}"
_TERMS_OK = """coalesce(t.agg, '') = r.terms
             AND (t.low IS NULL OR (t.low = r.received_at AND t.high = r.received_at))"""
# Row by row, for the diagnosis of a page with a problem: exact per record,
# so each aggregate orders its own terms.
_PG_ROWS = f"""
    SELECT r.seq, 'record' AS kind, r.id AS ident, NULL AS type, r.prev_hash, r.hash,
           {_sha("r.prev_hash", _RECORD_CONTENT)} = r.hash AS self_ok,
           {_TERMS_OK} AS terms_ok
      FROM audit_records r
      LEFT JOIN (
          SELECT record_seq,
                 string_agg({_TERM_TEXT}, '' ORDER BY field COLLATE "C", value COLLATE "C")
                     AS agg,
                 min(received_at) AS low, max(received_at) AS high
            FROM audit_record_terms
           WHERE record_seq > :low AND record_seq <= :high
           GROUP BY record_seq
      ) t ON t.record_seq = r.seq
     WHERE r.seq > :low AND r.seq <= :high
    UNION ALL
    SELECT e.seq, 'event', e.record_id, e.type, e.prev_hash, e.hash,
           {_sha("e.prev_hash", _EVENT_CONTENT)} = e.hash, true
      FROM audit_events e
     WHERE e.seq > :low AND e.seq <= :high
"""
_PG_PAGE = text(_PG_ROWS)
# The common case, a page with nothing wrong, is settled entirely in the
# server: it returns one summary row (counts, whether every row hashes, links
# to the one before and follows it without a gap, and the ends of the page
# to join it with its neighbours).  Only a page with a problem is fetched row
# by row (_PG_PAGE) for the diagnosis, so this query only has to be sound
# when it says "clean"; that is what lets it be cheaper:
# - the page's search-index rows are sorted once and concatenated in that
#   order (PostgreSQL 15 would sort each record's few rows separately for an
#   ordered aggregate).  Should the rows ever arrive in another order the
#   record merely looks altered and the page goes to the diagnosis; equal
#   text is proof either way, since the length-prefixed encoding parses one
#   way only, so equal text means the same set of index rows;
# - index rows without a record come out of the FULL JOIN as rows that are
#   not ok (no separate anti-join per page);
# - each half of the UNION is in seq order, so the window reads a Merge
#   Append of two index scans instead of sorting the page, and lag/lead find
#   the ends of the page in the same pass.
_PG_SUMMARY = text(f"""
    SELECT count(*) FILTER (WHERE is_record) AS records,
           count(*) FILTER (WHERE NOT is_record) AS events,
           -- (coalesce inside: bool_and skips NULLs, and an unknown is not clean)
           coalesce(bool_and(coalesce(
               ok AND (lseq IS NULL OR (seq = lseq + 1 AND prev_hash = lhash)), false)), true)
               AS clean,
           min(seq) AS first_seq, max(seq) AS last_seq,
           min(prev_hash) FILTER (WHERE lseq IS NULL) AS first_prev,
           min(hash) FILTER (WHERE nseq IS NULL) AS last_hash,
           min(lhash) FILTER (WHERE nseq IS NULL) AS before_last_hash
      FROM (
        SELECT seq, is_record, ok, prev_hash, hash, lag(seq) OVER w AS lseq,
               lag(hash) OVER w AS lhash, lead(seq) OVER w AS nseq
          FROM (
            (SELECT coalesce(r.seq, t.record_seq) AS seq, r.seq IS NOT NULL AS is_record,
                    r.prev_hash, r.hash,
                    coalesce({_sha("r.prev_hash", _RECORD_CONTENT)} = r.hash
                             AND {_TERMS_OK}, false) AS ok
               FROM (SELECT * FROM audit_records WHERE seq > :low AND seq <= :high) r
               FULL JOIN (
                   SELECT record_seq, string_agg(term, '') AS agg,
                          min(received_at) AS low, max(received_at) AS high
                     FROM (SELECT record_seq, received_at, {_TERM_TEXT} AS term
                             FROM audit_record_terms
                            WHERE record_seq > :low AND record_seq <= :high
                            ORDER BY record_seq, field COLLATE "C", value COLLATE "C") s
                    GROUP BY record_seq
               ) t ON t.record_seq = r.seq
              ORDER BY 1)
            UNION ALL
            (SELECT e.seq, false, e.prev_hash, e.hash,
                    {_sha("e.prev_hash", _EVENT_CONTENT)} = e.hash
               FROM audit_events e
              WHERE e.seq > :low AND e.seq <= :high
              ORDER BY e.seq)
          ) page
        WINDOW w AS (ORDER BY seq)
      ) x
""")


@dataclass(frozen=True, slots=True)
class _Summary:
    """What the server says about one page (seqs low < seq <= high)."""

    records: int
    events: int
    clean: bool  # every row hashes, links and follows on; index rows all belong
    first_seq: int | None  # None: nothing in the page
    last_seq: int | None
    first_prev: str | None
    last_hash: str | None
    before_last_hash: str | None
    point_hashes: dict[int, str]  # clean pages: the hash at each checkpoint's seq


async def _summary(conn: AsyncConnection, low: int, high: int, points: Sequence[int]) -> _Summary:
    row = (await conn.execute(_PG_SUMMARY, {"low": low, "high": high})).one()
    seqs = points[bisect_right(points, low):bisect_right(points, high)]
    hashes = await _hashes_at(conn, seqs) if seqs and row.clean else {}
    return _Summary(int(row.records), int(row.events), bool(row.clean), row.first_seq,
                    row.last_seq, row.first_prev, row.last_hash, row.before_last_hash, hashes)


async def _page_sql(conn: AsyncConnection, low: int, high: int) -> list[_Row]:
    result = await conn.execute(_PG_PAGE, {"low": low, "high": high})
    return [
        _Row(seq, kind, _label(kind, seq, ident, type_), prev_hash, hash_, bool(self_ok),
             bool(terms_ok))
        for seq, kind, ident, type_, prev_hash, hash_, self_ok, terms_ok in result
    ]


class _Summaries(Protocol):
    async def get(self, index: int) -> _Summary: ...

    async def close(self) -> None: ...


class _Inline:
    """Page summaries from the walk's own connection, when it has no helpers."""

    def __init__(self, conn: AsyncConnection, pages: Sequence[tuple[int, int]],
                 points: Sequence[int]) -> None:
        self._conn, self._pages, self._points = conn, pages, points

    async def get(self, index: int) -> _Summary:
        low, high = self._pages[index]
        return await _summary(self._conn, low, high, self._points)

    async def close(self) -> None:
        pass


class _Prefetch:
    """Page summaries computed on the helper connections at once, handed out
    in page order.

    The seq range is cut into pages, not into one slice per connection: a
    helper takes the next page as soon as it is free, so a slower stretch
    does not hold the others up, and the walk joins the pages in order exactly
    as it joins them on one connection (the first row of each page must link
    to the last hash of the one before).  Helpers stay at most `ahead` pages
    in front of the walk, so when it stops early (too many problems) little
    work is wasted.
    """

    def __init__(self, conns: Sequence[AsyncConnection], pages: Sequence[tuple[int, int]],
                 points: Sequence[int], ahead: int) -> None:
        loop = asyncio.get_running_loop()
        self._pages = pages
        self._points = points
        self._results: list[asyncio.Future[_Summary]] = [loop.create_future() for _ in pages]
        self._next = 0
        self._room = asyncio.Semaphore(ahead)
        self._stopped = False
        self._tasks = [asyncio.create_task(self._work(conn)) for conn in conns]

    async def _work(self, conn: AsyncConnection) -> None:
        while True:
            await self._room.acquire()
            if self._stopped or self._next >= len(self._pages):
                return
            index = self._next
            self._next += 1
            low, high = self._pages[index]
            try:
                summary = await _summary(conn, low, high, self._points)
            except Exception as exc:  # handed to the walk, which raises it
                self._stopped = True
                self._results[index].set_exception(exc)
                return
            self._results[index].set_result(summary)

    async def get(self, index: int) -> _Summary:
        summary = await self._results[index]
        self._room.release()
        return summary

    async def close(self) -> None:
        """Stop handing out pages; wait for the queries in flight (cancelling
        them would leave their connections in an unknown state)."""
        self._stopped = True
        for _ in self._tasks:
            self._room.release()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for result in self._results:
            if result.done() and not result.cancelled():
                result.exception()  # retrieved: no "never retrieved" noise


async def _hash_in_sql(conn: AsyncConnection) -> bool:
    """PostgreSQL with UTF-8 storage (octet_length must count UTF-8 bytes)."""
    if conn.dialect.name != "postgresql":
        return False
    encoding = (await conn.execute(text("SHOW server_encoding"))).scalar()
    return str(encoding).upper() in {"UTF8", "UTF-8"}


async def _walk(
    conn: AsyncConnection,
    summaries: _Summaries | None,
    pages: Sequence[tuple[int, int]],
    start_seq: int,
    start_hash: str,
    head: int,
    checkpoints: dict[int, Any],
    report: VerifyReport,
    check: _Checker,
) -> None:
    """`summaries`: the server's word on each page (None: SQLite, or hashing
    in Python); `conn` reads the rows of a page to diagnose."""
    expected_seq, prev, before_prev = start_seq + 1, start_hash, ""
    # Rows at or before where the walk starts are read by every search, show
    # and report like any other, but no link reaches them: after a trusted
    # cut they were not purged, or were put back; without one (the chain
    # starts at 1) a row at seq 0 or below can only have been inserted.
    early = 0
    for table, column in ((audit_records, audit_records.c.seq),
                          (audit_events, audit_events.c.seq),
                          (audit_record_terms, audit_record_terms.c.record_seq)):
        early += (await conn.execute(
            select(func.count()).select_from(table).where(column <= start_seq)
        )).scalar_one()
    if early and start_seq:
        check.problem(f"{early} row(s) at or before the purge cut (seq {start_seq}) "
                      "still present: inserted, or the purge did not finish")
    elif early:
        check.problem(f"{early} row(s) at seq 0 or below, before the chain's first row: "
                      "inserted (no row the gateway writes is there)")
    # Search-index rows past the chain's last row, with no record: the
    # record at the end was deleted and its index rows left behind (a row
    # appended during the walk comes with its record, in one transaction).
    terms = audit_record_terms.c.record_seq
    left_behind = (await conn.execute(
        select(terms).distinct().where(
            terms > head,
            ~select(audit_records.c.seq).where(audit_records.c.seq == terms).exists(),
        ).order_by(terms)
    )).scalars().all()
    pending: list[_Row] | None = None  # one group of lookahead

    def settle(group: list[_Row], following: list[_Row] | None) -> None:
        nonlocal expected_seq, prev, before_prev
        seq = group[0].seq
        if seq > expected_seq:
            gap = (f"row seq {expected_seq} missing" if seq == expected_seq + 1
                   else f"rows seq {expected_seq}-{seq - 1} missing")
            check.problem(f"{gap} (deleted)")
            prev = group[0].prev_hash  # re-synchronise on what follows the gap
        if len(group) > 1:
            genuine = [r for r in group if r.prev_hash == prev and r.self_ok]
            keep = genuine[0] if genuine else group[0]
            for row in group:
                if row is not keep:
                    check.problem(f"{row.label} inserted (seq {seq} is taken twice)")
            group = [keep]
        row = group[0]
        linked = row.prev_hash == prev
        skipped = False
        if linked and not row.self_ok:
            if following and following[0].prev_hash == prev:
                check.problem(f"{row.label} inserted (seq {seq + 1} links past it)")
                skipped = True
            elif following is None and seq == head:
                # Nothing after it to tell an edit of the last row from a
                # row added after it: name both.
                check.problem(f"{row.label} edited, or inserted at the chain's end "
                              "(its content does not verify)")
            else:
                check.problem(f"{row.label} edited")
        elif not linked and row.self_ok:
            if before_prev and row.prev_hash == before_prev:
                check.problem(f"row seq {seq - 1} inserted (seq {seq} links past it)")
            else:
                check.problem(f"row(s) missing before seq {seq}: it does not link to the row "
                              "before it (deleted and renumbered)")
        elif not linked:
            check.problem(f"{row.label} edited or replaced (neither its content nor its link "
                          "verifies)")
        if not row.time_ok and linked and row.self_ok:  # (otherwise named above)
            check.problem(f"{row.label} edited: its time is stored spelt otherwise than the "
                          "gateway writes it (the same instant, so its hash holds, but "
                          "date-bounded searches, reports and views no longer find it)")
        if row.kind == "record":
            report.records += 1
            if not row.terms_ok:
                check.problem(f"search index of {row.label} altered "
                              "(rows in audit_record_terms differ from the record)")
        else:
            report.events += 1
        point = checkpoints.pop(seq, None)
        if point is not None and point["hash"] != row.hash:
            check.problem(f"checkpoint #{point['id']} at seq {seq} does not match the chain: "
                          f"rows up to seq {seq} were rewritten")
        if report.first_seq is None:
            report.first_seq = seq
        report.last_seq = seq
        expected_seq = seq + 1
        if not skipped:
            before_prev, prev = prev, row.hash
            report.head_hash = row.hash

    for index, (low, high) in enumerate(pages):
        if summaries is not None:
            summary = await summaries.get(index)
            if summary.first_seq is None:
                continue  # a gap; the next row found reports it
            if summary.clean:
                # (A page that is not clean may start with an index row that
                # has no record: its diagnosis below settles `pending`.)
                if pending is not None:
                    settle(pending, [_Row(summary.first_seq, "event", "",
                                          summary.first_prev or "", "", True)])
                    pending = None
                if summary.first_seq == expected_seq and summary.first_prev == prev:
                    _take_clean_page(summary, low, high, checkpoints, report, check)
                    expected_seq = int(summary.last_seq or 0) + 1
                    before_prev = summary.before_last_hash or prev
                    prev = report.head_hash = str(summary.last_hash)
                    continue
        groups, orphans = await _page_rows(conn, low, high, summaries is not None)
        if pending is not None and groups:
            settle(pending, groups[0])  # problems in seq order: the row before first
            pending = None
        for seq in orphans:
            check.problem(f"search index rows for seq {seq} inserted (no record there)")
        for group in groups:
            if pending is not None:
                settle(pending, group)
            pending = group
        if check.full:
            break
    if pending is not None and not check.full:
        settle(pending, None)
    for seq, point in sorted(checkpoints.items()):
        if seq <= head and not check.full:
            check.problem(f"row seq {seq} missing: checkpoint #{point['id']} was taken there")
    for seq in left_behind:
        if not check.full:
            check.problem(f"record seq {seq} missing at the chain's end: its search index "
                          "rows are still there (deleted)")


def _take_clean_page(summary: _Summary, low: int, high: int, checkpoints: dict[int, Any],
                     report: VerifyReport, check: _Checker) -> None:
    """Count a page the server found clean; compare the checkpoints inside it."""
    for seq in sorted(s for s in checkpoints if low < s <= high):
        point = checkpoints.pop(seq)
        if seq not in summary.point_hashes:
            check.problem(f"row seq {seq} missing: checkpoint #{point['id']} was taken there")
        elif point["hash"] != summary.point_hashes[seq]:
            check.problem(f"checkpoint #{point['id']} at seq {seq} does not match the chain: "
                          f"rows up to seq {seq} were rewritten")
    report.records += summary.records
    report.events += summary.events
    if report.first_seq is None:
        report.first_seq = summary.first_seq
    report.last_seq = int(summary.last_seq or 0)
