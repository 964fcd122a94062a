"""/readyz fails while the database takes reads but refuses writes.

A full disk (or a read-only file) still answers the probe's SELECT, and
every message is then answered 451: a load balancer trusting a read-only
probe keeps sending mail to the one replica that cannot take it.  Here the
database itself refuses the writes as a full disk does (SQLite: its own page
limit; PostgreSQL: the `disk_full` condition from the server), and the
probe says so until a write commits again.
"""

from __future__ import annotations

import asyncio

import aiosmtplib
import pytest
from gwtest import make_message
from sqlalchemy import text
from test_relay_operate import http_get

_TRIGGER = """
CREATE FUNCTION gw_test_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'no space' USING ERRCODE = 'disk_full'; END $$
"""


def _page_limit(gateway, pages: int | None) -> None:  # type: ignore[no-untyped-def]
    """SQLite's limit on the file's pages (None: as many as it has now), on
    the writer's own pooled connection: a page past it is refused as on a
    full disk.  Run in a thread: the writer may hold its one connection
    until its commit, which needs the event loop."""
    with gateway.writer._sync_engine.connect() as conn:
        if pages is None:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
        conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}")


async def _fill(gateway) -> None:  # type: ignore[no-untyped-def]
    if gateway.engine.dialect.name == "sqlite":
        await asyncio.to_thread(_page_limit, gateway, None)
        return
    async with gateway.engine.begin() as conn:
        await conn.execute(text(_TRIGGER))
        await conn.execute(text("CREATE TRIGGER gw_test_full BEFORE INSERT ON queue_messages"
                                " FOR EACH ROW EXECUTE FUNCTION gw_test_disk_full()"))


async def _free(gateway) -> None:  # type: ignore[no-untyped-def]
    if gateway.engine.dialect.name == "sqlite":
        await asyncio.to_thread(_page_limit, gateway, 1073741823)
        return
    async with gateway.engine.begin() as conn:
        await conn.execute(text("DROP TRIGGER gw_test_full ON queue_messages"))
        await conn.execute(text("DROP FUNCTION gw_test_disk_full()"))


async def _send(port: int) -> int:
    # 300 KB: more pages than any free ones the file already has.
    body = "The minutes of the meeting follow.\r\n" + ("x" * 76 + "\r\n") * 4000
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    try:
        await client.sendmail("alice@sender.example", ["bob@recipient.example"],
                              make_message(body=body))
    except aiosmtplib.SMTPResponseException as refused:
        return refused.code
    finally:
        client.close()
    return 250


@pytest.mark.parametrize("db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
async def test_readiness_fails_while_writes_fail_and_recovers(gateway) -> None:  # type: ignore[no-untyped-def]
    assert (await http_get(gateway.metrics_port, "/readyz"))[2].startswith("database: ok")
    await _fill(gateway)
    try:
        assert await _send(gateway.port) == 451
        status, _, body = await http_get(gateway.metrics_port, "/readyz")
        assert status == 503
        words = ("database or disk is full" if gateway.engine.dialect.name == "sqlite"
                 else "DiskFullError 53100")
        assert body.splitlines()[0] == f"database: writes failing ({words})"
    finally:
        await _free(gateway)
    assert await _send(gateway.port) == 250
    assert (await http_get(gateway.metrics_port, "/readyz"))[2].startswith("database: ok")


async def test_a_failure_long_past_is_not_reported(gateway) -> None:  # type: ignore[no-untyped-def]
    """Nothing writes to find out whether the disk has room again: after a
    while without mail the probe stops failing, so mail comes back and tells."""
    await _fill(gateway)
    try:
        assert await _send(gateway.port) == 451
        assert gateway.writer.write_failure() is not None
        assert gateway.writer.write_failure(within=0) is None
    finally:
        await _free(gateway)
