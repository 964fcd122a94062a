"""The record page's stages say what is true of the whole message: a message
never sent waits for nothing, and a stage that only some recipients reached
says how many.  A black-box auditor found "Relayed not yet ... Delivery
confirmed not yet" on refused messages, and "Delivery confirmed 14:31:30" on
a message to two of whom one never confirmed."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from console_support import T0, Console, record
from test_console_inputs import append

from gateway.audit import AuditEvent, EventType


def _signed_in(console: Console) -> Any:
    client = console.client()
    client.__enter__()
    console.sign_in(client, "alice")
    return client


def _stages(page: str) -> list[tuple[str, str]]:
    return [(label, " ".join(said.split())) for label, said in re.findall(
        r'<li class="(?:done|pending)"><strong>([^<]+)</strong><span>([^<]*)</span>', page)]


def test_a_refused_message_waits_for_nothing(console: Console) -> None:
    client = _signed_in(console)
    try:
        page = client.get("/audit/records/REC-REJECTED").text
        sent = client.get("/audit/records/REC-AWAITING").text
    finally:
        client.__exit__(None, None, None)
    stages = dict(_stages(page))
    assert stages["Relayed"] == "never: not sent"
    assert stages["Delivery confirmed"] == "never: not sent"
    assert dict(_stages(sent))["Delivery confirmed"] == "not yet"  # relayed, may still come


def test_a_stage_some_recipients_reached_says_how_many(console: Console) -> None:
    two = record("REC-TWO", T0 + timedelta(minutes=5), "protect",
                 recipients=("a@nhs.example", "b@nhs.example"))
    at = T0 + timedelta(minutes=6)
    later: tuple[Any, ...] = (
        AuditEvent(EventType.RELAYED, at, {"recipient": "a@nhs.example", "code": 250}),
        AuditEvent(EventType.RELAYED, at, {"recipient": "B@nhs.example", "code": 250}),
        AuditEvent(EventType.DELIVERY_CONFIRMED, at + timedelta(minutes=1),
                   {"recipient": "a@nhs.example"}),
    )
    append(console, two, (EventType.RECEIVED, EventType.QUEUED), later)
    client = _signed_in(console)
    try:
        stages = dict(_stages(client.get("/audit/records/REC-TWO").text))
    finally:
        client.__exit__(None, None, None)
    assert stages["Relayed"].endswith("(2 of 2 recipients)")
    assert stages["Delivery confirmed"].endswith("(1 of 2 recipients)")
    assert stages["Read"] == "not yet"
