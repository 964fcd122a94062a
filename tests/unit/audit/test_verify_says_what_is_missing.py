"""`verify` tells a non-technical auditor what a deletion took: the hours
it covers (the rows left either side, with their times), what other rows
still say of the messages (a deleted record's search-index rows, the events
of a record whose own row is gone), and, in plain words, that a checkpoint
vouched for a deleted row.  A clean result says which rows at the end of
the chain nothing vouches for, since a tail cut off together with its
checkpoints leaves a trail that verifies.  `audit report` warns, as
`search` does, when records of its period are damaged.

Rows per seeded record (conftest `seed`): the record, then its received,
password_held and queued events, then `relayed` one second later.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from audit_support import life, make_record, owner_tamper
from faker import Faker
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import AuditEvent, AuditKeys, AuditRecipient, AuditTrail, EventType, verify
from gateway.cli import main
from gateway.db import create_engine
from gateway.db.schema import audit_events, audit_records
from gateway.queue import Writer

KEY = "v" * 40
# Whole seconds, an hour apart: each record's rows are told apart by time.
T1 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def clock(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def recipient(fake: Faker) -> AuditRecipient:
    return AuditRecipient(fake.company_email(), fake.name(), fake.job(), "Safeguarding",
                          f"{fake.city()} NHS Trust", "01632 960123")


@pytest.fixture
def fake() -> Faker:
    generator = Faker("en_GB")
    generator.seed_instance(4711)
    return generator


async def seed_hours(seed, fake: Faker, n: int, first_hour: int = 0) -> list:
    records = []
    for i in range(first_hour, first_hour + n):
        records += await seed(1, received_at=T1 + i * HOUR, recipients=(recipient(fake),))
    return records


async def hash_at(engine: AsyncEngine, seq: int) -> str:
    async with engine.connect() as conn:
        for table in (audit_records, audit_events):
            found = (await conn.execute(select(table.c.hash).where(table.c.seq == seq))).scalar()
            if found:
                return str(found)
    raise AssertionError(seq)


# -- F6: what a deletion took --------------------------------------------------------------


async def test_a_deleted_event_is_placed_between_the_rows_left_either_side(
    engine, seed, tamper, fake
):
    records = await seed_hours(seed, fake, 3)
    await tamper("DELETE FROM audit_events WHERE seq = 8")  # the 2nd record's password_held
    report = await verify(engine)
    assert report.problems == ["row seq 8 missing (deleted)"]
    second = records[1].id
    assert report.details == [[
        f"1 row(s) deleted, written between {clock(T1 + HOUR)} (the received event of "
        f"{second}, seq 7) and {clock(T1 + HOUR)} (the queued event of {second}, seq 9)"
    ]]


async def test_a_deleted_record_whose_index_rows_are_left_is_named_not_called_inserted(
    engine, seed, tamper, fake
):
    """The record and all its events deleted, its search-index rows left:
    they are what is left of it, not rows someone added."""
    records = await seed_hours(seed, fake, 3)
    gone = records[1]
    await tamper("DELETE FROM audit_events WHERE record_id = :id",
                 "DELETE FROM audit_records WHERE id = :id", id=gone.id)
    report = await verify(engine)
    assert report.problems == ["rows seq 6-10 missing (deleted)"]
    (to,) = gone.recipients
    first = records[0].id
    assert report.details == [[
        f"5 row(s) deleted, written between {clock(T1 + timedelta(seconds=1))} (the relayed "
        f"event of {first}, seq 5) and {clock(T1 + 2 * HOUR)} (record {records[2].id}, "
        "received, seq 11)",
        "the record at seq 6 was deleted, but its search-index rows are still there: "
        f"received {clock(T1 + HOUR)}; to {to.address.lower()}; organisations "
        f"{to.organisation}; information types date_of_birth, uk_nhs_number; reasons "
        "unencrypted_attachment",
    ]]


async def test_a_record_deleted_alone_is_named_by_the_events_it_left(
    engine, seed, tamper, fake
):
    records = await seed_hours(seed, fake, 3)
    gone = records[1]
    await tamper("DELETE FROM audit_record_terms WHERE record_seq = 6",
                 "DELETE FROM audit_records WHERE seq = 6")
    report = await verify(engine)
    assert report.problems == ["row seq 6 missing (deleted)"]
    assert report.details[0][1:] == [
        f"message {gone.id}: its record is not in the trail any more, but 4 of its event(s) "
        f"are (seq 7-10, the first at {clock(T1 + HOUR)}): its record was deleted, here or "
        "in an earlier stretch"
    ]


@pytest.mark.parametrize("signed", [True, False])
async def test_a_checkpoint_at_a_deleted_row_is_said_in_plain_words(
    engine, seed, tamper, fake, signed
):
    """Once, with the deletion, not as a second problem about
    "checkpoint #1 was taken there"."""
    keys = AuditKeys([KEY]) if signed else None
    await seed_hours(seed, fake, 2)
    async with engine.begin() as conn:
        point = await AuditTrail(keys).write_checkpoint(conn, "manual")  # at seq 10
    await seed_hours(seed, fake, 1, first_hour=2)
    await tamper("DELETE FROM audit_events WHERE seq = 10")
    report = await verify(engine, keys)
    assert report.problems == ["row seq 10 missing (deleted)"]
    kind = "a signed checkpoint" if signed else "a checkpoint"
    assert report.details[0][1] == (
        f"{kind} (#{point.id}, written {clock(point.at)}) vouched for the row at seq 10: "
        "it was there when the checkpoint was written"
    )


# -- F7: what a clean result does not vouch for ----------------------------------------------


async def test_rows_after_the_last_checkpoint_are_said_to_be_vouched_for_by_nothing(
    engine, seed, tamper, fake
):
    keys = AuditKeys([KEY])
    await seed_hours(seed, fake, 2)
    async with engine.begin() as conn:
        point = await AuditTrail(keys).write_checkpoint(conn, "manual")  # at seq 10
    assert (await verify(engine, keys)).notes == []  # the checkpoint vouches for the head
    third = (await seed_hours(seed, fake, 1, first_hour=2))[0]  # seq 11-15
    after = f"after the signed checkpoint at seq 10, written {clock(point.at)}"
    report = await verify(engine, keys)
    assert report.ok and report.notes == [
        f"the last 5 rows (seq 11-15, written {clock(T1 + 2 * HOUR)} to "
        f"{clock(T1 + 2 * HOUR + timedelta(seconds=1))}; {after}) are vouched for by no "
        "checkpoint or anchor: rows cut off the end of the trail together with the "
        "checkpoints after them would not show. Give an anchor (SEQ:HASH) kept outside the "
        "database, taken later, to check them: `gateway audit verify --anchor SEQ:HASH`, or "
        "the Integrity page's anchors box (the gateway's `audit_anchor` log lines and "
        "`gateway audit checkpoint` give them)."
    ]
    anchor = (15, await hash_at(engine, 15))
    # The end cut off (no checkpoint after it to delete): it still verifies,
    # and the note now covers what is left after the checkpoint.
    await tamper("DELETE FROM audit_events WHERE seq > 12")
    report = await verify(engine, keys)
    assert report.ok and len(report.notes) == 1
    assert report.notes[0].startswith(
        f"the last 2 rows (seq 11-12, written {clock(T1 + 2 * HOUR)} to "
        f"{clock(T1 + 2 * HOUR)}; {after}) are vouched for by no checkpoint or anchor")
    # The anchor kept elsewhere shows the cut: how many rows, from when.
    report = await verify(engine, keys, anchors=[anchor])
    assert report.problems == [
        f"rows after seq 12 missing: the anchor at seq 15 (hash {anchor[1][:16]}...) was "
        "taken at seq 15"
    ]
    assert report.details == [[
        f"at least 3 rows (seq 13-15) cut off the end of the trail, written after "
        f"{clock(T1 + 2 * HOUR)} (the received event of {third.id}, seq 12), the last row left"
    ]]
    assert report.notes == []
    # An anchor at the head vouches for every row.
    assert (await verify(engine, keys, anchors=[(12, await hash_at(engine, 12))])).notes == []


async def test_a_trail_with_no_checkpoint_is_vouched_for_by_nothing(engine, seed, fake):
    await seed_hours(seed, fake, 1)
    report = await verify(engine)
    assert report.ok
    assert report.notes[0].startswith(
        "the last 5 rows (seq 1-5, written "
        f"{clock(T1)} to {clock(T1 + timedelta(seconds=1))}; no checkpoint or anchor vouches "
        "for any row of the trail) are vouched for by no checkpoint or anchor")


# -- through the CLI, as the auditor runs it --------------------------------------------------


def build(url: str, fake: Faker, hours: int, checkpoint_after: int | None = None) -> list[str]:
    """Records an hour apart, each with its life and a relay, as the gateway
    writes them; a manual checkpoint after the first `checkpoint_after`."""

    async def run() -> list[str]:
        engine = create_engine(url)
        writer = Writer(engine)
        writer.start()
        trail = AuditTrail()
        ids = []
        for i in range(hours):
            record = make_record(received_at=T1 + i * HOUR, recipients=(recipient(fake),))
            await writer.submit(trail.record_op(record, life(record)))
            await writer.submit(trail.events_op(record.id, [AuditEvent(
                EventType.RELAYED, record.received_at + timedelta(seconds=1),
                {"recipient": record.recipients[0].address, "code": 250})]))
            ids.append(record.id)
            if checkpoint_after == i + 1:
                async with engine.begin() as conn:
                    await trail.write_checkpoint(conn, "manual")
        await writer.stop()
        await engine.dispose()
        return ids

    return asyncio.run(run())


def alter(url: str, *statements: str) -> None:
    async def run() -> None:
        engine = create_engine(url)
        try:
            await owner_tamper(engine)(*statements)
        finally:
            await engine.dispose()

    asyncio.run(run())


def config_for(tmp_path: Path, url: str) -> str:
    (tmp_path / "recipients.csv").write_text(
        "address,name,job_title,department,organisation,telephone,secure_route\n",
        encoding="utf-8")
    config = tmp_path / "gateway.toml"
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    return str(config)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_verify_prints_what_is_missing_and_what_nothing_vouches_for(
    tmp_path, db_url, capsys, fake
):
    # Two rows per record (its life kept in its row, then `relayed`).
    ids = build(db_url, fake, 4, checkpoint_after=3)  # seq 1-8, the checkpoint at seq 6
    config = config_for(tmp_path, db_url)
    code, out, _ = cli(capsys, "audit", "verify", "--config", config)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == ("audit trail verified: no edits, deletions or insertions found "
                        "(but see the note below)")
    assert lines[1].startswith(
        f"note: the last 2 rows (seq 7-8, written {clock(T1 + 3 * HOUR)} to "
        f"{clock(T1 + 3 * HOUR + timedelta(seconds=1))}; after the checkpoint (unsigned: no "
        "audit key) at seq 6, written ")
    alter(db_url, "DELETE FROM audit_events WHERE seq = 4")  # the 2nd message's relay
    code, out, _ = cli(capsys, "audit", "verify", "--config", config)
    assert code == 1
    assert out.startswith(
        "audit trail FAILED verification:\n"
        "  row seq 4 missing (deleted)\n"
        f"      1 row(s) deleted, written between {clock(T1 + HOUR)} (record {ids[1]}, "
        f"received, seq 3) and {clock(T1 + 2 * HOUR)} (record {ids[2]}, received, seq 5)\n")


def test_report_warns_of_damaged_records_as_search_does(tmp_path, db_url, capsys, fake):
    ids = build(db_url, fake, 2)
    config = config_for(tmp_path, db_url)
    period = ("--since", "2026-03-01", "--until", "2026-03-31")
    code, _, err = cli(capsys, "audit", "report", *period, "--config", config)
    assert code == 0 and err == ""
    # Out of the shape the gateway writes (PostgreSQL checks it is JSON at all).
    alter(db_url, "UPDATE audit_records SET document = '{\"recipients\": 5}' "
                  f"WHERE id = '{ids[0]}'")
    for form in ("table", "json"):
        code, out, err = cli(capsys, "audit", "report", *period, "--format", form,
                             "--config", config)
        assert code == 0 and out
        assert err.startswith("warning: 1 record(s) shown in part: their stored text is not "
                              "what the gateway wrote")
    # Outside the period the damaged record is not counted.
    code, _, err = cli(capsys, "audit", "report", "--since", "2026-04-01", "--config", config)
    assert code == 0 and err == ""
