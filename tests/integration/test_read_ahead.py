"""A 256 KB-1 MB message is read and searched in the receive stage's worker thread.

The gateway's own pipeline steps ride on the thread hop the receive stage
makes to check a large message's line endings (`ListenerConfig.read_ahead`);
the event loop then only concludes.  The verdicts are the ones the loop
would have reached alone, and a failure of the early reading costs nothing
but the head start.
"""

from __future__ import annotations

import threading
from typing import Any

import aiosmtplib
import pytest
from faker import Faker
from gwtest import strip_received, threads_calling
from policy_messages import ALLOWED, SENDER, person

from gateway.pipeline import Pipeline

Factory = Any


def _large(extra: str = "") -> bytes:
    fake = Faker("en_GB")
    fake.seed_instance(4)
    body = "\r\n".join(fake.paragraph(nb_sentences=8) for _ in range(1200))
    assert 256 * 1024 < len(body) < 1024 * 1024
    return (
        f"From: Case Worker <{SENDER}>\r\nTo: {ALLOWED}\r\nSubject: Minutes\r\n"
        f"Message-ID: <ahead@council.example>\r\n\r\n{body}\r\n{extra}\r\n"
    ).encode()


async def _send(port: int, raw: bytes) -> tuple[int, str]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    await client.connect()
    try:
        _, reply = await client.sendmail(SENDER, [ALLOWED], raw)
        return 250, reply
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    finally:
        client.close()


async def test_clean_large_message_is_read_off_the_loop_and_relayed(
    gateway_factory: Factory, sink: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = threads_calling(monkeypatch, Pipeline, "read")
    searches = threads_calling(monkeypatch, Pipeline, "search_ahead")
    runs = threads_calling(monkeypatch, Pipeline, "run")
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    raw = _large()
    code, _ = await _send(gw.port, raw)
    assert code == 250
    (got,) = await sink.wait(1)
    assert strip_received(got.content)[1] == raw
    loop_thread = threading.current_thread().name
    assert len(reads) == 1 and reads[0] != loop_thread
    assert searches == reads
    assert runs == []


async def test_personal_data_late_in_a_large_message_is_still_found(
    gateway_factory: Factory, sink: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = threads_calling(monkeypatch, Pipeline, "read")
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    who = person(17)
    code, reply = await _send(gw.port, _large(f"Child: {who.name}, NHS number {who.nhs}"))
    assert (code, reply.split()[0]) == (550, "5.7.1")
    assert reads and reads[0] != threading.current_thread().name
    assert who.nhs not in reply


async def test_a_failed_early_reading_only_loses_the_head_start(
    gateway_factory: Factory, sink: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(self: Pipeline, reading: object) -> None:
        raise RuntimeError("search failed")

    monkeypatch.setattr(Pipeline, "search_ahead", explode)
    runs = threads_calling(monkeypatch, Pipeline, "run")
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    who = person(18)
    code, _ = await _send(gw.port, _large(f"NHS number {who.nhs}"))
    assert code == 550
    # Decided as a large message is without a head start: wholly in a thread.
    assert len(runs) == 1 and runs[0] != threading.current_thread().name
    clean = _large()
    code, _ = await _send(gw.port, clean)
    assert code == 250
    # The refusal's notification to the sender, and the clean message.
    delivered = await sink.wait(2)
    relayed = [m for m in delivered if m.mail_from == SENDER]
    assert [strip_received(m.content)[1] for m in relayed] == [clean]
