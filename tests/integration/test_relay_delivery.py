"""Delivery to the upstream sink: deferral and retry, bounces, hangs, drops."""

from __future__ import annotations

import asyncio
import email
import email.policy
import gc
import json
import time

import aiosmtplib
import pytest
from gwtest import (
    SmtpConn,
    event_types,
    make_message,
    run_cli,
    strip_received,
    wait_state,
    write_config,
)
from sqlalchemy import select

from gateway.db import queue_messages
from gateway.deliver.worker import DIRECT_LIMIT
from gateway.queue import QueuedMessage

SENDER = "alice@sender.example"


async def send(port: int, message: bytes, recipients: list[str], sender: str = SENDER,
               rcpt_options: list[str] | None = None) -> str:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    await client.connect()
    await client.mail(sender)
    for rcpt in recipients:
        await client.rcpt(rcpt, options=rcpt_options or [])
    response = await client.data(message)
    await client.quit()
    assert response.code == 250, response
    return response.message.split()[-1]


async def test_delivered_message_is_audited(gateway, sink):
    queue_id = await send(gateway.port, make_message(), ["bob@recipient.example"])
    (got,) = await sink.wait(1)
    assert not got.tls
    message = await wait_state(gateway, queue_id, "delivered")
    assert message.recipients[0].state == "delivered"
    assert message.recipients[0].last_code == 250
    assert await event_types(gateway, queue_id) == ["received", "queued", "relayed"]


async def test_upstream_down_defers_then_delivers_when_back(gateway, sink):
    sink.stop()
    message = make_message()
    queue_id = await send(gateway.port, message, ["bob@recipient.example"])
    deferred = await wait_state(gateway, queue_id, "deferred")
    assert deferred.attempts >= 1
    assert deferred.last_error and "connection" in deferred.last_error
    sink.start()
    (got,) = await sink.wait(1)
    assert strip_received(got.content)[1] == message
    delivered = await wait_state(gateway, queue_id, "delivered")
    assert delivered.attempts >= 2


async def test_queue_retry_command_sends_a_deferred_message_at_once(
    gateway_factory, gateway_config, sink, tmp_path
):
    gw = await gateway_factory({"queue": {"retry": ["1h"]}})
    sink.stop()
    queue_id = await send(gw.port, make_message(), ["bob@recipient.example"])
    deferred = await wait_state(gw, queue_id, "deferred")
    assert deferred.next_attempt_at > time.time() + 3000
    sink.start()
    config = write_config(tmp_path / "cli.toml", gateway_config({"queue": {"retry": ["1h"]}}))

    listing = await asyncio.to_thread(run_cli, "queue", "list", config=config)
    assert listing.returncode == 0, listing.stderr
    assert queue_id in listing.stdout and "deferred" in listing.stdout

    retried = await asyncio.to_thread(run_cli, "queue", "retry", queue_id, config=config)
    assert retried.returncode == 0, retried.stderr
    assert "tried again" in retried.stdout
    await sink.wait(1)
    await wait_state(gw, queue_id, "delivered")

    again = await asyncio.to_thread(run_cli, "queue", "retry", queue_id, config=config)
    assert again.returncode == 1  # delivered: nothing to retry


async def test_queue_retry_all_sends_every_deferred_message_at_once(
    gateway_factory, gateway_config, sink, tmp_path
):
    """After an outage, `queue retry --all` (postqueue -f) brings every
    deferred message forward instead of leaving it to its next attempt."""
    gw = await gateway_factory({"queue": {"retry": ["1h"]}})
    sink.stop()
    ids = [await send(gw.port, make_message(subject=f"r{n}"), ["bob@recipient.example"])
           for n in range(3)]
    for queue_id in ids:
        assert (await wait_state(gw, queue_id, "deferred")).next_attempt_at > time.time() + 3000
    sink.start()
    config = write_config(tmp_path / "cli.toml", gateway_config({"queue": {"retry": ["1h"]}}))

    retried = await asyncio.to_thread(run_cli, "queue", "retry", "--all", config=config)
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.startswith("3 deferred or queued message(s)"), retried.stdout
    await sink.wait(3)
    for queue_id in ids:
        await wait_state(gw, queue_id, "delivered")
    again = await asyncio.to_thread(run_cli, "queue", "retry", "--all", config=config)
    assert again.returncode == 0 and again.stdout.startswith("0 "), again.stdout

    for wrong in ([], [ids[0], "--all"]):
        refused = await asyncio.to_thread(run_cli, "queue", "retry", *wrong, config=config)
        assert refused.returncode == 2
        assert "id" in refused.stderr and "--all" in refused.stderr, refused.stderr


