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
- no checkpoint points past the head (the tail was cut off).

On PostgreSQL the server recomputes the hashes (chain.py's encoding in SQL)
and settles a page that has nothing wrong in one summary row; only a page
with a problem comes to Python row by row for the diagnosis.  SQLite pages
are checked in Python.

After a problem the walk re-synchronises on the stored hash, so independent
problems further on are reported too (up to `max_problems`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, func, select, text
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
from gateway.db.schema import audit_checkpoints, audit_events, audit_record_terms, audit_records

_PAGE = 20_000


@dataclass(slots=True)
class _Row:
    seq: int
    kind: str  # "record" | "event"
    label: str  # how a message names this row
    prev_hash: str
    hash: str
    self_ok: bool  # hash == sha256(prev_hash, content)
    terms_ok: bool = True  # records: the search index matches the hashed terms


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

    @property
    def rows(self) -> int:
        return self.records + self.events

    def summary(self) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        span = (f"seq {self.first_seq}-{self.last_seq}" if self.first_seq is not None
                else "empty")
        lines = [
            f"{self.records} records, {self.events} events ({span}), head {self.head_hash[:16]}",
            f"{self.checkpoints} checkpoints: {self.checkpoints_signed} signature(s) verified, "
            f"{self.checkpoints_unsigned} unsigned",
        ]
        if self.cut_seq:
            lines.append(f"purged up to seq {self.cut_seq} ({self.cut_at})")
        lines.append(f"verified {self.rows} rows in {self.seconds:.1f}s ({rate:,.0f} rows/s)")
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
    engine: AsyncEngine, keys: AuditKeys | None = None, max_problems: int = 20
) -> VerifyReport:
    keys = keys or AuditKeys(())
    report = VerifyReport()
    check = _Checker(report, max_problems)
    started = time.perf_counter()
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # One snapshot for the whole walk: a purge running meanwhile
            # cannot make rows vanish halfway.
            await conn.execution_options(isolation_level="REPEATABLE READ")
        head = await _max_seq(conn)
        checkpoints = (await conn.execute(
            select(audit_checkpoints).order_by(audit_checkpoints.c.seq, audit_checkpoints.c.id)
        )).mappings().all()
        start_seq, start_hash = _check_checkpoints(checkpoints, keys, head, report, check)
        expected = {int(c["seq"]): c for c in checkpoints if int(c["seq"]) > start_seq}
        await _walk(conn, start_seq, start_hash, head, expected, report, check)
    report.seconds = time.perf_counter() - started
    return report


async def _max_seq(conn: AsyncConnection) -> int:
    top = 0
    for table in (audit_records, audit_events):
        value = (await conn.execute(select(func.max(table.c.seq)))).scalar()
        top = max(top, int(value or 0))
    return top


def _check_checkpoints(
    checkpoints: Any, keys: AuditKeys, head: int, report: VerifyReport, check: _Checker
) -> tuple[int, str]:
    """Signatures; returns where the walk starts (the latest trusted cut)."""
    start_seq, start_hash = 0, GENESIS
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
    return start_seq, start_hash


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


async def _check_points_in(
    conn: AsyncConnection, low: int, high: int, checkpoints: dict[int, Any], check: _Checker
) -> None:
    """Checkpoints inside a page that was verified in the server."""
    seqs = [s for s in checkpoints if low < s <= high]
    if not seqs:
        return
    hashes: dict[int, str] = {}
    for table in (audit_records, audit_events):
        for seq, hash_ in await conn.execute(
            select(table.c.seq, table.c.hash).where(table.c.seq.in_(seqs))
        ):
            hashes[int(seq)] = str(hash_)
    for seq in sorted(seqs):
        point = checkpoints.pop(seq)
        if seq not in hashes:
            check.problem(f"row seq {seq} missing: checkpoint #{point['id']} was taken there")
        elif point["hash"] != hashes[seq]:
            check.problem(f"checkpoint #{point['id']} at seq {seq} does not match the chain: "
                          f"rows up to seq {seq} were rewritten")


async def _page_python(conn: AsyncConnection, low: int, high: int) -> list[_Row]:
    out: list[_Row] = []
    index: dict[int, list[tuple[str, str, str, Any]]] = defaultdict(list)
    for record_seq, field_, value, key, received_at in await conn.execute(
        select(audit_record_terms.c.record_seq, audit_record_terms.c.field,
               audit_record_terms.c.value, audit_record_terms.c.key,
               audit_record_terms.c.received_at)
        .where(audit_record_terms.c.record_seq > low, audit_record_terms.c.record_seq <= high)
    ):
        index[record_seq].append((field_, value, key, received_at))
    records = await conn.execute(
        select(audit_records.c.seq, audit_records.c.id, audit_records.c.message_id,
               audit_records.c.received_at, audit_records.c.sender, audit_records.c.verdict,
               audit_records.c.marking, audit_records.c.purpose, audit_records.c.terms,
               audit_records.c.document, audit_records.c.prev_hash, audit_records.c.hash)
        .where(audit_records.c.seq > low, audit_records.c.seq <= high)
    )
    for (seq, id_, message_id, received_at, sender, verdict, marking, purpose, terms, document,
         prev_hash, hash_) in records:
        content = record_content(id_, message_id, received_at, sender, verdict, marking, purpose,
                                 terms, document)
        stored = index.get(seq, [])
        when = ts(received_at)
        terms_ok = (terms_text([(f, v) for f, v, _, _ in stored]) == terms
                    and all(ts(at) == when and key == term_key(v) for _, v, key, at in stored))
        out.append(_Row(seq, "record", _label("record", seq, id_, None), prev_hash, hash_,
                        link(prev_hash, content) == hash_, terms_ok))
    events = await conn.execute(
        select(audit_events.c.seq, audit_events.c.record_id, audit_events.c.at,
               audit_events.c.type, audit_events.c.detail, audit_events.c.prev_hash,
               audit_events.c.hash)
        .where(audit_events.c.seq > low, audit_events.c.seq <= high)
    )
    for seq, record_id, at, type_, detail, prev_hash, hash_ in events:
        content = event_content(record_id, at, type_, detail)
        out.append(_Row(seq, "event", _label("event", seq, record_id, type_), prev_hash, hash_,
                        link(prev_hash, content) == hash_))
    return out


# PostgreSQL recomputes the hashes itself (chain.py's encoding in SQL): the
# server hashes while Python only compares, which is what makes verify fast.
def _lp(expr: str, nullable: bool = False) -> str:
    body = f"octet_length({expr})::text || ':' || {expr}"
    return f"(CASE WHEN {expr} IS NULL THEN '~' ELSE {body} END)" if nullable else f"({body})"


def _ts(expr: str) -> str:
    return f"to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"


def _sha(prev: str, content: str) -> str:
    return f"encode(sha256(convert_to({prev} || E'\\n' || {content}, 'UTF8')), 'hex')"


_RECORD_CONTENT = " || ".join((
    "'6:record'", _lp("r.id"), _lp("r.message_id", True), _lp(_ts("r.received_at")),
    _lp("r.sender"), _lp("r.verdict"), _lp("r.marking", True), _lp("r.purpose", True),
    _lp("r.terms"), _lp("r.document"),
))
_EVENT_CONTENT = " || ".join((
    "'5:event'", _lp("e.record_id"), _lp(_ts("e.at")), _lp("e.type"), _lp("e.detail"),
))
_PG_ROWS = f"""
    SELECT r.seq, 'record' AS kind, r.id AS ident, NULL AS type, r.prev_hash, r.hash,
           {_sha("r.prev_hash", _RECORD_CONTENT)} = r.hash AS self_ok,
           coalesce(t.agg, '') = r.terms
             AND (t.low IS NULL OR (t.low = r.received_at AND t.high = r.received_at))
             AS terms_ok
      FROM audit_records r
      LEFT JOIN (
          SELECT record_seq,
                 string_agg({_lp("field")} || {_lp("value")} || {_lp("key")}, ''
                            ORDER BY field COLLATE "C", value COLLATE "C") AS agg,
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
# by row for the diagnosis.
_PG_SUMMARY = text(f"""
    WITH page AS ({_PG_ROWS}),
    w AS (
        SELECT seq, kind, prev_hash, hash, self_ok, terms_ok,
               lag(seq) OVER (ORDER BY seq) AS lseq, lag(hash) OVER (ORDER BY seq) AS lhash
          FROM page
    )
    SELECT count(*) FILTER (WHERE kind = 'record') AS records,
           count(*) FILTER (WHERE kind = 'event') AS events,
           coalesce(bool_and(self_ok AND terms_ok AND
                             (lseq IS NULL OR (seq = lseq + 1 AND prev_hash = lhash))), true)
               AS clean,
           min(seq) AS first_seq, max(seq) AS last_seq,
           (SELECT prev_hash FROM w ORDER BY seq LIMIT 1) AS first_prev,
           (SELECT hash FROM w ORDER BY seq DESC LIMIT 1) AS last_hash,
           (SELECT lhash FROM w ORDER BY seq DESC LIMIT 1) AS before_last_hash
      FROM w
""")


async def _page_sql(conn: AsyncConnection, low: int, high: int) -> list[_Row]:
    result = await conn.execute(_PG_PAGE, {"low": low, "high": high})
    return [
        _Row(seq, kind, _label(kind, seq, ident, type_), prev_hash, hash_, bool(self_ok),
             bool(terms_ok))
        for seq, kind, ident, type_, prev_hash, hash_, self_ok, terms_ok in result
    ]


async def _hash_in_sql(conn: AsyncConnection) -> bool:
    """PostgreSQL with UTF-8 storage (octet_length must count UTF-8 bytes)."""
    if conn.dialect.name != "postgresql":
        return False
    encoding = (await conn.execute(text("SHOW server_encoding"))).scalar()
    return str(encoding).upper() in {"UTF8", "UTF-8"}


async def _walk(
    conn: AsyncConnection,
    start_seq: int,
    start_hash: str,
    head: int,
    checkpoints: dict[int, Any],
    report: VerifyReport,
    check: _Checker,
) -> None:
    expected_seq, prev, before_prev = start_seq + 1, start_hash, ""
    # Rows left before a trusted cut were not purged, or were put back.
    if start_seq:
        early = (await conn.execute(
            select(func.count()).select_from(audit_records).where(audit_records.c.seq <= start_seq)
        )).scalar_one() + (await conn.execute(
            select(func.count()).select_from(audit_events).where(audit_events.c.seq <= start_seq)
        )).scalar_one()
        if early:
            check.problem(f"{early} row(s) at or before the purge cut (seq {start_seq}) "
                          "still present: inserted, or the purge did not finish")
    in_sql = await _hash_in_sql(conn)
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

    for low, high in _pages(start_seq, head):
        if in_sql:
            summary = (await conn.execute(_PG_SUMMARY, {"low": low, "high": high})).one()
            if summary.first_seq is None:
                continue  # a gap; the next row found reports it
            if pending is not None:
                settle(pending, [_Row(summary.first_seq, "event", "", summary.first_prev, "",
                                      True)])
                pending = None
            orphans = await _orphans(conn, low, high)
            if (summary.clean and not orphans and summary.first_seq == expected_seq
                    and summary.first_prev == prev):
                await _check_points_in(conn, low, high, checkpoints, check)
                report.records += summary.records
                report.events += summary.events
                if report.first_seq is None:
                    report.first_seq = summary.first_seq
                report.last_seq = summary.last_seq
                expected_seq = summary.last_seq + 1
                before_prev = summary.before_last_hash or prev
                prev = report.head_hash = summary.last_hash
                continue
        groups, orphans = await _page_rows(conn, low, high, in_sql)
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
