"""What an information-governance lead reads from `gateway audit`: a held
message nobody has decided is authorised by no one yet (every reader and
audit_records_v); a filter given twice is refused, not half-used; an
organisation typed as part of its name is offered the names the trail
holds; the table marks what it cut; the CSV for a spreadsheet has a
byte-order mark and each recipient's outcome; "some recipient never
confirmed" is a question of its own; the report can be scoped by verdict.
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
from sqlalchemy import text

from gateway.audit import (
    AuditEvent,
    AuditReason,
    AuditRecipient,
    AuditRecord,
    AuditTrail,
    EventType,
)
from gateway.cli import main
from gateway.db import create_engine
from gateway.queue import Writer

NOW = datetime.now(UTC).replace(microsecond=0)
STATED = "Head of Service"
APPROVER = "Sarah Approver"
NHS = AuditRecipient("referrals@health.example.nhs.uk", "Priya Sharma", "Referrals coordinator",
                     "Referrals", "Example NHS Trust", "01632 960101")
HOUSING = AuditRecipient("housing.officer@district.example.gov.uk", "Gareth Hughes",
                         "Housing officer", "Housing", "District Council", "01632 960102")
POLICE = AuditRecipient("mash@police.example.police.uk", "Duty sergeant", "MASH", "",
                        "Example Constabulary", "01632 960103")
FOSTER = AuditRecipient("foster.carer@hotmail.co.uk")
REFUSAL_REASONS = tuple(AuditReason(code, f"text for {code}") for code in (
    "personal_data_in_body", "missing_subject_marking", "recipient_not_allowed"))


def at(minutes: int) -> datetime:
    return NOW - timedelta(hours=1) + timedelta(minutes=minutes)


def relayed(to: AuditRecipient, minutes: int = 1) -> AuditEvent:
    return AuditEvent(EventType.RELAYED, at(minutes), {"recipient": to.address, "code": 250})


def receipt(kind: EventType, to: AuditRecipient, minutes: int = 2) -> AuditEvent:
    return AuditEvent(kind, at(minutes), {"recipient": to.address})


def write(url: str, records: list[AuditRecord], later: dict[str, list[AuditEvent]]) -> None:
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


@pytest.fixture
def trail_of_shares(tmp_path: Path, db_url: str) -> str:
    """Shares as the auditor's run left them (ids as `af-...`)."""
    waiting = replace(make_record("af-waiting", received_at=at(0), verdict="hold",
                                  recipients=(POLICE,)), authorised_by=STATED)
    approved = replace(make_record("af-approved", received_at=at(-1), verdict="hold",
                                   recipients=(POLICE,)), authorised_by=STATED)
    two = replace(make_record("af-two", received_at=at(-2), recipients=(NHS, HOUSING)),
                  subject="Update – café 4")
    read = make_record("af-read", received_at=at(-3), recipients=(NHS,))
    confirmed = make_record("af-confirmed", received_at=at(-4), recipients=(POLICE,))
    refused = make_record("af-rejected", received_at=at(-5), verdict="reject",
                          recipients=(NHS, FOSTER), reasons=REFUSAL_REASONS,
                          information_types=("uk_nhs_number", "date_of_birth", "person_name"))
    write(db_url, [refused, confirmed, read, two, approved, waiting], {
        approved.id: [AuditEvent(EventType.APPROVED, at(1), {
            "by": APPROVER, "note": "", "authorised_by": APPROVER}), relayed(POLICE, 2),
            receipt(EventType.DELIVERY_CONFIRMED, POLICE, 3)],
        two.id: [relayed(NHS), relayed(HOUSING), receipt(EventType.DELIVERY_CONFIRMED, NHS)],
        read.id: [relayed(NHS), receipt(EventType.READ_CONFIRMED, NHS)],
        confirmed.id: [relayed(POLICE), receipt(EventType.DELIVERY_CONFIRMED, POLICE)],
        refused.id: [AuditEvent(EventType.REJECTED, at(-5), {"reasons": ["recipient_not_allowed"]})],
    })
    return write_config(tmp_path, db_url)


def _by_id(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(row["id"]): row for row in rows}


# -- F1: a held message nobody has decided --------------------------------------------------


