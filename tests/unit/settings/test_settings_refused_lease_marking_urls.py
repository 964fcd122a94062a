"""Settings `check-config` said ok to, each of which then broke the gateway:
a lease shorter than a command timeout, a subject marking of spaces
(every subject counted as marked), database URLs every command died on in
a traceback, and two listeners on one address."""

from __future__ import annotations

from pathlib import Path

import pytest
from settings_support import problems_of, write

from gateway.cli import main
from gateway.settings import load_settings

RECIPIENTS = "address,name,job_title,department,organisation,telephone,secure_route\n"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    return tmp_path


def refused(config_dir: Path, text: str) -> str:
    """The one problem `text` has, without the file's name."""
    (found,) = problems_of(write(config_dir, text))
    prefix = f"{config_dir / 'gateway.toml'}: "
    assert found.startswith(prefix)
    return found[len(prefix):]


# -- [queue] lease ---------------------------------------------------------------


def test_a_lease_shorter_than_a_command_timeout_is_refused(config_dir: Path) -> None:
    text = ('[queue]\nlease = "10s"\n[upstream]\ntimeout = "5s"\n'
            '[routes.secure]\nhost = "smtp.example.org"\ntls = "starttls-verify"\n'
            'timeout = "20s"\n')
    assert refused(config_dir, text) == (
        "queue.lease: 10s is shorter than routes.secure.timeout (20s): "
        "make it at least 20s")


def test_a_lease_of_a_command_timeout_and_the_defaults_are_accepted(
    config_dir: Path
) -> None:
    load_settings(write(config_dir, '[queue]\nlease = "5s"\n[upstream]\ntimeout = "5s"\n'),
                  environ={})
    load_settings(write(config_dir, ""), environ={})


# -- [policy] subject_marking ------------------------------------------------------


@pytest.mark.parametrize("marking", ["   ", "\t", " \u00a0 "])
def test_a_marking_of_spaces_is_refused(config_dir: Path, marking: str) -> None:
    problem = refused(config_dir, f'[policy]\nsubject_marking = "{marking}"\n')
    assert problem.startswith("policy.subject_marking: must have words in it")


def test_a_marking_with_spaces_around_it_is_accepted(config_dir: Path) -> None:
    settings = load_settings(write(config_dir, '[policy]\nsubject_marking = " OFFICIAL "\n'),
                             environ={})
    assert settings.policy.subject_marking == " OFFICIAL "


# -- [database] url --------------------------------------------------------------


@pytest.mark.parametrize(("url", "problem"), [
    ("sqlite+aiosqlite:///:memory:", "an in-memory SQLite database cannot hold the queue"),
    ("sqlite+aiosqlite://", "an in-memory SQLite database cannot hold the queue"),
    ("sqlite+aiosqlite:///", "an in-memory SQLite database cannot hold the queue"),
    ("sqlite+aiosqlite:///gw.db?mode=memory&cache=shared",
     "an in-memory SQLite database cannot hold the queue"),
    ("postgresql+asyncpg://gw@db.example/gateway?sslmode=require",
     "asyncpg has no sslmode: write ssl instead (e.g. ?ssl=require)"),
])
def test_database_urls_no_command_could_use_are_refused_in_one_line(
    config_dir: Path, capsys: pytest.CaptureFixture[str], url: str, problem: str
) -> None:
    path = write(config_dir, f'[database]\nurl = "{url}"\n')
    assert main(["check-config", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.splitlines()
    assert line.startswith(f"error: {path}: database.url: {problem}")
    # Every other command reads the settings the same way.
    with pytest.raises(SystemExit) as exited:
        main(["queue", "list", "--config", str(path)])
    assert exited.value.code == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert f"database.url: {problem}" in line


def test_database_urls_with_a_file_or_ssl_are_accepted(config_dir: Path) -> None:
    for url in ("sqlite+aiosqlite:///var/gateway.db", "sqlite+aiosqlite:////srv/gw/gateway.db",
                "postgresql+asyncpg://gw@db.example/gateway?ssl=require"):
        load_settings(write(config_dir, f'[database]\nurl = "{url}"\n'), environ={})


# -- listeners -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "problem"), [
    ('[server]\nlisten = "127.0.0.1:2525"\n[metrics]\nlisten = "127.0.0.1:2525"\n',
     "metrics.listen: 127.0.0.1:2525 is where server.listen listens: give each its own port"),
    ('[server]\nlisten = "0.0.0.0:2525"\n[web]\nlisten = "127.0.0.1:2525"\n'
     '[metrics]\nlisten = ""\n',
     "web.listen: 127.0.0.1:2525 is where server.listen listens: give each its own port"),
    ('[metrics]\nlisten = "127.0.0.1:8080"\n[web]\nlisten = "127.0.0.1:8080"\n',
     "web.listen: 127.0.0.1:8080 is where metrics.listen listens: give each its own port"),
])
def test_two_listeners_on_one_address_are_refused(
    config_dir: Path, text: str, problem: str
) -> None:
    assert refused(config_dir, text) == problem


def test_listeners_on_their_own_ports_or_hosts_are_accepted(config_dir: Path) -> None:
    load_settings(write(config_dir, '[server]\nlisten = "127.0.0.1:2525"\n'
                        '[metrics]\nlisten = "127.0.0.2:2525"\n[web]\nlisten = "127.0.0.1:8080"\n'),
                  environ={})
