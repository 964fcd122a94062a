"""The Integrity page says what `gateway audit verify` says: under each
deletion, when it was and what is left of the messages it took; and on a
clean result, which rows at the end of the trail nothing vouches for."""

from __future__ import annotations

import html
from typing import Any

from console_support import Console, csrf_of, wait_for
from sqlalchemy import text


def _deleted_behind_the_triggers(console: Console, statement: str) -> None:
    """What a database owner could do: the append-only triggers set aside
    (PostgreSQL replica mode; SQLite, the triggers dropped on this test's copy)."""

    async def work(engine: Any) -> None:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SET LOCAL session_replication_role = replica"))
            else:
                for kind in ("update", "delete"):
                    await conn.execute(text(f"DROP TRIGGER IF EXISTS audit_records_no_{kind}"))
            await conn.execute(text(statement))

    console.run(work)


def test_the_integrity_page_explains_a_deletion_and_what_nothing_vouches_for(
    console: Console,
) -> None:
    client = console.client()
    client.__enter__()
    try:
        console.sign_in(client, "alice")
        wait_for(lambda: "Verified" in client.get("/integrity").text)
        page = html.unescape(client.get("/integrity").text)
        # The seeded trail has no checkpoint: nothing vouches for its end.
        assert ("Verified: no edits, deletions or insertions found (but see the note "
                "below).") in page
        assert "Note: the last " in page and "are vouched for by no checkpoint or anchor" in page
        # The rejected message's record deleted, its search-index rows left.
        _deleted_behind_the_triggers(console,
                                     "DELETE FROM audit_records WHERE id = 'REC-REJECTED'")
        token = csrf_of(client.get("/integrity").text)
        assert client.post("/integrity/check", data={"csrf": token}).status_code == 303
        wait_for(lambda: "FAILED verification" in client.get("/integrity").text)
        page = html.unescape(client.get("/integrity").text)
    finally:
        client.__exit__(None, None, None)
    problems = page.split('<ul class="problems">')[1].split("</ul></li></ul>")[0]
    assert "missing (deleted)" in problems
    details = problems.split('<ul class="details">')[1]
    assert "row(s) deleted, written between " in details
    assert "was deleted, but its search-index rows are still there" in details
    assert "x@gmail.example" in details and "recipient_not_allowed" in details
    assert "inserted" not in problems


def test_a_record_page_warns_after_a_failed_integrity_check(console: Console) -> None:
    """A record that reads well may have lost events to a deletion only the
    chain shows (the auditor tester's relayed event to the police): its page
    says the last check found the trail altered."""
    client = console.client()
    client.__enter__()
    try:
        console.sign_in(client, "alice")
        wait_for(lambda: "Verified" in client.get("/integrity").text)
        before = client.get("/audit/records/REC-REJECTED").text
        _deleted_behind_the_triggers(console, "DELETE FROM audit_records WHERE id = 'REC-AWAITING'")
        token = csrf_of(client.get("/integrity").text)
        assert client.post("/integrity/check", data={"csrf": token}).status_code == 303
        wait_for(lambda: "FAILED verification" in client.get("/integrity").text)
        after = client.get("/audit/records/REC-REJECTED").text
    finally:
        client.__exit__(None, None, None)
    assert "found the audit trail altered" not in before
    assert "found the audit trail altered: this record's timeline may be missing" in after
