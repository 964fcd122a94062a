"""Settings: TOML + GATEWAY_* overrides, every problem named with file, key
and reason; `gateway check-config`; bad CLI arguments exit 2."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from gwtest import REPO, clean_env, to_toml
from settings_support import problems_of, write

from gateway.cli import main
from gateway.errors import ConfigError
from gateway.settings import Settings, load_settings, parse_duration

RECIPIENTS = "address,name,job_title,department,organisation,telephone,secure_route\n"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    return tmp_path




def test_empty_file_gives_the_documented_defaults(config_dir):
    settings = load_settings(write(config_dir, ""), environ={})
    assert settings.server.listen == "127.0.0.1:2525"
    assert settings.server.max_message_size == 26214400
    assert settings.server.max_recipients == 100
    assert settings.upstream.port == 2526
    assert settings.upstream.tls == "none"
    assert settings.queue.retry == [timedelta(minutes=m) for m in (1, 5, 15, 60, 240)]
    assert settings.queue.max_age == timedelta(days=5)
    assert settings.queue.lease == timedelta(minutes=5)
    assert settings.database.url.startswith("sqlite+aiosqlite://")
    assert settings.config_dir == config_dir.resolve()


def test_example_config_in_the_repository_is_valid():
    settings = load_settings(REPO / "config" / "gateway.toml", environ={})
    assert settings.server.port == 2525
    assert settings.recipients_path == (REPO / "config" / "recipients.csv").resolve()


def test_unknown_keys_are_errors_naming_file_and_key(config_dir):
    path = write(config_dir, '[server]\nlisten = "127.0.0.1:25"\nlisen = "x"\n[bogus]\na = 1\n')
    problems = problems_of(path)
    assert any(str(path) in p and "server.lisen" in p and "unknown key" in p for p in problems)
    assert any("bogus" in p and "unknown key" in p for p in problems)


@pytest.mark.parametrize(
    ("toml", "key", "reason"),
    [
        ('[server]\nmax_recipients = "many"\n', "server.max_recipients", "integer"),
        ("[server]\nrequire_auth = 3\n", "server.require_auth", "bool"),
        ('[server]\nlisten = "127.0.0.1:70000"\n', "server.listen", "70000"),
        ('[server]\nlisten = "no-port"\n', "server.listen", "host:port"),
        ("[upstream]\nport = 70000\n", "upstream.port", "65535"),
        ('[upstream]\ntls = "sometimes"\n', "upstream.tls", "starttls"),
        ('[server]\nevent_loop = "libev"\n', "server.event_loop", "uvloop"),
        ('[server]\ntls_key = "key.pem"\n', "server", "tls_cert and tls_key"),
        ('[queue]\nmax_age = "five days"\n', "queue.max_age", "not a duration"),
        ('[queue]\nretry = ["1m", "soon"]\n', "queue.retry.1", "not a duration"),
        ("[queue]\nretry = []\n", "queue.retry", "at least one"),
        ('[server]\ntrusted_networks = ["10.0.0.0/33"]\n', "server.trusted_networks",
         "not a network"),
        ('[database]\nurl = "mysql://x"\n', "database.url", "sqlite+aiosqlite"),
        ('[policy]\nmode = "lenient"\n', "policy.mode", "enforce"),
        ('[[users]]\nname = "x"\npassword_hash = "plaintext"\n', "users.0.password_hash", ""),
        ('[server]\nmax_message_size = 0\n', "server.max_message_size", "greater than 0"),
    ],
)
def test_invalid_values_name_file_key_and_reason(config_dir, toml, key, reason):
    path = write(config_dir, toml)
    problems = problems_of(path)
    assert any(str(path) in p and f": {key}" in p and reason in p for p in problems), problems


def test_every_problem_is_reported_at_once(config_dir):
    path = write(config_dir, '[server]\nlisten = "x:70000"\nfoo = 1\n[upstream]\nport = "y"\n')
    problems = problems_of(path)
    assert len(problems) == 3
    assert all(p.startswith(str(path)) for p in problems)


def test_unreadable_recipients_file_is_an_error(config_dir):
    path = write(config_dir, '[policy]\nrecipients_file = "missing.csv"\n')
    (problem,) = problems_of(path)
    assert "policy.recipients_file" in problem
    assert str(config_dir / "missing.csv") in problem
    assert "cannot read" in problem


def test_recipients_file_that_is_a_folder_is_an_error(config_dir):
    (config_dir / "folder.csv").mkdir()
    path = write(config_dir, '[policy]\nrecipients_file = "folder.csv"\n')
    (problem,) = problems_of(path)
    assert "policy.recipients_file" in problem and "cannot read" in problem


def test_missing_tls_files_are_errors(config_dir):
    path = write(config_dir, '[server]\ntls_cert = "c.pem"\ntls_key = "k.pem"\n')
    problems = problems_of(path)
    assert any("server.tls_cert" in p for p in problems)
    assert any("server.tls_key" in p for p in problems)


def test_relative_paths_resolve_against_the_config_folder(tmp_path, monkeypatch):
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "allow.csv").write_text(RECIPIENTS)
    path = write(folder, '[policy]\nrecipients_file = "allow.csv"\n')
    monkeypatch.chdir(tmp_path)
    settings = load_settings(path, environ={})
    assert settings.recipients_path == folder.resolve() / "allow.csv"


def test_missing_and_broken_files(config_dir):
    assert "file not found" in problems_of(config_dir / "nope.toml")[0]
    (problem,) = problems_of(write(config_dir, "[server\nlisten="))
    assert "not valid TOML" in problem


def test_secure_route_without_tls_is_an_error(config_dir):
    path = write(config_dir, '[routes.nhsmail]\nhost = "relay.example.net"\ntls = "none"\n')
    (problem,) = problems_of(path)
    assert "routes.nhsmail.tls" in problem


def test_environment_overrides_keys(config_dir):
    path = write(config_dir, "[upstream]\nport = 2526\n")
    settings = load_settings(
        path,
        environ={
            "GATEWAY_UPSTREAM_PORT": "2600",
            "GATEWAY_DATABASE_URL": "postgresql+asyncpg://gw@db.example/gw",
            "GATEWAY_SERVER_TRUSTED_NETWORKS": '["192.0.2.0/24"]',
            "GATEWAY_QUEUE_MAX_AGE": "2d",
            "GATEWAY_CONFIG": str(path),  # not an override
            "GATEWAY_TEST_POSTGRES_URL": "ignored",
        },
    )
    assert settings.upstream.port == 2600
    assert settings.database.url == "postgresql+asyncpg://gw@db.example/gw"
    assert settings.server.trusted_networks == ["192.0.2.0/24"]
    assert settings.queue.max_age == timedelta(days=2)


def test_bad_environment_override_is_reported(config_dir):
    path = write(config_dir, "")
    problems = problems_of(path, environ={"GATEWAY_UPSTREAM_PORT": "70000"})
    assert any("upstream.port" in p for p in problems)


def test_config_path_from_environment(config_dir, monkeypatch):
    path = write(config_dir, "[upstream]\nport = 2700\n", name="other.toml")
    settings = load_settings(None, environ={"GATEWAY_CONFIG": str(path)})
    assert settings.upstream.port == 2700


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("4h", 14400), ("5d", 432000), ("1w", 604800),
     ("6y", 6 * 365 * 86400), ("250ms", 0.25), ("1.5m", 90), (" 2m ", 120)],
)
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "m", "5 minutes", "-1s", "1x", True, -3, None, 45])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_model_validate_directly():
    settings = Settings.model_validate({"server": {"listen": "[::1]:2525"}})
    assert settings.server.host == "::1" and settings.server.port == 2525
    with pytest.raises(ValueError):
        Settings.model_validate({"server": {"nope": 1}})


def test_upstream_password_is_not_in_repr():
    settings = Settings.model_validate({"upstream": {"username": "u", "password": "s3cr3t-pw"}})
    assert "s3cr3t-pw" not in repr(settings)


# --------------------------------------------------------------------------
# the command line


def test_check_config_prints_ok(config_dir, capsys):
    path = write(config_dir, "")
    assert main(["check-config", "--config", str(path)]) == 0
    assert capsys.readouterr().out.strip().endswith("ok")


def test_check_config_prints_every_problem_and_exits_1(config_dir, capsys):
    path = write(config_dir, '[server]\nlisten = "x:70000"\nfoo = 1\n[policy]\nrecipients_file = "no.csv"\n')
    assert main(["check-config", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "server.listen" in err and "server.foo" in err
    assert err.count("error:") >= 2


def test_check_config_reads_recipients_file_problems(config_dir, capsys):
    path = write(config_dir, '[policy]\nrecipients_file = "missing.csv"\n')
    assert main(["check-config", "--config", str(path)]) == 1
    assert "policy.recipients_file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["serve", "--bogus"], ["frobnicate"], [], ["queue"], ["queue", "show"],
     ["queue", "list", "--state", "nonsense"], ["db"]],
)
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["audit", "search", "--limit", "-1"], ["audit", "search", "--limit", "0"],
    ["audit", "report", "--top", "-3"], ["audit", "verify", "--max-problems", "0"],
    ["queue", "list", "--limit", "-1"], ["held", "list", "--limit", "0"],
    ["passwords", "list", "--limit", "-2"], ["queue", "list", "--limit", "many"],
])
def test_a_count_of_less_than_one_is_refused(argv, capsys):
    """SQLite reads LIMIT -1 as no limit at all, and PostgreSQL refuses it:
    the command line says so first, before any database is touched."""
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "must be 1 or more" in err or "not a whole number: 'many'" in err


def test_check_config_subprocess_with_env_override(config_dir):
    path = write(config_dir, "")
    ok = subprocess.run(
        [sys.executable, "-m", "gateway", "check-config", "--config", str(path)],
        capture_output=True, text=True, env=clean_env(), timeout=60,
    )
    assert (ok.returncode, ok.stdout.strip()) == (0, "ok")
    bad = subprocess.run(
        [sys.executable, "-m", "gateway", "check-config", "--config", str(path)],
        capture_output=True, text=True, env=clean_env(GATEWAY_UPSTREAM_PORT="70000"), timeout=60,
    )
    assert bad.returncode == 1
    assert "upstream.port" in bad.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "gateway", "check-config", "--nope"],
        capture_output=True, text=True, env=clean_env(), timeout=60,
    )
    assert usage.returncode == 2


def test_toml_writer_round_trips():
    import tomllib

    data = {"server": {"listen": "127.0.0.1:0", "trusted_networks": ["10.0.0.0/8"]},
            "users": [{"name": "a", "password_hash": "$argon2id$x"}],
            "routes": {"nhs": {"host": "h.example", "tls": "implicit"}}, "top": 1}
    assert tomllib.loads(to_toml(data)) == data


@pytest.mark.parametrize(("text", "problem"), [
    ('[upstream]\nhost = ""', "upstream.host: '' is not a host name or an IP address"),
    ('[upstream]\nhost = "smtp relay.example"', "'smtp relay.example' is not a host name"),
    ('[upstream]\nhost = "-relay.example"', "'-relay.example' is not a host name"),
    ('[routes.nhs]\nhost = "relay..example"\ntls = "implicit"',
     "routes.nhs.host: 'relay..example' is not a host name"),
    ('[upstream]\ntimeout = "0s"', "upstream.timeout: must be more than 0s"),
])
def test_an_upstream_that_cannot_be_reached_is_refused(config_dir, text, problem):
    """Accepted, an empty or mistyped host deferred every message for days,
    then bounced it; a zero timeout failed every attempt at once."""
    (found,) = problems_of(write(config_dir, text))
    assert problem in found


@pytest.mark.parametrize("host", [
    "smarthost.example.org", "smarthost.example.org.", "mail_relay", "10.0.0.25", "::1",
    "[2001:db8::25]", "localhost",
])
def test_host_names_and_addresses_are_accepted(config_dir, host):
    settings = load_settings(write(config_dir, f'[upstream]\nhost = "{host}"\n'), environ={})
    assert settings.upstream.host == host


@pytest.mark.parametrize(("host", "tls", "warned"), [
    ("smarthost.example.org", "none", True), ("10.0.0.25", "none", True),
    ("127.0.0.1", "none", False), ("::1", "none", False), ("localhost", "none", False),
    ("smarthost.example.org", "starttls-verify", False),
])
def test_mail_in_clear_across_the_network_is_a_warning(config_dir, capsys, host, tls, warned):
    """Allowed (a smarthost on a trusted LAN), but said: the password
    emails would cross the network readable.  `check-config` exits 0."""
    path = write(config_dir, f'[upstream]\nhost = "{host}"\ntls = "{tls}"\n')
    assert main(["check-config", "--config", str(path)]) == 0
    err = capsys.readouterr().err
    assert ("warning: upstream.tls is none and upstream.host" in err) == warned
    if warned:
        assert f"upstream.host {host} is not this machine" in err and "in clear" in err


@pytest.mark.parametrize(("mode", "warned"), [(0o644, True), (0o604, True), (0o640, False),
                                              (0o600, False), (0o440, False)])
def test_secret_files_and_the_database_open_to_every_account_are_a_warning(
    config_dir, capsys, mode, warned
):
    """A key file or the SQLite database others can read: `check-config`
    says which and how to close it (group access is a Kubernetes Secret's
    0440, left alone)."""
    key = config_dir / "audit.key"
    key.write_text("k" * 40, encoding="utf-8")
    database = config_dir / "gateway.db"
    database.write_bytes(b"")
    for path in (key, database):
        path.chmod(mode)
    config = write(config_dir, f'[audit]\nkey_file = "audit.key"\n\n'
                               f'[database]\nurl = "sqlite+aiosqlite:///{database}"\n')
    assert main(["check-config", "--config", str(config)]) == 0
    err = capsys.readouterr().err
    for key_name, path in (("audit.key_file", key), ("database.url", database)):
        line = (f"warning: {key_name}: {path} can be read or changed by every account on this "
                f"machine (mode {mode:04o}): chmod o-rwx {path}")
        assert (line in err) == warned, err


@pytest.mark.parametrize(("name", "meant"), [
    ("GATEWAY_DATABSE_URL", "GATEWAY_DATABASE_URL"),
    ("GATEWAY_UPSTRAEM_HOST", "GATEWAY_UPSTREAM_HOST"),
])
def test_an_override_with_a_misspelt_section_is_a_problem(config_dir, name, meant):
    """It was ignored without a word, and the file's database or smarthost used."""
    path = write(config_dir, "")
    with pytest.raises(ConfigError) as refused:
        load_settings(path, environ={name: "postgresql+asyncpg://db.example/gw"})
    assert refused.value.problems == [
        f"{name}: no section {name.split('_')[1].lower()!r} (did you mean {meant}?)"
    ]


def test_other_gateway_variables_are_left_alone(config_dir):
    path = write(config_dir, "")
    settings = load_settings(path, environ={
        "GATEWAY_PASSWORD_KEY": "x", "GATEWAY_TEST_POSTGRES_URL": "postgresql://h/t",
        "GATEWAY_FUZZ_SEED": "1", "GATEWAY_HEALTHCHECK_URL": "http://127.0.0.1:9025/healthz",
    })
    assert settings.database.url


@pytest.mark.parametrize(("networks", "warned"), [
    ('["0.0.0.0/0"]', True), ('["10.0.0.0/8", "::/0"]', True),
    ('["10.0.0.0/8", "192.168.1.0/24"]', False),
])
def test_an_open_relay_is_a_warning(config_dir, capsys, networks, warned):
    """`trusted_networks = ["0.0.0.0/0"]` passed check-config without a word."""
    path = write(config_dir, f"[server]\ntrusted_networks = {networks}\n")
    assert main(["check-config", "--config", str(path)]) == 0
    err = capsys.readouterr().err
    assert ("an open relay" in err) == warned
