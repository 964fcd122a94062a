"""What the console makes of what it is given: dates at the calendar's ends,
unknown filter values, why a message is held, the authoriser the message
stated, and which messages are awaiting a receipt."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from console_support import HELD_ID, T0, Console, events_for, record
from sqlalchemy import insert
from structlog.testing import capture_logs

from gateway.audit import AuditEvent, AuditRecord, AuditTrail, EventType
from gateway.model import Envelope
from gateway.queue import NewMessage, QueueState, QueueStore, Writer
from gateway.receipts.schema import receipt_requests


def signed_in(console: Console, user: str = "alice") -> Any:
    client = console.client()
    client.__enter__()
    console.sign_in(client, user)
    return client


def get_all(console: Console, user: str, *paths: str) -> list[Any]:
    client = signed_in(console, user)
    try:
        return [client.get(path) for path in paths]
    finally:
        client.__exit__(None, None, None)


def ids_on(page: str) -> list[str]:
    return re.findall(r'href="/audit/records/([^"/]+)"', page)


def append(console: Console, rec: AuditRecord, stages: tuple[EventType, ...],
           later: tuple[AuditEvent, ...] = ()) -> None:
    """One more record in the console's database, as the gateway writes it."""

    async def write(engine: Any) -> None:
        writer = Writer(engine)
        writer.start()
        trail = AuditTrail()
        try:
            await writer.submit(trail.record_op(rec, events_for(rec, stages)))
            if later:
                await writer.submit(trail.events_op(rec.id, list(later)))
        finally:
            await writer.stop()

    console.run(write)


# -- dates at the calendar's ends -------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/audit?since=99999999d",
    "/audit?since=1000000000000d",
    "/audit?until=9999-12-31",
    "/audit?since=0001-01-01T00:00%2B01:00",
    "/audit/download?format=csv&until=9999-12-31",
])
def test_a_date_past_the_calendar_is_explained(console: Console, path: str) -> None:
    with capture_logs() as logs:
        (response,) = get_all(console, "alice", path)
    assert response.status_code == 400
    assert "out of range" in response.text
    assert not [e for e in logs if e.get("log_level") in {"error", "critical"}]


def test_a_page_cursor_at_the_last_moment_pages_from_there(console: Console) -> None:
    # Every record is older than the last moment there is: the first page.
    last, first = get_all(console, "alice", "/audit?after=9999-12-31T23:59:59.999999~0",
                          "/audit")
    assert last.status_code == 200
    assert ids_on(last.text) == ids_on(first.text) != []


def test_activity_at_the_calendar_ends_has_no_link_past_it(console: Console) -> None:
    end, start = get_all(console, "alice", "/activity?day=9999-12-31",
                         "/activity?day=0001-01-01")
    assert end.status_code == 200 and start.status_code == 200
    assert "/activity?day=9999-12-30" in end.text and "day=10000" not in end.text
    assert "/activity?day=0001-01-02" in start.text
    assert len(re.findall(r'href="/activity\?day=', end.text)) == 1
    assert len(re.findall(r'href="/activity\?day=', start.text)) == 1


# -- unknown filter values ---------------------------------------------------------------------


@pytest.mark.parametrize("field,value,named", [
    ("type", "bogus", "uk_nhs_number"),
    ("reason", "bogus", "recipient_not_allowed"),
    ("receipts", "sometimes", "requested"),
])
def test_an_unknown_type_or_reason_names_the_known_ones(
    console: Console, field: str, value: str, named: str
) -> None:
    page, download = get_all(console, "alice", f"/audit?{field}={value}",
                             f"/audit/download?format=json&{field}={value}")
    assert page.status_code == 400
    alert = page.text[page.text.index('role="alert"'):]
    alert = alert[:alert.index("</div>")]
    assert f"{field}: unknown" in alert and value in alert and named in alert
    assert download.status_code == 400


@pytest.mark.parametrize("query,expected", [
    ("type=UK_NHS_NUMBER", "REC-DELIVERED"),
    ("type=uk_national*", "REC-REJECTED"),
    ("reason=recipient_not*", "REC-REJECTED"),
])
def test_known_types_and_reasons_match_as_in_the_cli(
    console: Console, query: str, expected: str
) -> None:
    (page,) = get_all(console, "alice", f"/audit?{query}")
    assert page.status_code == 200 and expected in ids_on(page.text)


# -- why a message is held -----------------------------------------------------------------


def hold_about_people(console: Console, min_people: int) -> None:
    hold = console.settings_data["policy"]["hold"]
    console.settings_data["policy"] = {**console.settings_data["policy"],
                                       "hold": {**hold, "min_people": min_people}}


def enqueue_held(console: Console, rec: AuditRecord) -> None:
    async def write(engine: Any) -> None:
        writer = Writer(engine)
        writer.start()
        try:
            envelope = Envelope(mail_from=rec.sender or "",
                                rcpt_tos=tuple(r.address for r in rec.recipients))
            await QueueStore(engine, writer).enqueue(
                NewMessage(envelope=envelope, content=b"Subject: x\r\n\r\nx\r\n",
                           state=QueueState.HELD, audit_id=rec.id, id=rec.id),
                also=[AuditTrail().record_op(
                    rec, events_for(rec, (EventType.RECEIVED, EventType.HELD)))],
                claim=False,
            )
        finally:
            await writer.stop()

    console.run(write)


