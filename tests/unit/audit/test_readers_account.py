"""`gateway audit search|show|export|report` give the same, whole account of
a record: a held message the approver refused was authorised by no one and
is found and counted as refused; each event comes with its detail; a
limit that cuts the answer short says so; arguments that cannot all hold
are refused; a gateway id matches in any case; the report's organisation
table accounts for the records no recipient of which is on the allow-list.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from audit_support import life, make_record

from gateway.audit import AuditEvent, AuditRecipient, AuditRecord, AuditTrail, EventType
from gateway.cli import main
from gateway.db import create_engine
from gateway.queue import Writer

NOW = datetime.now(UTC).replace(microsecond=0)
STATED = "Team Leader Ruth"
APPROVER = "Sarah Approver"


def write(url: str, records: list[AuditRecord], later: dict[str, list[AuditEvent]]) -> None:
    """Records with their life's events kept in their rows, then the events
    appended later (as the gateway appends them)."""

    async def run() -> None:
        engine = create_engine(url)
        writer = Writer(engine)
        writer.start()
        trail = AuditTrail()
        try:
            for record in records:
                await writer.submit(trail.record_op(record, life(record)))
            for record_id, events in later.items():
                await writer.submit(trail.events_op(record_id, events))
        finally:
            await writer.stop()
            await engine.dispose()

    asyncio.run(run())


def write_config(tmp_path: Path, url: str) -> str:
    (tmp_path / "recipients.csv").write_text(
        "address,name,job_title,department,organisation,telephone,secure_route\n",
        encoding="utf-8",
    )
    config = tmp_path / "gateway.toml"
    config.write_text(f'[database]\nurl = "{url}"\n\n[audit]\nretention = "6y"\n',
                      encoding="utf-8")
    return str(config)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def held(record_id: str, hours: int) -> AuditRecord:
    return replace(make_record(record_id, received_at=NOW - timedelta(hours=hours),
                               verdict="hold"), authorised_by=STATED)


@pytest.fixture
def decided(tmp_path: Path, db_url: str) -> str:
    """A held message refused by its approver, one approved, one still
    waiting, and one refused as it arrived; the decisions' details are what
    gateway.queue.held.decide_held writes."""
    refused, approved, waiting = held("rd-refused", 1), held("rd-approved", 2), \
        held("rd-waiting", 3)
    on_arrival = make_record("rd-on-arrival", received_at=NOW - timedelta(hours=4),
                             verdict="reject")
    decided_at = NOW - timedelta(minutes=30)
    write(db_url, [on_arrival, waiting, approved, refused], {
        refused.id: [AuditEvent(EventType.REJECTED, decided_at, {
            "by": APPROVER, "note": "Not to a personal address",
            "reasons": ["not_authorised"]})],
        approved.id: [AuditEvent(EventType.APPROVED, decided_at, {
            "by": APPROVER, "note": "", "authorised_by": APPROVER})],
        on_arrival.id: [AuditEvent(EventType.REJECTED, NOW - timedelta(hours=4),
                                   {"reasons": ["unencrypted_attachment"]})],
    })
    return write_config(tmp_path, db_url)


def _by_id(rows: list[dict[str, str]] | list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(row["id"]): dict(row) for row in rows}


def test_a_held_message_the_approver_refused_was_authorised_by_no_one(decided, capsys):
    """`authorised_by` is empty for it in search (json, csv), show and export
    (jsonl, csv); the refusal and what the message said are beside it."""
    expected = {"authorised_by": None, "authorised_by_stated": STATED,
                "outcome": "refused", "decided_by": APPROVER}

    _, out, _ = run(capsys, "audit", "search", "--format", "json", "--config", decided)
    found = _by_id([json.loads(line) for line in out.splitlines()])
    assert {k: found["rd-refused"][k] for k in expected} == expected
    assert found["rd-approved"]["authorised_by"] == APPROVER
    assert found["rd-approved"]["outcome"] == "approved"
    assert found["rd-waiting"]["authorised_by"] is None  # no approver yet: no one
    assert found["rd-waiting"]["outcome"] is None
    assert found["rd-on-arrival"]["outcome"] is None  # refused by the rules, not a person

    _, out, _ = run(capsys, "audit", "export", "--no-progress", "--config", decided)
    exported = _by_id([json.loads(line) for line in out.splitlines()])
    assert {k: exported["rd-refused"][k] for k in expected} == expected

    as_cells = {k: v or "" for k, v in expected.items()}
    for argv in (("search", "--format", "csv"), ("export", "--format", "csv", "--no-progress")):
        _, out, _ = run(capsys, "audit", *argv, "--config", decided)
        rows = _by_id(list(csv.DictReader(io.StringIO(out))))
        assert {k: rows["rd-refused"][k] for k in expected} == as_cells

    code, out, _ = run(capsys, "audit", "show", "rd-refused", "--config", decided)
    assert code == 0
    assert (f"  authorised by  no one (refused by {APPROVER}; the message said {STATED})\n"
            in out)
    # Written when it was held, the record says how it would have gone; it
    # did not go, and `show` says that first.
    (method,) = [line for line in out.splitlines() if line.startswith("  method")]
    assert method.startswith(f"  method         not sent: refused by {APPROVER} (it would "
                             "have gone: email")
    _, out, _ = run(capsys, "audit", "show", "rd-refused", "--format", "json",
                    "--config", decided)
    assert {k: json.loads(out)[k] for k in expected} == expected


def test_search_and_report_find_and_count_a_refused_held_message(decided, capsys):
    _, out, _ = run(capsys, "audit", "search", "--verdict", "reject", "--format", "json",
                    "--config", decided)
    assert [json.loads(line)["id"] for line in out.splitlines()] == [
        "rd-refused", "rd-on-arrival"]
    _, out, _ = run(capsys, "audit", "search", "--verdict", "hold", "--format", "json",
                    "--config", decided)
    assert [json.loads(line)["id"] for line in out.splitlines()] == [
        "rd-refused", "rd-approved", "rd-waiting"]

    _, out, _ = run(capsys, "audit", "search", "--verdict", "reject", "--config", decided)
    assert "  hold (refused)  " in out.splitlines()[1]

    _, out, _ = run(capsys, "audit", "report", "--format", "json", "--config", decided)
    assert json.loads(out)["held_outcome"] == {"approved": 1, "refused": 1, "undecided": 1}
    _, out, _ = run(capsys, "audit", "report", "--config", decided)
    section = out.split("Held messages: the approver's decision\n")[1].split("\n\n")[0]
    assert section.split() == ["approved", "1", "refused", "1", "undecided", "1"]


def test_every_event_comes_with_its_detail(tmp_path, db_url, capsys):
    """Which recipient confirmed, where the password went: in search json,
    export jsonl, and export csv as one JSON cell, a record one row."""
    record = make_record("rd-detail", received_at=NOW - timedelta(hours=1))
    to = record.recipients[0].address
    released = {"held_id": "H1", "recipient": to, "how": "email", "to": to}
    write(db_url, [record], {record.id: [
        AuditEvent(EventType.PASSWORD_RELEASED, NOW - timedelta(minutes=20), released),
        AuditEvent(EventType.DELIVERY_CONFIRMED, NOW - timedelta(minutes=10), {"recipient": to}),
    ]})
    config = write_config(tmp_path, db_url)
    expected = [
        {"type": "received", "detail": {"size": 2048}},
        {"type": "password_held", "detail": {}},
        {"type": "queued", "detail": {"queue_id": "rd-detail"}},
        {"type": "password_released", "detail": released},
        {"type": "delivery_confirmed", "detail": {"recipient": to}},
    ]

    def without_at(events: list[dict[str, object]]) -> list[dict[str, object]]:
        return [{k: v for k, v in e.items() if k != "at"} for e in events]

    _, out, _ = run(capsys, "audit", "search", "--format", "json", "--config", config)
    assert without_at(json.loads(out)["events"]) == expected
    _, out, _ = run(capsys, "audit", "export", "--no-progress", "--config", config)
    assert without_at(json.loads(out)["events"]) == expected
    _, out, _ = run(capsys, "audit", "export", "--format", "csv", "--no-progress",
                    "--config", config)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1
    assert without_at(json.loads(rows[0]["event_details"])) == expected


def test_a_limit_that_cuts_the_answer_short_says_how_many_more_on_stderr(
    tmp_path, db_url, capsys
):
    write(db_url, [make_record(f"rd-many-{i}", received_at=NOW - timedelta(hours=i))
                   for i in range(1, 8)], {})
    config = write_config(tmp_path, db_url)
    for fmt in ("json", "csv", "table"):
        code, out, err = run(capsys, "audit", "search", "--limit", "5", "--format", fmt,
                             "--config", config)
        assert code == 0
        assert "showing 5 of 7 matching record(s): 2 more (--limit 7" in err
        assert "more" not in out  # stdout stays the records
    _, out, _ = run(capsys, "audit", "search", "--limit", "5", "--format", "json",
                    "--config", config)
    assert len([json.loads(line) for line in out.splitlines()]) == 5
    _, _, err = run(capsys, "audit", "search", "--limit", "7", "--config", config)
    assert err == ""


@pytest.mark.parametrize("argv", [
    ("search", "--since", "2026-11-30", "--until", "2026-11-01"),
    ("report", "--since", "2026-11-30", "--until", "2026-11-01"),
    ("search", "--since", "2026-11-30T10:00", "--until", "2026-11-30T10:00"),
    ("search", "--event", "has:relayed", "--event", "never:relayed"),
])
def test_arguments_that_cannot_all_hold_exit_2(tmp_path, db_url, capsys, argv):
    config = write_config(tmp_path, db_url)
    code, out, err = run(capsys, "audit", *argv, "--config", config)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert ("relayed" if "--event" in argv else "--until") in err


def test_show_finds_a_gateway_id_typed_in_lower_case(tmp_path, db_url, capsys):
    """Queue ids are digits and upper-case letters (gateway.queue.store)."""
    write(db_url, [make_record("2Q3J9MD4XTSPP0LW")], {})
    config = write_config(tmp_path, db_url)
    code, out, _ = run(capsys, "audit", "show", "2q3j9md4xtspp0lw", "--config", config)
    assert code == 0 and out.startswith("Audit record 2Q3J9MD4XTSPP0LW\n")
    code, _, err = run(capsys, "audit", "show", "2q3j9md4xtspp0lx", "--config", config)
    assert code == 1 and "no audit record" in err


def test_the_organisation_table_accounts_for_recipients_not_on_the_allow_list(
    tmp_path, db_url, capsys
):
    listed = make_record("rd-listed", received_at=NOW - timedelta(hours=1))
    unlisted = make_record("rd-unlisted", received_at=NOW - timedelta(hours=2),
                           recipients=(AuditRecipient("someone@mail.example"),))
    write(db_url, [listed, unlisted], {})
    config = write_config(tmp_path, db_url)
    _, out, _ = run(capsys, "audit", "report", "--format", "json", "--config", config)
    report = json.loads(out)
    assert report["by_organisation"] == {"Riverside NHS Trust": 1}
    assert report["not_on_allow_list"] == 1
    _, out, _ = run(capsys, "audit", "report", "--config", config)
    section = out.split("Recipient organisation\n")[1].split("\n\n")[0]
    assert [line.rsplit(None, 1) for line in section.splitlines()] == [
        ["  Riverside NHS Trust", "1"], ["  (not on the allow-list)", "1"]]


async def _view(url: str) -> dict[str, tuple[object, ...]]:
    from sqlalchemy import text

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT id, authorised_by, authorised_by_stated, outcome, decided_by "
                "FROM audit_records_v"))).all()
    finally:
        await engine.dispose()
    return {str(row[0]): tuple(row[1:]) for row in rows}


def test_the_view_says_a_refused_held_message_was_authorised_by_no_one(decided, db_url):
    """audit_records_v, for auditors' own tools, gives the account the CLI
    gives (migration 0014): no authoriser for a refusal, and the decision."""
    rows = asyncio.run(_view(db_url))
    assert rows["rd-refused"] == (None, STATED, "refused", APPROVER)
    assert rows["rd-approved"] == (APPROVER, STATED, "approved", APPROVER)
    assert rows["rd-waiting"] == (None, STATED, None, None)
    assert rows["rd-on-arrival"][2:] == (None, None)  # refused by the rules, not a person


def test_search_by_who_authorised_it_finds_what_the_readers_say(decided, db_url, capsys):
    """`--authorised-by` matches the authoriser search, show and the view
    give: the approver of a held message (not the name the message gave),
    nobody for one refused or still waiting; part of the name, any case."""
    delivered = replace(make_record("rd-stated", received_at=NOW - timedelta(hours=5),
                                    verdict="protect"), authorised_by=STATED)
    write(db_url, [delivered], {})

    def found(*argv: str) -> list[str]:
        code, out, _ = run(capsys, "audit", "search", *argv, "--format", "json",
                           "--config", decided)
        assert code == 0
        return [json.loads(line)["id"] for line in out.splitlines()]

    assert found("--authorised-by", "sarah APPROVER") == ["rd-approved"]
    assert found("--authorised-by", "ruth") == ["rd-stated"]  # not the refused or waiting
    assert found("--authorised-by", "Ruth", "--verdict", "hold") == []
    assert found("--authorised-by", "nobody of that name") == []
    with pytest.raises(SystemExit) as exited:
        main(["audit", "search", "--authorised-by", "a", "--authorised-by", "b",
              "--config", decided])
    assert exited.value.code == 2 and "--authorised-by given twice" in capsys.readouterr().err


def test_the_report_counts_who_authorised_each_record(decided, capsys):
    """Each record once: the approver for the one approved, the name the
    message gave for the one the rules refused as it arrived (as `show`
    says), no one for the one the approver refused and the one waiting."""
    stated = make_record("x").authorised_by
    _, out, _ = run(capsys, "audit", "report", "--format", "json", "--config", decided)
    report = json.loads(out)
    assert report["by_authoriser"] == {APPROVER: 1, stated: 1}
    assert report["authorised_by_no_one"] == 2
    assert sum(report["by_authoriser"].values()) + report["authorised_by_no_one"] == \
        report["records"]
    _, out, _ = run(capsys, "audit", "report", "--config", decided)
    section = out.split("Authorised by\n")[1].split("\n\n")[0]
    assert [line.split("  ")[-1].strip() for line in section.splitlines()] == ["1", "1", "2"]
    assert APPROVER in section and "(no one: refused, awaiting approval or unstated)" in section
    _, out, _ = run(capsys, "audit", "report", "--verdict", "hold", "--format", "json",
                    "--config", decided)
    assert json.loads(out)["authorised_by_no_one"] == 2  # refused and waiting