async def test_temporary_failure_then_success(gateway, sink):
    sink.fail("rcpt", "451 4.3.0 try again later", times=1)
    queue_id = await send(gateway.port, make_message(), ["bob@recipient.example"])
    await sink.wait(1)
    delivered = await wait_state(gateway, queue_id, "delivered")
    assert delivered.attempts == 2
    types = await event_types(gateway, queue_id)
    assert types.count("relayed") == 1 and "delivery_failed" not in types


async def test_temporary_failure_at_data_then_success(gateway, sink):
    sink.fail("data", "452 4.3.1 insufficient storage", times=1)
    message = make_message()
    queue_id = await send(gateway.port, message, ["bob@recipient.example"])
    (got,) = await sink.wait(1)
    assert strip_received(got.content)[1] == message
    assert (await wait_state(gateway, queue_id, "delivered")).attempts == 2


def _parse(content: bytes):
    return email.message_from_bytes(content, policy=email.policy.default)


async def test_permanent_failure_bounces_to_the_sender(gateway, sink):
    sink.fail("rcpt", "550 5.1.1 no such user", match="nobody@")
    message = make_message(subject="Quarterly figures")
    queue_id = await send(
        gateway.port, message, ["bob@recipient.example", "nobody@recipient.example"]
    )
    got = await sink.wait(2)
    (first,) = [m for m in got if m.mail_from == SENDER]
    (bounce,) = [m for m in got if m.mail_from == ""]
    assert first.rcpt_tos == ("bob@recipient.example",)
    assert strip_received(first.content)[1] == message

    assert bounce.mail_from == ""  # null sender: no bounce loops
    assert bounce.rcpt_tos == (SENDER,)
    assert not bounce.content.startswith(b"Received:")  # made here, not relayed
    parsed = _parse(bounce.content)
    assert parsed.get_content_type() == "multipart/report"
    assert parsed.get_param("report-type") == "delivery-status"
    parts = [p.get_content_type() for p in parsed.iter_parts()]
    assert parts[:2] == ["text/plain", "message/delivery-status"]
    status = bounce.content.decode("utf-8", "replace")
    assert "Final-Recipient: rfc822; nobody@recipient.example" in status
    assert "Action: failed" in status
    assert "Status: 5.1.1" in status
    assert "bob@recipient.example" not in status.split("message/delivery-status", 1)[1].split(
        "text/rfc822-headers")[0]
    assert "A synthetic test message" not in status  # headers only, never the body

    bounced = await wait_state(gateway, queue_id, "bounced")
    states = {r.address: r.state for r in bounced.recipients}
    assert states == {"bob@recipient.example": "delivered", "nobody@recipient.example": "failed"}
    types = await event_types(gateway, queue_id)
    assert "delivery_failed" in types and "relayed" in types