def test_why_it_is_held_names_only_the_rules_that_matched(console: Console) -> None:
    hold_about_people(console, 5)
    # About five people, no special category data: held by the people rule.
    many = record("HELDMANY000001", T0 + timedelta(minutes=4), "hold",
                  types=("uk_nhs_number", "person_name"), reasons=())
    enqueue_held(console, many)
    one, five = get_all(console, "bob", f"/held/{HELD_ID}", f"/held/{many.id}")
    assert one.status_code == 200 and five.status_code == 200
    # The seeded one: special category data about one person.
    assert "special category data" in one.text
    assert "or more people" not in one.text
    assert "5 or more people" in five.text
    assert "special category data" not in five.text


# -- the authoriser the message stated -------------------------------------------------------


def test_record_page_and_download_show_the_stated_authoriser(console: Console) -> None:
    rec = replace(record("REC-STATED", T0 + timedelta(minutes=5), "hold"),
                  authorised_by="-Head of Service")
    approved = AuditEvent(EventType.APPROVED, T0 + timedelta(minutes=6),
                          {"by": "bob", "authorised_by": "bob", "via": "web console"})
    append(console, rec, (EventType.RECEIVED, EventType.HELD), (approved,))
    page, download = get_all(console, "alice", "/audit/records/REC-STATED",
                             "/audit/records/REC-STATED/download")
    # As `gateway audit show` says it (gateway.cli.audit.authorised_text).
    assert re.search(r"<dt>Authorised by</dt><dd>bob \(approved; the message said "
                     r"-Head of Service\)</dd>", page.text)
    document = json.loads(download.text)
    assert document["authorised_by"] == "bob"
    assert document["authorised_by_stated"] == "-Head of Service"
    keys = list(document)
    assert keys.index("authorised_by_stated") == keys.index("authorised_by") + 1


def test_record_page_of_a_refused_held_message_says_it_was_not_sent(console: Console) -> None:
    """Written when it was held, the record says how it would have gone: the
    page says it did not go, and who refused it, as `gateway audit show`."""
    rec = record("REC-REFUSED", T0 + timedelta(minutes=5), "hold")
    refused = AuditEvent(EventType.REJECTED, T0 + timedelta(minutes=6),
                         {"by": "bob", "via": "web console"})
    append(console, rec, (EventType.RECEIVED, EventType.HELD), (refused,))
    (page,) = get_all(console, "alice", "/audit/records/REC-REFUSED")
    assert re.search(r"<dt>How shared</dt><dd>not sent: refused by bob \(it would have gone: "
                     + re.escape(html.escape(rec.method, quote=True)) + r"\)</dd>", page.text)


# -- awaiting receipt ---------------------------------------------------------------------------


def asked_for_receipts(console: Console, record_id: str, recipient: str) -> None:
    """The receipt request the gateway writes with a message that asks for receipts."""

    async def write(engine: Any) -> None:
        async with engine.begin() as conn:
            await conn.execute(insert(receipt_requests).values(
                queue_id=record_id, idx=0, recipient=recipient, route="upstream",
                sender="alice.smith@council.example", sender_mdn=False,
                created_at=T0.timestamp(), relayed_at=T0.timestamp() + 2))

    console.run(write)


def test_awaiting_receipt_lists_only_messages_that_asked_for_receipts(
    console: Console,
) -> None:
    relayed = (EventType.RECEIVED, EventType.QUEUED, EventType.RELAYED)
    ordinary = record("REC-ORDINARY", T0 + timedelta(minutes=7), "deliver", types=(),
                      reasons=(), purpose=None)
    append(console, ordinary, relayed)
    # Compliant mail the gateway left as it was (an encrypted attachment it
    # could not open): no information type, no password held, yet it asked.
    encrypted = record("REC-ENCRYPTED", T0 + timedelta(minutes=8), "deliver", types=(),
                       reasons=())
    append(console, encrypted, relayed)
    asked_for_receipts(console, encrypted.id, "dr.jones@nhs.example")
    client = signed_in(console)
    try:
        dashboard = client.get("/dashboard").text
        section = dashboard[dashboard.index("Awaiting receipt"):]
        section = section[:section.index("</section>")]
        link = re.search(r'href="(/audit\?[^"]*)">All awaiting receipt', section)
        assert link is not None
        everything = client.get(link.group(1).replace("&amp;", "&"))
    finally:
        client.__exit__(None, None, None)
    assert "REC-ENCRYPTED" in ids_on(section) and "REC-AWAITING" in ids_on(section)
    assert "REC-ORDINARY" not in ids_on(section)
    assert everything.status_code == 200
    found = ids_on(everything.text)
    assert {"REC-ENCRYPTED", "REC-AWAITING"} <= set(found)
    assert "REC-ORDINARY" not in found
