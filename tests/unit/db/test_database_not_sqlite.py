"""A configured SQLite file that is no SQLite database is named: SQLite's own
"file is not a database" said which file to nobody (a black-box
administrator pointed the gateway at a damaged one)."""

from __future__ import annotations

from pathlib import Path

from gwtest import run_cli, write_config


def _config(tmp_path: Path, database: Path) -> Path:
    (tmp_path / "recipients.csv").write_text(
        "address,name,job_title,department,organisation,telephone,secure_route\n",
        encoding="utf-8")
    return write_config(tmp_path / "gw.toml",
                        {"database": {"url": f"sqlite+aiosqlite:///{database}"}})


def test_a_command_and_serve_name_the_file(tmp_path: Path) -> None:
    garbage = tmp_path / "gateway.db"
    garbage.write_bytes(b"this was a spreadsheet once\n" * 100)
    config = _config(tmp_path, garbage)
    for argv in (("queue", "list"), ("serve",)):
        done = run_cli(*argv, config=config, timeout=120)
        assert done.returncode == 75, (argv, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert lines == [f"error: the database file {garbage} is not an SQLite database "
                         "(another kind of file, or damaged): check [database] url in the "
                         "configuration, or restore the file from a backup"], argv


def test_an_empty_file_is_a_new_database_not_a_damaged_one(tmp_path: Path) -> None:
    empty = tmp_path / "gateway.db"
    empty.touch()
    done = run_cli("queue", "list", config=_config(tmp_path, empty))
    assert "is not an SQLite database" not in done.stderr
    assert done.returncode == 75 and "gateway db upgrade" in done.stderr  # no schema yet