async def test_queue_bounce_gives_up_on_a_deferred_message(
    gateway_factory, gateway_config, sink, tmp_path
):
    """`queue bounce ID`: the recipients not yet delivered fail as a
    permanent failure would: the sender gets a bounce for them, the trail a
    delivery_failed event saying who gave up; the delivered one stays so."""
    gw = await gateway_factory({"queue": {"retry": ["1h"]}})
    sink.fail("rcpt", "451 4.2.0 mailbox busy", match="carol@")
    queue_id = await send(gw.port, make_message(),
                          ["bob@recipient.example", "carol@recipient.example"])
    await sink.wait(1)
    await wait_state(gw, queue_id, "deferred")
    config = write_config(tmp_path / "cli.toml", gateway_config({"queue": {"retry": ["1h"]}}))

    given_up = await asyncio.to_thread(run_cli, "queue", "bounce", queue_id, config=config)
    assert given_up.returncode == 0, given_up.stderr
    assert "1 recipient(s) failed" in given_up.stdout and "bounce" in given_up.stdout
    # The delivery's log line is the service's, not the command's output.
    assert given_up.stdout.startswith(f"{queue_id}: given up;") and given_up.stderr == ""
    got = await sink.wait(2)
    (bounce,) = [m for m in got if m.mail_from == ""]
    assert bounce.rcpt_tos == (SENDER,)
    status = bounce.content.decode("utf-8", "replace")
    assert "Final-Recipient: rfc822; carol@recipient.example" in status
    assert "Final-Recipient: rfc822; bob@recipient.example" not in status
    # No receiving system refused it: the notice says who stopped it and
    # quotes what the receiving system last said, and invents no reply.
    report = email.message_from_bytes(bounce.content, policy=email.policy.default)
    human = " ".join(next(report.iter_parts()).get_content().split())
    assert "<carol@recipient.example>: Delivery cancelled by the gateway's administrator " \
        "after 1 attempt. The last reply from the receiving system: 451 4.2.0 mailbox busy" in human
    assert "The reply from the receiving system is shown" not in human
    assert "550" not in human
    # The DSN fields, parsed: the raw report's MIME boundary is random
    # digits, and may hold any number.
    _, delivery_status, _ = report.iter_parts()
    _, carol = delivery_status.get_payload()
    fields = {name: " ".join(value.split()) for name, value in carol.items()}
    assert fields["Status"] == "5.0.0"
    assert fields["Diagnostic-Code"] == (
        "X-Gateway; Delivery cancelled by the gateway's administrator after 1 attempt")
    assert fields["X-Gateway-Last-Remote-Reply"] == "451 4.2.0 mailbox busy"
    assert not any("smtp;" in value or "550" in value for value in fields.values())

    bounced = await wait_state(gw, queue_id, "bounced")
    states = {r.address: r.state for r in bounced.recipients}
    assert states == {"bob@recipient.example": "delivered", "carol@recipient.example": "failed"}
    # `queue show`: a recipient's reply is a receiving system's (the last
    # one, still), the gateway's own words are the message's last_error.
    carol = next(r for r in bounced.recipients if r.address == "carol@recipient.example")
    assert (carol.last_code, carol.last_reply) == (451, "4.2.0 mailbox busy")
    assert bounced.last_error == (
        "5.0.0 Delivery cancelled by the gateway's administrator after 1 attempt")
    from sqlalchemy import select

    from gateway.db import audit_events

    async with gw.engine.connect() as db:
        rows = (await db.execute(
            select(audit_events.c.detail)
            .where(audit_events.c.record_id == queue_id, audit_events.c.type == "delivery_failed")
        )).all()
    (detail,) = [json.loads(r[0]) for r in rows]
    assert detail["recipient"] == "carol@recipient.example" and detail["route"] == "upstream"
    assert detail["why"] == "given up by the administrator"
    assert detail["code"] is None  # no receiving system gave one
    assert bounced.attempts == 1  # the bounce is no attempt: "after 1 attempt" holds

    for done_with in (queue_id, "Q0000000000000000"):
        refused = await asyncio.to_thread(run_cli, "queue", "bounce", done_with, config=config)
        assert refused.returncode == 1
        assert "not a queued or deferred message" in refused.stderr
    assert len(sink.snapshot()) == 2  # no second bounce


async def test_permanent_failure_at_data_bounces(gateway, sink):
    sink.fail("data", "554 5.6.0 content refused", match="bob@", times=1)
    queue_id = await send(gateway.port, make_message(), ["bob@recipient.example"])
    (bounce,) = await sink.wait(1)
    assert bounce.mail_from == "" and bounce.rcpt_tos == (SENDER,)
    assert b"Status: 5.6.0" in bounce.content
    await wait_state(gateway, queue_id, "bounced")
    assert "delivery_failed" in await event_types(gateway, queue_id)


async def test_notify_never_suppresses_the_bounce(gateway, sink):
    sink.fail("rcpt", "550 5.1.1 no such user", match="nobody@")
    queue_id = await send(gateway.port, make_message(), ["nobody@recipient.example"],
                          rcpt_options=["NOTIFY=NEVER"])
    await wait_state(gateway, queue_id, "bounced")
    assert "delivery_failed" in await event_types(gateway, queue_id)
    assert await sink.stays_empty(1.0)


async def test_bounce_of_a_bounce_is_never_sent(gateway, sink):
    sink.fail("rcpt", "550 5.1.1 no such user")
    queue_id = await send(gateway.port, make_message(), ["nobody@recipient.example"], sender="")
    await wait_state(gateway, queue_id, "bounced")
    assert await sink.stays_empty(1.0)


async def test_max_age_turns_temporary_failures_into_a_bounce(gateway_factory, sink):
    gw = await gateway_factory({"queue": {"max_age": "1s", "retry": ["500ms"]}})
    sink.fail("rcpt", "451 4.4.1 still not", match="slow@")
    queue_id = await send(gw.port, make_message(), ["slow@recipient.example"])
    (bounce,) = await sink.wait(1)
    assert bounce.rcpt_tos == (SENDER,) and bounce.mail_from == ""
    message = await wait_state(gw, queue_id, "bounced")
    assert message.attempts >= 2