def test_a_held_message_nobody_decided_is_authorised_by_no_one_yet(trail_of_shares, capsys):
    expected = {"authorised_by": None, "authorised_by_stated": STATED, "outcome": None,
                "decided_by": None}
    _, out, _ = run(capsys, "audit", "search", "--format", "json", "--config", trail_of_shares)
    found = _by_id([json.loads(line) for line in out.splitlines()])
    assert {k: found["af-waiting"][k] for k in expected} == expected
    assert found["af-approved"]["authorised_by"] == APPROVER  # the approver, once approved
    assert found["af-two"]["authorised_by"] == "J Patel, Team Manager"  # not held: as stated

    _, out, _ = run(capsys, "audit", "export", "--no-progress", "--config", trail_of_shares)
    exported = _by_id([json.loads(line) for line in out.splitlines()])
    assert {k: exported["af-waiting"][k] for k in expected} == expected
    for argv in (("search", "--format", "csv"), ("export", "--format", "csv", "--no-progress")):
        _, out, _ = run(capsys, "audit", *argv, "--config", trail_of_shares)
        rows = _by_id(list(csv.DictReader(io.StringIO(out))))
        assert rows["af-waiting"]["authorised_by"] == ""
        assert rows["af-waiting"]["authorised_by_stated"] == STATED

    code, out, _ = run(capsys, "audit", "show", "af-waiting", "--config", trail_of_shares)
    assert code == 0
    assert (f"  authorised by  no one yet: awaiting approval (the message said {STATED})\n"
            in out)
    (method,) = [line for line in out.splitlines() if line.startswith("  method")]
    assert method.startswith("  method         not sent yet: held for authorisation "
                             "(it would go: email, AES-256 zip")
    _, out, _ = run(capsys, "audit", "show", "af-approved", "--config", trail_of_shares)
    assert f"  authorised by  {APPROVER} (approved; the message said {STATED})\n" in out
    assert "  method         email, AES-256 zip" in out


VIEW_COLUMNS = ["seq", "id", "message_id", "received_at", "sender", "subject", "purpose",
                "consent", "authorised_by", "information_types", "marking", "verdict", "reasons",
                "method", "recipients", "organisations", "document", "hash",
                "authorised_by_stated", "outcome", "decided_by"]


async def _view(url: str) -> tuple[list[str], dict[str, tuple[object, ...]]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text("SELECT * FROM audit_records_v"))
            columns = list(result.keys())
            rows = [dict(zip(columns, row, strict=True)) for row in result.all()]
    finally:
        await engine.dispose()
    wanted = ("authorised_by", "authorised_by_stated", "outcome", "decided_by")
    return columns, {str(r["id"]): tuple(r[k] for k in wanted) for r in rows}


def test_the_view_says_a_held_message_nobody_decided_was_authorised_by_no_one(
    trail_of_shares, db_url
):
    """audit_records_v (migration 0016) gives the CLI's account, its columns
    as they were, in the same order."""
    columns, rows = asyncio.run(_view(db_url))
    assert columns == VIEW_COLUMNS
    assert rows["af-waiting"] == (None, STATED, None, None)
    assert rows["af-approved"] == (APPROVER, STATED, "approved", APPROVER)
    assert rows["af-two"] == ("J Patel, Team Manager", "J Patel, Team Manager", None, None)
    assert rows["af-rejected"][0] == "J Patel, Team Manager"  # refused by the rules, as before


# -- F4: a filter given twice --------------------------------------------------------------


@pytest.mark.parametrize("option", [
    ("--verdict", "protect", "deliver"), ("--organisation", "A", "B"),
    ("--sender", "a@x.example", "b@x.example"), ("--recipient", "a@x.example", "b@x.example"),
    ("--since", "30d", "10d"), ("--purpose", "one", "two"), ("--limit", "3", "4"),
])
def test_a_filter_given_twice_is_refused_naming_it(trail_of_shares, capsys, option):
    name, first, second = option
    with pytest.raises(SystemExit) as exited:
        main(["audit", "search", name, first, name, second, "--config", trail_of_shares])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"{name} given twice" in err


def test_event_stays_repeatable(trail_of_shares, capsys):
    code, out, _ = run(capsys, "audit", "search", "--event", "has:relayed", "--event",
                       "never:read_confirmed", "--format", "json", "--config", trail_of_shares)
    assert code == 0
    assert {json.loads(line)["id"] for line in out.splitlines()} == {
        "af-approved", "af-two", "af-confirmed"}


# -- F8: an organisation typed as part of its name -------------------------------------------


def test_an_organisation_not_found_names_those_that_contain_it(trail_of_shares, capsys):
    code, out, err = run(capsys, "audit", "search", "--organisation", "Constabulary",
                         "--config", trail_of_shares)
    assert code == 0
    assert "0 record(s)" in out
    assert ('no record names organisation "Constabulary"; did you mean: '
            '"Example Constabulary" (--organisation \'*Constabulary*\')') in err
    code, out, err = run(capsys, "audit", "search", "--organisation", "*Constabulary*",
                         "--format", "json", "--config", trail_of_shares)
    assert {json.loads(line)["id"] for line in out.splitlines()} == {
        "af-waiting", "af-approved", "af-confirmed"}
    assert "did you mean" not in err
    # Found, but not by the other filters: nothing to suggest.
    _, _, err = run(capsys, "audit", "search", "--organisation", "example constabulary",
                    "--verdict", "reject", "--config", trail_of_shares)
    assert "did you mean" not in err
    _, _, err = run(capsys, "audit", "search", "--organisation", "Fire Service",
                    "--config", trail_of_shares)
    assert 'no record names organisation "Fire Service"' in err
    assert "District Council" in err and "Example NHS Trust" in err  # those it does hold


