"""verify catches edits, deletions and insertions, and says which; the
append-only triggers refuse changes in the first place.

Every test runs three ways: the whole trail in one page, and in pages of 4
rows (so page boundaries fall inside and between records) on 3 helper
connections and, on PostgreSQL, on the walk's own connection only: the
problems found must be the same, in the same order.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from gateway.audit import AuditKeys, AuditTrail, verify
from gateway.audit.chain import event_content, link
from gateway.db.schema import audit_events, audit_records

KEY = "k" * 40
walk = importlib.import_module("gateway.audit.verify")  # (the package exports the function)


@pytest.fixture(autouse=True, params=["one page", "pages of 4, 3 connections",
                                      "pages of 4, 1 connection"])
def paging(request, monkeypatch, db_url) -> tuple[int, int]:
    page, workers = {"one page": (walk._PAGE, walk.DEFAULT_WORKERS),
                     "pages of 4, 3 connections": (4, 3),
                     "pages of 4, 1 connection": (4, 1)}[request.param]
    if workers == 1 and db_url.startswith("sqlite"):
        pytest.skip("SQLite walks on one connection anyway")
    monkeypatch.setattr(walk, "_PAGE", page)
    monkeypatch.setattr(walk, "DEFAULT_WORKERS", workers)
    return page, workers


async def hash_at(engine, seq: int) -> str:
    async with engine.connect() as conn:
        for table in (audit_records, audit_events):
            found = (await conn.execute(select(table.c.hash).where(table.c.seq == seq))).scalar()
            if found:
                return str(found)
    raise AssertionError(seq)


def as_written(engine, at: datetime) -> datetime | str:
    """`at` as the gateway stores it, for a careful forgery: SQLite keeps
    the text SQLAlchemy writes (and verify checks that form)."""
    if engine.dialect.name == "postgresql":
        return at
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


async def problems(engine, keys=None) -> list[str]:
    report = await verify(engine, keys)
    assert report.ok == (not report.problems)
    return report.problems


async def test_an_untouched_trail_verifies(engine, seed):
    await seed(3)  # 3 x (record + 4 events) = seq 1..15
    report = await verify(engine)
    assert report.ok and report.problems == []
    assert (report.records, report.events, report.first_seq, report.last_seq) == (3, 12, 1, 15)
    assert "3 records, 12 event rows (seq 1-15)" in report.summary()


async def test_an_edited_record_is_named(engine, seed, tamper):
    records = await seed(3)
    await tamper("UPDATE audit_records SET document = replace(document, 'GP only', 'anyone') "
                 "WHERE id = :id", id=records[1].id)
    assert await problems(engine) == [f"record {records[1].id} (seq 6) edited"]


async def test_an_edited_indexed_column_is_caught(engine, seed, tamper):
    records = await seed(2)
    await tamper("UPDATE audit_records SET sender = 'someone@else.example' WHERE seq = 1")
    assert await problems(engine) == [f"record {records[0].id} (seq 1) edited"]


async def test_an_edited_event_is_named(engine, seed, tamper):
    records = await seed(2)
    await tamper("UPDATE audit_events SET type = 'delivery_confirmed' WHERE seq = 5")
    assert await problems(engine) == [
        f"event seq 5 (delivery_confirmed of {records[0].id}) edited"
    ]


async def test_a_deleted_event_is_named(engine, seed, tamper):
    await seed(3)
    await tamper("DELETE FROM audit_events WHERE seq = 8")
    assert await problems(engine) == ["row seq 8 missing (deleted)"]


async def test_a_deleted_record_with_its_events_is_named(engine, seed, tamper):
    records = await seed(3)
    await tamper("DELETE FROM audit_events WHERE record_id = :id", id=records[1].id)
    await tamper("DELETE FROM audit_record_terms WHERE record_seq = 6")
    await tamper("DELETE FROM audit_records WHERE id = :id", id=records[1].id)
    assert await problems(engine) == ["rows seq 6-10 missing (deleted)"]


async def test_deleting_the_oldest_rows_is_caught(engine, seed, tamper):
    await seed(2)
    await tamper("DELETE FROM audit_events WHERE seq <= 5", "DELETE FROM audit_record_terms "
                 "WHERE record_seq = 1", "DELETE FROM audit_records WHERE seq = 1")
    assert await problems(engine) == ["rows seq 1-5 missing (deleted)"]


async def test_a_row_inserted_with_a_taken_seq_is_named(engine, seed, tamper):
    records = await seed(2)
    await tamper(
        "INSERT INTO audit_events (seq, record_id, at, type, detail, prev_hash, hash) "
        "SELECT seq, record_id, at, 'delivery_confirmed', detail, prev_hash, hash "
        "FROM audit_records r JOIN (SELECT record_id, at, detail FROM audit_events "
        "WHERE seq = 2) e ON 1 = 1 WHERE r.seq = 6"
    )
    assert await problems(engine) == [
        f"event seq 6 (delivery_confirmed of {records[0].id}) inserted (seq 6 is taken twice)"
    ]


async def _renumber_from(tamper, seq: int) -> None:
    """Make room at `seq` by moving every later row up one (two steps, so the
    primary key never sees a duplicate)."""
    for table in ("audit_records", "audit_events"):
        await tamper(f"UPDATE {table} SET seq = -seq - 1 WHERE seq >= {seq}",
                     f"UPDATE {table} SET seq = -seq WHERE seq < 0")
    await tamper(f"UPDATE audit_record_terms SET record_seq = record_seq + 1000000 "
                 f"WHERE record_seq >= {seq}",
                 "UPDATE audit_record_terms SET record_seq = record_seq - 999999 "
                 "WHERE record_seq >= 1000000")


async def test_a_well_forged_insertion_is_named(engine, seed, tamper):
    """The inserted row links correctly to its predecessor and hashes
    correctly; the row after it still links to the predecessor."""
    records = await seed(2)
    prev = await hash_at(engine, 3)
    at = datetime(2026, 3, 2, 9, 31, tzinfo=UTC)
    forged = link(prev, event_content(records[0].id, at, "delivery_confirmed", "{}"))
    await _renumber_from(tamper, 4)
    await tamper(
        "INSERT INTO audit_events (seq, record_id, at, type, detail, prev_hash, hash) "
        "VALUES (4, :rid, :at, 'delivery_confirmed', '{}', :prev, :hash)",
        rid=records[0].id, at=as_written(engine, at), prev=prev, hash=forged,
    )
    assert await problems(engine) == ["row seq 4 inserted (seq 5 links past it)"]


async def test_a_carelessly_forged_insertion_is_named(engine, seed, tamper):
    records = await seed(2)
    prev = await hash_at(engine, 3)
    await _renumber_from(tamper, 4)
    await tamper(
        "INSERT INTO audit_events (seq, record_id, at, type, detail, prev_hash, hash) "
        "VALUES (4, :rid, :at, 'read_confirmed', '{}', :prev, :hash)",
        rid=records[0].id, at=datetime(2026, 3, 2, tzinfo=UTC), prev=prev, hash="f" * 64,
    )
    assert await problems(engine) == [
        f"event seq 4 (read_confirmed of {records[0].id}) inserted (seq 5 links past it)"
    ]


async def test_a_row_added_after_the_last_is_not_called_only_an_edit(engine, seed, tamper):
    """With no row after it, a forged row at the chain's end looks like an
    edited last row: the problem names both, so the auditor looks for both."""
    records = await seed(2)
    async with engine.connect() as conn:
        last = max([(await conn.execute(select(func.max(table.c.seq)))).scalar_one()
                    for table in (audit_records, audit_events)])
    prev = await hash_at(engine, last)
    await tamper(
        "INSERT INTO audit_events (seq, record_id, at, type, detail, prev_hash, hash) "
        "VALUES (:seq, :rid, :at, 'delivery_confirmed', '{}', :prev, :hash)",
        seq=last + 1, rid=records[0].id, at=as_written(engine, datetime(2026, 3, 2, tzinfo=UTC)),
        prev=prev, hash="f" * 64,
    )
    assert await problems(engine) == [
        f"event seq {last + 1} (delivery_confirmed of {records[0].id}) edited, or inserted "
        "at the chain's end (its content does not verify)"
    ]


async def test_the_last_record_deleted_with_its_index_rows_left_is_caught(engine, seed, tamper):
    """Without its record, the chain simply ends earlier; the search index
    rows the record left behind show it was there."""
    records = await seed(2)
    async with engine.connect() as conn:
        last = (await conn.execute(select(func.max(audit_records.c.seq)))).scalar_one()
    await tamper(f"DELETE FROM audit_events WHERE seq > {last}",
                 f"DELETE FROM audit_records WHERE seq = {last}")
    assert records
    assert await problems(engine) == [
        f"record seq {last} missing at the chain's end: its search index rows are still "
        "there (deleted)"
    ]


async def test_a_deletion_hidden_by_renumbering_is_caught(engine, seed, tamper):
    await seed(2)
    await tamper("DELETE FROM audit_events WHERE seq = 3")
    for table in ("audit_records", "audit_events"):
        await tamper(f"UPDATE {table} SET seq = -(seq - 1) WHERE seq > 3",
                     f"UPDATE {table} SET seq = -seq WHERE seq < 0")
    await tamper("UPDATE audit_record_terms SET record_seq = record_seq - 1 WHERE record_seq > 3")
    assert await problems(engine) == [
        "row(s) missing before seq 3: it does not link to the row before it "
        "(deleted and renumbered)"
    ]


async def test_search_index_tampering_is_caught(engine, seed, tamper):
    records = await seed(2)
    await tamper("DELETE FROM audit_record_terms WHERE record_seq = 6 AND field = 'recipient'")
    await tamper("INSERT INTO audit_record_terms (record_seq, field, value, key, received_at) "
                 "SELECT 2, 'recipient', 'x@y.example', 'x@y.example', received_at "
                 "FROM audit_records "
                 "WHERE seq = 1")
    assert sorted(await problems(engine)) == [
        "search index of record " + records[1].id + " (seq 6) altered "
        "(rows in audit_record_terms differ from the record)",
        "search index rows for seq 2 inserted (no record there)",
    ]


async def test_an_event_inserted_before_the_first_row_is_caught(engine, seed, tamper):
    """A forged "it arrived" at seq 0 is read by show, search and report
    like any other event; no link reaches it, so the walk never would."""
    records = await seed(2)
    await tamper(
        "INSERT INTO audit_events (seq, record_id, at, type, detail, prev_hash, hash) "
        "SELECT 0, record_id, at, 'delivery_confirmed', detail, 'x', 'y' "
        "FROM audit_events WHERE seq = 2"
    )
    assert records
    assert await problems(engine) == [
        "1 row(s) at seq 0 or below, before the chain's first row: inserted "
        "(no row the gateway writes is there)"
    ]


async def test_a_record_inserted_at_a_negative_seq_is_caught(engine, seed, tamper):
    await seed(2)
    await tamper(
        "INSERT INTO audit_records (seq, id, message_id, received_at, sender, verdict, "
        "marking, purpose, terms, document, events, prev_hash, hash) "
        "SELECT -1, 'FORGED0000000001', message_id, received_at, 'mallory@x.example', "
        "verdict, marking, purpose, terms, document, events, prev_hash, hash "
        "FROM audit_records WHERE seq = 1",
        "INSERT INTO audit_record_terms (record_seq, field, value, key, received_at) "
        "SELECT -1, field, value, key, received_at FROM audit_record_terms "
        "WHERE record_seq = 1",
    )
    (problem,) = await problems(engine)
    assert problem.endswith("row(s) at seq 0 or below, before the chain's first row: inserted "
                            "(no row the gateway writes is there)")
    assert int(problem.split()[0]) >= 2  # the record and its search-index rows


async def test_a_cut_off_tail_is_caught_by_the_checkpoint(engine, seed, tamper):
    await seed(2)
    async with engine.begin() as conn:
        await AuditTrail().write_checkpoint(conn, "manual")  # at seq 10
    await tamper("DELETE FROM audit_events WHERE seq > 7")
    found = await problems(engine)
    assert found[0] == "rows after seq 7 missing: checkpoint #1 (manual at seq 10) was taken " \
                       "at seq 10"


async def test_a_tail_cut_off_with_its_checkpoints_is_caught_by_an_anchor_kept_elsewhere(
    engine, seed, tamper
):
    """Checkpoints live in the database: whoever cuts the tail off can
    delete the checkpoints after it too, and the trail left verifies.  A
    position kept outside (`audit checkpoint`'s anchor, an `audit_anchor`
    log line) still shows it."""
    await seed(2)  # seq 1-10
    anchors = [(7, await hash_at(engine, 7)), (10, await hash_at(engine, 10))]
    assert (await verify(engine, anchors=anchors)).ok
    await tamper("DELETE FROM audit_events WHERE seq > 7", "DELETE FROM audit_checkpoints")
    assert await problems(engine) == []  # nothing in the database shows it
    report = await verify(engine, anchors=anchors)
    assert report.problems == [
        "rows after seq 7 missing: the anchor at seq 10 "
        f"(hash {anchors[1][1][:16]}...) was taken at seq 10"
    ]


async def test_an_anchor_shows_a_row_rewritten_with_a_valid_hash(engine, seed, tamper):
    """The last row rewritten with a fresh, valid hash and no checkpoint
    after it: the chain verifies, the anchor taken there does not match."""
    (record,) = await seed(1)  # seq 1-5
    anchor = (5, await hash_at(engine, 5))
    at = datetime(2026, 3, 2, 9, 31, tzinfo=UTC)
    new = link(await hash_at(engine, 4), event_content(record.id, at, "delivery_confirmed", "{}"))
    await tamper("UPDATE audit_events SET type = 'delivery_confirmed', detail = '{}', at = :at, "
                 "hash = :h WHERE seq = 5", at=as_written(engine, at), h=new)
    assert await problems(engine) == []
    report = await verify(engine, anchors=[anchor])
    assert report.problems == [
        f"row seq 5 does not match the anchor at seq 5 (hash {anchor[1][:16]}...): "
        "the chain was rewritten there or before it"
    ]


async def test_an_anchor_the_purge_removed_is_not_checked(engine, seed, trail):
    from gateway.audit import purge
    from gateway.audit.record import utc

    old = await seed(1, received_at=datetime(2015, 1, 1, tzinfo=UTC))  # seq 1-5
    await seed(1)  # seq 6-10
    before, at_cut = (2, await hash_at(engine, 2)), (5, await hash_at(engine, 5))
    await purge(engine, trail, retention=utc(datetime.now(UTC)) - datetime(2016, 1, 1, tzinfo=UTC))
    report = await verify(engine, anchors=[before, at_cut])
    assert report.ok, report.problems
    assert report.warnings == [
        f"the anchor at seq 2 (hash {before[1][:16]}...) is before the purge cut at seq 5: "
        "not checked"
    ]
    assert old  # its rows went with the purge


async def test_a_purge_committed_during_the_walk_does_not_show_as_deletions(
    engine, seed, trail, db_url, monkeypatch
):
    """`gateway audit verify` and a purge run from cron at the same time:
    verify reads the trail as it was when the walk began (one snapshot), so
    the rows the purge removes meanwhile are not reported deleted."""
    from gwtest import run_in_thread

    from gateway.audit import purge
    from gateway.db import create_engine

    await seed(2, received_at=datetime(2015, 1, 1, tzinfo=UTC))  # seq 1-10, all purged
    await seed(1, received_at=datetime.now(UTC))  # seq 11-15, kept
    purged: list[int] = []
    started: list[bool] = []
    check_checkpoints = walk._check_checkpoints

    async def purge_elsewhere() -> None:
        other = create_engine(db_url)
        try:
            result = await purge(other, trail, retention=timedelta(days=30))
            purged.append(result.cut_seq)
        finally:
            await other.dispose()

    def then_purge(*args, **kwargs):
        # After the walk has read the head and the checkpoints, before it
        # reads a row: another process purges and commits.
        found = check_checkpoints(*args, **kwargs)
        if not started:  # (the purge's own verify comes here too)
            started.append(True)
            run_in_thread(purge_elsewhere)
        return found

    monkeypatch.setattr(walk, "_check_checkpoints", then_purge)
    report = await verify(engine)
    assert purged == [10]
    assert report.ok, report.problems
    assert report.records == 3 and report.cut_seq == 0  # the trail as the walk began
    monkeypatch.undo()
    after = await verify(engine)
    assert after.ok, after.problems
    assert after.records == 1 and after.cut_seq == 10


async def test_a_rewritten_chain_is_caught_by_a_signed_checkpoint(engine, seed, tamper):
    """An attacker who edits a row and recomputes every hash after it passes
    the chain check, but not the signed checkpoint."""
    keys = AuditKeys([KEY])
    records = await seed(2)
    async with engine.begin() as conn:
        await AuditTrail(keys).write_checkpoint(conn, "manual")
    assert (await verify(engine, keys)).checkpoints_signed == 1
    # Rewrite event seq 10 (the last row) with a fresh, valid hash.
    prev = await hash_at(engine, 9)
    at = datetime(2026, 3, 2, 9, 31, tzinfo=UTC)
    new = link(prev, event_content(records[1].id, at, "delivery_confirmed", "{}"))
    await tamper("UPDATE audit_events SET type = 'delivery_confirmed', detail = '{}', at = :at, "
                 "hash = :h WHERE seq = 10", at=as_written(engine, at), h=new)
    assert await problems(engine, keys) == [
        "checkpoint #1 at seq 10 does not match the chain: rows up to seq 10 were rewritten"
    ]
    # Moving the checkpoint too needs the key.
    await tamper("UPDATE audit_checkpoints SET hash = :h", h=new)
    assert await problems(engine, keys) == [
        "checkpoint #1 (manual at seq 10) forged or altered: its signature does not verify"
    ]


@pytest.mark.parametrize("seq, table, column", [
    (5, "audit_events", "detail"), (6, "audit_records", "sender"),
    (10, "audit_events", "detail"), (11, "audit_records", "sender"),
])
async def test_an_edit_at_a_page_boundary_is_named(engine, seed, tamper, monkeypatch, seq, table,
                                                   column):
    """Pages of 5 rows: seq 5 and 10 end a page, 6 and 11 start one."""
    monkeypatch.setattr(walk, "_PAGE", 5)
    records = await seed(3)
    await tamper(f"UPDATE {table} SET {column} = {column} || ' ' WHERE seq = {seq}")
    owner = records[(seq - 1) // 5]
    label = (f"event seq {seq} (relayed of {owner.id})" if table == "audit_events"
             else f"record {owner.id} (seq {seq})")
    assert await problems(engine) == [f"{label} edited"]


async def test_deletions_at_page_boundaries_are_named(engine, seed, tamper, monkeypatch):
    monkeypatch.setattr(walk, "_PAGE", 5)
    await seed(3)
    await tamper("DELETE FROM audit_events WHERE seq IN (5, 10)")
    assert await problems(engine) == ["row seq 5 missing (deleted)",
                                      "row seq 10 missing (deleted)"]


async def test_problems_in_several_pages_come_in_seq_order(engine, seed, tamper, monkeypatch):
    monkeypatch.setattr(walk, "_PAGE", 3)
    records = await seed(4)  # seq 1..20, pages of 3
    await tamper("UPDATE audit_events SET detail = detail || ' ' WHERE seq IN (3, 14)",
                 "UPDATE audit_records SET sender = 'x@y.example' WHERE seq = 11")
    expected = [f"event seq 3 (password_held of {records[0].id}) edited",
                f"record {records[2].id} (seq 11) edited",
                f"event seq 14 (queued of {records[2].id}) edited"]
    assert await problems(engine) == expected
    report = await verify(engine, max_problems=2)
    assert not report.ok and report.problems == expected[:2]


async def test_index_rows_left_in_a_deleted_stretch_are_named(engine, seed, tamper):
    """Rows seq 5-8 deleted, record 6's search-index rows left behind: with
    pages of 4, page (4, 8] holds nothing but those."""
    await seed(2)
    await tamper("DELETE FROM audit_events WHERE seq IN (5, 7, 8)",
                 "DELETE FROM audit_records WHERE seq = 6")
    # The record at seq 6 was deleted, not index rows inserted: the gap says
    # so (a deleted record's index rows are what is left of it).
    assert await problems(engine) == ["rows seq 5-8 missing (deleted)"]
    (details,) = (await verify(engine)).details
    assert any(line.startswith("the record at seq 6 was deleted, but its search-index rows "
                               "are still there") for line in details)


async def test_a_clean_trail_in_many_pages_counts_every_row(engine, seed, paging):
    await seed(5)
    async with engine.begin() as conn:
        await AuditTrail().write_checkpoint(conn, "manual")  # at seq 25
    report = await verify(engine)
    assert report.ok, report.problems
    assert (report.records, report.events, report.first_seq, report.last_seq) == (5, 20, 1, 25)
    assert report.head_hash == await hash_at(engine, 25)
    _, workers = paging
    assert report.workers == (workers if engine.dialect.name == "postgresql" else 1)


def _refusal(exc: BaseException) -> str:
    return str(exc.__cause__ or exc)


@pytest.mark.parametrize("statement", [
    "UPDATE audit_records SET verdict = 'deliver'",
    "DELETE FROM audit_records",
    "UPDATE audit_events SET type = 'relayed'",
    "DELETE FROM audit_events",
    "DELETE FROM audit_record_terms",
    "UPDATE audit_checkpoints SET hash = 'x'",
    "DELETE FROM audit_checkpoints",
])
async def test_triggers_refuse_update_and_delete(engine, seed, statement):
    await seed(1)
    async with engine.begin() as conn:
        await AuditTrail().write_checkpoint(conn, "manual")
    with pytest.raises(DBAPIError) as caught:
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    assert "audit trail is append-only" in _refusal(caught.value)
    assert (await verify(engine)).ok


async def test_truncate_is_refused_on_postgres(seed, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    await seed(1)
    with pytest.raises(DBAPIError) as caught:
        async with engine.begin() as conn:
            await conn.execute(text("TRUNCATE audit_events"))
    assert "append-only" in _refusal(caught.value)


async def test_a_small_pool_bounds_the_helpers_instead_of_waiting_for_ever(db_url, seed, paging):
    """The console verifies on a pool of 1 (+1 overflow): asking for more
    helpers than the pool can give must not wait on its own connections."""
    from gateway.db import create_engine

    await seed(3)
    small = create_engine(db_url, pool_size=1)
    try:
        report = await verify(small, workers=8)
    finally:
        await small.dispose()
    assert report.ok, report.problems
    assert report.records == 3
    assert report.workers == 1  # the walk's connection and one to spare: no helpers