async def test_a_bounce_never_quotes_the_gateways_own_failure_as_a_servers_reply(
    gateway_factory, gateway_config, sink, tmp_path
):
    """The receiving system said 451 once; then the upstream could not be
    reached at all.  Neither the administrator's bounce nor the expiry's
    may quote "connection to upstream failed" as a server's reply (an
    `smtp;` diagnostic): they quote the 451 a server did give."""
    settings = {"queue": {"retry": ["300ms"], "max_age": "4s"}}
    gw = await gateway_factory(settings)
    sink.fail("rcpt", "451 4.2.0 mailbox busy", match="@recipient.example")
    given_up = await send(gw.port, make_message(), ["carol@recipient.example"])
    expiring = await send(gw.port, make_message(), ["dave@recipient.example"])
    for queue_id in (given_up, expiring):
        await wait_state(gw, queue_id, "deferred")
    sink.stop()

    async def unreachable(queue_id: str) -> None:
        for _ in range(100):
            message = await gw.store.get(queue_id)
            if message and message.last_error and "connection" in message.last_error:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("no attempt failed to connect")

    await unreachable(given_up)
    shown = await gw.store.get(given_up)
    assert shown is not None
    (carol,) = shown.recipients
    assert (carol.last_code, carol.last_reply) == (451, "4.2.0 mailbox busy")
    config = write_config(tmp_path / "cli.toml", gateway_config(settings))
    done = await asyncio.to_thread(run_cli, "queue", "bounce", given_up, config=config)
    assert done.returncode == 0, done.stderr
    await wait_state(gw, expiring, "bounced", timeout=15)
    sink.clear_rules()
    sink.start()
    bounces = [m for m in await sink.wait(2, timeout=20) if m.mail_from == ""]
    assert len(bounces) == 2
    for bounce in bounces:
        report = email.message_from_bytes(bounce.content, policy=email.policy.default)
        human = " ".join(next(report.iter_parts()).get_content().split())
        _, delivery_status, _ = report.iter_parts()
        _, block = delivery_status.get_payload()
        fields = {name: " ".join(value.split()) for name, value in block.items()}
        assert "The last reply from the receiving system: 451 4.2.0 mailbox busy" in human
        assert fields["X-Gateway-Last-Remote-Reply"] == "451 4.2.0 mailbox busy"
        assert fields["Diagnostic-Code"].startswith("X-Gateway; ")
        assert "smtp;" not in bounce.content.decode("utf-8", "replace")
        if fields["Final-Recipient"] == "rfc822; dave@recipient.example":
            # Expired on the gateway's own failure: no answer from the host.
            assert fields["Status"] == "4.4.1"
            assert fields["Diagnostic-Code"] == (
                "X-Gateway; connection to upstream failed (Connection refused)")
            assert "connection to upstream failed" in human
        else:
            assert fields["Final-Recipient"] == "rfc822; carol@recipient.example"
            assert fields["Status"] == "5.0.0"


async def test_hanging_upstream_defers_after_the_timeout(gateway_factory, sink):
    # The end of DATA has its own, longer wait (data_done_timeout, 10m).
    gw = await gateway_factory({"upstream": {"timeout": "1s", "data_done_timeout": "1s"}})
    sink.hang("data", times=1)
    message = make_message()
    queue_id = await send(gw.port, message, ["bob@recipient.example"])
    deferred = await wait_state(gw, queue_id, "deferred", timeout=15)
    assert deferred.last_error
    (got,) = await sink.wait(1)  # the retry goes through
    assert strip_received(got.content)[1] == message
    await wait_state(gw, queue_id, "delivered")


@pytest.mark.parametrize("stage", ["connect", "rcpt", "data"])
async def test_upstream_dropping_the_connection_defers_then_delivers(gateway, sink, stage):
    sink.drop(stage, times=1)
    message = make_message()
    queue_id = await send(gateway.port, message, ["bob@recipient.example"])
    (got,) = await sink.wait(1)
    assert strip_received(got.content)[1] == message
    assert (await wait_state(gateway, queue_id, "delivered")).attempts == 2


async def test_upstream_refusing_the_sender_defers(gateway, sink):
    sink.fail("mail", "421 4.7.0 slow down", times=2)
    queue_id = await send(gateway.port, make_message(), ["bob@recipient.example"])
    await sink.wait(1)
    assert (await wait_state(gateway, queue_id, "delivered")).attempts == 3


async def test_pooled_connections_carry_many_messages(gateway, sink):
    messages = [make_message(subject=f"pooled {n}") for n in range(20)]
    await asyncio.gather(*[
        send(gateway.port, m, [f"r{n}@recipient.example"]) for n, m in enumerate(messages)
    ])
    got = await sink.wait(20)
    assert sorted(strip_received(m.content)[1] for m in got) == sorted(messages)


