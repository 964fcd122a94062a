"""`gateway audit report`: an information-governance report's figures are
of one moment, however much mail the gateway accepts while it runs."""

from __future__ import annotations

from audit_support import life, make_record
from gwtest import run_in_thread
from sqlalchemy import event

from gateway.audit import AuditQuery
from gateway.db import create_engine
from gateway.queue import Writer


async def test_mail_accepted_while_the_report_runs_does_not_make_its_figures_disagree(
    engine, seed, trail, db_url
):
    """The report counts in several statements (the total, then by verdict,
    reason, type, organisation, sender and event).  Another process commits
    a record after the first: every figure must still count the same
    records, so the by-verdict counts add up to the total."""
    await seed(2, kept=True)
    statements: list[str] = []

    async def accept_elsewhere() -> None:
        other = create_engine(db_url)
        writer = Writer(other)
        writer.start()
        try:
            record = make_record(verdict="block")
            await writer.submit(trail.record_op(record, life(record)))
        finally:
            await writer.stop()
            await other.dispose()

    def after_the_first(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)
            if len(statements) == 1:
                run_in_thread(accept_elsewhere)

    event.listen(engine.sync_engine, "after_cursor_execute", after_the_first)
    try:
        report = await AuditQuery(engine).report(None, None)
    finally:
        event.remove(engine.sync_engine, "after_cursor_execute", after_the_first)
    assert len(statements) > 5  # the record arrived in the middle of the report
    assert report["records"] == 2
    assert sum(report["by_verdict"].values()) == 2 and "block" not in report["by_verdict"]
    assert sum(report["by_information_type"].values()) == 4  # two types a record
    assert (await AuditQuery(engine).report(None, None))["by_verdict"]["block"] == 1
