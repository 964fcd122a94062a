"""`gateway serve` refuses to start, in one `error:` line and the exit
status the other commands give, when its keys are malformed or its database
cannot be used; it never runs on degraded, nor dies in a traceback."""

from __future__ import annotations

import base64
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from gwtest import clean_env, write_config

from gateway.cli.common import EXIT_DATABASE_UNAVAILABLE

RECIPIENTS = "address,name,job_title,department,organisation,telephone,secure_route\n"


def config(tmp_path: Path, database_url: str) -> Path:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    return write_config(tmp_path / "gw.toml", {
        "server": {"listen": "127.0.0.1:0"},
        "metrics": {"listen": ""},
        "database": {"url": database_url},
    })


def serve(path: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    """Run `gateway serve`; one that starts (and so runs on) fails the test."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "gateway", "serve", "--config", str(path),
             "--log-format", "console"],
            capture_output=True, text=True, env=clean_env(**environ), timeout=30,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"serve started instead of refusing: {exc.stderr!r}")


def error_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in done.stderr + done.stdout
    return [line for line in done.stderr.splitlines() if line.startswith("error:")]


def test_an_unreachable_postgresql_is_one_line_and_exit_75(tmp_path):
    path = config(tmp_path, "postgresql+asyncpg://postgres@127.0.0.1:1/gateway")
    done = serve(path)
    (line,) = error_lines(done)
    assert line.startswith("error: the database could not be used (")
    assert "check [database] url" in line
    assert done.returncode == EXIT_DATABASE_UNAVAILABLE


def test_a_missing_sqlite_file_is_refused_and_not_created(tmp_path):
    database = tmp_path / "mistyped.db"
    done = serve(config(tmp_path, f"sqlite+aiosqlite:///{database}"))
    (line,) = error_lines(done)
    assert f"the database file {database} does not exist" in line
    assert done.returncode == EXIT_DATABASE_UNAVAILABLE
    assert not database.exists()


def test_a_database_without_the_gateway_schema_is_exit_75(tmp_path):
    """An existing database never migrated: 75, as README's exit statuses
    say for "no gateway schema" and as `queue list` answers; it was 1."""
    database = tmp_path / "empty.db"
    sqlite3.connect(database).close()
    done = serve(config(tmp_path, f"sqlite+aiosqlite:///{database}"))
    (line,) = error_lines(done)
    assert line.startswith("error: the database has no gateway schema")
    assert "gateway db upgrade" in line
    assert done.returncode == EXIT_DATABASE_UNAVAILABLE


@pytest.mark.parametrize(("environ", "problem"), [
    ({"GATEWAY_PASSWORD_KEY": "garbage!"}, "GATEWAY_PASSWORD_KEY: key 1 is not valid base64"),
    ({"GATEWAY_PASSWORD_KEY": base64.b64encode(b"12345").decode()},
     "GATEWAY_PASSWORD_KEY: key 1 decodes to 5 bytes; 32 random bytes are needed"),
    ({"GATEWAY_RECEIPTS_KEY": "garbage!"}, "GATEWAY_RECEIPTS_KEY: key 1 is not valid base64"),
    ({"GATEWAY_AUDIT_KEY": "short"}, "audit key: too short (5 characters, at least 32)"),
], ids=["password-not-base64", "password-5-bytes", "receipts-not-base64", "audit-short"])
def test_a_malformed_key_is_refused_at_start(tmp_path, sqlite_url, environ, problem):
    """Started, the gateway answered 451 to every message whose password
    must be held, having only logged a warning."""
    done = serve(config(tmp_path, sqlite_url), **environ)
    assert error_lines(done) == [f"error: {problem}"]
    assert done.returncode == 1
    check = subprocess.run(
        [sys.executable, "-m", "gateway", "check-config", "--config", str(tmp_path / "gw.toml")],
        capture_output=True, text=True, env=clean_env(**environ), timeout=60,
    )
    assert (check.returncode, check.stderr.strip()) == (1, f"error: {problem}")


@pytest.mark.parametrize("section", ["metrics", "web", "server"])
def test_an_address_in_use_is_named_and_no_mail_is_taken(tmp_path, sqlite_url, section):
    """Each listener's address taken by another program: one line naming
    the key, exit 1.  The SMTP listener opens last, so a metrics or console
    address in use stops the start before a message could be accepted (it
    used to fail with the SMTP listener already open, and a stray warning
    from the database left unclosed)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        in_use = f"127.0.0.1:{taken.getsockname()[1]}"
        smtp = _free_port()
        path = write_config(tmp_path / "gw.toml", {
            "server": {"listen": in_use if section == "server" else f"127.0.0.1:{smtp}"},
            "metrics": {"listen": in_use if section == "metrics" else ""},
            "web": {"listen": in_use if section == "web" else "",
                    "users": [{"name": "dpo", "role": "auditor",
                               "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$x$y"}]},
            "database": {"url": sqlite_url},
        })
        (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
        done = serve(path)
    (line,) = error_lines(done)
    assert line.startswith(f"error: [{section}] listen = '{in_use}': cannot listen there (")
    assert done.returncode == 1
    assert "Warning" not in done.stderr, done.stderr
    assert "gateway_started" not in done.stderr
    if section != "server":
        assert "smtp" not in done.stderr.lower(), done.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
