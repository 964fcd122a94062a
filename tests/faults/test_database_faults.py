"""The database fails under load.

- PostgreSQL: every backend of the test database is terminated
  (`pg_terminate_backend`) in a loop while clients send.  Restarting the
  server itself is not possible in this environment; killing every session
  is what a restart looks like to the gateway (all connections die at once,
  in the middle of transactions).
- SQLite on a 2 MB tmpfs: the disk fills up.  The gateway answers
  451 4.3.0, never 250 without the row on disk, and recovers once space is
  freed.

Every message that got 250 is in the database and is delivered; nothing is
lost; duplicates are counted and printed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
from faults_support import LoadClient, database_name, message_ids, wait_for_ids
from gwtest import SmtpConn, make_message

pytestmark = pytest.mark.faults


def _queue_ids_in_pg(url: str) -> set[str]:
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)

    async def fetch() -> set[str]:
        conn = await asyncpg.connect(
            host=parsed.host, port=parsed.port or 5432, user=parsed.username,
            database=parsed.database,
        )
        try:
            rows = await conn.fetch(
                "SELECT q.id FROM queue_messages q JOIN audit_records a ON a.id = q.audit_id"
            )
            return {r[0] for r in rows}
        finally:
            await conn.close()

    return asyncio.run(fetch())


@pytest.mark.timeout(300)
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_postgres_connections_killed_during_load(
    gateway_process, sink, db_url, pg_admin, figures
):
    total, connections = 1500, 8
    gw = gateway_process(
        # A lease is at least three command timeouts (check-config).
        {"queue": {"workers": 8, "lease": "3s", "retry": ["500ms"]},
         "upstream": {"pool_size": 4, "timeout": "1s"}}
    )
    name = database_name(db_url)
    stop = threading.Event()
    kills = {"rounds": 0}

    def killer() -> None:
        while not stop.wait(0.05):
            with contextlib.suppress(Exception):
                pg_admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                )
                kills["rounds"] += 1

    accepted: dict[str, str] = {}
    lock = threading.Lock()
    clients = [
        LoadClient([gw.port], list(range(n, total, connections)), accepted, lock, prefix="pgkill")
        for n in range(connections)
    ]
    murderer = threading.Thread(target=killer, daemon=True)
    murderer.start()
    for client in clients:
        client.start()
    for client in clients:
        client.join(240)
    stop.set()
    murderer.join(10)
    for client in clients:
        assert not client.is_alive()
        assert client.error is None, client.error
    assert len(accepted) == total

    got = wait_for_ids(sink, set(accepted), timeout=120)
    lost = set(accepted) - set(got)
    dup = sum(n - 1 for n in got.values() if n > 1)
    in_doubt = sum(c.failures + c.temp_replies for c in clients)
    recorded = _queue_ids_in_pg(db_url)
    unrecorded = {mid for mid, qid in accepted.items() if qid not in recorded}
    figures(tried=total, accepted=len(accepted), delivered=len(set(got) & set(accepted)),
            lost=len(lost), duplicates=dup,
            note=f"{kills['rounds']} kill rounds, {in_doubt} replies not 250 (resent)")
    assert kills["rounds"] >= 5, "the killer must really have run during the load"
    log_text = gw.log_path.read_text(errors="replace")
    # A kill is felt as a failed operation, or absorbed by the Writer running
    # its batch once more on a new connection (database_connection_renewed).
    failed, renewed = log_text.count("_failed"), log_text.count("database_connection_renewed")
    print(f"gateway logged {failed} failed database operations, {renewed} renewed connections")
    assert in_doubt + failed + renewed > 0, "killing every session must have been felt at least once"
    assert not unrecorded, f"250 without a committed row: {sorted(unrecorded)[:5]}"
    assert not lost, f"{len(lost)} accepted messages never arrived: {sorted(lost)[:5]}"
    assert gw.proc is not None and gw.proc.poll() is None, gw.log_tail()


# --------------------------------------------------------------------------
# disk full


@pytest.fixture
def small_disk(tmp_path: Path):
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mountpoint)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a 2 MB tmpfs here: {result.stderr.strip() or result.returncode}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


async def _send_raw(port: int, message: bytes) -> tuple[int, str]:
    conn = await SmtpConn.open(port)
    try:
        await conn.cmd("EHLO load.sender.example")
        code, text = await conn.cmd("MAIL FROM:<alice@sender.example>")
        assert code == 250, text
        code, text = await conn.cmd("RCPT TO:<bob@recipient.example>")
        assert code == 250, text
        code, text = await conn.cmd("DATA")
        assert code == 354, text
        await conn.send(message + b".\r\n")
        return await conn.reply(60)
    finally:
        await conn.close()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sqlite_disk_full_answers_451_and_recovers(
    gateway_factory, sink, db_url, small_disk, figures
):
    source = Path(db_url.split("///", 1)[1])
    target = small_disk / "gateway.db"
    shutil.copyfile(source, target)
    if Path(f"{source}-wal").exists():
        shutil.copyfile(f"{source}-wal", f"{target}-wal")
    # Ballast: freed later to make room again.
    ballast = small_disk / "ballast"
    ballast.write_bytes(os.urandom(512 * 1024))

    sink.stop()  # nothing leaves: every accepted message stays in the queue
    gw = await gateway_factory({"database": {"url": f"sqlite+aiosqlite:///{target}"}})
    body = ("A synthetic line of text that fills the disk quickly enough.\r\n" * 1000)
    replies: list[tuple[str, int, str]] = []
    full_at = None
    for n in range(200):
        message_id = f"full-{n}@sender.example"
        code, text = await _send_raw(
            gw.port, make_message(message_id=f"<{message_id}>", body=body)
        )
        replies.append((message_id, code, text))
        assert code in (250, 451), (code, text)
        if code == 451:
            assert text.startswith("4.3.0"), text
            full_at = full_at if full_at is not None else n
            if sum(1 for r in replies if r[1] == 451) >= 5:
                break
    assert full_at is not None, "2 MB never filled up"
    # Still full: still 451, and the gateway keeps answering.
    code, text = await _send_raw(gw.port, make_message(body=body))
    assert code == 451, (code, text)

    # The operator frees space: the ballast goes and the file system grows.
    ballast.unlink()
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    recovered = []
    for n in range(3):
        message_id = f"after-{n}@sender.example"
        code, text = await _send_raw(gw.port, make_message(message_id=f"<{message_id}>"))
        assert code == 250, (code, text)
        recovered.append((message_id, code, text))

    accepted = {mid: text.split()[-1] for mid, code, text in replies + recovered if code == 250}
    refused = {mid for mid, code, _ in replies if code == 451}
    # Every 250 has its row on disk, readable by another connection.
    with contextlib.closing(sqlite3.connect(target)) as db:
        rows = {r[0] for r in db.execute(
            "SELECT q.id FROM queue_messages q JOIN audit_records a ON a.id = q.audit_id")}
    assert set(accepted.values()) <= rows
    assert len(rows) == len(accepted), "a 451'd message left a row behind"

    sink.start()
    got = await _wait_ids(sink, set(accepted))
    lost = set(accepted) - set(got)
    assert not lost
    assert not refused & set(got), "a message answered 451 was delivered anyway"
    dup = sum(n - 1 for n in got.values() if n > 1)
    figures(tried=len(replies) + 1 + len(recovered), accepted=len(accepted),
            delivered=len(set(got) & set(accepted)), lost=len(lost), duplicates=dup,
            note=f"disk full after {full_at} messages; 451 x{len(refused) + 1}; recovered")


async def _wait_ids(sink, wanted: set[str], timeout: float = 60):
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        got = message_ids(sink)
        if wanted <= set(got) or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.2)
