"""`gateway audit verify` checks the objects auditors and the CLI read the
trail through, not only the hash chain: the views, the gateway's SQL
functions (PostgreSQL) and the append-only triggers must be as the
migrations made them.

The attack (a database owner's): re-create `audit_records_v` with `WHERE
verdict <> 'reject'` so the auditor role's view hides every refusal, or
redefine `audit_approver()` so that a message approved by one person is
counted under another's name.  No hashed row changes, so the chain alone
verifies."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import verify


def _about(problems: list[str], start: str) -> list[str]:
    return [p for p in problems if p.startswith(start)]


async def _as_owner(engine: AsyncEngine, *statements: str) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.exec_driver_sql(statement)


@pytest.fixture
def postgres(engine: AsyncEngine) -> AsyncEngine:
    if engine.dialect.name != "postgresql":
        pytest.skip("the gateway's functions and trigger switches are PostgreSQL's")
    return engine


async def test_an_untouched_database_has_its_objects_as_made(engine, seed):
    await seed(2)
    report = await verify(engine)
    assert report.ok and report.problems == [], report.problems


async def test_a_view_that_leaves_refusals_out_is_named(engine, seed):
    await seed(2, verdict="reject")
    await seed(1)
    if engine.dialect.name == "postgresql":
        await _as_owner(
            engine,
            "ALTER VIEW audit_records_v RENAME TO audit_records_all",
            "CREATE VIEW audit_records_v AS SELECT * FROM audit_records_all"
            " WHERE verdict <> 'reject'")
    else:
        async with engine.begin() as conn:
            made = (await conn.execute(text(
                "SELECT sql FROM sqlite_master WHERE name = 'audit_records_v'"))).scalar()
            await conn.exec_driver_sql("DROP VIEW audit_records_v")
            await conn.exec_driver_sql(
                str(made).replace("CREATE VIEW audit_records_v", "CREATE VIEW audit_records_all"))
            await conn.exec_driver_sql(
                "CREATE VIEW audit_records_v AS SELECT * FROM audit_records_all"
                " WHERE verdict <> 'reject'")
    async with engine.connect() as conn:  # what the attack does to readers
        shown = (await conn.execute(text("SELECT count(*) FROM audit_records_v"))).scalar()
    assert shown == 1

    report = await verify(engine)
    assert not report.ok
    (said,) = _about(report.problems, "view audit_records_v ")
    assert said.startswith("view audit_records_v is not as the migrations made it: ")
    assert "reject" not in said  # where it differs, not the edited text
    # every hashed row is intact: this is the only problem
    assert report.problems == [said]


async def test_a_missing_view_is_named(engine, seed):
    await seed(1)
    await _as_owner(engine, "DROP VIEW audit_events_v")
    report = await verify(engine)
    assert report.problems == ["view audit_events_v is missing (the migrations made it)"]


async def test_a_function_that_names_someone_else_is_named(postgres, seed):
    await seed(1)
    await _as_owner(postgres, """
        CREATE OR REPLACE FUNCTION audit_approver(detail text) RETURNS text
        LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN
            RETURN replace(NULLIF(detail::jsonb->>'by', ''), 'Mallory Head', 'Sarah Approver');
        EXCEPTION WHEN invalid_text_representation THEN
            RETURN NULL;
        END
        $$""")
    report = await verify(postgres)
    (said,) = report.problems
    assert said.startswith("function audit_approver(text) is not as the migrations made it: ")
    assert "Mallory" not in said and "Sarah" not in said


async def test_a_function_given_other_attributes_is_named(postgres, seed):
    await seed(1)
    await _as_owner(postgres, "ALTER FUNCTION audit_event_recipient(text) RESET search_path")
    report = await verify(postgres)
    assert report.problems == [
        "function audit_event_recipient(text) is not as the migrations made it: its attributes "
        "(arguments, result, volatility, security or search path) differ from theirs"]


async def test_a_missing_function_is_named(postgres, seed):
    await seed(1)
    await _as_owner(postgres, "DROP FUNCTION audit_refuser(text) CASCADE")
    report = await verify(postgres)
    assert "function audit_refuser(text) is missing (the migrations made it)" in report.problems


async def test_a_disabled_append_only_trigger_is_named(postgres, seed):
    await seed(1)
    await _as_owner(postgres, "ALTER TABLE audit_records DISABLE TRIGGER audit_records_append_only")
    report = await verify(postgres)
    assert report.problems == ["trigger audit_records_append_only on audit_records is disabled "
                               "(pg_trigger.tgenabled = 'D')"]


async def test_a_missing_append_only_trigger_is_named(engine, seed):
    await seed(1)
    postgres = engine.dialect.name == "postgresql"
    name = "audit_events_append_only" if postgres else "audit_events_no_delete"
    await _as_owner(engine, f"DROP TRIGGER {name} ON audit_events" if postgres
                    else f"DROP TRIGGER {name}")
    report = await verify(engine)
    assert report.problems == [f"trigger {name} is missing (the migrations made it)"
                               .replace(" is missing", " on audit_events is missing")
                               if postgres else
                               f"trigger {name} is missing (the migrations made it)"]


async def test_a_trigger_of_someone_else_on_the_audit_tables_is_named(engine, seed):
    await seed(1)
    if engine.dialect.name == "postgresql":
        await _as_owner(
            engine,
            "CREATE FUNCTION drop_refusals() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN IF NEW.verdict = 'reject' THEN RETURN NULL; END IF; RETURN NEW; END $$",
            "CREATE TRIGGER drop_refusals BEFORE INSERT ON audit_records"
            " FOR EACH ROW EXECUTE FUNCTION drop_refusals()")
    else:
        await _as_owner(
            engine,
            "CREATE TRIGGER drop_refusals BEFORE INSERT ON audit_records"
            " WHEN NEW.verdict = 'reject' BEGIN SELECT RAISE(IGNORE); END")
    report = await verify(engine)
    assert report.problems == [
        "trigger drop_refusals on audit_records is not one the migrations made"]
