"""Settings the gateway could start with but never work under are refused
by `load_settings` (so by `check-config` and `serve` alike), each problem
naming where the value came from: the file's key, or the environment
variable that overrode it."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest
from settings_support import problems_of, write

from gateway.cli import main
from gateway.settings import load_settings

RECIPIENTS = "address,name,job_title,department,organisation,telephone,secure_route\n"
USER = '[[users]]\nname = "scanner"\npassword_hash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA"\n'


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    for name in ("server.pem", "server.key"):
        (tmp_path / name).write_text("synthetic\n", encoding="utf-8")
    return tmp_path




TLS = '[server]\ntls_cert = "server.pem"\ntls_key = "server.key"\n'


# -- [server] require_auth ----------------------------------------------------


@pytest.mark.parametrize(("text", "problem"), [
    (f"{TLS}require_auth = true\n",
     "server.require_auth: no [[users]] are configured: nobody could send"),
    (f"[server]\nrequire_auth = true\n{USER}",
     "server.require_auth: AUTH is offered only after STARTTLS: set server.tls_cert "
     "and server.tls_key"),
], ids=["no-users", "no-tls"])
def test_require_auth_that_nobody_could_meet_is_refused(config_dir, text, problem):
    (found,) = problems_of(write(config_dir, text))
    assert found == f"{config_dir / 'gateway.toml'}: {problem}"


def test_require_auth_with_users_and_tls_is_accepted(config_dir):
    settings = load_settings(write(config_dir, f"{TLS}require_auth = true\n{USER}"), environ={})
    assert settings.server.require_auth


# -- names the gateway says and is written to ---------------------------------


@pytest.mark.parametrize(("text", "problem"), [
    ('[server]\nhostname = ""', "server.hostname: '' is not a host name"),
    ('[server]\nhostname = "gateway example.org"',
     "server.hostname: 'gateway example.org' is not a host name"),
    ('[server]\nhostname = "gw.example.org\\r\\nMAIL"', "server.hostname: "),
    ('[server]\nhostname = "-gw.example.org"', "server.hostname: '-gw.example.org' is not"),
    ('[receipts]\ndomain = "not a domain"',
     "receipts.domain: 'not a domain' is not a domain name"),
    ('[receipts]\ndomain = ""', "receipts.domain: '' is not a domain name"),
    ('[receipts]\ndomain = "receipts"', "receipts.domain: 'receipts' is not a domain name"),
    ('[receipts]\ndomain = "192.0.2.1"', "receipts.domain: '192.0.2.1' is not a domain name"),
], ids=["hostname-empty", "hostname-space", "hostname-crlf", "hostname-hyphen",
        "domain-spaces", "domain-empty", "domain-one-label", "domain-address"])
def test_names_that_mail_cannot_use_are_refused(config_dir, text, problem):
    """Accepted, a bad hostname failed every delivery (aiosmtplib refuses it
    as local_hostname) until max_age; a bad receipts domain made return
    paths no receipt could come back to."""
    (found,) = problems_of(write(config_dir, text))
    assert problem in found


@pytest.mark.parametrize(("text", "value"), [
    ('[server]\nhostname = "gw1.gateway.example.org"', "gw1.gateway.example.org"),
    ('[server]\nhostname = "gateway"', "gateway"),
    ('[receipts]\ndomain = "receipts.gateway.example.org."', "receipts.gateway.example.org."),
])
def test_names_are_accepted(config_dir, text, value):
    settings = load_settings(write(config_dir, text), environ={})
    assert value in (settings.server.hostname, settings.receipts.domain)


# -- durations and counts that make no sense at zero --------------------------


@pytest.mark.parametrize("key", [
    "server.idle_timeout", "server.data_timeout", "server.inspect_timeout",
    "queue.max_age", "queue.lease", "queue.poll_interval", "receipts.timeout",
    "receipts.check_interval", "passwords.ttl", "audit.retention", "web.session_timeout",
])
def test_a_zero_duration_is_refused(config_dir, key):
    section, name = key.split(".")
    (found,) = problems_of(write(config_dir, f'[{section}]\n{name} = "0s"\n'))
    assert found == f"{config_dir / 'gateway.toml'}: {key}: must be more than 0s"


def test_a_zero_retry_delay_is_refused(config_dir):
    (found,) = problems_of(write(config_dir, '[queue]\nretry = ["1m", "0s"]\n'))
    assert found.endswith("queue.retry.1: must be more than 0s")


def test_an_idle_timeout_of_zero_from_the_environment_is_refused(config_dir):
    (found,) = problems_of(write(config_dir, ""), {"GATEWAY_SERVER_IDLE_TIMEOUT": "0s"})
    assert found == "GATEWAY_SERVER_IDLE_TIMEOUT (server.idle_timeout): must be more than 0s"


@pytest.mark.parametrize(("key", "value"), [
    ("server.max_message_size", 0), ("server.max_recipients", 0),
    ("server.large_message_concurrency", 0), ("queue.workers", 0), ("queue.workers", -1),
    ("database.pool_size", 0), ("upstream.pool_size", 0), ("audit.checkpoint_every", 0),
    ("policy.hold.min_people", -1),
])
def test_counts_below_their_least_are_refused(config_dir, key, value):
    *sections, name = key.split(".")
    (found,) = problems_of(write(config_dir, f"[{'.'.join(sections)}]\n{name} = {value}\n"))
    assert f": {key}: Input should be greater than" in found


@pytest.mark.parametrize(("key", "value"), [
    ("queue.keep_finished", "0s"), ("audit.anchor_interval", "0s"),
])
def test_documented_zero_durations_stay_allowed(config_dir, key, value):
    """keep_finished 0s: a finished message's row goes at once; anchor_interval
    0s: no anchors logged.  Both documented."""
    section, name = key.split(".")
    settings = load_settings(write(config_dir, f'[{section}]\n{name} = "{value}"\n'), environ={})
    assert getattr(getattr(settings, section), name) == timedelta(0)


# -- environment overrides ----------------------------------------------------


def test_a_bad_override_is_blamed_on_its_variable_not_the_file(config_dir):
    path = write(config_dir, '[server]\nlisten = "127.0.0.1:2525"\n')
    (found,) = problems_of(path, {"GATEWAY_SERVER_LISTEN": "nonsense"})
    assert found == "GATEWAY_SERVER_LISTEN (server.listen): 'nonsense' is not host:port"


def test_problems_from_the_file_still_name_the_file(config_dir):
    path = write(config_dir, '[server]\nlisten = "nonsense"\n')
    (found,) = problems_of(path, {"GATEWAY_UPSTREAM_PORT": "2600"})
    assert found == f"{path}: server.listen: 'nonsense' is not host:port"


def test_an_unknown_key_from_the_environment_names_the_variable(config_dir):
    (found,) = problems_of(write(config_dir, ""), {"GATEWAY_SERVER_LISTN": "127.0.0.1:25"})
    assert found == "GATEWAY_SERVER_LISTN (server.listn): unknown key"


def test_an_unreadable_file_named_by_an_override_names_the_variable(config_dir):
    environ = {"GATEWAY_POLICY_RECIPIENTS_FILE": "missing.csv"}
    (found,) = problems_of(write(config_dir, ""), environ)
    assert found.startswith("GATEWAY_POLICY_RECIPIENTS_FILE (policy.recipients_file): cannot read")


@pytest.mark.parametrize(("name", "value", "read"), [
    ("GATEWAY_QUEUE_WORKER_ID", "1", lambda s: s.queue.worker_id),
    ("GATEWAY_UPSTREAM_PASSWORD", "2024-01-01", lambda s: s.upstream.password),
    ("GATEWAY_UPSTREAM_PASSWORD", "20240101", lambda s: s.upstream.password),
    ("GATEWAY_UPSTREAM_PASSWORD", "true", lambda s: s.upstream.password),
    ("GATEWAY_UPSTREAM_PASSWORD", '"quoted"', lambda s: s.upstream.password),
    ("GATEWAY_SERVER_HOSTNAME", "1.example", lambda s: s.server.hostname),
    ("GATEWAY_AUDIT_KEY", "1" * 40, lambda s: s.audit.key),
])
def test_a_string_key_takes_the_variable_as_written(config_dir, name, value, read):
    """An all-digit worker id or password, or one that reads as a TOML date,
    is still text: the variable's value is taken as it is."""
    settings = load_settings(write(config_dir, ""), environ={name: value})
    assert read(settings) == value


