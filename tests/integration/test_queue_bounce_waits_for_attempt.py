"""`gateway queue bounce` on a message a worker is trying right now.

A message that keeps failing, with a short retry, is often in an attempt
(active, under a worker's lease) when the administrator gives up on it.
The command waits for that attempt to end, then gives up on the message;
it used to answer "not a queued or deferred message" and leave the
administrator to race the worker (and the suite's own bounce test did, on
a loaded machine).
"""

from __future__ import annotations

import asyncio
import time

import aiosmtplib
from gwtest import make_message, run_cli, wait_state, write_config

SENDER = "alice@sender.example"


async def submit(port: int, recipient: str) -> str:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    await client.connect()
    await client.mail(SENDER)
    await client.rcpt(recipient)
    response = await client.data(make_message(to=recipient))
    await client.quit()
    assert response.code == 250, response
    return response.message.split()[-1]


async def test_bounce_waits_for_the_attempt_under_way_then_gives_up(
    gateway_factory, gateway_config, sink, tmp_path
):
    settings = {"queue": {"retry": ["1h"]}}
    gw = await gateway_factory(settings)
    # The attempt stalls at MAIL for a few seconds, then the recipient is
    # refused for now: the message is active while the command runs.
    sink.delay("mail", 4.0, match="@sender.example", times=1)
    sink.fail("rcpt", "451 4.2.0 mailbox busy", match="@recipient.example")
    queue_id = await submit(gw.port, "carol@recipient.example")
    deadline = time.monotonic() + 20
    while sink.delays_started < 1:
        assert time.monotonic() < deadline, "the attempt never started"
        await asyncio.sleep(0.02)
    active = await gw.store.get(queue_id)
    assert active is not None and active.state == "active"
    config = write_config(tmp_path / "cli.toml", gateway_config(settings))
    done = await asyncio.to_thread(run_cli, "queue", "bounce", queue_id, config=config)
    assert done.returncode == 0, done.stderr
    assert "a delivery attempt is under way; waiting for it to end" in done.stderr
    assert f"{queue_id}: given up; 1 recipient(s) failed" in done.stdout
    bounced = await wait_state(gw, queue_id, "bounced")
    assert bounced.attempts == 1  # the attempt it waited for, and no other
    bounces = [m for m in await sink.wait(1, timeout=20) if m.mail_from == ""]
    assert [tuple(b.rcpt_tos) for b in bounces] == [(SENDER,)]


async def test_bounce_of_a_delivered_message_says_it_is_done_with(
    gateway, gateway_config, sink, tmp_path
):
    queue_id = await submit(gateway.port, "dave@recipient.example")
    await wait_state(gateway, queue_id, "delivered")
    config = write_config(tmp_path / "cli.toml", gateway_config({}))
    done = await asyncio.to_thread(run_cli, "queue", "bounce", queue_id, config=config)
    assert done.returncode == 1
    assert "not a queued or deferred message" in done.stderr
    assert "under way" not in done.stderr
