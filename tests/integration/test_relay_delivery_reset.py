"""A pooled upstream connection is never reused in a state the gateway does
not know (Postfix's bar): after a transaction that did not end in a 2xx to
the end of DATA it is reset (RSET) before it is pooled, and closed when it
does not answer 250; a 503 (bad sequence of commands) to MAIL or RCPT is
the connection's state, not the recipient's: tried again at once on a new
connection, and at worst deferred, never bounced.

The upstream is a real aiosmtpd server.  When its DATA handler raises,
aiosmtpd answers `500 Error: (RuntimeError) ...` and leaves the
transaction open: the next MAIL on that connection gets `503 nested MAIL
command` unless the client sent RSET."""

from __future__ import annotations

import asyncio
from typing import Any

import aiosmtplib
import pytest
from gwtest import Sink, _SinkHandler, _SinkSMTP, make_message, strip_received, wait_state

SENDER = "alice@sender.example"
# A message whose body says this makes the upstream's DATA handler raise (in
# the body: a bounce quotes the headers).
EXPLODES = b"the upstream's handler fails on this line"


def exploding() -> bytes:
    return make_message(subject="refused", body=f"Hello,\r\n\r\n{EXPLODES.decode()}\r\n")


async def send(port: int, message: bytes, recipients: list[str]) -> str:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    await client.connect()
    await client.mail(SENDER)
    for rcpt in recipients:
        await client.rcpt(rcpt)
    response = await client.data(message)
    await client.quit()
    assert response.code == 250, response
    return response.message.split()[-1]


@pytest.fixture
def raising_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """The upstream's DATA handler raises for a message marked EXPLODES
    (aiosmtpd: 500, the transaction left open)."""
    original = _SinkHandler.handle_DATA

    async def handle_data(self: _SinkHandler, server: Any, session: Any, envelope: Any) -> str:
        if EXPLODES in bytes(envelope.original_content or b""):
            raise RuntimeError("the upstream's handler failed")
        return await original(self, server, session, envelope)

    monkeypatch.setattr(_SinkHandler, "handle_DATA", handle_data)


@pytest.fixture(params=[True, False], ids=["pipelining", "one-by-one"])
def upstream(request: pytest.FixtureRequest, raising_data: None) -> Sink:
    """A sink with or without PIPELINING: both ways of sending a transaction."""
    if request.param:
        return request.getfixturevalue("sink")  # type: ignore[no-any-return]
    other = Sink(pipelining=False)
    other.start()
    request.addfinalizer(other.close)
    return other


async def one_connection(gateway_factory: Any, upstream: Sink) -> Any:
    """A gateway with one worker and one pooled connection: every message
    after the first goes on the connection the one before it used."""
    return await gateway_factory({"queue": {"workers": 1},
                                  "upstream": {"port": upstream.port, "pool_size": 1}})


async def test_a_500_leaving_the_transaction_open_does_not_fail_the_next_messages(
    gateway_factory, upstream
):
    gw = await one_connection(gateway_factory, upstream)
    failed = await send(gw.port, exploding(), ["bob@recipient.example"])
    bounced = await wait_state(gw, failed, "bounced", "deferred", "delivered")
    # As the 500 says: refused for good, and bounced to the sender.
    assert bounced.state == "bounced"
    assert [(r.state, r.last_code) for r in bounced.recipients] == [("failed", 500)]
    (notice,) = await upstream.wait(1)
    assert notice.mail_from == "" and notice.rcpt_tos == (SENDER,)

    ids = [await send(gw.port, make_message(subject=f"innocent {n}"),
                      [f"r{n}@recipient.example"]) for n in range(3)]
    for queue_id in ids:
        delivered = await wait_state(gw, queue_id, "delivered", "bounced", timeout=15)
        assert delivered.state == "delivered", delivered.recipients
        assert delivered.attempts == 1
    got = await upstream.wait(4)
    assert await upstream.stays_empty(0.5, after=4)
    relayed = [m for m in upstream.snapshot() if m.mail_from == SENDER]
    # Each exactly once, to its own recipient; the failed one never.
    assert sorted(m.rcpt_tos for m in relayed) == [(f"r{n}@recipient.example",)
                                                   for n in range(3)]
    assert all(EXPLODES not in m.content for m in got)
    # The connection was reset, not replaced: one MAIL per transaction.
    assert len(upstream.mail_pipelined) == 5


