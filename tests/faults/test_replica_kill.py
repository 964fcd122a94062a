"""Two gateway processes on one PostgreSQL database; one is killed with
SIGKILL during load and never comes back.  The survivor takes over the dead
one's claimed messages once their lease (3 s) runs out: every accepted
message is delivered; clients of the dead replica resend to the survivor."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from faults_support import LoadClient, message_ids, wait_for_ids

pytestmark = pytest.mark.faults


@pytest.mark.timeout(300)
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_sigkill_one_of_two_replicas(gateway_process, sink, db_url, figures):
    total, connections = 1500, 12
    # Some recipients are deferred at first, so that the victim dies holding
    # deferred and active claims as well as fresh ones.
    sink.fail("rcpt", "451 4.3.0 try again", match="r3@", times=60)
    overrides = {
        "queue": {"workers": 8, "lease": "3s", "retry": ["500ms"], "poll_interval": "200ms"},
        # A lease is at least three command timeouts (check-config).
        "upstream": {"pool_size": 4, "timeout": "1s"},
    }
    victim, survivor = await asyncio.gather(
        asyncio.to_thread(gateway_process, overrides, name="gw-victim"),
        asyncio.to_thread(gateway_process, overrides, name="gw-survivor"),
    )
    accepted: dict[str, str] = {}
    lock = threading.Lock()
    clients = [
        # half the clients start on the victim; after a failure they move on
        LoadClient(
            [victim.port, survivor.port] if n % 2 == 0 else [survivor.port],
            list(range(n, total, connections)), accepted, lock, prefix="replica",
        )
        for n in range(connections)
    ]
    for client in clients:
        client.start()

    deadline = time.monotonic() + 120
    while len(accepted) < total * 0.4 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    accepted_at_kill = len(accepted)
    delivered_at_kill = len(message_ids(sink))
    victim.kill()
    killed_at = time.monotonic()

    for client in clients:
        await asyncio.to_thread(client.join, 200)
        assert not client.is_alive()
        assert client.error is None, client.error
    assert len(accepted) == total

    got = await asyncio.to_thread(wait_for_ids, sink, set(accepted), 120)
    caught_up = time.monotonic() - killed_at
    await asyncio.sleep(1)
    got = message_ids(sink)
    lost = set(accepted) - set(got)
    dup = sum(n - 1 for n in got.values() if n > 1)
    resent = sum(c.failures + c.temp_replies for c in clients)
    figures(
        tried=total, accepted=len(accepted), delivered=len(set(got) & set(accepted)),
        lost=len(lost), duplicates=dup,
        note=(f"killed after {accepted_at_kill} accepted/{delivered_at_kill} delivered; "
              f"{resent} in-doubt resends; all delivered {caught_up:.1f}s after the kill"),
    )
    assert not lost, f"{len(lost)} accepted messages never arrived: {sorted(lost)[:5]}"
    assert survivor.proc is not None and survivor.proc.poll() is None
    assert victim.proc is not None and victim.proc.poll() is not None  # really dead
    assert await asyncio.to_thread(survivor.terminate) == 0