def test_non_string_keys_still_read_toml(config_dir):
    settings = load_settings(write(config_dir, ""), environ={
        "GATEWAY_UPSTREAM_PORT": "2600", "GATEWAY_SERVER_REQUIRE_AUTH": "false",
        "GATEWAY_SERVER_TRUSTED_NETWORKS": '["192.0.2.0/24"]'})
    assert settings.upstream.port == 2600
    assert settings.server.trusted_networks == ["192.0.2.0/24"]


# -- keys: check-config parses them as serve does -----------------------------

GOOD_KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture
def no_key_environment(monkeypatch):
    for name in ("GATEWAY_PASSWORD_KEY", "GATEWAY_RECEIPTS_KEY", "GATEWAY_AUDIT_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(("environ", "files", "problem"), [
    ({"GATEWAY_AUDIT_KEY": "k3y-x"}, {}, "audit key: too short (5 characters, at least 32)"),
    ({"GATEWAY_PASSWORD_KEY": "garbage!"}, {},
     "GATEWAY_PASSWORD_KEY: key 1 is not valid base64"),
    ({"GATEWAY_PASSWORD_KEY": base64.b64encode(b"12345").decode()}, {},
     "GATEWAY_PASSWORD_KEY: key 1 decodes to 5 bytes; 32 random bytes are needed"),
    ({"GATEWAY_PASSWORD_KEY": GOOD_KEY, "GATEWAY_RECEIPTS_KEY": "garbage!"}, {},
     "GATEWAY_RECEIPTS_KEY: key 1 is not valid base64"),
    ({}, {"passwords": "not*base64!"}, "[passwords] key_file {dir}/passwords.key: "
     "key 1 is not valid base64"),
    ({}, {"passwords": base64.b64encode(b"12345").decode()},
     "[passwords] key_file {dir}/passwords.key: key 1 decodes to 5 bytes"),
    ({}, {"receipts": "!!"}, "[receipts] key_file: key 1 is not valid base64"),
    ({}, {"audit": "tiny"}, "audit key: too short (4 characters, at least 32)"),
], ids=["audit-env-short", "password-env-not-base64", "password-env-5-bytes",
        "receipts-env-not-base64", "password-file-not-base64", "password-file-5-bytes",
        "receipts-file-not-base64", "audit-file-short"])
