"""Every command that uses the database checks its schema first, as
`gateway serve` does: on a database not yet migrated (0004) `audit verify`,
`passwords list`, `queue show` failed on "no such column", `queue bounce`
said "database write failed", and `audit checkpoint` wrote into the old
schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from gwtest import write_config

from gateway.cli import main
from gateway.db.migrate import alembic_config
from gateway.db.schema_check import HEAD


@pytest.mark.parametrize("argv", [
    ["audit", "verify"], ["audit", "checkpoint"], ["passwords", "list"],
    ["queue", "list"], ["queue", "bounce", "q" * 32], ["held", "approve", "q" * 32, "--by", "Jo"],
])
def test_a_command_on_an_older_schema_exits_75_naming_the_fix(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
) -> None:
    command.downgrade(alembic_config(db_url), "0004")
    config = write_config(tmp_path / "gw.toml", {"database": {"url": db_url}})
    (tmp_path / "recipients.csv").write_text(
        "address,name,job_title,department,organisation,telephone,secure_route\n",
        encoding="utf-8",
    )
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--config", str(config)])
    assert exited.value.code == 75
    error = capsys.readouterr().err.strip()
    assert error == (f"error: the database's schema is at revision 0004; this gateway needs "
                     f"{HEAD}: run `gateway db upgrade` with this configuration, then start "
                     "it again"), error
