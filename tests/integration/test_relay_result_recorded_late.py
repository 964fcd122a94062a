"""A delivery whose result the database refused is recorded once it can be.

The upstream took the message; the database then refused writes (a full
disk, a read-only file) while the gateway recorded the result.  Nothing else
knows the message was sent: left to its claim's lease, it was claimed and
sent again.  The worker tries again while the claim holds, so when the
database takes writes again within it, the message is delivered once and
its `relayed` event is in the trail.
"""

from __future__ import annotations

import asyncio
import re

import aiosmtplib
import pytest
from gwtest import make_message
from sqlalchemy import text
from test_audit_relay import wait_for_event

_REFUSE = """
CREATE FUNCTION gw_test_read_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'no space' USING ERRCODE = 'disk_full'; END $$
"""


def _query_only(gateway, on: bool) -> None:  # type: ignore[no-untyped-def]
    """SQLite refuses every write on the writer's own (pooled) connection
    ("attempt to write a readonly database").  In a thread: the writer may
    hold its one connection until a commit that needs the event loop."""
    with gateway.writer._sync_engine.connect() as conn:
        conn.exec_driver_sql(f"PRAGMA query_only = {int(on)}")


async def _refuse_writes(gateway, on: bool) -> None:  # type: ignore[no-untyped-def]
    if gateway.engine.dialect.name == "sqlite":
        await asyncio.to_thread(_query_only, gateway, on)
        return
    async with gateway.engine.begin() as conn:
        if on:
            await conn.execute(text(_REFUSE))
            await conn.execute(text("CREATE TRIGGER gw_test_refuse BEFORE UPDATE ON"
                                    " queue_messages FOR EACH ROW EXECUTE FUNCTION"
                                    " gw_test_read_only()"))
        else:
            await conn.execute(text("DROP TRIGGER gw_test_refuse ON queue_messages"))
            await conn.execute(text("DROP FUNCTION gw_test_read_only()"))


async def _until(condition, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "not within the time"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
async def test_a_result_refused_for_a_while_is_recorded_and_sent_once(  # type: ignore[no-untyped-def]
    gateway_factory, sink
) -> None:
    # A lease far longer than the test: only the gateway's own retry can
    # record the result in time.
    gw = await gateway_factory({"queue": {"lease": "5m"}})
    sink.delay("data", 1.0, times=1)  # the upstream is taking the message
    _, reply = await aiosmtplib.send(make_message(subject="Rota"), sender="alice@sender.example",
                                     recipients=["bob@recipient.example"], hostname="127.0.0.1",
                                     port=gw.port)
    queue_id = re.search(r"Queued as (\S+)", reply).group(1)

    async def taking() -> bool:
        return sink.delays_started >= 1

    await _until(taking)
    await _refuse_writes(gw, True)
    try:
        await sink.wait(1)
        await asyncio.sleep(1.5)  # the result refused, tried again, refused again
        assert (await gw.store.get(queue_id)).state == "active"
    finally:
        await _refuse_writes(gw, False)

    async def delivered() -> bool:
        message = await gw.store.get(queue_id)
        return message is not None and message.state == "delivered"

    await _until(delivered)
    document = await wait_for_event(gw, queue_id, "relayed")
    assert [e["type"] for e in document["events"]] == ["received", "queued", "relayed"]
    assert len(sink.snapshot()) == 1
