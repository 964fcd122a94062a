"""A delivery that outlasts `[queue] lease` is sent once.

The upstream takes longer to answer the end of DATA than the claim's lease
(a smarthost scanning before it replies, a large message on a slow link).
The claim used to run out mid-delivery and the message was claimed and sent
again, by the same process or a replica: three times for a 25 s reply and a
10 s lease.  The delivering process renews the claim while it holds the
message; a renewal costs nothing for a delivery shorter than a third of the
lease; and a result is never written over a claim another worker took.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import aiosmtplib
import pytest
from gwtest import event_types, make_message, wait_state
from sqlalchemy import update

import gateway.deliver.worker as worker
from gateway.db import queue_messages
from gateway.errors import StoreError


async def _send(gw: Any, subject: str = "Rota") -> str:
    _, reply = await aiosmtplib.send(make_message(subject=subject), sender="alice@sender.example",
                                     recipients=["bob@recipient.example"], hostname="127.0.0.1",
                                     port=gw.port)
    found = re.search(r"Queued as (\S+)", reply)
    assert found is not None
    return found.group(1)


def _count_renewals(gw: Any) -> list[int]:
    """Each renewal's number of claims, as the gateway asks its store."""
    calls: list[int] = []
    renew = gw.store.renew

    async def counted(leases: Any) -> Any:
        calls.append(len(leases))
        return await renew(leases)

    gw.store.renew = counted
    return calls


async def _until(condition: Any, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not within the time"
        await asyncio.sleep(0.02)


async def test_a_delivery_longer_than_the_lease_is_sent_once_by_two_replicas(
    gateway_factory: Any, sink: Any
) -> None:
    # Two replicas on one database, a 1 s lease, an end-of-DATA reply after
    # 3.5 s: either replica's poller would claim the message as soon as the
    # lease ran out.
    overrides = {"queue": {"lease": "1s"}}
    first = await gateway_factory(overrides, worker_id="replica-1")
    second = await gateway_factory(overrides, worker_id="replica-2")
    renewals = _count_renewals(first)
    sink.delay("data", 3.5, times=1)  # later sends would be answered at once
    queue_id = await _send(first)
    await _until(lambda: sink.delays_started >= 1)
    message = await wait_state(first, queue_id, "delivered")
    # Every delivery under way has ended (the slow one is the first's).
    await _until(lambda: first.dispatcher.in_flight == 0 and second.dispatcher.in_flight == 0)
    assert await sink.stays_empty(seconds=1.5, after=1)
    assert len(sink.snapshot()) == 1
    assert message.attempts == 1
    assert renewals  # the claim was renewed while the upstream took its time
    assert (await event_types(first, queue_id)).count("relayed") == 1
    assert (await second.store.get(queue_id)).state == "delivered"


async def test_a_delivery_shorter_than_a_third_of_the_lease_renews_nothing(
    gateway_factory: Any, sink: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The claims are looked at every 0.1 s: many looks during the delivery,
    # none of which may write anything.
    monkeypatch.setattr(worker, "RENEW_CHECKS_PER_LEASE", 300)
    gw = await gateway_factory({"queue": {"lease": "30s"}})
    renewals = _count_renewals(gw)
    sink.delay("data", 1.0, times=1)
    queue_id = await _send(gw)
    await wait_state(gw, queue_id, "delivered")
    assert renewals == []


@pytest.mark.parametrize("renewal", ["finds the claim taken", "is refused"])
async def test_a_result_is_not_written_over_another_workers_claim(
    gateway_factory: Any, sink: Any, renewal: str
) -> None:
    gw = await gateway_factory({"queue": {"lease": "1500ms"}})
    if renewal == "is refused":
        async def refused(leases: Any) -> Any:
            raise StoreError("database write failed (OperationalError)")

        gw.store.renew = refused  # the lease runs out mid-delivery
    sink.delay("data", 3.0, times=1)
    queue_id = await _send(gw)
    await _until(lambda: sink.delays_started >= 1)
    # Another replica's claim, as it takes the message once the lease has
    # run out (written at once, so that this process's poller cannot
    # claim it first).
    async with gw.engine.begin() as conn:
        await conn.execute(update(queue_messages).where(queue_messages.c.id == queue_id)
                           .values(claimed_by="replica-2", lease_until=time.time() + 600))
    await sink.wait(1)
    await _until(lambda: gw.dispatcher.in_flight == 0)
    message = await gw.store.get(queue_id)
    assert (message.state, message.claimed_by, message.attempts) == ("active", "replica-2", 0)
    assert "relayed" not in await event_types(gw, queue_id)
    assert len(sink.snapshot()) == 1
