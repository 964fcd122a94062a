"""`gateway db upgrade` tells an unreachable database (75: try again
later, as every other command does) from a migration's own failure (1),
in one line."""

from __future__ import annotations

from pathlib import Path

from gwtest import free_port, run_cli, write_config


def test_an_unreachable_database_exits_75_in_one_line(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere"
    config = write_config(tmp_path / "gw.toml", {"database": {"url": url}})
    (tmp_path / "recipients.csv").write_text(
        "address,name,job_title,department,organisation,telephone,secure_route\n",
        encoding="utf-8",
    )
    done = run_cli("db", "upgrade", config=config, timeout=120)
    assert done.returncode == 75, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: migration failed: the database could not be used")
    assert "Traceback" not in done.stderr
