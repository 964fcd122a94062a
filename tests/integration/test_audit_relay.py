"""The audit trail of real messages through a running Gateway over SMTP:
one record per message with its events in order, and a chain that verifies."""

from __future__ import annotations

import asyncio
import gc
import re
import time

import aiosmtplib
from gwtest import make_message

from gateway.audit import AuditQuery, AuditRecord, SearchFilter, verify
from gateway.db import create_engine
from gateway.pipeline import Decision


async def wait_for_event(gw, record_id: str, event: str, timeout: float = 10.0) -> dict:
    query = AuditQuery(gw.engine)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        document = await query.get(record_id)
        if document and event in [e["type"] for e in document["events"]]:
            return document
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {event} event for {record_id}: {document}")
        await asyncio.sleep(0.05)


async def test_relayed_message_has_one_record_with_its_life(gateway_factory, sink):
    gw = await gateway_factory()
    message = make_message(subject="Team meeting notes")
    errors, reply = await aiosmtplib.send(
        message, sender="alice@sender.example", recipients=["bob@recipient.example"],
        hostname="127.0.0.1", port=gw.port,
    )
    assert not errors
    queue_id = re.search(r"Queued as (\S+)", reply).group(1)
    await sink.wait(1)
    document = await wait_for_event(gw, queue_id, "relayed")

    assert document["id"] == queue_id
    assert document["sender"] == "alice@sender.example"
    assert [r["address"] for r in document["recipients"]] == ["bob@recipient.example"]
    assert document["verdict"] in {"deliver", "protect", "hold", "reject"}
    assert [e["type"] for e in document["events"]] == ["received", "queued", "relayed"]
    assert document["events"][-1]["detail"]["recipient"] == "bob@recipient.example"

    found = await AuditQuery(gw.engine).search(SearchFilter(recipient="BOB@recipient.example"))
    assert [d["id"] for d in found] == [queue_id]
    report = await verify(gw.engine)
    assert report.ok, report.problems
    # received and queued are kept in the record's row, relayed is a row
    assert (report.records, report.events) == (1, 1)


def _reachable(start: object) -> list[object]:
    """Every object reachable from `start` through data (not through
    functions, classes or modules, which reach everything)."""
    seen: set[int] = set()
    found: list[object] = []
    stack = [start]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type) or (callable(obj) and obj is not start):
            continue
        seen.add(id(obj))
        found.append(obj)
        referents = gc.get_referents(obj)
        if obj is start:  # a partial: what it holds, not its function
            referents = [r for r in referents if not callable(r)]
        stack.extend(referents)
    return found


async def test_the_record_waiting_for_its_batch_holds_none_of_the_content(
    gateway_factory, sink, monkeypatch
):
    """The record's operation waits in the Writer's batch until the commit
    (its record is built there): it must not keep a large message's
    content alive that long (the 25 MB memory test's peak)."""
    gw = await gateway_factory()
    handed: list[object] = []
    record_op = gw.audit.record_op

    def spy(record, events=()):
        handed.append(record)
        return record_op(record, events)

    monkeypatch.setattr(gw.audit, "record_op", spy)
    body = "A long synthetic note line for the minutes.\n" * 5000  # about 220 KB
    errors, _ = await aiosmtplib.send(
        make_message(subject="Minutes", body=body), sender="alice@sender.example",
        recipients=["bob@recipient.example"], hostname="127.0.0.1", port=gw.port,
    )
    assert not errors
    await sink.wait(1)

    [builder] = handed
    held = _reachable(builder)
    assert not any(isinstance(o, Decision) for o in held)
    largest = max((len(o) for o in held if isinstance(o, bytes | bytearray | str)), default=0)
    assert largest < 1024
    record = builder if isinstance(builder, AuditRecord) else builder()
    assert record.subject == "Minutes"
    assert [r.address for r in record.recipients] == ["bob@recipient.example"]


async def test_many_concurrent_messages_keep_one_chain(gateway_factory, sink):
    gw = await gateway_factory()

    async def send(i: int) -> None:
        await aiosmtplib.send(
            make_message(subject=f"note {i}"), sender=f"user{i}@sender.example",
            recipients=["bob@recipient.example", "carol@recipient.example"],
            hostname="127.0.0.1", port=gw.port,
        )

    await asyncio.gather(*(send(i) for i in range(20)))
    await sink.wait(20)
    query = AuditQuery(gw.engine)
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        report = await verify(gw.engine)
        if report.events >= 20 * 2 or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.1)
    assert report.ok, report.problems
    assert report.records == 20
    # relayed x 2 recipients (received and queued are kept in the records' rows)
    assert report.events == 20 * 2
    assert len(await query.search(SearchFilter(recipient="carol@recipient.example"))) == 20