async def test_a_pooled_connection_closed_at_mail_is_replaced_at_once(gateway, sink):
    """Reused connections go straight to MAIL (no RSET round trip): one the
    upstream closed meanwhile costs a new connection, not a deferral."""
    first = await send(gateway.port, make_message(subject="opens"), ["bob@recipient.example"])
    await wait_state(gateway, first, "delivered")
    sink.drop("mail", times=1)
    message = make_message(subject="reuses")
    queue_id = await send(gateway.port, message, ["bob@recipient.example"])
    assert (await wait_state(gateway, queue_id, "delivered")).attempts == 1
    assert strip_received((await sink.wait(2))[1].content)[1] == message


async def test_a_new_connection_closed_at_mail_still_defers(gateway, sink):
    """Only a reused connection is retried at once: a fresh one that fails
    at MAIL is the upstream's trouble, and the message waits its turn."""
    sink.drop("mail", times=1)
    queue_id = await send(gateway.port, make_message(), ["bob@recipient.example"])
    await sink.wait(1)
    assert (await wait_state(gateway, queue_id, "delivered")).attempts == 2


async def test_received_content_is_not_checked_again_on_its_way_out(
    gateway, sink, monkeypatch
):
    """The receive stage checked the bytes; passed through unchanged they go
    upstream without a second CRLF check.  Loaded again from the queue (a
    retry), they are checked."""
    from gateway.deliver import transport

    checks: list[int] = []
    original = transport.line_endings_clean

    def counting(data: bytes) -> bool:
        checks.append(len(data))
        return original(data)

    monkeypatch.setattr(transport, "line_endings_clean", counting)
    message = make_message(subject="straight through")
    first = await send(gateway.port, message, ["bob@recipient.example"])
    await wait_state(gateway, first, "delivered")
    assert checks == []
    sink.fail("data", "451 4.3.0 try again", times=1)
    retried = await send(gateway.port, make_message(subject="retried"), ["bob@recipient.example"])
    assert (await wait_state(gateway, retried, "delivered")).attempts == 2
    assert len(checks) == 1
    assert strip_received((await sink.wait(2))[0].content)[1] == message


async def test_a_worker_sends_the_next_message_while_the_last_result_commits(
    gateway_factory, sink, monkeypatch
):
    """One worker: the second message goes upstream while the first one's
    result is still being committed; a third waits for that commit."""
    gw = await gateway_factory({"queue": {"workers": 1, "poll_interval": "100ms"}})
    release = asyncio.Event()
    recording: list[str] = []
    original = gw.store.record_attempt

    async def slow_record(message, *args, **kwargs):
        recording.append(message.id)
        if len(recording) == 1:
            await release.wait()
        return await original(message, *args, **kwargs)

    monkeypatch.setattr(gw.store, "record_attempt", slow_record)
    ids = [await send(gw.port, make_message(subject=f"n{n}"), ["bob@recipient.example"])
           for n in range(3)]
    await sink.wait(2)
    await asyncio.sleep(0.3)
    assert len(sink.snapshot()) == 2 and recording == ids[:1]
    release.set()
    await sink.wait(3)
    for queue_id in ids:
        await wait_state(gw, queue_id, "delivered")


@pytest.mark.parametrize("stage", ["connect", "mail", "rcpt", "data"])
async def test_hang_then_upstream_back_loses_nothing(gateway_factory, sink, stage):
    gw = await gateway_factory({"upstream": {"timeout": "1s", "data_done_timeout": "1s"}})
    sink.hang(stage, times=2)
    ids = [await send(gw.port, make_message(subject=f"h{n}"), ["bob@recipient.example"])
           for n in range(3)]
    await sink.wait(3, timeout=30)
    for queue_id in ids:
        await wait_state(gw, queue_id, "delivered")


# --------------------------------------------------------------------------
# TLS to the upstream


@pytest.fixture
def tls_sink(request, tls_files):
    import ssl

    from gwtest import Sink

    implicit = getattr(request, "param", "starttls") == "implicit"
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls_files.cert_file), str(tls_files.key_file))
    upstream = Sink(tls_context=context, implicit_tls=implicit)
    upstream.start()
    yield upstream
    upstream.close()


@pytest.mark.parametrize(
    ("tls_sink", "mode"),
    [("starttls", "starttls"), ("starttls", "starttls-verify"), ("implicit", "implicit")],
    indirect=["tls_sink"],
)
async def test_upstream_tls_modes_deliver(gateway_factory, tls_sink, tls_files, mode):
    gw = await gateway_factory({"upstream": {
        "port": tls_sink.port, "tls": mode, "ca_file": str(tls_files.ca_file),
        "host": "127.0.0.1",
    }})
    message = make_message()
    queue_id = await send(gw.port, message, ["bob@recipient.example"])
    (got,) = await tls_sink.wait(1)
    assert got.tls
    assert strip_received(got.content)[1] == message
    await wait_state(gw, queue_id, "delivered")


