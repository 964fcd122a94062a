"""Delivery as a mail administrator expects of an MTA (Postfix's smtp client):
the end of DATA awaited for its own long timeout, recipients over the
smarthost's per-transaction limit sent again at once, a 552 to RCPT taken as
temporary, an internationalised envelope to a smarthost without SMTPUTF8
failed for good and bounced, a delivery that fails in the gateway deferred
(never left claimed), a partly delivered bounce shown as such, and the log
lines that trace a delivery."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json

import aiosmtplib
import pytest
from faker import Faker
from gwtest import Sink, _SinkHandler, make_message, run_cli, wait_state, write_config
from structlog.testing import capture_logs

from gateway.deliver import worker as worker_module

_FAKE = Faker("en_GB")
_FAKE.seed_instance(5321)
SENDER = f"{_FAKE.user_name()}@sender.example"


def recipients(count: int, tag: str) -> list[str]:
    """`count` distinct synthetic recipients whose addresses all contain `tag`."""
    names: list[str] = []
    while len(names) < count:
        name = f"{tag}{len(names)}.{_FAKE.first_name().lower()}@recipient.example"
        names.append(name)
    return names


async def send(port: int, message: bytes, to: list[str], sender: str = SENDER,
               smtputf8: bool = False, mail_options: tuple[str, ...] = ()) -> str:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    await client.connect()
    await client.mail(sender, options=[*mail_options, *(["SMTPUTF8"] if smtputf8 else [])],
                      encoding="utf-8" if smtputf8 else "ascii")
    for rcpt in to:
        await client.rcpt(rcpt, encoding="utf-8" if smtputf8 else "ascii")
    response = await client.data(message)
    await client.quit()
    assert response.code == 250, response
    return response.message.split()[-1]


def relayed(sink: Sink) -> list[tuple[str, ...]]:
    """The recipients of each message the sink got from the original sender."""
    return [m.rcpt_tos for m in sink.snapshot() if m.mail_from == SENDER]


def bounces(sink: Sink) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(m.content, policy=email.policy.default)  # type: ignore[misc]
            for m in sink.snapshot() if m.mail_from == ""]


def status_fields(report: email.message.EmailMessage) -> list[dict[str, str]]:
    """Each recipient's block of a delivery-status report, unfolded."""
    _, status, _ = report.iter_parts()
    _, *blocks = status.get_payload()
    return [{name: " ".join(value.split()) for name, value in block.items()} for block in blocks]


@pytest.fixture(params=[True, False], ids=["pipelining", "one-by-one"])
def upstream(request: pytest.FixtureRequest) -> Sink:
    """A sink with or without PIPELINING: both ways of sending RCPT."""
    if request.param:
        return request.getfixturevalue("sink")
    other = Sink(pipelining=False)
    other.start()
    request.addfinalizer(other.close)
    return other


# --------------------------------------------------------------------------
# F1: the end of DATA


async def test_a_slow_reply_to_the_end_of_data_is_awaited_not_sent_again(gateway_factory, sink):
    """A smarthost that takes longer than the per-command timeout to answer
    the final dot (it scans first) is waited for: one attempt, one copy."""
    gw = await gateway_factory({"upstream": {"timeout": "1s"}})
    sink.delay("data", 2.5, times=1)
    (to,) = recipients(1, "slow")
    queue_id = await send(gw.port, make_message(sender=SENDER, to=to), [to])
    await sink.wait(1)
    delivered = await wait_state(gw, queue_id, "delivered", "deferred")
    assert delivered.state == "delivered" and delivered.attempts == 1
    assert await sink.stays_empty(1.0, after=1)
    assert relayed(sink) == [(to,)]


