"""SQLite commit cost of the gateway's write pattern, by page size.

    .venv/bin/python bench/sqlite_commit.py [--batches 300] [--dir var]

The relay's writer runs each batch's statements and then one commit (WAL,
synchronous=FULL, secure_delete as the system's SQLite has it); for large
mail the commit is what every connection waits on.  This replays the
pattern of a batch on tables shaped like the queue and audit tables: per
message queued, a queue row with its content, a recipient row, an audit
record, two events and five search terms; per message delivered, its
content cleared, its recipient and an event.  2 KB messages ten to a batch,
200 KB ones four to a batch, as the relay benchmark's batches run.  It
prints the mean time of the statements and of the commit for each page size
(4096, SQLite's default, and gateway.db.engine.PAGE_SIZE), with the clears
after the batch's inserts (the writer's order before) and before them (its
order now: the inserts reuse the pages just freed).  Not a test.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gateway.db.engine import PAGE_SIZE

SCHEMA = """
CREATE TABLE q (id INTEGER PRIMARY KEY, content BLOB, state TEXT, claimed TEXT, due REAL);
CREATE INDEX q_due ON q (state, due);
CREATE TABLE r (id INTEGER PRIMARY KEY, message INTEGER, address TEXT, state TEXT);
CREATE INDEX r_message ON r (message);
CREATE TABLE a (seq INTEGER PRIMARY KEY, id TEXT, document TEXT, hash TEXT, prev TEXT);
CREATE UNIQUE INDEX a_id ON a (id);
CREATE TABLE e (seq INTEGER PRIMARY KEY, record TEXT, type TEXT, detail TEXT, hash TEXT, prev TEXT);
CREATE INDEX e_record ON e (record);
CREATE TABLE t (record INTEGER, kind TEXT, value TEXT);
CREATE INDEX t_value ON t (kind, value);
"""


def run(
    folder: Path, page: int, size: int, per_batch: int, batches: int, clears_first: bool
) -> tuple[float, float]:
    path = folder / f"commit-{page}-{size}-{int(clears_first)}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(f"PRAGMA page_size={page}")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(SCHEMA)
    content = os.urandom(size)
    document, digest = "d" * 900, "h" * 64
    statements: list[float] = []
    commits: list[float] = []
    counter = {"message": 0, "seq": 0}

    def next_seq() -> int:
        counter["seq"] += 1
        return counter["seq"]

    def queue_one() -> None:
        counter["message"] += 1
        n = counter["message"]
        record = f"r{n:020d}"
        db.execute("INSERT INTO q VALUES (?, ?, 'queued', NULL, ?)", (n, content, time.time()))
        db.execute("INSERT INTO r VALUES (NULL, ?, 'someone@example.org', 'pending')", (n,))
        db.execute("INSERT INTO a VALUES (?, ?, ?, ?, ?)",
                   (next_seq(), record, document, digest, digest))
        for kind in ("received", "queued"):
            db.execute("INSERT INTO e VALUES (?, ?, ?, '{}', ?, ?)",
                       (next_seq(), record, kind, digest, digest))
        seq = counter["seq"]
        db.executemany("INSERT INTO t VALUES (?, ?, ?)",
                       [(seq, f"k{j}", f"v{n % 50}") for j in range(5)])

    def clear_one(done: int) -> None:
        db.execute("UPDATE q SET content = x'', state = 'delivered' WHERE id = ?", (done,))
        db.execute("UPDATE r SET state = 'delivered' WHERE message = ?", (done,))
        db.execute("INSERT INTO e VALUES (?, ?, 'relayed', '{}', ?, ?)",
                   (next_seq(), f"r{done:020d}", digest, digest))

    for _ in range(batches):
        started = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        # The messages queued by the batch before are delivered in this one.
        delivered = range(counter["message"] - per_batch + 1, counter["message"] + 1)
        if clears_first:
            for done in delivered:
                if done > 0:
                    clear_one(done)
        for _ in range(per_batch):
            queue_one()
        if not clears_first:
            for done in delivered:
                if done > 0:
                    clear_one(done)
        committing = time.perf_counter()
        db.execute("COMMIT")
        statements.append(committing - started)
        commits.append(time.perf_counter() - committing)
    db.close()
    return 1000 * statistics.mean(statements), 1000 * statistics.mean(commits)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=None, help="where the files go (a temp dir)")
    args = parser.parse_args()
    secure = sqlite3.connect(":memory:").execute("PRAGMA secure_delete").fetchone()[0]
    print(f"SQLite {sqlite3.sqlite_version}, secure_delete={secure}, {args.batches} batches each")
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        for size, per_batch in ((2048, 10), (204800, 4)):
            for page, clears_first in ((4096, False), (PAGE_SIZE, False), (PAGE_SIZE, True)):
                stmts, commit = run(Path(folder), page, size, per_batch, args.batches,
                                    clears_first)
                order = "clears first" if clears_first else "clears last "
                print(f"  {size // 1024:>3} KB x{per_batch:<2} page {page:>5}, {order}: "
                      f"statements {stmts:5.2f} ms, commit {commit:5.2f} ms per batch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