@pytest.mark.parametrize(
    ("tls_sink", "mode"), [("starttls", "starttls-verify"), ("implicit", "implicit")],
    indirect=["tls_sink"],
)
async def test_upstream_certificate_not_trusted_defers(gateway_factory, tls_sink, tmp_path, mode):
    import trustme

    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    gw = await gateway_factory({"upstream": {
        "port": tls_sink.port, "tls": mode, "ca_file": str(other_ca), "host": "127.0.0.1",
    }})
    queue_id = await send(gw.port, make_message(), ["bob@recipient.example"])
    deferred = await wait_state(gw, queue_id, "deferred")
    assert deferred.last_error
    assert tls_sink.snapshot() == []


async def test_starttls_required_but_not_offered_defers(gateway_factory, sink):
    gw = await gateway_factory({"upstream": {"tls": "starttls-verify"}})
    queue_id = await send(gw.port, make_message(), ["bob@recipient.example"])
    await wait_state(gw, queue_id, "deferred")
    assert sink.snapshot() == []


async def test_the_poller_claims_in_batches_while_the_workers_are_busy(
    gateway_factory, sink, monkeypatch
):
    """Messages queued while the ready queue is full each wake the poller;
    it claims once the workers have made room for a batch (a quarter of
    the ready queue), not a message or two at a time, dozens of times a
    second.  Nothing is left behind."""
    gw = await gateway_factory({"queue": {"workers": 4, "poll_interval": "100ms"}})
    capacity = 4 * 4  # Dispatcher: workers x 4
    claims: list[tuple[int, int]] = []  # (room asked for, messages already ready)
    claim_due, record_attempt = gw.store.claim_due, gw.store.record_attempt

    async def counted_claim(limit, *args, **kwargs):
        claims.append((limit, gw.dispatcher._ready.qsize()))
        return await claim_due(limit, *args, **kwargs)

    async def slow_record(*args, **kwargs):
        await asyncio.sleep(0.05)  # a slow upstream: the ready queue stays full
        return await record_attempt(*args, **kwargs)

    monkeypatch.setattr(gw.store, "claim_due", counted_claim)
    monkeypatch.setattr(gw.store, "record_attempt", slow_record)

    async def client(n: int) -> list[str]:
        return [await send(gw.port, make_message(subject=f"c{n}-{k}"), ["bob@recipient.example"])
                for k in range(8)]

    ids = [i for batch in await asyncio.gather(*(client(n) for n in range(8))) for i in batch]
    await sink.wait(len(ids), timeout=60)
    for queue_id in ids:
        await wait_state(gw, queue_id, "delivered")
    busy = [room for room, ready in claims if ready]
    assert busy, "the ready queue was never full: nothing tested"
    assert min(busy) >= capacity // 4, claims


