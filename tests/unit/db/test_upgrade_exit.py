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


def test_upgrade_says_what_it_changed(tmp_path: Path) -> None:
    """A new database is created, an up-to-date one left alone, an older one
    upgraded: the administrator is told which, and the revisions."""
    import sqlite3

    from gateway.db.schema_check import HEAD, REVISIONS

    path = tmp_path / "gateway.db"
    config = write_config(tmp_path / "gw.toml",
                          {"database": {"url": f"sqlite+aiosqlite:///{path}"}})
    (tmp_path / "recipients.csv").write_text(
        "address,name,job_title,department,organisation,telephone,secure_route\n",
        encoding="utf-8",
    )
    created = run_cli("db", "upgrade", config=config, timeout=120)
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == f"database is up to date: schema created at revision {HEAD}"
    again = run_cli("db", "upgrade", config=config, timeout=120)
    assert again.stdout.strip() == (
        f"database is up to date: schema revision {HEAD} (nothing to do)")
    # Back to the revision before the last (its downgrade), then upgraded.
    from alembic import command

    from gateway.db.migrate import alembic_config

    command.downgrade(alembic_config(f"sqlite+aiosqlite:///{path}"), REVISIONS[-2])
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (REVISIONS[-2],)]
    upgraded = run_cli("db", "upgrade", config=config, timeout=120)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip() == (
        f"database is up to date: schema upgraded from revision {REVISIONS[-2]} to {HEAD}")
