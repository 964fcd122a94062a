"""Deciding a held message (gateway.queue.held.decide_held, behind `gateway
held approve|reject` and the console): an id typed in lower case is the
same id, and a message whose audit record is gone cannot be decided.

A black-box auditor approved a held message whose record had been cut off
with the chain's last rows: the approval succeeded and appended an event
for a record that no longer existed.  `held approve 2q3k...` typed in lower
case answered "no held message"."""

from __future__ import annotations

from audit_support import life, make_record, owner_tamper

from gateway.audit import AuditTrail
from gateway.model import Envelope
from gateway.queue import NewMessage, QueueState, QueueStore
from gateway.queue.held import decide_held
from gateway.queue.store import new_queue_id


async def _held(store: QueueStore, trail: AuditTrail) -> str:
    queue_id = new_queue_id()
    record = make_record(queue_id, verdict="hold")
    await store.enqueue(
        NewMessage(envelope=Envelope("jo@council.example", ("team@recipient.example",)),
                   content=b"Subject: x\r\n\r\nbody\r\n", state=QueueState.HELD,
                   audit_id=queue_id, id=queue_id),
        also=[trail.record_op(record, life(record))],
    )
    return queue_id


async def test_a_lower_case_id_is_the_same_message(engine, writer):
    store, trail = QueueStore(engine, writer), AuditTrail()
    queue_id = await _held(store, trail)
    assert queue_id != queue_id.lower()
    assert await decide_held(store, trail, queue_id.lower(), True, "Sarah Approver") is None
    message = await store.get(queue_id)
    assert message is not None and message.state == QueueState.QUEUED.value


async def test_a_message_whose_record_is_gone_cannot_be_decided(engine, writer):
    store, trail = QueueStore(engine, writer), AuditTrail()
    queue_id = await _held(store, trail)
    await owner_tamper(engine)(
        "DELETE FROM audit_record_terms WHERE record_seq IN"
        " (SELECT seq FROM audit_records WHERE id = :i)",
        "DELETE FROM audit_records WHERE id = :i", i=queue_id)
    for approve in (True, False):
        refused = await decide_held(store, trail, queue_id, approve, "Sarah Approver")
        assert refused is not None and "audit record is missing" in refused
    message = await store.get(queue_id)
    assert message is not None and message.state == QueueState.HELD.value