async def test_the_gateway_logs_anchors_that_verify_checks(gateway_factory, sink):
    """Every [audit] anchor_interval the gateway logs the chain's committed
    head when it moved: the logs keep it outside the database, where
    `verify --anchor` can check the trail still holds it."""
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        gw = await _relay_one(gateway_factory, sink, "100ms")
        for _ in range(100):  # the record, then its `relayed` event: seq 2
            if any(e["event"] == "audit_anchor" and e["seq"] >= 2 for e in logs):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # a few more rounds: the head has not moved since
    anchors = [e for e in logs if e["event"] == "audit_anchor"]
    assert anchors and anchors[-1]["seq"] >= 2
    seqs = [e["seq"] for e in anchors]
    assert seqs == sorted(set(seqs))  # logged once per position, as the chain grows
    assert all(e["anchor"] == f"{e['seq']}:{e['hash']}" for e in anchors)
    report = await verify(gw.engine, anchors=[(e["seq"], e["hash"]) for e in anchors])
    assert report.ok and not report.warnings, (report.problems, report.warnings)


async def test_anchor_interval_0s_logs_none(gateway_factory, sink):
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        await _relay_one(gateway_factory, sink, "0s")
        await asyncio.sleep(0.3)
    assert "message_queued" in {e["event"] for e in logs}
    assert "audit_anchor" not in {e["event"] for e in logs}


async def _relay_one(gateway_factory, sink, anchor_interval: str):
    """A gateway with this [audit] anchor_interval, once it relayed a message."""
    gw = await gateway_factory({"audit": {"anchor_interval": anchor_interval}})
    await _send_one(gw, sink)
    return gw


async def _send_one(gw, sink) -> None:
    """One message through `gw` to the sink, its queue row then delivered."""
    await aiosmtplib.send(make_message(subject="Team meeting notes"), sender="alice@sender.example",
                          recipients=["bob@recipient.example"], hostname="127.0.0.1", port=gw.port)
    await sink.wait(1)
    for _ in range(100):
        if await gw.store.depth_by_state() == {"delivered": 1}:
            break
        await asyncio.sleep(0.05)


async def test_a_finished_message_leaves_the_queue_after_keep_finished(gateway_factory, sink):
    """[queue] keep_finished "0s": the delivered message's queue row goes at
    the next sweep (a second apart); its audit record stays."""
    gw = await gateway_factory({"queue": {"keep_finished": "0s"}})
    errors, reply = await aiosmtplib.send(
        make_message(subject="Team meeting notes"), sender="alice@sender.example",
        recipients=["bob@recipient.example"], hostname="127.0.0.1", port=gw.port)
    assert not errors
    queue_id = re.search(r"Queued as (\S+)", reply).group(1)
    await sink.wait(1)
    await wait_for_event(gw, queue_id, "relayed")
    for _ in range(100):
        if await gw.store.get(queue_id) is None:
            break
        await asyncio.sleep(0.05)
    assert await gw.store.get(queue_id) is None
    assert await gw.store.depth_by_state() == {}
    document = await AuditQuery(gw.engine).get(queue_id)
    assert [e["type"] for e in document["events"]] == ["received", "queued", "relayed"]


async def test_finished_messages_are_kept_30_days_by_default(gateway_factory, sink):
    gw = await gateway_factory()
    assert gw.settings.queue.keep_finished.days == 30
    await _send_one(gw, sink)
    # What the sweep does, now: a message delivered just now is 30 days
    # from going; one delivered 30 days and a minute ago would go.
    keep = gw.settings.queue.keep_finished.total_seconds()
    assert await gw.store.forget_finished(time.time() - keep) == 0
    assert await gw.store.depth_by_state() == {"delivered": 1}
    assert await gw.store.forget_finished(time.time() + 60) == 1


async def test_a_stopping_gateway_logs_the_head_it_leaves(gateway_config, sink, tmp_path):
    """With an hour between anchors, the trail written since the last one
    is anchored as the gateway stops.  (Made here: the factory would stop
    it a second time.)"""
    from structlog.testing import capture_logs

    from gateway.app import Gateway
    from gateway.settings import Settings

    settings = Settings.model_validate(
        {**gateway_config({"audit": {"anchor_interval": "1h"}}), "config_dir": tmp_path})
    gw = Gateway(settings)
    with capture_logs() as logs:
        await gw.start()
        try:
            await _send_one(gw, sink)
            assert not [e for e in logs if e["event"] == "audit_anchor"]  # the trail was empty
        finally:
            await gw.stop(grace=5)
    (anchor,) = [e for e in logs if e["event"] == "audit_anchor"]
    engine = create_engine(settings.database.url)
    try:
        report = await verify(engine, anchors=[(anchor["seq"], anchor["hash"])])
    finally:
        await engine.dispose()
    assert report.ok and anchor["seq"] == report.last_seq >= 2