def test_check_config_refuses_a_malformed_key(
    config_dir, capsys, no_key_environment, environ, files, problem
):
    """serve refused a short audit key, and ran on without a malformed
    password key (451 for every message whose password must be held):
    check-config said ok to both."""
    text = ""
    for section, content in files.items():
        (config_dir / f"{section}.key").write_text(content + "\n", encoding="utf-8")
        (config_dir / f"{section}.key").chmod(0o600)
        text += f'[{section}]\nkey_file = "{section}.key"\n'
    for name, value in environ.items():
        no_key_environment.setenv(name, value)
    path = write(config_dir, text)
    assert main(["check-config", "--config", str(path)]) == 1
    out = capsys.readouterr()
    assert f"error: {problem.format(dir=config_dir)}" in out.err
    assert "ok" not in out.out
    for value in (*environ.values(), *files.values()):
        assert len(value) < 5 or value not in out.err  # no key material


def test_check_config_accepts_good_keys_and_no_keys(config_dir, capsys, no_key_environment):
    path = write(config_dir, "")
    assert main(["check-config", "--config", str(path)]) == 0
    no_key_environment.setenv("GATEWAY_PASSWORD_KEY", GOOD_KEY)
    no_key_environment.setenv("GATEWAY_AUDIT_KEY", "a" * 32)
    assert main(["check-config", "--config", str(path)]) == 0
    assert capsys.readouterr().out.split() == ["ok", "ok"]


# -- listen addresses -----------------------------------------------------------


@pytest.mark.parametrize(("section", "value", "problem"), [
    ("server", "999.1.1.1:25", "'999.1.1.1' is not an IP address"),
    ("server", "10.0.0:2525", "'10.0.0' is not an IP address"),
    ("metrics", "300.1.1.1:9025", "'300.1.1.1' is not an IP address"),
    ("web", "[::1::2]:8443", "'::1::2' is not an IP address"),
    ("server", "gateway example.org:25", "'gateway example.org' is not a host name"),
])
def test_a_listen_address_no_machine_can_have_is_refused(config_dir, section, value, problem):
    """`check-config` said ok; `serve` then failed with the resolver's
    words, naming no key."""
    path = write(config_dir, f'[{section}]\nlisten = "{value}"\n')
    (found,) = problems_of(path)
    assert found == f"{path}: {section}.listen: {problem}"


@pytest.mark.parametrize("value", [
    "127.0.0.1:2525", "0.0.0.0:25", "[::1]:2525", "[::]:25", "localhost:2525",
    "gateway.council.example:25", ":2525",
])
def test_listen_takes_addresses_and_host_names(config_dir, value):
    settings = load_settings(write(config_dir, f'[server]\nlisten = "{value}"\n'), environ={})
    assert settings.server.listen == value


@pytest.mark.parametrize("value", ["1s", "6m", "29d", "4w"])
def test_an_audit_retention_too_short_to_audit_is_refused(config_dir, value):
    """A purge removes every record older than the retention: "6m" (minutes)
    for six months would empty the trail."""
    (found,) = problems_of(write(config_dir, f'[audit]\nretention = "{value}"\n'))
    assert found.startswith(f"{config_dir / 'gateway.toml'}: audit.retention: must be at "
                            "least 30d")
    assert "'183d'" in found


@pytest.mark.parametrize("value, days", [("30d", 30), ("183d", 183), ("6y", 2190)])
def test_an_audit_retention_of_a_month_or_more_is_taken(config_dir, value, days):
    settings = load_settings(write(config_dir, f'[audit]\nretention = "{value}"\n'), environ={})
    assert settings.audit.retention.days == days
