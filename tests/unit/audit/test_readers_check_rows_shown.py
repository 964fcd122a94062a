"""A record shown (`audit show`, a search's rows, the console) is checked
against its hash and the next row's link: an edit that leaves readable text
is marked `damaged`, as an unreadable one was.

A black-box auditor changed a record's "Head of Service" into "Director of
Children's Services" (valid JSON): `verify` named it, but `show` printed the
new name with no warning and `--authorised-by director` found it."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

from audit_support import life, make_record, owner_tamper
from sqlalchemy import text

from gateway.audit import AuditQuery, AuditTrail, SearchFilter, verify
from gateway.audit.chain import link, record_content
from gateway.audit.record import utc
from gateway.cli import main
from gateway.db import create_engine
from gateway.queue import Writer


async def _document(engine, seq: int) -> dict:
    async with engine.connect() as conn:
        stored = (await conn.execute(
            text("SELECT document FROM audit_records WHERE seq = :s"), {"s": seq})).scalar_one()
    return json.loads(stored)


async def _edit_purpose_in_document(engine, tamper, seq: int, rehash: bool) -> None:
    """Change what the document says the purpose was (valid JSON); with
    `rehash`, recompute the row's own hash as a careful editor would."""
    document = await _document(engine, seq)
    document["purpose"] = "Routine newsletter"
    edited = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    statements = ["UPDATE audit_records SET document = :d WHERE seq = :s"]
    params: dict[str, Any] = {"d": edited, "s": seq}
    if rehash:
        async with engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT id, message_id, received_at, sender, verdict, marking, purpose, terms,"
                " events, prev_hash FROM audit_records WHERE seq = :s"), {"s": seq})).one()
        received = row.received_at if isinstance(row.received_at, datetime) else \
            datetime.fromisoformat(str(row.received_at))
        content = record_content(row.id, row.message_id, utc(received), row.sender, row.verdict,
                                 row.marking, row.purpose, row.terms, edited, row.events)
        statements.append("UPDATE audit_records SET hash = :h WHERE seq = :s")
        params["h"] = link(row.prev_hash, content)
    await tamper(*statements, **params)


async def test_an_edit_that_leaves_valid_json_is_marked(engine, seed, tamper):
    records = await seed(3, kept=True)  # seqs 1, 3, 5 (each followed by its `relayed`)
    await _edit_purpose_in_document(engine, tamper, 3, rehash=False)
    assert (await verify(engine)).problems == [f"record {records[1].id} (seq 3) edited"]
    query = AuditQuery(engine)
    shown = await query.get(records[1].id)
    assert shown is not None and shown["damaged"] == ["record"]
    assert shown["purpose"] == "Routine newsletter"  # shown all the same, marked
    found = {d["id"]: d.get("damaged") for d in await query.search(SearchFilter())}
    assert found == {records[0].id: None, records[1].id: ["record"], records[2].id: None}


async def test_an_edit_whose_hash_was_recomputed_is_marked_by_the_next_row(
    engine, seed, tamper
):
    records = await seed(3, kept=True)
    await _edit_purpose_in_document(engine, tamper, 3, rehash=True)
    problems = (await verify(engine)).problems
    assert problems and "seq 4" in problems[0]  # verify: the next row no longer links
    shown = await AuditQuery(engine).get(records[1].id)
    assert shown is not None and shown["damaged"] == ["record"]
    others = [await AuditQuery(engine).get(r.id) for r in (records[0], records[2])]
    assert [d.get("damaged") for d in others if d is not None] == [None, None]


async def test_an_edited_event_is_named(engine, seed, tamper):
    records = await seed(2, kept=True)
    await tamper("UPDATE audit_events SET detail = :d WHERE seq = 2",
                 d=json.dumps({"code": 550, "recipient": "someone@else.example"}))
    shown = await AuditQuery(engine).get(records[0].id)
    assert shown is not None and shown["damaged"] == ["event relayed"]
    assert (await AuditQuery(engine).get(records[1].id) or {}).get("damaged") is None


async def test_an_edited_search_index_is_named(engine, seed, tamper):
    records = await seed(2, kept=True)
    await tamper("UPDATE audit_record_terms SET value = 'elsewhere.example', "
                 "\"key\" = 'elsewhere.example' WHERE record_seq = 1 AND field = 'organisation'")
    shown = await AuditQuery(engine).get(records[0].id)
    assert shown is not None and shown["damaged"] == ["search index"]


async def test_a_sound_trail_shows_nothing_damaged(engine, writer):
    """Records written as the gateway writes them, one with later events in
    rows of their own, the head's last row followed by no row at all."""
    trail = AuditTrail()
    record = make_record()
    await writer.submit(trail.record_op(record, life(record)))
    shown = await AuditQuery(engine).get(record.id)
    assert shown is not None and "damaged" not in shown
    assert (await verify(engine)).ok


def test_show_prints_the_mark(tmp_path, db_url, capsys):
    record = make_record()

    async def prepare() -> None:
        engine = create_engine(db_url)
        writer = Writer(engine)
        writer.start()
        await writer.submit(AuditTrail().record_op(record, life(record)))
        await writer.stop()
        await _edit_purpose_in_document(engine, owner_tamper(engine), 1, rehash=False)
        await engine.dispose()

    asyncio.run(prepare())
    (tmp_path / "recipients.csv").write_text(
        "address,name,job_title,department,organisation,telephone,secure_route\n",
        encoding="utf-8")
    config = tmp_path / "gateway.toml"
    config.write_text(f'[database]\nurl = "{db_url}"\n', encoding="utf-8")
    code = main(["audit", "show", record.id, "--config", str(config)])
    out, err = capsys.readouterr()
    assert code == 0
    assert "DAMAGED        record: not as the gateway wrote it" in out
    assert "Routine newsletter" in out
    assert "warning: 1 record(s) shown in part" in err