async def test_data_done_timeout_bounds_the_wait_for_the_end_of_data(gateway_factory, sink):
    """`[upstream] data_done_timeout`: an end of DATA never answered is
    given up after it, deferred, and delivered by the next attempt."""
    gw = await gateway_factory({"upstream": {"timeout": "5s", "data_done_timeout": "1s"}})
    sink.hang("data", times=1)
    (to,) = recipients(1, "hung")
    queue_id = await send(gw.port, make_message(sender=SENDER, to=to), [to])
    deferred = await wait_state(gw, queue_id, "deferred", "delivered", timeout=20)
    assert deferred.state == "deferred" and deferred.attempts == 1
    await sink.wait(1)
    assert (await wait_state(gw, queue_id, "delivered")).attempts == 2


# --------------------------------------------------------------------------
# F7: too many recipients for one transaction


async def test_recipients_over_the_smarthosts_limit_go_in_another_transaction_at_once(
    gateway_factory, upstream
):
    gw = await gateway_factory({"upstream": {"port": upstream.port},
                                "queue": {"retry": ["1h"]}})
    to = recipients(5, "many")
    # The first transaction takes two; the next one, one; the last, two.
    upstream.fail("rcpt", "452 4.5.3 Error: too many recipients", match=to[2], times=1)
    upstream.fail("rcpt", "452 4.5.3 Error: too many recipients", match=to[3], times=2)
    upstream.fail("rcpt", "452 4.5.3 Error: too many recipients", match=to[4], times=2)
    queue_id = await send(gw.port, make_message(sender=SENDER, to=to[0]), to)
    message = await wait_state(gw, queue_id, "delivered", "deferred")
    assert message.state == "delivered" and message.attempts == 1
    assert {r.state for r in message.recipients} == {"delivered"}
    assert relayed(upstream) == [tuple(to[:2]), (to[2],), tuple(to[3:])]


async def test_a_smarthost_taking_no_recipient_at_all_defers_them(gateway_factory, upstream):
    """"Too many recipients" for the first one: no transaction takes any,
    so they wait for the next attempt rather than being asked for ever."""
    gw = await gateway_factory({"upstream": {"port": upstream.port},
                                "queue": {"retry": ["1h"]}})
    to = recipients(2, "none")
    upstream.fail("rcpt", "452 4.5.3 Error: too many recipients", match="none")
    queue_id = await send(gw.port, make_message(sender=SENDER, to=to[0]), to)
    message = await wait_state(gw, queue_id, "deferred", "delivered", "bounced")
    assert message.state == "deferred" and message.attempts == 1
    assert {(r.state, r.last_code) for r in message.recipients} == {("pending", 452)}
    assert relayed(upstream) == [] and bounces(upstream) == []


# --------------------------------------------------------------------------
# F13: 552 to RCPT


async def test_552_to_rcpt_is_temporary(gateway_factory, upstream):
    """RFC 5321 4.5.3.1.10: a 552 to RCPT is treated as 452: deferred, no bounce."""
    gw = await gateway_factory({"upstream": {"port": upstream.port},
                                "queue": {"retry": ["1h"]}})
    full, fine = recipients(2, "full")
    upstream.fail("rcpt", "552 5.2.2 mailbox full", match=full)
    queue_id = await send(gw.port, make_message(sender=SENDER, to=fine), [full, fine])
    message = await wait_state(gw, queue_id, "deferred", "bounced")
    assert message.state == "deferred" and message.attempts == 1
    states = {r.address: (r.state, r.last_code, r.last_reply) for r in message.recipients}
    assert states[full] == ("pending", 452, "4.2.2 mailbox full")
    assert states[fine] == ("delivered", 250, "2.0.0 OK stored")
    assert await upstream.stays_empty(0.5, after=1)
    assert bounces(upstream) == []


# --------------------------------------------------------------------------
# F12: SMTPUTF8 not offered; a delivery that fails in the gateway