def test_help_says_organisation_takes_a_wildcard(capsys):
    with pytest.raises(SystemExit):
        main(["audit", "search", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--organisation ORGANISATION recipient organisation as the allow-list names it" in out
    assert "'*Constabulary*'" in out


# -- F12: the table marks what it cut --------------------------------------------------------


def test_the_table_marks_a_cut_cell_and_never_hides_a_reason(trail_of_shares, capsys):
    _, out, _ = run(capsys, "audit", "search", "--recipient", "*hotmail*",
                    "--config", trail_of_shares)
    row = out.splitlines()[1]
    assert "referrals@health.example.nhs.uk +1" in row
    assert "personal_data_in_body, missing_subject_marking, recipient_not_allowed" in row
    assert "uk_nhs_number, date_of_birth +1" in row


# -- F10: CSV for a spreadsheet -----------------------------------------------------------


def test_csv_to_a_file_starts_with_a_byte_order_mark_stdout_does_not(
    trail_of_shares, tmp_path, capsys
):
    target = tmp_path / "export.csv"
    code, _, _ = run(capsys, "audit", "export", "--format", "csv", "--no-progress",
                     "--output", str(target), "--config", trail_of_shares)
    assert code == 0
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfid,")
    assert "Update – café 4" in raw.decode("utf-8-sig")
    _, out, _ = run(capsys, "audit", "export", "--format", "csv", "--no-progress",
                    "--config", trail_of_shares)
    assert out.startswith("id,")  # a pipe's reader is a program, not Excel
    jsonl = tmp_path / "export.jsonl"
    run(capsys, "audit", "export", "--no-progress", "--output", str(jsonl),
        "--config", trail_of_shares)
    assert jsonl.read_bytes().startswith(b"{")


def test_csv_says_each_recipients_outcome_in_a_last_column(trail_of_shares, capsys):
    _, out, _ = run(capsys, "audit", "export", "--format", "csv", "--no-progress",
                    "--config", trail_of_shares)
    reader = csv.reader(io.StringIO(out))
    header = next(reader)
    at = header.index("recipient_outcomes")
    assert header[at - 1] == "event_details"  # the columns before keep their order
    assert header[at + 1:] == ["recipient_listed_as", "damaged"]  # and what came later follows
    rows = _by_id([dict(zip(header, r, strict=True)) for r in reader])
    assert rows["af-two"]["recipient_addresses"] == f"{NHS.address}; {HOUSING.address}"
    assert rows["af-two"]["recipient_outcomes"] == "delivered; no receipt"
    assert rows["af-read"]["recipient_outcomes"] == "read"
    assert rows["af-rejected"]["recipient_outcomes"] == "not sent; not sent"
    assert rows["af-waiting"]["recipient_outcomes"] == "not sent"
    assert rows["af-approved"]["recipient_outcomes"] == "delivered"


# -- F2: some recipient never confirmed -----------------------------------------------------


def test_some_never_finds_a_share_one_recipient_never_confirmed(trail_of_shares, capsys):
    """`some-never:delivery_confirmed`: shares relayed to a recipient who never
    confirmed delivery: the two-recipient share only one confirmed, the
    one only read; not mail never sent, nor a share every recipient confirmed."""
    code, out, _ = run(capsys, "audit", "search", "--event", "some-never:delivery_confirmed",
                       "--format", "json", "--config", trail_of_shares)
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["af-two", "af-read"]
    # `never:` keeps its documented meaning: no recipient confirmed.
    _, out, _ = run(capsys, "audit", "search", "--event", "never:delivery_confirmed",
                    "--format", "json", "--config", trail_of_shares)
    assert "af-two" not in {json.loads(line)["id"] for line in out.splitlines()}
    # One recipient confirmed and another did not: both hold at once.
    code, out, _ = run(capsys, "audit", "search", "--event", "has:delivery_confirmed",
                       "--event", "some-never:delivery_confirmed", "--format", "json",
                       "--config", trail_of_shares)
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["af-two"]


# -- F5: the report scoped by verdict --------------------------------------------------------


def test_report_by_verdict_counts_only_those_records(trail_of_shares, capsys):
    _, out, _ = run(capsys, "audit", "report", "--verdict", "reject", "--format", "json",
                    "--config", trail_of_shares)
    report = json.loads(out)
    assert report["records"] == 1
    assert report["by_reason"] == {"missing_subject_marking": 1, "personal_data_in_body": 1,
                                   "recipient_not_allowed": 1}
    assert report["by_organisation"] == {"Example NHS Trust": 1}
    _, out, _ = run(capsys, "audit", "report", "--config", trail_of_shares)
    assert "\nReasons found (including those the gateway fixed)\n" in out
    assert json.loads(run(capsys, "audit", "report", "--format", "json",
                          "--config", trail_of_shares)[1])["records"] == 6
