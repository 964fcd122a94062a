"""An SQLite library too old for the gateway's database is said, in one
line, before anything is made: `db upgrade`, `serve`, the other commands and
`check-config` name the version found and the one needed.

RHEL 9's system SQLite is 3.34: without the check, `gateway db upgrade`
failed in migration 0017 with SQLite's "near DROP: syntax error", after
some of the migration's statements had run.  The subprocesses here run
this machine's real SQLite, told to report an older version by a
`sitecustomize` (what `sqlite3.sqlite_version_info` says is all the check
reads)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from gwtest import clean_env, run_cli, write_config

from gateway.db import engine as engine_module
from gateway.db.engine import SQLITE_REQUIRED, sqlite_unsupported

OLD = "3.34.1"


def _old_sqlite_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "old_sqlite"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sqlite3\n"
        f"sqlite3.sqlite_version = {OLD!r}\n"
        f"sqlite3.sqlite_version_info = {tuple(int(p) for p in OLD.split('.'))!r}\n",
        encoding="utf-8",
    )
    env = clean_env()
    env["PYTHONPATH"] = str(site) + os.pathsep + env["PYTHONPATH"]
    return env


def _config(tmp_path: Path, url: str) -> Path:
    (tmp_path / "recipients.csv").write_text(
        "address,name,job_title,department,organisation,telephone,secure_route\n",
        encoding="utf-8",
    )
    return write_config(tmp_path / "gw.toml", {"database": {"url": url}})


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_this_machine_s_sqlite_is_enough() -> None:
    assert sqlite3.sqlite_version_info >= SQLITE_REQUIRED
    assert sqlite_unsupported() is None


def test_upgrade_refuses_an_old_sqlite_before_making_the_file(tmp_path: Path) -> None:
    path = tmp_path / "var" / "gateway.db"
    config = _config(tmp_path, f"sqlite+aiosqlite:///{path}")
    done = run_cli("db", "upgrade", config=config, env=_old_sqlite_env(tmp_path), timeout=120)
    assert done.returncode == 1, done.stderr
    line = _one_line(done.stderr)
    assert line.startswith(f"error: this Python uses SQLite {OLD}; the gateway needs SQLite 3.35")
    assert "PostgreSQL" in line
    assert not path.exists() and not path.parent.exists()


def test_the_same_upgrade_works_with_the_real_library(tmp_path: Path) -> None:
    """The test above fails for the version alone: unpatched, the same
    configuration upgrades."""
    path = tmp_path / "gateway.db"
    done = run_cli("db", "upgrade", config=_config(tmp_path, f"sqlite+aiosqlite:///{path}"),
                   timeout=120)
    assert done.returncode == 0, done.stderr
    assert path.exists()


def test_serve_refuses_an_old_sqlite_with_status_1(tmp_path: Path) -> None:
    config = _config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    done = run_cli("serve", config=config, env=_old_sqlite_env(tmp_path), timeout=120)
    # 1, not 75 (try again later): no retry helps until the installation changes.
    assert done.returncode == 1, done.stderr
    assert f"SQLite {OLD}" in _one_line(done.stderr)


def test_a_command_refuses_an_old_sqlite(tmp_path: Path) -> None:
    config = _config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    done = run_cli("queue", "list", config=config, env=_old_sqlite_env(tmp_path))
    assert done.returncode == 1, done.stderr
    assert f"SQLite {OLD}" in _one_line(done.stderr)
    assert not (tmp_path / "gateway.db").exists()


def test_check_config_names_an_old_sqlite(tmp_path: Path) -> None:
    config = _config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    done = run_cli("check-config", config=config, env=_old_sqlite_env(tmp_path))
    assert done.returncode == 1, done.stderr
    assert f"error: database.url: this Python uses SQLite {OLD}" in done.stderr


def test_postgresql_does_not_need_the_sqlite_library(tmp_path: Path) -> None:
    """check-config does not connect: a PostgreSQL URL is not held to the
    SQLite library's version."""
    config = _config(tmp_path, "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    done = run_cli("check-config", config=config, env=_old_sqlite_env(tmp_path))
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    assert "SQLite" not in done.stderr, done.stderr


def test_a_library_without_json_functions_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe runs on the real library: a function it lacks fails as
    json_valid does on a build without JSON."""
    monkeypatch.setattr(engine_module, "_JSON_PROBE", "SELECT json_not_built_in('{}')")
    found = sqlite_unsupported()
    assert found is not None
    assert f"SQLite {sqlite3.sqlite_version} was built without its JSON functions" in found