async def test_a_failed_transaction_does_not_lose_the_bounce_notice(gateway_factory, upstream):
    """Two refused messages in a row: each one's bounce (MAIL FROM:<>) goes
    on the connection the failure left, and arrives."""
    gw = await one_connection(gateway_factory, upstream)
    first = await send(gw.port, exploding(), ["bob@recipient.example"])
    second = await send(gw.port, exploding(), ["carol@recipient.example"])
    for queue_id in (first, second):
        assert (await wait_state(gw, queue_id, "bounced", "deferred")).state == "bounced"
    notices = await upstream.wait(2)
    assert [(m.mail_from, m.rcpt_tos) for m in notices] == [("", (SENDER,))] * 2
    assert await upstream.stays_empty(0.5, after=2)


async def test_a_connection_not_answering_rset_250_is_closed_not_reused(
    gateway_factory, upstream, monkeypatch
):
    """RSET refused: the connection's state is not known, so it is closed,
    and the next message goes on a new one at its first attempt."""
    gw = await one_connection(gateway_factory, upstream)

    async def refuse_rset(self: _SinkSMTP, arg: str | None) -> None:
        await self.push("454 4.3.0 cannot reset")

    monkeypatch.setattr(_SinkSMTP, "smtp_RSET", refuse_rset)
    failed = await send(gw.port, exploding(), ["bob@recipient.example"])
    assert (await wait_state(gw, failed, "bounced", "deferred")).state == "bounced"
    queue_id = await send(gw.port, make_message(subject="next"), ["carol@recipient.example"])
    assert (await wait_state(gw, queue_id, "delivered", "bounced", "deferred")).state == (
        "delivered")
    got = await upstream.wait(2)
    assert sorted(m.rcpt_tos for m in got) == [(SENDER,), ("carol@recipient.example",)]


async def test_mail_refused_with_the_server_still_in_a_transaction_delivers_nothing_stray(
    gateway_factory, sink, raising_data, monkeypatch
):
    """An upstream that answers RSET 250 but keeps its transaction open:
    the next pipelined MAIL gets 503 while its RCPT is added to the old
    transaction and its DATA gets 354.  Ending that DATA with a dot could
    deliver a message nobody sent; the connection is closed instead and
    the message goes on a new one."""
    gw = await one_connection(gateway_factory, sink)

    async def lying_rset(self: _SinkSMTP, arg: str | None) -> None:
        await self.push("250 2.0.0 OK")  # and nothing is reset

    monkeypatch.setattr(_SinkSMTP, "smtp_RSET", lying_rset)
    failed = await send(gw.port, exploding(), ["bob@recipient.example"])
    assert (await wait_state(gw, failed, "bounced", "deferred")).state == "bounced"
    message = make_message(subject="next")
    queue_id = await send(gw.port, message, ["carol@recipient.example"])
    assert (await wait_state(gw, queue_id, "delivered", "bounced", "deferred")).state == (
        "delivered")
    await sink.wait(2)
    assert await sink.stays_empty(0.5, after=2)
    got = sink.snapshot()
    # The bounce for bob's message and carol's message; nothing empty, and
    # nothing to bob.
    assert sorted(m.rcpt_tos for m in got) == [(SENDER,), ("carol@recipient.example",)]
    (relayed,) = [m for m in got if m.mail_from == SENDER]
    assert strip_received(relayed.content)[1] == message


# --------------------------------------------------------------------------
# 503 to MAIL or RCPT


