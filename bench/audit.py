"""Audit trail benchmark (not a test): PostgreSQL at scale.

1. Seeds N records (default 1,000,000), each with 2-4 events and its search
   terms, into a fresh database: the chain is computed in Python exactly as
   AuditTrail does and loaded with COPY (the two events known when the
   record is written kept in its row, the later ones rows of their own).
2. Times typical auditor searches (p50/p95 over many runs, through
   AuditQuery, events included): by recipient; date range + information
   type; organisation + date range; a quarter's report.
3. Runs `verify` over everything (periodic checkpoints included, as a live
   trail has them): records/s and rows/s, with the load average, since the
   figure is only as good as the cores that were free.
4. Write cost on the hot path: group-committed queue inserts with and
   without the audit record + events in the same transaction.

    .venv/bin/python bench/audit.py [--records N] [--url postgresql+asyncpg://postgres@127.0.0.1/postgres] [--keep]
        [--reuse DBNAME] [--skip searches,verify,writes] [--verify-workers N] [--verify-runs N]

The database `audit_bench_<pid>` is created on the server of --url and
dropped at the end (unless --keep, which prints its name).  `--reuse DBNAME`
runs the stages on a database kept earlier (same --records) instead of
seeding one, and leaves it in place; `--skip` leaves stages out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
from sqlalchemy.engine import make_url

from gateway.audit import (
    AuditAttachment,
    AuditEvent,
    AuditQuery,
    AuditReason,
    AuditRecipient,
    AuditRecord,
    AuditTrail,
    EventFilter,
    EventType,
    SearchFilter,
    verify,
)
from gateway.audit.chain import (
    event_content,
    link,
    record_content,
    term_key,
    terms_text,
)
from gateway.audit.trail import kept_events
from gateway.db import create_engine
from gateway.db.migrate import upgrade
from gateway.model import Envelope
from gateway.queue import NewMessage, QueueStore, Writer

TYPES = ("uk_nhs_number", "uk_national_insurance_number", "uk_unique_pupil_number",
         "date_of_birth", "uk_postcode", "uk_phone_number", "email_address", "uk_bank_account",
         "payment_card_number", "uk_passport_number", "uk_driving_licence_number", "person_name",
         "special_category")
REASONS = ("personal_data_in_body", "unencrypted_attachment", "weak_encryption",
           "not_read_only", "missing_subject_marking", "password_in_message",
           "recipient_not_allowed", "missing_purpose", "uninspectable_content")
VERDICTS = ("deliver", "protect", "reject", "hold")
START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class World:
    def __init__(self, n: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.n = n
        self.orgs = [f"Organisation {i} NHS Trust" for i in range(500)]
        self.recipients = [
            (f"person{i}@org{i % 500}.example", self.orgs[i % 500]) for i in range(20_000)
        ]
        self.senders = [f"staff{i}@council.example" for i in range(2_000)]

    def record(self, i: int) -> AuditRecord:
        rng = self.rng
        received = START + SPAN * (i / self.n) + timedelta(microseconds=rng.randrange(1000))
        recipients = tuple(
            AuditRecipient(address, f"Name {address[:8]}", "Social worker", "Children's services",
                           org, "01632 960000")
            for address, org in rng.sample(self.recipients, 1 if rng.random() < 0.8 else 2)
        )
        verdict = rng.choices(VERDICTS, (60, 30, 8, 2))[0]
        types = tuple(rng.sample(TYPES, rng.choice((0, 1, 1, 2, 3))))
        reasons = tuple(AuditReason(code, f"text for {code}")
                        for code in (rng.sample(REASONS, 1) if verdict in ("protect", "reject")
                                     else ()))
        return AuditRecord(
            id=f"B{i:012d}", message_id=f"<{i}@council.example>", received_at=received,
            sender=rng.choice(self.senders), recipients=recipients,
            subject="Private and Confidential: referral", verdict=verdict, reasons=reasons,
            purpose=rng.choice(("Safeguarding referral", "Care planning", "Court report", None)),
            consent="Recipient team only", authorised_by=rng.choice(("", "J Patel")) or None,
            information_types=types, marking=rng.choice((None, None, "OFFICIAL-SENSITIVE")),
            method="email, AES-256 zip, password released on receipt by separate email",
            attachments=(AuditAttachment("referral.zip", "application/zip", "aes-256", True),),
            queue_id=f"B{i:012d}",
        )


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


CHECKPOINT_EVERY = 1000  # [audit] checkpoint_every's default


def build_rows(world: World, first: int, count: int, seq: int, prev: str) -> tuple[
    list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]],
    int, str
]:
    """Rows for records first..first+count-1, chained exactly as AuditTrail
    does, with an (unsigned) periodic checkpoint each time the chain passes a
    multiple of CHECKPOINT_EVERY, as AuditTrail writes them."""
    records, events, terms, checkpoints = [], [], [], []
    for i in range(first, first + count):
        record = world.record(i)
        at = record.received_at
        term_list = record.terms()
        t_text = terms_text(term_list)
        document = _json(record.document())
        # The events known when the record is written are kept in its row,
        # as the gateway keeps them (migration 0007); the later ones are rows.
        then = {"reject": (EventType.REJECTED, {}), "hold": (EventType.HELD, {})}.get(
            record.verdict, (EventType.QUEUED, {"queue_id": record.id}))
        kept = kept_events([AuditEvent(EventType.RECEIVED, at, {"size": 20480}),
                            AuditEvent(then[0], at + timedelta(seconds=1), then[1])])
        seq += 1
        h = link(prev, record_content(record.id, record.message_id, at, record.sender,
                                      record.verdict, record.marking, record.purpose, t_text,
                                      document, kept))
        records.append((seq, record.id, record.message_id, at, record.sender, record.verdict,
                        record.marking, record.purpose, t_text, document, kept, prev, h))
        prev = h
        for field, value in term_list:
            terms.append((seq, field, value, term_key(value), at))
        kinds: list[tuple[EventType, dict[str, Any]]] = []
        if record.verdict not in ("reject", "hold"):
            kinds.append((EventType.RELAYED, {"code": 250}))
            if world.rng.random() < 0.7:
                kinds.append((EventType.DELIVERY_CONFIRMED, {}))
        start = seq - 1
        for n, (kind, detail) in enumerate(kinds, 2):
            seq += 1
            event_at = at + timedelta(seconds=n)
            detail_text = _json(detail)
            h = link(prev, event_content(record.id, event_at, kind.value, detail_text))
            events.append((seq, record.id, event_at, kind.value, detail_text, prev, h))
            prev = h
        if seq // CHECKPOINT_EVERY > start // CHECKPOINT_EVERY:
            checkpoints.append((at + timedelta(seconds=5), "periodic", seq, prev, "{}"))
    return records, events, terms, checkpoints, seq, prev


async def seed(dsn: dict[str, Any], world: World, batch: int = 20_000) -> float:
    conn = await asyncpg.connect(**dsn)
    started = time.perf_counter()
    seq, prev = 0, "0" * 64
    try:
        for first in range(0, world.n, batch):
            count = min(batch, world.n - first)
            records, events, terms, checkpoints, seq, prev = build_rows(world, first, count,
                                                                         seq, prev)
            async with conn.transaction():
                await conn.copy_records_to_table("audit_records", records=records, columns=[
                    "seq", "id", "message_id", "received_at", "sender", "verdict", "marking",
                    "purpose", "terms", "document", "events", "prev_hash", "hash"])
                await conn.copy_records_to_table("audit_events", records=events, columns=[
                    "seq", "record_id", "at", "type", "detail", "prev_hash", "hash"])
                await conn.copy_records_to_table("audit_record_terms", records=terms, columns=[
                    "record_seq", "field", "value", "key", "received_at"])
                await conn.copy_records_to_table("audit_checkpoints", records=checkpoints,
                                                 columns=["at", "kind", "seq", "hash", "detail"])
            done = first + count
            rate = done / (time.perf_counter() - started)
            print(f"\rseeding {done:,}/{world.n:,} records ({rate:,.0f}/s)", end="",
                  file=sys.stderr, flush=True)
        print(file=sys.stderr)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def timed(runs: int, make: Callable[[], Awaitable[Any]]) -> tuple[float, float, float]:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        await make()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples), pct(samples, 95), max(samples)


async def searches(url: str, world: World, runs: int) -> dict[str, tuple[float, float, float]]:
    engine = create_engine(url)
    query = AuditQuery(engine)
    rng = random.Random(11)
    results: dict[str, tuple[float, float, float]] = {}
    try:
        await query.search(SearchFilter(recipient=world.recipients[0][0]), 100)  # warm pool

        def window(days: int) -> tuple[datetime, datetime]:
            start = START + timedelta(days=rng.randrange(730 - days))
            return start, start + timedelta(days=days)

        async def by_recipient() -> Any:
            return await query.search(SearchFilter(recipient=rng.choice(world.recipients)[0]), 100)

        async def range_type() -> Any:
            since, until = window(7)
            return await query.search(SearchFilter(since=since, until=until,
                                                   information_type=rng.choice(TYPES)), 100)

        async def org_range() -> Any:
            since, until = window(90)
            return await query.search(SearchFilter(since=since, until=until,
                                                   organisation=rng.choice(world.orgs)), 100)

        async def never_confirmed() -> Any:
            since, until = window(7)
            return await query.search(SearchFilter(
                since=since, until=until, verdict="protect",
                events=(EventFilter("delivery_confirmed", False),)), 100)

        async def report() -> Any:
            since, until = window(91)
            return await query.report(since, until)

        results["search by recipient"] = await timed(runs, by_recipient)
        results["search 7-day range + type"] = await timed(runs, range_type)
        results["search organisation + 90 days"] = await timed(runs, org_range)
        results["search 7 days never confirmed"] = await timed(max(5, runs // 4), never_confirmed)
        results["report for a quarter"] = await timed(5, report)
    finally:
        await engine.dispose()
    return results


async def verify_rate(url: str, workers: int | None) -> tuple[Any, float]:
    engine = create_engine(url)
    try:
        report = await verify(engine, workers=workers)
    finally:
        await engine.dispose()
    return report, report.seconds


async def write_cost(url: str, messages: int) -> dict[str, float]:
    """Group-committed enqueue of `messages` messages (32 concurrent senders),
    with and without the audit record + 3 events in the same transaction."""
    out: dict[str, float] = {}
    content = b"Subject: x\r\n\r\n" + b"x" * 20_000
    for label, with_audit in (("queue only", False), ("queue + audit", True)):
        engine = create_engine(url)
        writer = Writer(engine)
        writer.start()
        store = QueueStore(engine, writer, worker_id="bench")
        trail = AuditTrail()
        world = World(messages, seed=3)
        latencies: list[float] = []

        async def one(i: int, with_audit: bool = with_audit, world: World = world,
                      store: QueueStore = store, trail: AuditTrail = trail,
                      latencies: list[float] = latencies) -> None:
            record = world.record(i)
            record = AuditRecord(**{**{f: getattr(record, f) for f in record.__slots__},
                                    "id": f"W{int(with_audit)}{os.getpid()}{i:09d}"})
            message = NewMessage(Envelope("a@council.example", ("b@org.example",)), content,
                                 audit_id=record.id, id=record.id[:32])
            now = datetime.now(UTC)
            also = [trail.record_op(record, [AuditEvent(EventType.RECEIVED, now),
                                             AuditEvent(EventType.PASSWORD_HELD, now),
                                             AuditEvent(EventType.QUEUED, now)])] \
                if with_audit else []
            t = time.perf_counter()
            await store.enqueue(message, also=also, claim=False)
            latencies.append((time.perf_counter() - t) * 1000)

        started = time.perf_counter()
        semaphore = asyncio.Semaphore(32)

        async def bounded(i: int, one: Any = one, semaphore: asyncio.Semaphore = semaphore) -> None:
            async with semaphore:
                await one(i)

        await asyncio.gather(*(bounded(i) for i in range(messages)))
        elapsed = time.perf_counter() - started
        out[f"{label}: messages/s"] = messages / elapsed
        out[f"{label}: p95 commit ms"] = pct(latencies, 95)
        await writer.stop()
        await engine.dispose()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--url", default=os.environ.get(
        "GATEWAY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--runs", type=int, default=200, help="timed runs per search")
    parser.add_argument("--writes", type=int, default=5000, help="messages for the write cost")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", metavar="DBNAME",
                        help="use this database, seeded by an earlier --keep run, and keep it")
    parser.add_argument("--skip", default="", metavar="STAGES",
                        help="comma-separated stages to leave out: searches, verify, writes")
    parser.add_argument("--verify-workers", type=int, default=None, metavar="N",
                        help="connections verify uses (default: verify's own default)")
    parser.add_argument("--verify-runs", type=int, default=1, metavar="N",
                        help="run verify this many times (each figure printed)")
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - {"searches", "verify", "writes"}
    if unknown:
        parser.error(f"--skip: unknown stage(s) {', '.join(sorted(unknown))}")

    base = make_url(args.url)
    name = args.reuse or f"audit_bench_{os.getpid()}"
    admin = {"host": base.host or "127.0.0.1", "port": base.port or 5432,
             "user": base.username or "postgres", "password": base.password}
    url = base.set(database=name).render_as_string(hide_password=False)

    async def admin_sql(sql: str) -> None:
        conn = await asyncpg.connect(**admin, database="postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    world = World(args.records)
    if not args.reuse:
        asyncio.run(admin_sql(f"CREATE DATABASE {name}"))
    try:
        if not args.reuse:
            upgrade(url)
            seconds = asyncio.run(seed({**admin, "database": name}, world))
            print(f"seeded {args.records:,} records in {seconds:.0f}s "
                  f"({args.records / seconds:,.0f} records/s, COPY)")
        if "searches" not in skip:
            for label, (p50, p95, worst) in asyncio.run(searches(url, world, args.runs)).items():
                print(f"{label:<34} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   max {worst:7.1f} ms")
        if "verify" not in skip:
            for _ in range(max(1, args.verify_runs)):
                report, seconds = asyncio.run(verify_rate(url, args.verify_workers))
                status = "OK" if report.ok else f"FAILED: {report.problems[:3]}"
                load = " ".join(f"{x:.2f}" for x in os.getloadavg())
                print(f"verify: {status}; {report.records:,} records + {report.events:,} events "
                      f"in {seconds:.1f}s = {report.records / seconds:,.0f} records/s "
                      f"({report.rows / seconds:,.0f} rows/s; {report.workers} connection(s); "
                      f"load {load})")
        if "writes" not in skip:
            for label, value in asyncio.run(write_cost(url, args.writes)).items():
                print(f"write cost, {label:<28} {value:10.1f}")
    finally:
        if args.keep and not args.reuse:
            print(f"kept database {name} (--reuse {name})")
        elif not args.reuse:
            asyncio.run(admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
