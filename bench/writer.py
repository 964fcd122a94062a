"""What the audit trail costs the event loop, per message, without the network.

    .venv/bin/python bench/writer.py                      # SQLite, 3 rounds
    .venv/bin/python bench/writer.py --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/writer.py --statements         # SQLite: time per statement

The relay benchmark's `sqlite` and `noaudit` scenarios answer issue #7's
question end to end, but on a 2-core machine shared by the client, the sink
and the database their rates move by a fifth from one round to the next,
more than the trail's share.  This measures the same work without the
sockets, so the figure is the trail's and little else: the real Writer,
QueueStore, AuditTrail and Pipeline, the way `Gateway._accept` and the
delivery worker use them.  Each message of 2 KB (`bench/common.py`'s) is

- queued: `Gateway._audit_record` from the pipeline's decision, the
  `received` and `queued` events, `QueueStore.enqueue` with the record's
  operation, `batch` messages submitted together (one group commit);
- delivered: `QueueStore.record_attempt` with the `relayed` event.

It prints the CPU time of the thread that runs the event loop (the loop
`gateway serve` runs: uvloop unless `[server] event_loop` says otherwise)
per message (statements, row building, linking; not the commit's fsync,
which runs on the writer's thread), median over batches, in three modes that run in turn,
each in a fresh process on a fresh database:

- `full`: what the gateway does;
- `build`: the record and its rows are built, nothing of the trail is
  written (`bench/no_audit.py` with NO_AUDIT_BUILD);
- `none`: no trail at all (`bench/no_audit.py`).

`full - none` is what the trail costs the loop per message; `build - none`
is its building, `full - build` its writing.  After a `full` run the trail
it wrote must verify (`gateway.audit.verify`), every record in the chain.
`--statements` (SQLite) adds the driver's time per statement, per message.
Each run also says how many messages a second it wrote (wall clock, one
batch at a time): on PostgreSQL the server's time, which the loop's CPU
does not show.  `--checkpoints N` starts each run on a trail that has
gathered N checkpoints (a long-running one, purged up to the last): what
the chain's head read costs when the trail is years old (migration 0009).
Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import pg_database  # noqa: E402

MODES = ("none", "build", "full")
WARMUP_BATCHES = 20


def _child(args: argparse.Namespace) -> None:
    if args.mode != "full":
        if args.mode == "build":
            os.environ["NO_AUDIT_BUILD"] = "1"
        import no_audit  # noqa: F401  (replaces the trail's operations)

    from common import RECIPIENT, SENDER, build_message

    from gateway.app import Gateway
    from gateway.audit import verify
    from gateway.audit.record import AuditEvent, EventType
    from gateway.cli.core import _loop_factory
    from gateway.db.engine import create_engine
    from gateway.db.migrate import upgrade
    from gateway.model import Envelope
    from gateway.operate.memory import tune_gc
    from gateway.queue import writer as writer_module
    from gateway.queue.store import NewMessage, QueueState, RecipientOutcome, RecipientState
    from gateway.settings import load_settings

    statements: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
    if args.statements:
        direct = writer_module._DirectConnection.exec_driver_sql

        async def timed(self: Any, statement: str, parameters: Any = None) -> Any:
            started = time.thread_time()
            try:
                return await direct(self, statement, parameters)
            finally:
                entry = statements[" ".join(statement.split()[:3])]
                entry[0] += 1
                entry[1] += time.thread_time() - started

        writer_module._DirectConnection.exec_driver_sql = timed  # type: ignore[method-assign]

    upgrade(args.db)
    settings = load_settings(ROOT / "config" / "gateway.toml")

    async def run() -> tuple[list[float], float]:
        gateway = Gateway(settings, engine=create_engine(args.db, 5))
        if args.checkpoints:
            await _old_trail(gateway, args.checkpoints)
        gateway.writer.start()
        tune_gc()  # as `gateway serve` does once it has started
        envelope = Envelope(SENDER, (RECIPIENT,), peer="127.0.0.1", helo="bench")
        content = build_message(2048)
        decision = gateway.pipeline.run(envelope, content)

        async def one(serial: int) -> None:
            queue_id = f"B{serial:015d}"
            received_at = datetime.now(UTC)
            record = gateway._audit_record(queue_id, envelope, decision, received_at)
            events = [
                AuditEvent(EventType.RECEIVED, received_at, {"size": len(content)}),
                AuditEvent(EventType.QUEUED, datetime.now(UTC), {"queue_id": queue_id}),
            ]
            queued = await gateway.store.enqueue(
                NewMessage(envelope=envelope, content=content, audit_id=queue_id, id=queue_id),
                also=[gateway.audit.record_op(record, events)],
            )
            relayed = AuditEvent(EventType.RELAYED, datetime.now(UTC),
                                 {"recipient": RECIPIENT, "route": "upstream", "code": 250})
            await gateway.store.record_attempt(
                queued,
                [RecipientOutcome(RECIPIENT, RecipientState.DELIVERED, 250, "2.0.0 Ok")],
                QueueState.DELIVERED,
                also=[gateway.audit.events_op(queue_id, [relayed])],
            )

        per_message = []
        wall = 0.0
        serial = 0
        try:
            for batch in range(WARMUP_BATCHES + args.batches):
                started, wall_started = time.thread_time(), time.perf_counter()
                await asyncio.gather(*(one(serial + k) for k in range(args.batch)))
                serial += args.batch
                if batch >= WARMUP_BATCHES:
                    per_message.append((time.thread_time() - started) / args.batch * 1e6)
                    wall += time.perf_counter() - wall_started
            if args.mode == "full":
                # What was measured must be a sound trail: every row in the
                # chain, every hash right (on PostgreSQL the database links
                # a batch's rows).
                report = await verify(gateway.engine)
                expected = (WARMUP_BATCHES + args.batches) * args.batch
                if not report.ok or report.records != expected or (
                    args.checkpoints and report.cut_seq != args.checkpoints * gateway.audit.checkpoint_every
                ):
                    raise SystemExit(f"the trail written does not verify: {report.problems[:3]}"
                                     f" ({report.records} records, {expected} expected)")
        finally:
            await gateway.writer.stop()
            await gateway.engine.dispose()
        return per_message, wall

    # The event loop `gateway serve` runs on ([server] event_loop: uvloop).
    with asyncio.Runner(loop_factory=_loop_factory(settings.server.event_loop)) as runner:
        per_message, wall = runner.run(run())
    messages = args.batches * args.batch
    print(json.dumps({
        "mode": args.mode,
        "us": per_message,
        "per_second": args.batches * args.batch / wall,
        "statements": {k: [n, t / (messages + WARMUP_BATCHES * args.batch) * 1e6]
                       for k, (n, t) in statements.items()},
    }))


async def _old_trail(gateway: Any, checkpoints: int) -> None:
    """The checkpoints a long-running trail has gathered (`--checkpoints`:
    a periodic one every [audit] checkpoint_every chain rows, which purges
    keep), its rows purged up to the last: every appending transaction's
    read of the chain's head has to find that cut among them.  The trail
    written on top of it verifies from the cut."""
    from sqlalchemy import text

    from gateway.audit.chain import checkpoint_message
    from gateway.db.schema import audit_checkpoints

    at = datetime(2020, 1, 1, tzinfo=UTC)
    every = gateway.audit.checkpoint_every
    async with gateway.engine.begin() as conn:
        for first in range(1, checkpoints, 10_000):
            await conn.execute(audit_checkpoints.insert(), [
                {"at": at, "kind": "periodic", "seq": n * every, "hash": f"{n:064x}",
                 "detail": "{}"}
                for n in range(first, min(first + 10_000, checkpoints))
            ])
        seq, hash_ = checkpoints * every, f"{checkpoints:064x}"
        signature = gateway.audit.keys.sign(checkpoint_message("cut", seq, hash_, at, "{}"))
        await conn.execute(audit_checkpoints.insert(), {
            "at": at, "kind": "cut", "seq": seq, "hash": hash_, "detail": "{}",
            "key_id": signature.key_id if signature else None,
            "signature": signature.value if signature else None,
        })
        if conn.dialect.name == "postgresql":
            await conn.execute(text("ANALYZE audit_checkpoints"))


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, median, q3 = statistics.quantiles(values, n=4)
    return q1, median, q3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three modes")
    parser.add_argument("--batches", type=int, default=400, help="measured batches per run")
    parser.add_argument("--batch", type=int, default=10, help="messages per batch")
    parser.add_argument("--pg-url", help="run on a new database of this PostgreSQL server")
    parser.add_argument("--statements", action="store_true",
                        help="SQLite: the driver's time per statement, per message")
    parser.add_argument("--checkpoints", type=int, default=0,
                        help="start on a trail holding this many checkpoints (a long-running"
                             " one: one per 1,000 chain rows)")
    parser.add_argument("--child", choices=MODES, dest="mode", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1 or args.batches < 4 or args.batch < 1 or args.checkpoints < 0:
        parser.error("--rounds, --batches (at least 4) and --batch must be positive,"
                     " --checkpoints not negative")
    if args.mode:
        _child(args)
        return 0

    medians: dict[str, list[float]] = {mode: [] for mode in MODES}
    where = "PostgreSQL" if args.pg_url else "SQLite"
    print(f"writer bench: {where}, {args.batch} messages per batch, {args.batches} batches "
          f"per run, {args.rounds} rounds, {args.checkpoints} checkpoints to start with;"
          " event-loop thread CPU per message (us)")
    for round_ in range(1, args.rounds + 1):
        for mode in MODES:
            with contextlib.ExitStack() as stack:
                if args.pg_url:
                    db = pg_database(args.pg_url, stack, "writer_bench")
                else:
                    folder = stack.enter_context(tempfile.TemporaryDirectory())
                    db = f"sqlite+aiosqlite:///{folder}/writer.db"
                command = [sys.executable, __file__, "--child", mode, "--db", db,
                           "--batches", str(args.batches), "--batch", str(args.batch),
                           "--checkpoints", str(args.checkpoints)]
                if args.statements and mode == "full":
                    command.append("--statements")
                done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
            result = json.loads(done.stdout.strip().splitlines()[-1])
            q1, median, q3 = _quartiles(result["us"])
            medians[mode].append(median)
            print(f"  round {round_} {mode:5s}: median {median:6.0f} us [quartiles {q1:.0f}-{q3:.0f}]"
                  f"  ({result['per_second']:.0f} messages/s)")
            for statement, (calls, us) in sorted(result["statements"].items(),
                                                 key=lambda item: -item[1][1]):
                print(f"      {us:6.1f} us/message  {calls:6d} calls  {statement}")
    full, build, none = (statistics.median(medians[m]) for m in ("full", "build", "none"))
    print(f"medians over {args.rounds} rounds: full {full:.0f}, build {build:.0f}, none {none:.0f} us")
    # The modes of one round ran one after the other, so their differences
    # are less exposed to the machine's drift than the modes' own medians.
    cost = [f - n for f, n in zip(medians["full"], medians["none"], strict=True)]
    building = [b - n for b, n in zip(medians["build"], medians["none"], strict=True)]
    writing = [f - b for f, b in zip(medians["full"], medians["build"], strict=True)]
    print("  the trail costs the event loop, per message (median of the rounds' differences "
          "[lowest-highest]):")
    for name, values in (("in all", cost), ("building", building), ("writing", writing)):
        print(f"    {name:8s} {statistics.median(values):+5.0f} us "
              f"[{min(values):+.0f} to {max(values):+.0f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