async def _pooled(gw: Any, upstream: Sink) -> None:
    """One message delivered: its connection is pooled for the next."""
    first = await send(gw.port, make_message(subject="opens"), ["first@recipient.example"])
    await wait_state(gw, first, "delivered")
    await upstream.wait(1)


async def test_503_to_mail_on_a_reused_connection_goes_again_on_a_new_one(
    gateway_factory, upstream
):
    gw = await one_connection(gateway_factory, upstream)
    await _pooled(gw, upstream)
    upstream.fail("mail", "503 5.5.1 Error: nested MAIL command", times=1)
    message = make_message(subject="reused")
    queue_id = await send(gw.port, message, ["bob@recipient.example"])
    delivered = await wait_state(gw, queue_id, "delivered", "bounced", "deferred")
    assert delivered.state == "delivered" and delivered.attempts == 1
    got = await upstream.wait(2)
    assert await upstream.stays_empty(0.5, after=2)
    assert [m.rcpt_tos for m in got] == [("first@recipient.example",),
                                         ("bob@recipient.example",)]
    assert strip_received(got[1].content)[1] == message


async def test_503_to_mail_again_on_a_new_connection_defers_never_bounces(
    gateway_factory, upstream
):
    gw = await one_connection(gateway_factory, upstream)
    await _pooled(gw, upstream)
    upstream.fail("mail", "503 5.5.1 Error: nested MAIL command", times=2)
    queue_id = await send(gw.port, make_message(subject="reused"), ["bob@recipient.example"])
    deferred = await wait_state(gw, queue_id, "deferred", "bounced", "delivered")
    assert deferred.state == "deferred"
    assert deferred.last_error and "503" in deferred.last_error
    assert deferred.last_error.startswith("4.")
    delivered = await wait_state(gw, queue_id, "delivered", "bounced")
    assert delivered.state == "delivered" and delivered.attempts == 2
    got = await upstream.wait(2)
    assert await upstream.stays_empty(0.5, after=2)
    assert all(m.mail_from == SENDER for m in got)  # no bounce


async def test_503_to_one_rcpt_on_a_reused_connection_sends_each_recipient_once(
    gateway_factory, upstream
):
    gw = await one_connection(gateway_factory, upstream)
    await _pooled(gw, upstream)
    upstream.fail("rcpt", "503 5.5.1 Error: need MAIL command", match="carol@", times=1)
    queue_id = await send(gw.port, make_message(subject="two"),
                          ["bob@recipient.example", "carol@recipient.example"])
    delivered = await wait_state(gw, queue_id, "delivered", "bounced", "deferred")
    assert delivered.state == "delivered" and delivered.attempts == 1
    await upstream.wait(3)
    assert await upstream.stays_empty(0.5, after=3)
    assert [m.rcpt_tos for m in upstream.snapshot()[1:]] == [("bob@recipient.example",),
                                                             ("carol@recipient.example",)]


async def test_many_messages_after_a_failure_all_arrive_once(gateway_factory, upstream):
    """The tester's case at the pool's full size: a failure on one pooled
    connection while others carry the rest."""
    gw = await gateway_factory({"upstream": {"port": upstream.port}})
    failed = await send(gw.port, exploding(), ["bob@recipient.example"])
    await wait_state(gw, failed, "bounced")
    ids = await asyncio.gather(*[
        send(gw.port, make_message(subject=f"many {n}"), [f"r{n}@recipient.example"])
        for n in range(12)
    ])
    for queue_id in ids:
        message = await wait_state(gw, queue_id, "delivered", "bounced", timeout=15)
        assert message.state == "delivered" and message.attempts == 1
    await upstream.wait(13)
    assert await upstream.stays_empty(0.5, after=13)
    relayed = sorted(m.rcpt_tos for m in upstream.snapshot() if m.mail_from == SENDER)
    assert relayed == sorted((f"r{n}@recipient.example",) for n in range(12))