async def test_messages_left_for_the_content_budget_go_as_soon_as_it_frees(
    gateway_factory, sink, monkeypatch
):
    """Messages the content budget kept in the store are claimed when
    deliveries give content back, not at the next poll interval (a minute
    here) or when another message happens to arrive."""
    gw = await gateway_factory({"queue": {"workers": 4, "poll_interval": "60s"}})
    body = "A synthetic line of text for the size of the message.\r\n" * 40
    messages = [make_message(subject=f"b{n}", body=body) for n in range(12)]
    # Room for three messages at a time (stored content carries a Received
    # header too, so a little less than 3.5 of them).
    gw.dispatcher._budget = int(3.5 * len(messages[0]))
    record_attempt = gw.store.record_attempt
    short: list[bool] = []

    async def slow_record(*args, **kwargs):
        await asyncio.sleep(0.1)  # the content stays held a while
        short.append(gw.dispatcher.held_bytes > gw.dispatcher._budget // 2)
        return await record_attempt(*args, **kwargs)

    monkeypatch.setattr(gw.store, "record_attempt", slow_record)
    ids = await asyncio.gather(*(send(gw.port, m, ["bob@recipient.example"]) for m in messages))
    started = time.monotonic()
    await sink.wait(len(ids), timeout=20)
    assert time.monotonic() - started < 15  # far below the poll interval
    for queue_id in ids:
        await wait_state(gw, queue_id, "delivered")
    assert any(short), "the budget never bound: nothing tested"


async def _state_of(gw, queue_id: str) -> str | None:
    async with gw.engine.connect() as conn:
        return (await conn.execute(
            select(queue_messages.c.state).where(queue_messages.c.id == queue_id)
        )).scalar()


async def test_a_delivered_message_is_not_kept_while_the_next_is_claimed(
    gateway_factory, sink, monkeypatch
):
    """The poller lets go of what it claimed once it has handed it over.
    Kept in its locals until the next claim returned, a large message
    delivered meanwhile stayed in memory, its bytes already back in the
    content budget, while the next was loaded beside it: two 25 MB contents
    at once in the memory test."""
    gw = await gateway_factory({"server": {"max_message_size": 4_000_000},
                                "queue": {"workers": 1, "poll_interval": "60s"}})
    body = "A synthetic line of text for the size of the message.\r\n" * 28_000  # 1.5 MB
    message = make_message(subject="large", body=body)
    assert len(message) > DIRECT_LIMIT  # claimed by the poller, not handed over at once
    claim_due = gw.store.claim_due
    alive_at_claims: list[set[str]] = []

    async def claim_watched(*args, **kwargs):
        gc.collect()
        alive_at_claims.append({
            o.id for o in gc.get_objects()
            if isinstance(o, QueuedMessage) and len(o.content) > DIRECT_LIMIT
        })
        return await claim_due(*args, **kwargs)

    monkeypatch.setattr(gw.store, "claim_due", claim_watched)
    queue_id = await send(gw.port, message, ["bob@recipient.example"])
    await sink.wait(1)
    # Its state alone: `wait_state` loads the whole message, and a copy
    # read before the delivery was recorded, content and all, is then
    # alive in this test at the next claim.
    deadline = time.monotonic() + 30
    while await _state_of(gw, queue_id) != "delivered":
        assert time.monotonic() < deadline, "not recorded as delivered"
        await asyncio.sleep(0.05)
    # Its release wakes the poller, which claims again at once.
    deadline = time.monotonic() + 10
    while len(alive_at_claims) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert len(alive_at_claims) >= 2, "no claim after the delivery: nothing tested"
    assert all(queue_id not in alive for alive in alive_at_claims), alive_at_claims


# --------------------------------------------------------------------------
# Pipelining (RFC 2920) to the upstream


@pytest.mark.parametrize("pipelining", [True, False])
async def test_mail_rcpt_and_data_go_together_when_the_upstream_offers_pipelining(
    gateway_factory, pipelining
):
    from gwtest import Sink

    upstream = Sink(pipelining=pipelining)
    upstream.start()
    try:
        gw = await gateway_factory({"upstream": {"port": upstream.port}})
        upstream.fail("rcpt", "550 5.1.1 no such user", match="nobody@")
        message = make_message(subject="together")
        queue_id = await send(gw.port, message, ["bob@recipient.example",
                                                 "carol@recipient.example",
                                                 "nobody@recipient.example"])
        got = await upstream.wait(2)  # the message, and the bounce for nobody@
        (relayed,) = [m for m in got if m.mail_from == SENDER]
        assert relayed.rcpt_tos == ("bob@recipient.example", "carol@recipient.example")
        assert strip_received(relayed.content)[1] == message
        finished = await wait_state(gw, queue_id, "bounced")
        assert {r.address: (r.state, r.last_code) for r in finished.recipients} == {
            "bob@recipient.example": ("delivered", 250),
            "carol@recipient.example": ("delivered", 250),
            "nobody@recipient.example": ("failed", 550),
        }
        assert upstream.mail_pipelined[0] is pipelining
    finally:
        upstream.close()


async def test_a_pipelined_group_refused_whole_leaves_the_connection_clean(
    gateway_factory, sink
):
    """Every recipient refused: DATA is refused too (or accepted and ended
    with a lone dot); the connection is reset, and the next message goes on
    it at its first attempt rather than meeting a half-made transaction."""
    gw = await gateway_factory({"queue": {"workers": 1}, "upstream": {"pool_size": 1}})
    sink.fail("rcpt", "550 5.1.1 no such user", match="nobody@")
    refused = await send(gw.port, make_message(subject="refused"),
                         ["nobody@recipient.example"], rcpt_options=["NOTIFY=NEVER"])
    await wait_state(gw, refused, "bounced")
    queue_id = await send(gw.port, make_message(subject="next"), ["bob@recipient.example"])
    (got,) = await sink.wait(1)
    assert got.rcpt_tos == ("bob@recipient.example",)
    assert (await wait_state(gw, queue_id, "delivered")).attempts == 1
    assert sink.mail_pipelined == [True, True]


# --------------------------------------------------------------------------
# Another process holding the database (a purge, a command of the CLI)


async def _hold_the_database(db_url: str):
    """What `gateway audit purge` holds from its head read to its commit:
    SQLite's write lock, PostgreSQL's chain lock.  Returns its release."""
    from sqlalchemy.engine import make_url

    if db_url.startswith("sqlite"):
        import sqlite3

        holder = sqlite3.connect(make_url(db_url).database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")

        async def release_sqlite() -> None:
            holder.execute("ROLLBACK")
            holder.close()

        return release_sqlite
    from sqlalchemy import text

    from gateway.audit.trail import CHAIN_LOCK
    from gateway.db import create_engine

    engine = create_engine(db_url)
    conn = await engine.connect()
    await conn.execute(text(f"SELECT pg_advisory_lock({CHAIN_LOCK})"))

    async def release_postgres() -> None:
        await conn.execute(text(f"SELECT pg_advisory_unlock({CHAIN_LOCK})"))
        await conn.close()
        await engine.dispose()

    return release_postgres


async def test_the_gateway_answers_while_another_process_holds_the_database(
    gateway, sink, db_url, monkeypatch
):
    """A purge run from cron holds the trail until its commit.  The message
    being accepted meanwhile waits for it, and then is accepted; every other
    session goes on.  (On SQLite the Writer's statements run on the event
    loop's thread: SQLite's own wait for the lock, its busy timeout, slept
    that thread, and with it every session, for up to 30 seconds.)"""
    entered = asyncio.Event()
    transaction = gateway.writer._transaction

    async def noticed(operations):
        entered.set()
        return await transaction(operations)

    monkeypatch.setattr(gateway.writer, "_transaction", noticed)
    release = await _hold_the_database(db_url)
    try:
        sending = asyncio.ensure_future(
            send(gateway.port, make_message(subject="waits"), ["bob@recipient.example"])
        )
        await asyncio.wait_for(entered.wait(), 10)
        other = await asyncio.wait_for(SmtpConn.open(gateway.port), 10)
        assert other.banner[0] == 220
        assert (await other.cmd("EHLO other.example"))[0] == 250
        assert (await other.cmd("NOOP"))[0] == 250
        await other.close()
        assert not sending.done()  # still waiting for the lock
    finally:
        await release()
    queue_id = await asyncio.wait_for(sending, 30)
    await wait_state(gateway, queue_id, "delivered")
    assert len(await sink.wait(1)) == 1


async def test_a_lock_held_past_the_wait_gets_451_once_then_mail_flows(
    gateway_factory, sink, db_url, monkeypatch
):
    """A purge (or anything else) holding the database past the Writer's
    wait: the messages waiting for it are told 451, together, in one
    failed batch rather than one after the other after as long again; once
    the lock is free the senders' retries are accepted and delivered.  On
    PostgreSQL the wait had no bound: the chain's advisory lock held by a
    forgotten session left every message unanswered for as long."""
    from gateway.db import engine as engine_module
    from gateway.queue import writer as writer_module

    monkeypatch.setattr(engine_module, "LOCK_WAIT", 0.5)
    monkeypatch.setattr(writer_module, "SQLITE_LOCK_WAIT", 0.5)
    gw = await gateway_factory()
    batches: list[int] = []
    transaction = gw.writer._transaction

    async def counted(operations):
        # The messages' batches only: the delivery poller's claims go on.
        queued = [op for op in operations if "enqueue" in op.__qualname__]
        if queued:
            batches.append(len(queued))
        return await transaction(operations)

    monkeypatch.setattr(gw.writer, "_transaction", counted)
    release = await _hold_the_database(db_url)
    try:
        clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=gw.port) for _ in range(3)]
        for client in clients:
            await client.connect()
            await client.mail(SENDER)
            await client.rcpt("bob@recipient.example")
        replies = await asyncio.wait_for(asyncio.gather(
            *(client.data(make_message(subject=f"waits {n}"))
              for n, client in enumerate(clients)),
            return_exceptions=True,
        ), 20)
        for reply in replies:
            assert isinstance(reply, aiosmtplib.SMTPDataError), reply
            assert reply.code == 451
        assert batches == [3]  # one batch, not retried message by message
        for client in clients:
            await client.quit()
    finally:
        await release()
    assert not sink.messages
    queue_id = await send(gw.port, make_message(subject="again"), ["bob@recipient.example"])
    await wait_state(gw, queue_id, "delivered")
    (delivered,) = await sink.wait(1)
    assert "again" in (delivered.header("Subject") or "")