def without_extension(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """The sink's EHLO without the extension `name`."""
    original = _SinkHandler.handle_EHLO

    async def handle_ehlo(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        lines = await original(self, server, session, envelope, hostname, responses)
        return [line for line in lines if line[4:].split(" ")[0].upper() != name]

    monkeypatch.setattr(_SinkHandler, "handle_EHLO", handle_ehlo)


@pytest.fixture
def no_smtputf8(monkeypatch: pytest.MonkeyPatch) -> None:
    """A smarthost without SMTPUTF8 (Exchange on-premises, many relays)."""
    without_extension(monkeypatch, "SMTPUTF8")


async def test_an_internationalised_recipient_to_a_host_without_smtputf8_bounces(
    gateway_factory, sink, no_smtputf8
):
    gw = await gateway_factory()
    ascii_to, = recipients(1, "plain")
    utf8_to = f"j\u00f6se.{_FAKE.last_name().lower()}@recipient.example"
    with capture_logs() as logs:
        queue_id = await send(gw.port, make_message(sender=SENDER, to=ascii_to),
                              [utf8_to], smtputf8=True)
        message = await wait_state(gw, queue_id, "bounced", "deferred", "delivered")
        await sink.wait(1)
    assert message.state == "bounced" and message.attempts == 1
    (recipient,) = message.recipients
    assert recipient.state == "failed"
    assert message.last_error == (
        "5.6.7 SMTPUTF8 is required, but was not offered by host 127.0.0.1")
    (report,) = bounces(sink)
    (fields,) = status_fields(report)
    escaped = utf8_to.replace("\u00f6", "\\x{F6}")
    assert fields["Final-Recipient"] == f"utf-8; {escaped}"
    assert fields["Status"] == "5.6.7" and fields["Action"] == "failed"
    human = next(report.iter_parts()).get_content()
    assert f"<{utf8_to}>: SMTPUTF8 is required, but was not offered by host" in human
    assert [e for e in logs if e["event"] == "delivery_crashed"] == []
    (queued,) = [e for e in logs if e["event"] == "bounce_queued"]
    assert queued["queue_id"] == queue_id and queued["bounce_id"] != queue_id
    assert relayed(sink) == []


async def test_a_bounce_to_an_internationalised_sender_is_queued_with_smtputf8(
    gateway_factory, sink, no_smtputf8
):
    gw = await gateway_factory()
    sender = f"\u00e5lice.{_FAKE.last_name().lower()}@sender.example"
    (to,) = recipients(1, "refused")
    sink.fail("rcpt", "550 5.1.1 no such mailbox", match=to)
    with capture_logs() as logs:
        queue_id = await send(gw.port, make_message(sender=SENDER, to=to), [to],
                              sender=sender, smtputf8=True)
        message = await wait_state(gw, queue_id, "bounced", "deferred", "delivered")
        (queued,) = [e for e in logs if e["event"] == "bounce_queued"]
        # The bounce itself cannot go to this smarthost: it fails for
        # good too, and (from the null sender) makes no bounce of its own.
        bounce = await wait_state(gw, queued["bounce_id"], "bounced", "deferred", "delivered")
    assert message.state == "bounced"
    assert bounce.envelope.mail_from == "" and bounce.envelope.rcpt_tos == (sender,)
    assert bounce.envelope.smtputf8
    assert bounce.last_error and bounce.last_error.startswith("5.6.7 SMTPUTF8 is required")
    assert [e for e in logs if e["event"] == "delivery_crashed"] == []


@pytest.fixture
def failing_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every delivery attempt fails with an error nobody expected (a
    defect), before any result is known."""

    async def attempt(self: object, message: object) -> object:
        raise RuntimeError("a defect in the gateway")

    monkeypatch.setattr(worker_module.Dispatcher, "_attempt", attempt)


async def test_a_delivery_that_fails_in_the_gateway_is_deferred_with_its_attempt_counted(
    gateway_factory, sink, failing_attempt
):
    gw = await gateway_factory({"queue": {"retry": ["1h"]}})
    (to,) = recipients(1, "crash")
    with capture_logs() as logs:
        queue_id = await send(gw.port, make_message(sender=SENDER, to=to), [to])
        message = await wait_state(gw, queue_id, "deferred", timeout=10)
    assert message.attempts == 1
    assert message.last_error == "4.3.0 delivery failed in the gateway (RuntimeError)"
    (recipient,) = message.recipients
    assert recipient.state == "pending"
    (crash,) = [e for e in logs if e["event"] == "delivery_crashed"]
    assert crash["queue_id"] == queue_id and crash["error"] == "RuntimeError"
    assert crash["log_level"] == "error" and crash["where"].startswith("gateway/")
    assert "defect" not in json.dumps(crash)  # the class and place, never the text


async def test_a_message_failing_in_the_gateway_expires_and_bounces(
    gateway_factory, sink, failing_attempt
):
    """Retried on the schedule, it is bounced at max_age like any deferred
    message (the bounce too fails here, from <>: nothing more)."""
    gw = await gateway_factory({"queue": {"retry": ["200ms"], "max_age": "1s"}})
    (to,) = recipients(1, "expire")
    with capture_logs() as logs:
        queue_id = await send(gw.port, make_message(sender=SENDER, to=to), [to])
        message = await wait_state(gw, queue_id, "bounced", timeout=20)
    assert message.attempts >= 2
    (queued,) = [e for e in logs if e["event"] == "bounce_queued"]
    assert queued["queue_id"] == queue_id


async def test_a_result_that_cannot_be_recorded_keeps_the_delivered_and_defers_the_rest(
    gateway_factory, sink, monkeypatch
):
    """The bounce cannot be made: the recipient the smarthost accepted stays
    delivered (not sent twice), the message is deferred, the attempt counted."""

    def broken_bounce(**kwargs: object) -> bytes:
        raise RuntimeError("bounce writer defect")

    monkeypatch.setattr(worker_module, "build_bounce", broken_bounce)
    gw = await gateway_factory({"queue": {"retry": ["1h"]}})
    fine, refused = recipients(2, "record")
    sink.fail("rcpt", "550 5.1.1 no such mailbox", match=refused)
    with capture_logs() as logs:
        queue_id = await send(gw.port, make_message(sender=SENDER, to=fine), [fine, refused])
        message = await wait_state(gw, queue_id, "deferred", "bounced", timeout=10)
    assert message.state == "deferred" and message.attempts == 1
    states = {r.address: r.state for r in message.recipients}
    assert states == {fine: "delivered", refused: "pending"}
    assert message.last_error == "4.3.0 delivery failed in the gateway (RuntimeError)"
    (failed,) = [e for e in logs if e["event"] == "delivery_record_failed"]
    assert failed["where"].startswith("gateway/deliver/worker.py:")
    assert relayed(sink) == [(fine,)]


# --------------------------------------------------------------------------
# F6: a bounce most of whose recipients were delivered


async def test_queue_list_and_show_say_how_many_of_a_bounced_message_were_delivered(
    gateway_factory, gateway_config, sink, tmp_path
):
    gw = await gateway_factory()
    first, refused, last = recipients(3, "partly")
    sink.fail("rcpt", "550 5.1.1 no such mailbox", match=refused)
    queue_id = await send(gw.port, make_message(sender=SENDER, to=first), [first, refused, last])
    await wait_state(gw, queue_id, "bounced")
    config = write_config(tmp_path / "cli.toml", gateway_config())

    listing = await asyncio.to_thread(run_cli, "queue", "list", "--all", config=config)
    assert listing.returncode == 0, listing.stderr
    (line,) = [row for row in listing.stdout.splitlines() if row.startswith(queue_id)]
    assert "bounced (2 of 3 delivered)" in line
    shown = await asyncio.to_thread(run_cli, "queue", "show", queue_id, config=config)
    assert shown.returncode == 0, shown.stderr
    described = json.loads(shown.stdout)
    assert described["state"] == "bounced"  # the stored state, unchanged
    assert described["outcome"] == "bounced (2 of 3 delivered)"
    assert {r["address"]: r["state"] for r in described["recipients"]} == {
        first: "delivered", refused: "failed", last: "delivered"}


# --------------------------------------------------------------------------
# F10: RET=FULL, and a bounce at max_age


async def test_ret_full_returns_the_whole_message_in_the_bounce(gateway_factory, sink):
    gw = await gateway_factory()
    (to,) = recipients(1, "whole")
    sink.fail("rcpt", "550 5.1.1 no such mailbox", match=to)
    body = f"Dear {_FAKE.first_name()},\r\n\r\n{_FAKE.paragraph()}\r\n.leading dot\r\n"
    message = make_message(sender=SENDER, to=to, body=body)
    queue_id = await send(gw.port, message, [to], mail_options=("RET=FULL",))
    await wait_state(gw, queue_id, "bounced")
    await sink.wait(1)
    (report,) = bounces(sink)
    kinds = [part.get_content_type() for part in report.iter_parts()]
    assert kinds == ["text/plain", "message/delivery-status", "message/rfc822"]
    (raw,) = [m.content for m in sink.snapshot() if m.mail_from == ""]
    # The original as it was queued (behind the gateway's Received header).
    assert message in raw


async def test_ret_full_of_a_large_message_returns_its_headers(gateway_factory, sink):
    gw = await gateway_factory()
    (to,) = recipients(1, "large")
    sink.fail("rcpt", "550 5.1.1 no such mailbox", match=to)
    body = "\r\n".join(_FAKE.sentence() for _ in range(1500)) + "\r\n"
    message = make_message(sender=SENDER, to=to, body=body)
    assert len(message) > 50_000
    queue_id = await send(gw.port, message, [to], mail_options=("RET=FULL",))
    await wait_state(gw, queue_id, "bounced")
    await sink.wait(1)
    (report,) = bounces(sink)
    human, _, returned = report.iter_parts()
    assert returned.get_content_type() == "text/rfc822-headers"
    assert "larger than 50000 bytes: only its headers are returned" in " ".join(
        human.get_content().split())
    (raw,) = [m.content for m in sink.snapshot() if m.mail_from == ""]
    assert body.splitlines()[0].encode() not in raw


async def test_a_bounce_at_max_age_says_the_gateway_gave_up_and_after_what(
    gateway_factory, sink
):
    gw = await gateway_factory({"queue": {"max_age": "1s", "retry": ["400ms"]}})
    (to,) = recipients(1, "expiring")
    sink.fail("rcpt", "452 4.2.2 mailbox full", match=to)
    queue_id = await send(gw.port, make_message(sender=SENDER, to=to), [to])
    message = await wait_state(gw, queue_id, "bounced", timeout=20)
    await sink.wait(1)
    (report,) = bounces(sink)
    human = " ".join(next(report.iter_parts()).get_content().split())
    assert (f"The gateway gave up after {message.attempts} attempts over "
            in human), human
    assert "temporary failure" in human
    assert f"<{to}>: 452 4.2.2 mailbox full" in human


async def test_a_refusal_is_not_called_giving_up(gateway, sink):
    (to,) = recipients(1, "refusal")
    sink.fail("rcpt", "550 5.1.1 no such mailbox", match=to)
    queue_id = await send(gateway.port, make_message(sender=SENDER, to=to), [to])
    await wait_state(gateway, queue_id, "bounced")
    await sink.wait(1)
    (report,) = bounces(sink)
    assert "gave up" not in next(report.iter_parts()).get_content()


# --------------------------------------------------------------------------
# F5: NOTIFY=SUCCESS to a smarthost without DSN


async def send_with_dsn(port: int, to: list[str], notify: str) -> str:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    await client.connect()
    await client.mail(SENDER, options=["RET=HDRS", "ENVID=staff-42"])
    for rcpt in to:
        await client.rcpt(rcpt, options=[f"NOTIFY={notify}", f"ORCPT=rfc822;{rcpt}"])
    response = await client.data(make_message(sender=SENDER, to=to[0]))
    await client.quit()
    assert response.code == 250, response
    return response.message.split()[-1]


async def test_notify_success_to_a_smarthost_without_dsn_is_answered_relayed(
    gateway_factory, sink, monkeypatch
):
    without_extension(monkeypatch, "DSN")
    gw = await gateway_factory()
    to = recipients(2, "receipt")
    with capture_logs() as logs:
        queue_id = await send_with_dsn(gw.port, to, "SUCCESS,FAILURE")
        await wait_state(gw, queue_id, "delivered")
        await sink.wait(2)
    (relayed_to,) = relayed(sink)
    assert relayed_to == tuple(to)
    (report,) = bounces(sink)
    assert report["Subject"] == "Relayed Mail Delivery Report"
    assert report["To"] == SENDER
    fields = status_fields(report)
    assert [f["Final-Recipient"] for f in fields] == [f"rfc822; {a}" for a in to]
    assert {f["Action"] for f in fields} == {"relayed"}
    assert {f["Status"] for f in fields} == {"2.0.0"}
    assert [f["Original-Recipient"] for f in fields] == [f"rfc822;{a}" for a in to]
    _, status, _ = report.iter_parts()
    per_message = status.get_payload()[0]
    assert per_message["Original-Envelope-Id"] == "staff-42"
    human = next(report.iter_parts()).get_content()
    assert "no confirmation of delivery will follow" in " ".join(human.split())
    (queued,) = [e for e in logs if e["event"] == "relayed_notice_queued"]
    assert queued["queue_id"] == queue_id


async def test_notify_success_to_a_smarthost_with_dsn_is_passed_on_not_answered(
    gateway_factory, sink
):
    gw = await gateway_factory()
    to = recipients(1, "passed")
    queue_id = await send_with_dsn(gw.port, to, "SUCCESS")
    await wait_state(gw, queue_id, "delivered")
    (got,) = await sink.wait(1)
    assert got.rcpt_options == (("NOTIFY=SUCCESS", f"ORCPT=rfc822;{to[0]}"),)
    assert await sink.stays_empty(0.5, after=1)


async def test_notify_failure_only_gets_no_relayed_notice(gateway_factory, sink, monkeypatch):
    without_extension(monkeypatch, "DSN")
    gw = await gateway_factory()
    to = recipients(1, "quiet")
    queue_id = await send_with_dsn(gw.port, to, "FAILURE")
    await wait_state(gw, queue_id, "delivered")
    await sink.wait(1)
    assert await sink.stays_empty(0.5, after=1)
    assert bounces(sink) == []


# --------------------------------------------------------------------------
# F3: the log lines of a delivery


async def test_delivery_attempted_names_the_relay_delay_and_reply_codes(gateway_factory, sink):
    gw = await gateway_factory({"queue": {"retry": ["1h"]}})
    fine, later, refused = recipients(3, "logged")
    sink.fail("rcpt", "451 4.2.0 mailbox busy", match=later)
    sink.fail("rcpt", "550 5.1.1 no such mailbox", match=refused)
    with capture_logs() as logs:
        queue_id = await send(gw.port, make_message(sender=SENDER, to=fine),
                              [fine, later, refused])
        await wait_state(gw, queue_id, "deferred")
    (attempted,) = [e for e in logs if e["event"] == "delivery_attempted"
                    and e["queue_id"] == queue_id]
    assert attempted["relay"] == f"127.0.0.1:{sink.port}"
    assert isinstance(attempted["delay"], float) and attempted["delay"] >= 0
    assert attempted["replies"] == {"delivered": ["250 2.0.0"], "deferred": ["451 4.2.0"],
                                    "failed": ["550 5.1.1"]}
    text = json.dumps(attempted)
    assert "@" not in text and "mailbox" not in text  # codes, never the replies' words


async def test_upstream_unavailable_names_the_relay_and_the_reason(gateway_factory, sink):
    gw = await gateway_factory({"queue": {"retry": ["1h"]}})
    sink.stop()
    (to,) = recipients(1, "down")
    with capture_logs() as logs:
        queue_id = await send(gw.port, make_message(sender=SENDER, to=to), [to])
        await wait_state(gw, queue_id, "deferred")
    (down,) = [e for e in logs if e["event"] == "upstream_unavailable"]
    assert down["relay"] == f"127.0.0.1:{sink.port}"
    assert down["reason"] == "Connection refused"
    (attempted,) = [e for e in logs if e["event"] == "delivery_attempted"]
    assert attempted["replies"] == {"deferred": ["gateway 4.4.1"]}
