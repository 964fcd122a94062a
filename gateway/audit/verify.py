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
  kept elsewhere (a SIEM, a ticket, a printout) still shows the cut;
- the views, SQL functions and append-only triggers readers go through are
  as the migrations made them (gateway.db.definitions);
- (a warning) no record was received well before the one written before it
  (a clock set back).

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

The report is read by auditors, not only by whoever administers the
database: under each deletion (`details`) it says when the missing rows
were written (the rows left either side, with their times) and what other
rows still say of the messages they belonged to (a deleted record's
search-index rows, the events of a record whose own row is gone, a
checkpoint that vouched for a deleted row).  A clean result (`notes`) says
which rows at the end of the chain no checkpoint or anchor vouches for:
cut off together with the checkpoints after them, rows leave no trace in
what is left, and "no deletions found" must not be read as covering them.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Text, bindparam, cast, exists, func, literal, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit.chain import (
    GENESIS,
    AuditKeys,
    checkpoint_message,
    event_content,
    link,
    record_content,
    ts,
)
from gateway.audit.query import _record_columns, _with_events
from gateway.audit.record import utc
from gateway.audit.soundness import event_row_sound, record_row_sound
from gateway.db import definitions
from gateway.db.engine import read_one_snapshot
from gateway.db.schema import (
    audit_checkpoints,
    audit_events,
    audit_record_terms,
    audit_records,
    queue_messages,
)
from gateway.queue.states import FINISHED, QueueState

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
    # What the trail still says about each problem, in plain words, for an
    # auditor who must tell a regulator which messages and which hours the
    # missing evidence covered: details[i] explains problems[i].
    details: list[list[str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # What a clean result does not vouch for (the rows after the last
    # checkpoint or anchor): printed with the result, not a problem.
    notes: list[str] = field(default_factory=list)
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
    # Signed, but no key was given to check them with.
    checkpoints_not_checked: int = 0
    seconds: float = 0.0
    workers: int = 1  # connections that summarised pages (PostgreSQL helpers)

    @property
    def rows(self) -> int:
        return self.records + self.events

    @property
    def explained(self) -> list[tuple[str, list[str]]]:
        """Each problem with its details."""
        return [(p, self.details[i] if i < len(self.details) else [])
                for i, p in enumerate(self.problems)]

    def summary(self) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        span = (f"seq {self.first_seq}-{self.last_seq}" if self.first_seq is not None
                else "empty")
        lines = [
            f"{self.records} records, {self.events} event rows ({span}), head {self.head_hash[:16]}",
            f"{self.checkpoints} checkpoints: {self.checkpoints_signed} signature(s) verified, "
            f"{self.checkpoints_unsigned} unsigned"
            + (f", {self.checkpoints_not_checked} signed checkpoint(s) not checked (no key given)"
               if self.checkpoints_not_checked else ""),
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

    def problem(self, text: str, details: Sequence[str] = ()) -> int | None:
        """Record a problem; its index in the report (for details found
        later), or None when the report is full."""
        self.report.ok = False
        if len(self.report.problems) < self.max_problems:
            self.report.problems.append(text)
            self.report.details.append(list(details))
            return len(self.report.problems) - 1
        return None

    @property
    def full(self) -> bool:
        return len(self.report.problems) >= self.max_problems


@dataclass(slots=True)
class _Hole:
    """Rows deleted, for the problem at `index`: seq first..last (last <
    first: a deletion renumbered away, between seq last and first), or, with
    `at_end`, at least first..last cut off after the chain's last row."""

    index: int
    first: int
    last: int
    checkpoints: list[Any] = field(default_factory=list)  # that vouched for rows here
    at_end: bool = False
    # Whose left-behind search-index rows to describe (first, last seq):
    # the rows deleted, or at the end the one record the problem is about
    # (each such record has a problem of its own there).
    index_rows: tuple[int, int] | None = None


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
    await _check_definitions(engine, report, check)
    async with engine.connect() as conn, AsyncExitStack() as stack:
        # One snapshot for the whole walk: a purge running meanwhile
        # cannot make rows vanish halfway.
        await read_one_snapshot(conn)
        schema = await _tables_schema(conn)
        await _pin_search_path(conn, schema)
        in_sql = await _hash_in_sql(conn)
        head = await _max_seq(conn)
        checkpoints = (await conn.execute(
            select(audit_checkpoints).order_by(audit_checkpoints.c.seq, audit_checkpoints.c.id)
        )).mappings().all()
        holes: list[_Hole] = []
        start_seq, start_hash, signed, evidence = _check_checkpoints(checkpoints, keys, head,
                                                                     report, check, holes)
        if in_sql and not await _server_hashes_as_python(conn, start_seq, head, check):
            in_sql = False  # (said as a problem; the rows are hashed in Python instead)
        helpers: list[AsyncConnection] = []
        if in_sql and workers > 1:
            # The helpers read in exactly the walk's snapshot (as pg_dump -j
            # does), so every page is seen as of the same moment.
            snapshot = str((await conn.execute(text("SELECT pg_export_snapshot()"))).scalar())
            helpers = [await _helper(stack, engine, snapshot, schema) for _ in range(workers)]
        if start_seq:
            await _check_purge_audited(conn, start_seq, report, check)
        await _note_forced_purges(conn, report)
        expected = {int(c["seq"]): c for c in evidence if int(c["seq"]) > start_seq}
        pages = list(_pages(start_seq, head))
        points = sorted(expected)
        summaries: _Summaries | None = None
        if helpers:
            summaries = _Prefetch(helpers, pages, points, ahead=2 * len(helpers) + 2)
        elif in_sql:
            summaries = _Inline(conn, pages, points)
        report.workers = max(1, len(helpers))
        breaks: list[tuple[int, int]] = []
        try:
            await _walk(conn, summaries, pages, start_seq, start_hash, head, expected, report,
                        check, holes, breaks)
        finally:
            if summaries is not None:
                await summaries.close()
        await _say_reordered(conn, breaks, (start_seq, start_hash), in_sql, report, holes)
        if keys.configured and checkpoint_every is not None:
            _check_signed_coverage(signed, start_seq, head, checkpoint_every, check)
        _check_periodic_sequence(signed if keys.configured else checkpoints, evidence, check)
        await _check_unfinished_have_records(conn, report, check)
        await _note_clock_set_back(conn, start_seq, head, report)
        anchored = await _check_anchors(conn, anchors, (start_seq, start_hash), head, report,
                                        check, holes)
        signed_ids = {int(c["id"]) for c in signed}
        await _explain(conn, holes, report, signed_ids, start_seq)
        if report.checkpoints_not_checked:
            # Exit 0 all the same (verify without the key is still a check
            # of every hash), but "verified" must not read as covering what
            # only the signatures show.
            report.notes.append(
                f"{report.checkpoints_not_checked} signed checkpoint(s) not checked (no key "
                "given): without the audit key their signatures vouch for nothing here, so a "
                "rewrite of the chain that recomputed every hash after an edit would not show. "
                "Run verify with the key ([audit] key_file or GATEWAY_AUDIT_KEY) to check them.")
        if not any(h.at_end for h in holes):  # (a cut shown already says more)
            vouching = signed if keys.configured else list(evidence)
            await _note_unvouched(conn, report, vouching, keys.configured, anchored,
                                  start_seq, head)
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


async def _helper(stack: AsyncExitStack, engine: AsyncEngine, snapshot: str,
                  schema: str | None) -> AsyncConnection:
    """A connection reading in the exported `snapshot`, its search path
    pinned as the walk's is."""
    if not _SNAPSHOT_ID.fullmatch(snapshot):  # it goes into the SQL text below
        raise ValueError(f"unexpected snapshot id {snapshot!r}")
    conn = await stack.enter_async_context(engine.connect())
    await conn.execution_options(isolation_level="REPEATABLE READ")
    await conn.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
    await _pin_search_path(conn, schema)
    # The helpers are the parallelism: a parallel plan on top would only add
    # processes competing for the same cores, and tuple-queue traffic.
    await conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    return conn


async def _tables_schema(conn: AsyncConnection) -> str | None:
    """PostgreSQL: the schema the audit tables are read from (None: SQLite)."""
    if conn.dialect.name != "postgresql":
        return None
    return (await conn.execute(text(
        "SELECT n.nspname FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.oid = pg_catalog.to_regclass('audit_records')"
    ))).scalar()


async def _pin_search_path(conn: AsyncConnection, schema: str | None) -> None:
    """PostgreSQL: resolve every name the walk's SQL uses in pg_catalog
    first, then in the tables' schema, whatever search path the database or
    the role gives new sessions.

    The server hashes the rows (sha256, encode, convert_to, to_char,
    octet_length ...), and a database owner who puts a `sha256` of their
    own in a schema searched before pg_catalog (ALTER DATABASE ... SET
    search_path) could make an edited row hash as the original did.  Set
    for the session; the walk's transaction is rolled back at the end,
    which undoes it."""
    if schema is None:
        return
    await conn.execute(text(
        "SELECT pg_catalog.set_config('search_path',"
        " 'pg_catalog, ' || pg_catalog.quote_ident(:schema) || ', pg_temp', false)"
    ), {"schema": schema})


async def _max_seq(conn: AsyncConnection) -> int:
    top = 0
    for table in (audit_records, audit_events):
        value = (await conn.execute(select(func.max(table.c.seq)))).scalar()
        top = max(top, int(value or 0))
    return top


def _check_checkpoints(
    checkpoints: Any, keys: AuditKeys, head: int, report: VerifyReport, check: _Checker,
    holes: list[_Hole],
) -> tuple[int, str, list[Any], list[Any]]:
    """Signatures; returns where the walk starts (the latest trusted cut),
    the checkpoints whose signature verified, and those that count as
    evidence about the rows, each in seq order.

    Without a key every checkpoint counts.  With one, only the validly
    signed ones and those written before the key was configured: unsigned,
    before the first validly signed one both in order of writing (id) and
    in the chain (seq; the chain only grows, so a checkpoint written earlier
    is never further along it).  The gateway signs every checkpoint once it
    has a key, so any other unsigned one, or one whose signature does not
    verify, is a forgery: named as such, and never taken as saying that
    rows were cut off or rewritten.  One signed with a key not configured
    here cannot be checked, so it is not believed either (a warning)."""
    start_seq, start_hash = 0, GENESIS
    signed: list[Any] = []
    verdicts: dict[int, bool | None] = {}
    for c in checkpoints:
        if c["signature"] and keys.configured:
            message = checkpoint_message(c["kind"], int(c["seq"]), c["hash"], c["at"],
                                         c["detail"])
            verdicts[int(c["id"])] = keys.check(message, c["key_id"] or "", c["signature"])
    first_signed = min((c for c in checkpoints if verdicts.get(int(c["id"])) is True),
                       key=lambda c: int(c["id"]), default=None)
    evidence: list[Any] = []
    for c in checkpoints:
        report.checkpoints += 1
        name = f"checkpoint #{c['id']} ({c['kind']} at seq {c['seq']})"
        signed_ok = False
        believed = not keys.configured
        if c["signature"]:
            if keys.configured:
                verdict = verdicts[int(c["id"])]
                if verdict is None:
                    report.warnings.append(f"{name}: signed with a key not configured here")
                elif verdict:
                    signed_ok = believed = True
                    report.checkpoints_signed += 1
                    signed.append(c)
                else:
                    check.problem(f"{name} forged or altered: its signature does not verify")
            else:
                report.checkpoints_not_checked += 1
                report.warnings.append(f"{name}: signature not checked (no audit key)")
        else:
            report.checkpoints_unsigned += 1
            if keys.configured:
                believed = first_signed is None or (
                    int(c["id"]) < int(first_signed["id"])
                    and int(c["seq"]) <= int(first_signed["seq"]))
                if first_signed is not None and not believed and c["kind"] != "cut":
                    # (an unsigned cut has a problem of its own, below)
                    check.problem(
                        f"{name} is not signed though the trail has a key: it was not written "
                        "by the gateway, which has signed every checkpoint since checkpoint "
                        f"#{first_signed['id']} (seq {first_signed['seq']}), so it says "
                        "nothing about the rows")
        if c["kind"] == "cut" and int(c["seq"]) >= start_seq:
            if keys.configured and not signed_ok:
                # With a key, only a signed cut may excuse a missing prefix:
                # otherwise deleting old rows and adding a cut would hide it.
                check.problem(f"{name} is not validly signed: the purge it claims is not trusted")
                continue
            start_seq, start_hash = int(c["seq"]), str(c["hash"])
            report.cut_seq, report.cut_at = start_seq, ts(c["at"])
        if not believed:
            continue
        evidence.append(c)
        if int(c["seq"]) > head:
            index = check.problem(f"rows after seq {head} missing: {name} was taken at seq "
                                  f"{c['seq']}")
            if index is not None:
                holes.append(_Hole(index, head + 1, int(c["seq"]), [c], at_end=True))
    return start_seq, start_hash, signed, evidence


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


async def _note_forced_purges(conn: AsyncConnection, report: VerifyReport) -> None:
    """Each purge forced past the problems verify found (`purge --force`):
    the rows it removed may have included rows altered, which no walk can
    show any more.  Its `purged` event says so; an auditor running verify
    should not need to query the events to learn it."""
    rows = (await conn.execute(
        select(audit_events.c.seq, audit_events.c.at, audit_events.c.detail).where(
            audit_events.c.type == "purged", audit_events.c.detail.like('%"forced":true%'),
        ).order_by(audit_events.c.seq)
    )).all()
    for seq, at, detail in rows:
        try:
            said = json.loads(detail)
        except ValueError:
            continue
        if not isinstance(said, dict) or said.get("forced") is not True:
            continue
        found = said.get("verify_problems")
        report.notes.append(
            f"the purge up to seq {said.get('cut_seq')} ({ts(at)}) was forced past "
            f"{found if isinstance(found, int) else 'the'} problem(s) verify found then "
            f"(`gateway audit purge --force`; its `purged` event, seq {seq}): the rows it "
            "removed may have included rows altered, which can no longer be checked")


# A record received this long before the record before it in the chain was
# written under a clock set back: replicas' clocks differ by seconds, and
# the chain's order is the order of writing.
CLOCK_SET_BACK = timedelta(minutes=10)
_CLOCK_WARNINGS = 10


async def _note_clock_set_back(conn: AsyncConnection, start_seq: int, head: int,
                               report: VerifyReport) -> None:
    """A warning for each record whose received_at is more than
    CLOCK_SET_BACK before the previous record's (not a problem: the hashes
    hold, but every search and report by date puts such a record in the
    wrong hour, and a clock set back may be hiding when it was written)."""
    minutes = CLOCK_SET_BACK.total_seconds() / 60
    if conn.dialect.name == "postgresql":
        earlier = "received_at < before_at - :minutes * interval '1 minute'"
    else:
        earlier = "julianday(received_at) < julianday(before_at) - :minutes / 1440.0"
    rows = (await conn.execute(text(
        "SELECT seq, before_seq FROM (SELECT seq, received_at,"
        " lag(seq) OVER (ORDER BY seq) AS before_seq,"
        " lag(received_at) OVER (ORDER BY seq) AS before_at"
        " FROM audit_records WHERE seq > :start AND seq <= :head) x"
        f" WHERE {earlier} ORDER BY seq LIMIT :most"
    ), {"start": start_seq, "head": head, "minutes": minutes,
        "most": _CLOCK_WARNINGS + 1})).all()
    for row in rows[:_CLOCK_WARNINGS]:
        report.warnings.append(
            f"record at seq {row.seq} was received more than {minutes:.0f} minutes before the "
            f"record at seq {row.before_seq}, written before it: the clock of whatever wrote "
            "it was set back, so its time may not be when it was received")
    if len(rows) > _CLOCK_WARNINGS:
        report.warnings.append(f"more records received before the one written before them "
                               f"(only the first {_CLOCK_WARNINGS} are named)")


async def _check_unfinished_have_records(
    conn: AsyncConnection, report: VerifyReport, check: _Checker
) -> None:
    """Every message the queue still holds (queued, deferred, held) has its
    audit record: the gateway writes both in one transaction, and a purge
    keeps the record of a message not finished.

    The chain's last rows, cut off together with the checkpoints after them,
    leave nothing in the chain to show it; the queue's rows of those
    messages do.  (A role that may not read the queue, such as
    gateway_auditor, is told the check was not made.)"""
    if conn.dialect.name == "postgresql" and not (await conn.execute(text(
        "SELECT has_table_privilege(current_user, 'queue_messages', 'SELECT')"
    ))).scalar():
        report.warnings.append("the queue could not be read with this database role: whether "
                               "every queued or held message has its record was not checked")
        return
    # The gateway's own mail (notices, reports, passwords sent apart) has
    # no audit_id: it is no message of staff's and has no record.
    audit_id = queue_messages.c.audit_id
    unfinished = [s.value for s in QueueState if s not in FINISHED]
    missing = (await conn.execute(
        select(audit_id, queue_messages.c.state)
        .where(queue_messages.c.state.in_(unfinished), audit_id.is_not(None),
               ~exists().where(audit_records.c.id == audit_id))
        .order_by(queue_messages.c.created_at)
    )).all()
    if not missing:
        return
    named = ", ".join(f"{i} ({state})" for i, state in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    check.problem(
        f"{len(missing)} message(s) the queue still holds have no audit record: {named}{more}."
        "  The gateway writes a message's record with its queue row and a purge keeps it, so "
        "the record was deleted: with the chain's last rows, if nothing else here shows it"
    )


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


def _detail_int(checkpoint: Any, key: str) -> int | None:
    """A whole number >= 0 from a checkpoint's detail, if it says one."""
    try:
        value = json.loads(checkpoint["detail"] or "{}").get(key)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and value >= 0 else None


def _check_periodic_sequence(trusted: Sequence[Any], every_checkpoint: Sequence[Any],
                             check: _Checker) -> None:
    """No periodic checkpoint is missing between two that remain.

    The gateway takes one each time the chain passes a multiple of
    `every`, at the head after the rows that passed it, and its detail
    (signed with it) says where the chain was before those rows (`from`).
    Between the periodic checkpoint before it and `from` the chain passed
    no multiple, then: when it did, the checkpoint taken there is gone.
    Its rows may still be vouched for by a later checkpoint; deleting one
    is tampering with the trail all the same, and said as such.

    `trusted`: the checkpoints that count here (validly signed, with a
    key), in seq order; each periodic one is held to the trusted periodic
    one before it, with the same spacing (a setting changed in between
    leaves that pair unchecked).  The first is held to the chain's start
    when no checkpoint at all comes before it (purges keep checkpoints;
    with a key configured later, the unsigned ones before it say nothing)."""
    first_seq = min((int(c["seq"]) for c in every_checkpoint), default=None)
    before: Any = None
    for c in trusted:
        if c["kind"] != "periodic":
            continue
        every, came_from = _detail_int(c, "every"), _detail_int(c, "from")
        name = f"checkpoint #{c['id']} (periodic at seq {c['seq']})"
        if before is None:
            since, since_every = (0, every) if int(c["seq"]) == first_seq else (None, None)
            since_name = "the chain's start"
        else:
            since, since_every = int(before["seq"]), _detail_int(before, "every")
            since_name = f"checkpoint #{before['id']} (periodic at seq {before['seq']})"
        before = c
        if since is None or not every or came_from is None or since_every != every:
            continue
        if came_from // every > since // every:
            passed = (came_from // every) * every
            check.problem(
                f"a periodic checkpoint is missing between {since_name} and {name}: the "
                f"chain passed seq {passed}, a multiple of {every} (checkpoint_every), "
                f"before the rows {name} was taken after (from seq {came_from}), and the "
                "gateway takes one each time it passes one: it was deleted (or, with an audit "
                "key, replaced by one not validly signed by it)")


async def _check_anchors(
    conn: AsyncConnection, anchors: Sequence[Anchor], start: Anchor, head: int,
    report: VerifyReport, check: _Checker, holes: list[_Hole],
) -> int:
    """Each anchor must still be in the chain with its hash (in the walk's
    snapshot).  One at the purge cut is compared with the cut's hash; one
    before it went with the purge and cannot be checked.  Returns the seq of
    the last anchor that still matches (0: none)."""
    start_seq, start_hash = start
    found = await _hashes_at(conn, [seq for seq, _ in anchors if start_seq < seq <= head])
    if start_seq:
        found[start_seq] = start_hash
    matched = 0
    for seq, expected in anchors:
        name = f"the anchor at seq {seq} (hash {expected[:16]}...)"
        if seq < start_seq or (seq == start_seq == 0):
            report.warnings.append(f"{name} is before the purge cut at seq {start_seq}: "
                                   "not checked")
        elif seq > head:
            index = check.problem(f"rows after seq {head} missing: {name} was taken at seq {seq}")
            if index is not None:
                holes.append(_Hole(index, head + 1, seq, at_end=True))
        elif seq not in found:
            index = check.problem(f"row seq {seq} missing: {name} was taken there")
            if index is not None:
                holes.append(_Hole(index, seq, seq))
        elif found[seq] != expected:
            check.problem(f"row seq {seq} does not match {name}: the chain was rewritten "
                          "there or before it")
        else:
            matched = max(matched, seq)
    return matched


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
    for seq, *row, stored_at in records:
        id_, received_at, prev_hash, hash_ = row[0], row[2], row[10], row[11]
        stored = index.get(seq, [])
        # The readers' check of one row (gateway.audit.soundness), and each
        # index row's time spelt as the gateway writes it.
        self_ok, terms_ok = record_row_sound(row, [(f, v, k, at) for f, v, k, at, _ in stored])
        out.append(_Row(seq, "record", _label("record", seq, id_, None), prev_hash, hash_,
                        self_ok, terms_ok and all(form for *_, form in stored),
                        _written_form(received_at, stored_at)))
    events = await conn.execute(
        select(audit_events.c.seq, audit_events.c.record_id, audit_events.c.at,
               audit_events.c.type, audit_events.c.detail, audit_events.c.prev_hash,
               audit_events.c.hash, _as_stored(audit_events.c.at, sqlite))
        .where(audit_events.c.seq > low, audit_events.c.seq <= high)
    )
    for seq, record_id, at, type_, detail, prev_hash, hash_, stored_at in events:
        out.append(_Row(seq, "event", _label("event", seq, record_id, type_), prev_hash, hash_,
                        event_row_sound(record_id, at, type_, detail, prev_hash, hash_), True,
                        _written_form(at, stored_at)))
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


# Rows the server's hashing is checked on, besides the chain's first and last.
_SAMPLED = 6
_SAMPLE_RECORDS = text(f"""
    SELECT r.seq, r.id, r.message_id, r.received_at, r.sender, r.verdict, r.marking,
           r.purpose, r.terms, r.document, r.events, r.prev_hash,
           {_sha("r.prev_hash", _RECORD_CONTENT)} AS computed
      FROM audit_records r WHERE r.seq IN :seqs
""").bindparams(bindparam("seqs", expanding=True))
_SAMPLE_EVENTS = text(f"""
    SELECT e.seq, e.record_id, e.at, e.type, e.detail, e.prev_hash,
           {_sha("e.prev_hash", _EVENT_CONTENT)} AS computed
      FROM audit_events e WHERE e.seq IN :seqs
""").bindparams(bindparam("seqs", expanding=True))


async def _server_hashes_as_python(conn: AsyncConnection, start_seq: int, head: int,
                                   check: _Checker) -> bool:
    """Whether the server computes each row's hash as Python does, on the
    chain's first and last rows and some others picked at random (each run
    other ones, so a server that computes some rows otherwise cannot count
    on not being asked).  The search path is pinned (`_pin_search_path`);
    this is what says so should anything still steer the server's
    hashing, since a server that computes otherwise would vouch for rows
    it should not.  When it does, that is reported as tampering and the
    walk hashes in Python instead."""
    if head <= start_seq:
        return True
    chosen = {start_seq + 1, head}
    between = range(start_seq + 2, head)
    chosen.update(random.SystemRandom().sample(between, min(_SAMPLED, len(between))))
    seqs = sorted(chosen)
    differ: list[int] = []
    for (seq, *row, computed) in await conn.execute(_SAMPLE_RECORDS, {"seqs": seqs}):
        (id_, message_id, received_at, sender, verdict, marking, purpose, terms, document,
         kept, prev_hash) = row
        content = record_content(id_, message_id, received_at, sender, verdict, marking,
                                 purpose, terms, document, kept)
        if link(prev_hash, content) != computed:
            differ.append(int(seq))
    for seq, record_id, at, type_, detail, prev_hash, computed in await conn.execute(
        _SAMPLE_EVENTS, {"seqs": seqs}
    ):
        if link(prev_hash, event_content(record_id, at, type_, detail)) != computed:
            differ.append(int(seq))
    if not differ:
        return True
    rows = ", ".join(str(s) for s in sorted(differ))
    check.problem(
        "the database's hash functions do not compute SHA-256: for the row(s) at seq "
        f"{rows} the server's hash differs from the one computed here, so functions of the "
        "database's (sha256, encode, to_char ...) were replaced or shadowed, which only "
        "someone hiding changes to the trail would do.  Every row was checked by verify itself "
        "instead, not by the server")
    return False


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
    holes: list[_Hole],
    breaks: list[tuple[int, int]],
) -> None:
    """`summaries`: the server's word on each page (None: SQLite, or hashing
    in Python); `conn` reads the rows of a page to diagnose.  Each deletion
    found goes in `holes` too, for `_explain` to say what the trail still
    tells of it."""
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
            index = check.problem(f"{gap} (deleted)")
            if index is not None:
                holes.append(_Hole(index, expected_seq, seq - 1))
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
                index = check.problem(f"row seq {seq - 1} inserted (seq {seq} links past it)")
            else:
                index = check.problem(f"row(s) missing before seq {seq}: it does not link to "
                                      "the row before it (deleted and renumbered)")
                if index is not None:  # (nothing is missing by seq: between seq - 1 and seq)
                    holes.append(_Hole(index, seq, seq - 1))
            if index is not None:  # (rows moved within the chain: `_say_reordered`)
                breaks.append((seq, index))
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
        # Index rows at a seq another row holds were added; at a seq no row
        # holds, the record that was there was deleted and they were left
        # behind: the gap's problem says so (`_explain`), not "inserted".
        occupied = {group[0].seq for group in groups}
        for seq in orphans:
            if seq in occupied:
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
        if seq > head:
            continue
        # A checkpoint at a deleted row tells the auditor that row was there
        # when the checkpoint was written: said with the deletion itself.
        hole = next((h for h in holes if h.first <= seq <= h.last and not h.at_end), None)
        if hole is not None:
            hole.checkpoints.append(point)
        elif not check.full:
            check.problem(f"row seq {seq} missing: checkpoint #{point['id']} was taken there "
                          "(the checkpoint vouched for this row, so it was deleted)")
    for seq in left_behind:
        if not check.full:
            found = check.problem(f"record seq {seq} missing at the chain's end: its search "
                                  "index rows are still there (deleted)")
            if found is not None:
                holes.append(_Hole(found, head + 1, seq, at_end=True, index_rows=(seq, seq)))


# The longest stretch `_say_reordered` reads to tell rows moved from rows
# deleted and inserted (a few swapped rows; beyond it the words stay as found).
_REORDER_SPAN = 10_000


async def _say_reordered(conn: AsyncConnection, breaks: Sequence[tuple[int, int]],
                         start: Anchor, in_sql: bool, report: VerifyReport,
                         holes: list[_Hole]) -> None:
    """Rows that do not link to the row before them (`breaks`: their seq
    and the problem said of each) were not necessarily deleted or inserted:
    rows swapped or moved within the chain break the links the same way.
    When the rows from one break up to the row before a later one are all
    there, each sound, and linked together they run from the row before
    the stretch to the row after it, the set of rows is the same and only
    their order differs: the problems of those breaks become one, "moved
    or reordered", and no deletion is described under it."""
    if len(breaks) < 2 or breaks[-1][0] - breaks[0][0] > _REORDER_SPAN:
        return
    start_seq, start_hash = start
    groups, _ = await _page_rows(conn, max(start_seq, breaks[0][0] - 2), breaks[-1][0], in_sql)
    rows = {group[0].seq: group[0] for group in groups if len(group) == 1}
    rows.setdefault(start_seq, _Row(start_seq, "", "", "", start_hash, True))
    replaced: dict[int, str] = {}
    dropped: set[int] = set()
    i = 0
    while i < len(breaks) - 1:
        for j in range(i + 1, len(breaks)):
            first, after = breaks[i][0], breaks[j][0]
            if _linked_through(rows, first, after):
                replaced[breaks[i][1]] = (
                    f"rows seq {first}-{after - 1} moved or reordered: every one is still "
                    "there and links to the row it followed when written, but they are not "
                    "in seq order (nothing is missing or added)")
                dropped.update(index for _, index in breaks[i + 1:j + 1])
                i = j
                break
        i += 1
    if not replaced:
        return
    for index, said in replaced.items():
        report.problems[index], report.details[index] = said, []
    kept = [k for k in range(len(report.problems)) if k not in dropped]
    renumbered = {old: new for new, old in enumerate(kept)}
    report.problems = [report.problems[k] for k in kept]
    report.details = [report.details[k] for k in kept]
    holes[:] = [h for h in holes if h.index not in dropped and h.index not in replaced]
    for hole in holes:
        hole.index = renumbered[hole.index]


def _linked_through(rows: dict[int, _Row], first: int, after: int) -> bool:
    """Whether the rows at seq first..after-1 are all there and sound, and,
    taken in the order their links give, run from the row at first-1 to the
    one the row at `after` links to."""
    before, following = rows.get(first - 1), rows.get(after)
    stretch = [rows.get(seq) for seq in range(first, after)]
    if before is None or following is None or any(r is None or not r.self_ok
                                                  for r in stretch):
        return False
    by_prev = {r.prev_hash: r for r in stretch if r is not None}
    if len(by_prev) != len(stretch):
        return False
    current = before.hash
    for _ in stretch:
        found = by_prev.pop(current, None)
        if found is None:
            return False
        current = found.hash
    return current == following.prev_hash


def _take_clean_page(summary: _Summary, low: int, high: int, checkpoints: dict[int, Any],
                     report: VerifyReport, check: _Checker) -> None:
    """Count a page the server found clean; compare the checkpoints inside it."""
    for seq in sorted(s for s in checkpoints if low < s <= high):
        point = checkpoints.pop(seq)
        if seq not in summary.point_hashes:
            check.problem(f"row seq {seq} missing: checkpoint #{point['id']} was taken there "
                          "(the checkpoint vouched for this row, so it was deleted)")
        elif point["hash"] != summary.point_hashes[seq]:
            check.problem(f"checkpoint #{point['id']} at seq {seq} does not match the chain: "
                          f"rows up to seq {seq} were rewritten")
    report.records += summary.records
    report.events += summary.events
    if report.first_seq is None:
        report.first_seq = summary.first_seq
    report.last_seq = int(summary.last_seq or 0)


# -- what the trail still says about what is missing ------------------------------------
#
# A deletion is found by its seq; an auditor has to tell a regulator which
# messages and which hours the missing evidence covered.  The rows either
# side of it give the hours, and other rows may still name the messages: a
# deleted record's search-index rows (its time, recipients, organisations),
# the events of a record whose own row is gone.  Read only when something
# was deleted, so a clean walk pays nothing for it.

_LISTED = 5  # values of one kind named before "and N more"


def _clock(value: Any) -> str:
    """A stored time as an auditor reads it."""
    if isinstance(value, datetime):
        return utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


@dataclass(frozen=True, slots=True)
class _Near:
    """A row that is still there, for saying where a deletion lies."""

    seq: int
    at: datetime
    what: str  # in words: "record X (received)", "the relayed event of X"

    def said(self) -> str:
        return f"{_clock(self.at)} ({self.what}, seq {self.seq})"


async def _near(conn: AsyncConnection, seq: int, before: bool, low: int) -> _Near | None:
    """The row still there nearest `seq`: the last before it (seq > low) or
    the first after it."""
    found: list[_Near] = []
    for table, when in ((audit_records, audit_records.c.received_at),
                        (audit_events, audit_events.c.at)):
        who = table.c.id if table is audit_records else table.c.record_id
        kind = literal("") if table is audit_records else table.c.type
        query = select(table.c.seq, who, when, kind)
        query = (query.where(table.c.seq < seq, table.c.seq > low).order_by(table.c.seq.desc())
                 if before else query.where(table.c.seq > seq).order_by(table.c.seq))
        row = (await conn.execute(query.limit(1))).first()
        if row is not None:
            at_seq, ident, at, type_ = row
            what = (f"record {ident}, received" if table is audit_records
                    else f"the {type_} event of {ident}")
            found.append(_Near(int(at_seq), at, what))
    if not found:
        return None
    return max(found, key=lambda n: n.seq) if before else min(found, key=lambda n: n.seq)


def _some(values: Sequence[str]) -> str:
    shown = ", ".join(values[:_LISTED])
    more = len(values) - _LISTED
    return f"{shown} and {more} more" if more > 0 else shown


async def _index_left(conn: AsyncConnection, first: int, last: int) -> list[str]:
    """What the search-index rows of records deleted in first..last say."""
    terms = audit_record_terms.c
    rows = (await conn.execute(
        select(terms.record_seq, terms.field, terms.value, terms.received_at)
        .where(terms.record_seq >= first, terms.record_seq <= last,
               ~exists().where(audit_records.c.seq == terms.record_seq))
        .order_by(terms.record_seq, terms.field, terms.value)
    )).all()
    by_record: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    received: dict[int, Any] = {}
    for seq, field_, value, at in rows:
        by_record[int(seq)][str(field_)].append(str(value))
        received[int(seq)] = at
    out = []
    for seq, fields in by_record.items():
        said = [f"received {_clock(received[seq])}"]
        if fields.get("recipient"):
            said.append(f"to {_some(fields['recipient'])}")
        if fields.get("organisation"):
            said.append(f"organisations {_some(fields['organisation'])}")
        if fields.get("type"):
            said.append(f"information types {_some(fields['type'])}")
        if fields.get("reason"):
            said.append(f"reasons {_some(fields['reason'])}")
        out.append(f"the record at seq {seq} was deleted, but its search-index rows are still "
                   f"there: {'; '.join(said)}")
    return out


async def _records_gone(conn: AsyncConnection, start_seq: int) -> list[tuple[str, int, int, int,
                                                                             Any]]:
    """Messages whose events are still there but whose record is not:
    (record id, first and last event seq, how many, first event's time).
    The console's and the purge's own events are filed under ids with a
    dash, which no record has."""
    e = audit_events.c
    rows = (await conn.execute(
        select(e.record_id, func.min(e.seq), func.max(e.seq), func.count(), func.min(e.at))
        .where(e.seq > start_seq, ~exists().where(audit_records.c.id == e.record_id))
        .group_by(e.record_id).order_by(func.min(e.seq))
    )).all()
    return [(str(i), int(a), int(b), int(n), at) for i, a, b, n, at in rows if "-" not in str(i)]


def _vouched(point: Any, signed_ids: set[int]) -> str:
    signed = "a signed checkpoint" if int(point["id"]) in signed_ids else "a checkpoint"
    return f"{signed} (#{point['id']}, written {_clock(point['at'])})"


async def _explain(conn: AsyncConnection, holes: Sequence[_Hole], report: VerifyReport,
                   signed_ids: set[int], start_seq: int) -> None:
    """Add to each deletion's problem the hours it covers and what other
    rows still say of the messages it took."""
    if not holes:
        return
    gone: dict[int, list[str]] = defaultdict(list)
    inside = sorted((h for h in holes if not h.at_end and h.first <= h.last),
                    key=lambda h: h.first)
    for record_id, first, last, count, at in await _records_gone(conn, start_seq):
        # A record comes before its events: the deletion just before them.
        earlier = [h for h in inside if h.first < first]
        if not earlier:
            continue
        where = f"seq {first}" if first == last else f"seq {first}-{last}"
        purged = (f" (or, had it been received before the purge cut at seq {start_seq}, "
                  "by the purge)" if start_seq else "")
        gone[earlier[-1].index].append(
            f"message {record_id}: its record is not in the trail any more, but {count} of "
            f"its event(s) are ({where}, the first at {_clock(at)}): its record was deleted, "
            f"here or in an earlier stretch{purged}")
    for hole in holes:
        lines: list[str] = []
        before = await _near(conn, min(hole.first, hole.last + 1), True, start_seq)
        if hole.at_end:
            # (One record left behind at the end: its index rows, below,
            # say when it was written.)
            if hole.index_rows is None:
                rows = (f"row seq {hole.first}" if hole.first == hole.last
                        else f"{hole.last - hole.first + 1} rows (seq {hole.first}-{hole.last})")
                lines.append(f"at least {rows} cut off the end of the trail, written after "
                             + (before.said() if before is not None else "the chain's start")
                             + ", the last row left")
        else:
            after = await _near(conn, max(hole.last, hole.first - 1), False, start_seq)
            count = hole.last - hole.first + 1
            what = (f"{count} row(s) deleted, written" if count > 0
                    else "rows deleted and the rest renumbered, written")
            since = (before.said() if before is not None
                     else f"the purge cut at seq {start_seq}" if start_seq
                     else "the chain's start")
            until = after.said() if after is not None else "the chain's end"
            lines.append(f"{what} between {since} and {until}")
        for point in hole.checkpoints:
            lines.append(f"{_vouched(point, signed_ids)} vouched for the rows up to seq "
                         f"{point['seq']}: they were there when it was written"
                         if hole.at_end else
                         f"{_vouched(point, signed_ids)} vouched for the row at seq "
                         f"{point['seq']}: it was there when the checkpoint was written")
        named = hole.index_rows or ((hole.first, hole.last) if not hole.at_end else None)
        if named is not None and named[0] <= named[1]:
            lines.extend(await _index_left(conn, *named))
        lines.extend(gone.get(hole.index, []))
        report.details[hole.index].extend(lines)


async def _note_unvouched(conn: AsyncConnection, report: VerifyReport, vouching: Sequence[Any],
                          signed: bool, anchored: int, start_seq: int, head: int) -> None:
    """Say which rows at the end of the chain nothing vouches for.

    Rows cut off the end together with the checkpoints after them leave a
    chain that verifies (the README says so): only a checkpoint still
    there, or an anchor kept elsewhere, vouches that the rows up to it were
    there.  "No deletions found" must not be read as covering the rows
    after the last of those."""
    points = [c for c in vouching if int(c["seq"]) <= head]
    last = max(points, key=lambda c: int(c["seq"])) if points else None
    covered = max(int(last["seq"]) if last is not None else 0, anchored)
    if head <= max(covered, start_seq):
        return
    count = 0
    for table in (audit_records, audit_events):
        count += int((await conn.execute(
            select(func.count()).select_from(table).where(table.c.seq > covered,
                                                          table.c.seq <= head)
        )).scalar_one())
    first = await _near(conn, covered, False, start_seq)
    final = await _near(conn, head + 1, True, start_seq)
    span = (f"seq {covered + 1}-{head}" if head > covered + 1 else f"seq {head}")
    if first is not None and final is not None:
        span += f", written {_clock(first.at)} to {_clock(final.at)}"
    if anchored and anchored == covered:
        after = f"after the anchor given at seq {anchored}"
    elif last is not None:
        kind = "signed checkpoint" if signed else "checkpoint (unsigned: no audit key)"
        after = f"after the {kind} at seq {last['seq']}, written {_clock(last['at'])}"
    else:
        after = "no checkpoint or anchor vouches for any row of the trail"
    rows, are = ("the last row", "is") if count == 1 else (f"the last {count} rows", "are")
    report.notes.append(
        f"{rows} ({span}; {after}) {are} vouched for by no checkpoint or anchor: rows cut off "
        "the end of the trail together with the checkpoints after them would not show. "
        "Give an anchor (SEQ:HASH) kept outside the database, taken later, to check them: "
        "`gateway audit verify --anchor SEQ:HASH`, or the Integrity page's anchors box (the "
        "gateway's `audit_anchor` log lines and `gateway audit checkpoint` give them)."
    )


async def damaged_records(engine: AsyncEngine, since: datetime | None, until: datetime | None,
                          batch: int = 2000) -> int:
    """How many records received in [since, until) `search`, `show` and
    `export` can only show in part: stored text that is not what the
    gateway wrote (gateway.audit.query reads them so).  `report` counts in
    SQL and would otherwise give the same figures from an altered trail
    with no hint; this reads each record of the period once, in keyset
    pages (memory stays flat), as `export` does."""
    when = audit_records.c.received_at
    period = [*([when >= utc(since)] if since is not None else []),
              *([when < utc(until)] if until is not None else [])]
    damaged, after = 0, -1
    while True:
        async with engine.connect() as conn:
            rows = (await conn.execute(
                select(*_record_columns()).where(audit_records.c.seq > after, *period)
                .order_by(audit_records.c.seq).limit(batch)
            )).all()
            if not rows:
                return damaged
            damaged += sum(1 for d in await _with_events(conn, rows) if d.get("damaged"))
        after = int(rows[-1][0])


# -- the objects auditors read through -----------------------------------------------

_TRIGGER_BEFORE, _TRIGGER_ROW = 2, 1
_TRIGGER_INSERT, _TRIGGER_DELETE, _TRIGGER_UPDATE, _TRIGGER_TRUNCATE = 4, 8, 16, 32
# pg_trigger.tgtype of each kind of trigger the migrations made.
_APPEND_ONLY_TYPE = _TRIGGER_BEFORE | _TRIGGER_UPDATE | _TRIGGER_DELETE | _TRIGGER_TRUNCATE
_CUT_RIGHTS_TYPE = _TRIGGER_ROW | _TRIGGER_BEFORE | _TRIGGER_INSERT
_NOT_CHECKED = ("the definitions of the audit views and functions were not checked: this "
                "database role cannot create temporary objects to compare them with (run "
                "verify as the role that runs the migrations to check them)")


def _squeezed(sql: str | None) -> str:
    """A statement with its runs of whitespace made one space (how the text
    was laid out in the migration's file is not its meaning)."""
    return " ".join((sql or "").split()).rstrip(";").strip()


def _differs(kind: str, name: str, found: str, made: str) -> str:
    """The problem of an object whose definition is not the migrations'.
    Where it starts to differ, not the text: an edited definition may hold
    anything, names included."""
    at = next((i for i, (a, b) in enumerate(zip(found, made, strict=False)) if a != b),
              min(len(found), len(made)))
    return (f"{kind} {name} is not as the migrations made it: its definition differs from "
            f"theirs from character {at + 1} on ({len(found)} characters against "
            f"{len(made)}). What auditors, `audit search`, `audit report` and the console "
            "read through it may not be what the audit trail holds")


def _object_problems(check: _Checker, problems: Sequence[str]) -> None:
    for said in problems:
        check.problem(said)


async def _check_definitions(engine: AsyncEngine, report: VerifyReport, check: _Checker) -> None:
    """The views, functions and triggers the migrations made around the
    audit tables are still as they made them (gateway.db.definitions).

    The chain covers the rows only: a view re-created with a WHERE that
    leaves refusals out, or an `audit_approver()` that names someone else,
    changes what every reader is shown while verify found every hash
    intact; a trigger dropped or disabled lets rows be edited."""
    async with engine.connect() as conn:
        try:
            if conn.dialect.name == "postgresql":
                schema = await _tables_schema(conn)
                if schema is None:
                    check.problem("table audit_records not found")
                    return
                await _pin_search_path(conn, schema)
                _object_problems(check, await _postgres_definitions(conn, schema, report))
            else:
                _object_problems(check, await _sqlite_definitions(conn))
        finally:
            await conn.rollback()


async def _sqlite_definitions(conn: AsyncConnection) -> list[str]:
    rows = (await conn.execute(text(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('view', 'trigger')"
    ))).all()
    found = {(str(r.type), str(r.name)): _squeezed(r.sql) for r in rows}
    problems: list[str] = []
    made: list[tuple[str, str, str]] = [
        ("view", name, sql) for name, sql in definitions.views(postgres=False).items()]
    made += [("trigger", name, sql) for name, sql in definitions.sqlite_triggers().items()]
    for kind, name, sql in made:
        there = found.get((kind, name))
        if there is None:
            problems.append(f"{kind} {name} is missing (the migrations made it)")
        elif there != _squeezed(sql):
            problems.append(_differs(kind, name, there, _squeezed(sql)))
    guarded = set(definitions.AUDIT_TABLES) | set(definitions.views(postgres=False))
    expected = {name for kind, name, _ in made if kind == "trigger"}
    for r in rows:
        if r.type == "trigger" and r.tbl_name in guarded and r.name not in expected:
            problems.append(f"trigger {r.name} on {r.tbl_name} is not one the migrations made")
    return problems


async def _postgres_definitions(conn: AsyncConnection, schema: str,
                                report: VerifyReport) -> list[str]:
    problems: list[str] = []
    views = definitions.views(postgres=True)
    functions = definitions.functions()
    found_views = {str(r.relname): r for r in (await conn.execute(text(
        "SELECT c.relname, c.relkind::text AS relkind, pg_catalog.pg_get_viewdef(c.oid) AS def_,"
        " c.reloptions::text AS options FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = :schema AND c.relname = ANY(:names)"
    ), {"schema": schema, "names": list(views)})).all()}
    columns = ("prosrc, prorettype, proargtypes::text AS argtypes, proallargtypes::text"
               " AS allargtypes, proargmodes::text AS argmodes, proargnames::text AS argnames,"
               " prolang, provolatile, prosecdef, proisstrict, proretset, proleakproof,"
               " proparallel, prokind, proconfig::text AS config")
    found_functions: dict[str, Any] = {}
    for signature in functions:
        found_functions[signature] = (await conn.execute(text(
            f"SELECT {columns} FROM pg_catalog.pg_proc WHERE oid ="
            " pg_catalog.to_regprocedure(pg_catalog.quote_ident(:schema) || '.' || :sig)"
        ), {"schema": schema, "sig": signature})).mappings().first()
    # What the migrations would make, made again as temporary objects in a
    # savepoint the connection's rollback undoes: the server's own rendering
    # of both is compared, whatever the server's version.
    made_views: dict[str, str] = {}
    made_functions: dict[str, Any] = {}
    try:
        for name, sql in views.items():
            async with _undone(conn):
                await conn.execute(text(sql.replace(f"CREATE VIEW {name} ",
                                                    f"CREATE VIEW pg_temp.{name} ", 1)))
                made_views[name] = str((await conn.execute(text(
                    "SELECT pg_catalog.pg_get_viewdef(pg_catalog.to_regclass(:name))"
                ), {"name": f"pg_temp.{name}"})).scalar())
        for signature, sql in functions.items():
            bare = signature.split("(", 1)[0]
            async with _undone(conn):
                await conn.execute(text(sql.replace(
                    f"CREATE OR REPLACE FUNCTION {bare}(", f"CREATE FUNCTION pg_temp.{bare}(", 1)))
                # As 0021 set it, with the tables' schema the migrations ran in.
                await conn.execute(text(
                    "DO $$ BEGIN EXECUTE pg_catalog.format('ALTER FUNCTION pg_temp.%s SET"
                    f" search_path = pg_catalog, %I, pg_temp', '{signature}',"
                    f" {_literal(schema)}); END $$"))
                made_functions[signature] = (await conn.execute(text(
                    f"SELECT {columns} FROM pg_catalog.pg_proc WHERE oid ="
                    " pg_catalog.to_regprocedure(:sig)"
                ), {"sig": f"pg_temp.{signature}"})).mappings().first()
    except _CannotCreate:
        report.warnings.append(_NOT_CHECKED)
        made_views, made_functions = {}, {}
    await _pin_search_path(conn, schema)
    for name in views:
        view = found_views.get(name)
        if view is None:
            problems.append(f"view {name} is missing (the migrations made it)")
        elif view.relkind != "v":
            problems.append(f"view {name} is no longer a view (the migrations made one)")
        elif view.options is not None:
            problems.append(f"view {name} is not as the migrations made it: it has options "
                            f"they did not give it ({view.options})")
        elif name in made_views and _squeezed(view.def_) != _squeezed(
                made_views[name]):
            problems.append(_differs("view", name, _squeezed(view.def_),
                                     _squeezed(made_views[name])))
    for signature in functions:
        function = found_functions[signature]
        if function is None:
            problems.append(f"function {signature} is missing (the migrations made it)")
        elif signature in made_functions and dict(function) != dict(made_functions[signature]):
            problems.append(_differs("function", signature, _squeezed(function["prosrc"]),
                                     _squeezed(made_functions[signature]["prosrc"]))
                            if function["prosrc"] != made_functions[signature]["prosrc"] else
                            f"function {signature} is not as the migrations made it: its "
                            "attributes (arguments, result, volatility, security or search "
                            "path) differ from theirs")
    problems += await _postgres_triggers(conn, schema, list(views))
    return problems


class _CannotCreate(Exception):
    """This role may not create the temporary objects to compare with."""


@asynccontextmanager
async def _undone(conn: AsyncConnection) -> AsyncIterator[None]:
    """Run the block in a savepoint rolled back after it.  An object the
    migrations' own needs that is gone (a view's function dropped) leaves
    the block without its result: the missing object is a problem already."""
    savepoint = await conn.begin_nested()
    try:
        yield
    except DBAPIError as exc:
        code = getattr(exc.orig, "sqlstate", None) or getattr(
            getattr(exc.orig, "__cause__", None), "sqlstate", None)
        if code == "42501":  # insufficient_privilege
            raise _CannotCreate() from exc
        if code not in ("42883", "42P01"):  # undefined function, undefined table
            raise
    finally:
        if savepoint.is_active:
            await savepoint.rollback()


def _literal(value: str) -> str:
    """A string as an SQL literal (a schema name, for a DO block's text)."""
    return "'" + value.replace("'", "''") + "'"


async def _postgres_triggers(conn: AsyncConnection, schema: str,
                             views: Sequence[str]) -> list[str]:
    """The append-only and cut-rights triggers are there, enabled, and fire
    as the migrations made them; no other trigger sits on the audit tables;
    no row security hides rows from some readers."""
    problems: list[str] = []
    rows = (await conn.execute(text(
        "SELECT c.relname, t.tgname, t.tgenabled::text AS tgenabled, t.tgtype, t.tgqual IS NOT NULL AS has_when,"
        " t.tgattr::text AS columns, p.proname, pn.nspname AS function_schema"
        " FROM pg_catalog.pg_trigger t"
        " JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid"
        " JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace"
        " WHERE n.nspname = :schema AND c.relname = ANY(:tables) AND NOT t.tgisinternal"
    ), {"schema": schema, "tables": [*definitions.AUDIT_TABLES, *views]})).all()
    found = {(str(r.relname), str(r.tgname)): r for r in rows}
    made = definitions.postgres_triggers()
    for (table, name), function in made.items():
        trigger = found.get((table, name))
        kind = _CUT_RIGHTS_TYPE if name.endswith("_cut_rights") else _APPEND_ONLY_TYPE
        if trigger is None:
            problems.append(f"trigger {name} on {table} is missing (the migrations made it)")
        elif trigger.tgenabled not in ("O", "A"):
            problems.append(f"trigger {name} on {table} is disabled "
                            f"(pg_trigger.tgenabled = '{trigger.tgenabled}')")
        elif (trigger.proname != function or trigger.function_schema != schema
              or int(trigger.tgtype) != kind or trigger.has_when or trigger.columns.strip()):
            problems.append(f"trigger {name} on {table} is not as the migrations made it "
                            "(what it runs, or when it fires, differs)")
    for r in rows:
        if (str(r.relname), str(r.tgname)) not in made:
            problems.append(f"trigger {r.tgname} on {r.relname} is not one the migrations made")
    secured = (await conn.execute(text(
        "SELECT c.relname FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = :schema AND c.relname = ANY(:tables)"
        " AND (c.relrowsecurity OR EXISTS (SELECT 1 FROM pg_catalog.pg_policy p"
        " WHERE p.polrelid = c.oid))"
    ), {"schema": schema, "tables": list(definitions.AUDIT_TABLES)})).scalars().all()
    for table in secured:
        problems.append(f"table {table} has row-level security or policies the migrations did "
                        "not make: some roles may be shown only part of it")
    return problems
