"""The database says which gateways may run on it (schema_requires_code,
migration 0020), and `gateway db upgrade` warns of a migration older
gateways cannot run across.

Replicas from before 0017 kept serving after the upgrade dropped
queue_messages.content: every message got 451 while their /readyz said
ok, and the schema check had only warned `database_schema_newer`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from gwtest import run_cli, write_config
from sqlalchemy import text

from gateway.cli import main
from gateway.db import create_engine
from gateway.db.migrate import alembic_config
from gateway.db.schema_check import HEAD, schema_problem


async def _run(url: str, *statements: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _problem(url: str) -> str | None:
    engine = create_engine(url)
    try:
        return await schema_problem(engine)
    finally:
        await engine.dispose()


# A later release's migrations, which this code does not know: one that
# older code can run across, one that it cannot.
NEWER_COMPATIBLE = ("UPDATE alembic_version SET version_num = '0099'",)
NEWER_BREAKING = (*NEWER_COMPATIBLE, "UPDATE schema_requires_code SET revision = '0099'")


async def test_a_newer_schema_that_older_code_can_run_on_is_allowed(db_url: str) -> None:
    assert await _problem(db_url) is None
    await _run(db_url, *NEWER_COMPATIBLE)
    assert await _problem(db_url) is None


async def test_a_schema_requiring_newer_code_is_refused_by_name(db_url: str) -> None:
    await _run(db_url, *NEWER_BREAKING)
    problem = await _problem(db_url)
    assert problem is not None
    assert problem.startswith("the database needs a newer gateway: its schema requires code "
                              f"that knows revision 0099, and this gateway knows revisions "
                              f"up to {HEAD}")


async def test_readyz_fails_once_the_database_requires_newer_code(
    db_url: str, gateway: Any
) -> None:
    assert (await gateway.readiness())["database"] is True
    await _run(db_url, *NEWER_BREAKING)
    assert (await gateway.readiness())["database"] == (
        "needs a newer gateway (schema requires revision 0099)")


@pytest.mark.parametrize(("start", "warned"), [("0016", True), ("0018", False)])
def test_upgrade_warns_of_crossing_a_migration_older_code_cannot_run_across(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    start: str, warned: bool,
) -> None:
    command.downgrade(alembic_config(sqlite_url), start)
    config = write_config(tmp_path / "gw.toml", {"database": {"url": sqlite_url}})
    (tmp_path / "recipients.csv").write_text(
        "address,name,job_title,department,organisation,telephone,secure_route\n",
        encoding="utf-8",
    )
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    error = capsys.readouterr().err
    warning = ("warning: this upgrade applies migration 0017: older gateways (before schema "
               "revision 0017) stop working on this database: stop them before upgrading")
    assert (warning in error) is warned, error


async def test_serve_on_a_database_requiring_newer_code_exits_75(
    db_url: str, tmp_path: Path, gateway_config: Any
) -> None:
    await _run(db_url, *NEWER_BREAKING)
    config = write_config(tmp_path / "serve.toml", gateway_config())
    refused = await asyncio.to_thread(run_cli, "serve", config=config, timeout=60)
    assert refused.returncode == 75, refused.stderr
    assert "error: the database needs a newer gateway" in refused.stderr
    assert "Traceback" not in refused.stderr