async def test_rset_only_after_a_refusal_never_on_the_happy_path(
    gateway_factory, upstream, monkeypatch
):
    """The reset costs a round trip after a refusal only: messages that
    were delivered leave their connection pooled as it is."""
    gw = await one_connection(gateway_factory, upstream)
    resets: list[str | None] = []
    original = _SinkSMTP.smtp_RSET

    async def counted(self: _SinkSMTP, arg: str | None) -> None:
        resets.append(arg)
        await original(self, arg)

    monkeypatch.setattr(_SinkSMTP, "smtp_RSET", counted)
    for n in range(3):
        queue_id = await send(gw.port, make_message(subject=f"fine {n}"), ["bob@recipient.example"])
        await wait_state(gw, queue_id, "delivered")
    assert resets == []
    failed = await send(gw.port, exploding(), ["bob@recipient.example"])
    await wait_state(gw, failed, "bounced")
    await upstream.wait(4)  # three messages and the bounce notice
    assert len(resets) == 1


# --------------------------------------------------------------------------
# 503 in DATA


@pytest.fixture
def data_503(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The upstream answers the DATA command 503 while the list holds a
    positive count (one off per answer): a server that lost the
    transaction the gateway had just opened."""
    left = [0]
    original = _SinkSMTP.smtp_DATA

    async def smtp_data(self: _SinkSMTP, arg: str | None) -> None:
        if left[0] > 0:
            left[0] -= 1
            self.envelope.mail_from = None
            self.envelope.rcpt_tos = []
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        await original(self, arg)

    monkeypatch.setattr(_SinkSMTP, "smtp_DATA", smtp_data)
    return left


async def test_503_to_data_on_a_reused_connection_goes_again_on_a_new_one(
    gateway_factory, upstream, data_503
):
    gw = await one_connection(gateway_factory, upstream)
    await _pooled(gw, upstream)
    data_503[0] = 1
    message = make_message(subject="reused")
    queue_id = await send(gw.port, message, ["bob@recipient.example"])
    delivered = await wait_state(gw, queue_id, "delivered", "bounced", "deferred")
    assert delivered.state == "delivered" and delivered.attempts == 1
    got = await upstream.wait(2)
    assert await upstream.stays_empty(0.5, after=2)
    assert [m.rcpt_tos for m in got] == [("first@recipient.example",),
                                         ("bob@recipient.example",)]
    assert strip_received(got[1].content)[1] == message


async def test_503_to_data_again_on_a_new_connection_defers_never_bounces(
    gateway_factory, upstream, data_503
):
    gw = await one_connection(gateway_factory, upstream)
    await _pooled(gw, upstream)
    data_503[0] = 2
    queue_id = await send(gw.port, make_message(subject="reused"), ["bob@recipient.example"])
    deferred = await wait_state(gw, queue_id, "deferred", "bounced", "delivered")
    assert deferred.state == "deferred"
    assert deferred.last_error and deferred.last_error.startswith("4.") and "503" in (
        deferred.last_error)
    delivered = await wait_state(gw, queue_id, "delivered", "bounced")
    assert delivered.state == "delivered" and delivered.attempts == 2
    got = await upstream.wait(2)
    assert await upstream.stays_empty(0.5, after=2)
    assert all(m.mail_from == SENDER for m in got)  # no bounce


async def test_503_after_the_body_on_a_reused_connection_goes_again_on_a_new_one(
    gateway_factory, upstream
):
    gw = await one_connection(gateway_factory, upstream)
    await _pooled(gw, upstream)
    upstream.fail("data", "503 5.5.1 Error: bad sequence of commands", times=1)
    queue_id = await send(gw.port, make_message(subject="reused"), ["bob@recipient.example"])
    delivered = await wait_state(gw, queue_id, "delivered", "bounced", "deferred")
    assert delivered.state == "delivered" and delivered.attempts == 1
    got = await upstream.wait(2)
    assert await upstream.stays_empty(0.5, after=2)
    assert [m.rcpt_tos for m in got] == [("first@recipient.example",),
                                         ("bob@recipient.example",)]
