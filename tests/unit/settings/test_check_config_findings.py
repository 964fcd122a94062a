"""What `check-config` let through and `serve` then tripped over: no
password key, a TLS "certificate" that is not one, route overrides from the
environment that were ignored, [[users]] nobody could sign in as; and
`gateway --version`."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
from gwtest import clean_env, write_config

from gateway.cli import main
from gateway.errors import ConfigError
from gateway.settings import load_settings

RECIPIENTS = "address,name,job_title,department,organisation,telephone,secure_route\n"
GOOD_KEY = base64.b64encode(bytes(range(32))).decode()
ARGON2 = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    return tmp_path


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("GATEWAY_PASSWORD_KEY", "GATEWAY_RECEIPTS_KEY", "GATEWAY_AUDIT_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def write(config_dir: Path, text: str) -> Path:
    path = config_dir / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- 1. no password key ------------------------------------------------------------


def test_protect_mode_without_a_password_key_is_an_error(config_dir, capsys, no_keys):
    """check-config said ok; serve then answered 451 4.3.0 to every message
    it protected, for ever."""
    path = write(config_dir, '[policy]\nmode = "protect"\n')
    assert main(["check-config", "--config", str(path)]) == 1
    out = capsys.readouterr()
    assert "ok" not in out.out
    (line,) = [x for x in out.err.splitlines() if x.startswith("error:")]
    assert line.startswith("error: no password key (GATEWAY_PASSWORD_KEY or [passwords] key_file")
    assert "451 4.3.0" in line and "no receipts are asked for" in line


@pytest.mark.parametrize("release", ["on-receipt", "manual", "sender"])
def test_other_modes_without_a_password_key_are_warned(config_dir, capsys, no_keys, release):
    path = write(config_dir, f'[passwords]\nrelease = "{release}"\n')
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == "ok"
    assert "warning: no password key (GATEWAY_PASSWORD_KEY" in out.err
    assert "451 4.3.0" in out.err


def test_a_password_key_from_the_environment_or_a_file_is_enough(config_dir, capsys, no_keys):
    path = write(config_dir, '[policy]\nmode = "protect"\n')
    no_keys.setenv("GATEWAY_PASSWORD_KEY", GOOD_KEY)
    assert main(["check-config", "--config", str(path)]) == 0
    no_keys.delenv("GATEWAY_PASSWORD_KEY")
    key = config_dir / "password.key"
    key.write_text(GOOD_KEY + "\n", encoding="ascii")
    key.chmod(0o600)
    path = write(config_dir, '[policy]\nmode = "protect"\n[passwords]\nkey_file = "password.key"\n')
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out.split() == ["ok", "ok"]
    assert "password key" not in out.err


def test_a_receipts_key_of_its_own_is_not_said_missing(config_dir, capsys, no_keys):
    no_keys.setenv("GATEWAY_RECEIPTS_KEY", GOOD_KEY)
    path = write(config_dir, "")
    assert main(["check-config", "--config", str(path)]) == 0
    err = capsys.readouterr().err
    assert "warning: no password key" in err and "no receipts" not in err


# -- 2. TLS files that are not a certificate and its key ----------------------------


@pytest.mark.parametrize(("cert", "key", "problem"), [
    ("key", "key", "server.tls_cert: {key} holds no PEM certificate"),
    ("csv", "key", "server.tls_cert: {csv} holds no PEM certificate"),
    ("cert", "other", "server.tls_key: {other} is not the key of the certificate in {cert}"),
    ("cert", "csv", "server.tls_key: {csv} holds no PEM private key"),
    ("cert", "cert", "server.tls_key: {cert} holds no PEM private key"),
], ids=["key-as-cert", "csv-as-cert", "key-of-another-cert", "csv-as-key", "cert-as-key"])
def test_tls_files_are_loaded_as_serve_loads_them(config_dir, capsys, tls_files, tmp_path,
                                                  cert, key, problem):
    """check-config said ok; serve then failed with "[SSL] PEM lib" or
    "key values mismatch", naming neither file."""
    import trustme

    other = tmp_path / "other.key"
    trustme.CA().issue_cert("other.test").private_key_pem.write_to_path(str(other))
    files = {"cert": tls_files.cert_file, "key": tls_files.key_file,
             "csv": config_dir / "recipients.csv", "other": other}
    path = write(config_dir, f'[server]\ntls_cert = "{files[cert]}"\ntls_key = "{files[key]}"\n')
    assert main(["check-config", "--config", str(path)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {problem.format(**files)}"), line


def test_a_certificate_and_its_key_pass(config_dir, capsys, tls_files, no_keys):
    no_keys.setenv("GATEWAY_PASSWORD_KEY", GOOD_KEY)
    path = write(config_dir, f'[server]\ntls_cert = "{tls_files.cert_file}"\n'
                             f'tls_key = "{tls_files.key_file}"\n')
    assert main(["check-config", "--config", str(path)]) == 0
    assert capsys.readouterr().out.strip() == "ok"


def test_serve_names_the_wrong_tls_file(config_dir, sqlite_url, tls_files):
    write_config(config_dir / "gw.toml", {
        "server": {"listen": "127.0.0.1:0", "tls_cert": str(tls_files.key_file),
                   "tls_key": str(tls_files.key_file)},
        "metrics": {"listen": ""},
        "database": {"url": sqlite_url},
    })
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config_dir / "gw.toml"),
         "--log-format", "console"],
        capture_output=True, text=True, env=clean_env(GATEWAY_PASSWORD_KEY=GOOD_KEY),
        timeout=30,
    )
    errors = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert errors == [f"error: server.tls_cert: {tls_files.key_file} holds no PEM certificate "
                      "(NO_CERTIFICATE_OR_CRL_FOUND)"], done.stderr
    assert done.returncode == 1


# -- 3. GATEWAY_ROUTES_<NAME>_<KEY> ---------------------------------------------------

ROUTE = '[routes.nhsmail]\nhost = "relay.example.net"\nport = 587\ntls = "{tls}"\n'


def test_a_route_key_can_be_overridden(config_dir):
    path = write(config_dir, ROUTE.format(tls="none"))
    settings = load_settings(path, environ={"GATEWAY_ROUTES_NHSMAIL_TLS": "starttls-verify",
                                            "GATEWAY_ROUTES_NHSMAIL_HOST": "relay2.example.net",
                                            "GATEWAY_ROUTES_NHSMAIL_POOL_SIZE": "4"})
    route = settings.routes["nhsmail"]
    assert (route.tls, route.host, route.port, route.pool_size) == (
        "starttls-verify", "relay2.example.net", 587, 4)


def test_a_route_name_with_an_underscore_is_matched_whole(config_dir):
    path = write(config_dir, '[routes.nhs_mail]\nhost = "relay.example.net"\ntls = "implicit"\n'
                             '[routes.nhs]\nhost = "other.example.net"\ntls = "implicit"\n')
    settings = load_settings(path, environ={"GATEWAY_ROUTES_NHS_MAIL_PORT": "465",
                                            "GATEWAY_ROUTES_NHS_PORT": "2465"})
    assert settings.routes["nhs_mail"].port == 465
    assert settings.routes["nhs"].port == 2465


@pytest.mark.parametrize(("name", "value", "problem"), [
    ("GATEWAY_ROUTES_NHSMAIL_PORT", "abc", "GATEWAY_ROUTES_NHSMAIL_PORT (routes.nhsmail.port): "),
    ("GATEWAY_ROUTES_NHSMAIL_TLS", "none",
     "GATEWAY_ROUTES_NHSMAIL_TLS (routes.nhsmail.tls): a secure route must use TLS"),
    ("GATEWAY_ROUTES_NHSMAIL_TSL", "none",
     "GATEWAY_ROUTES_NHSMAIL_TSL (routes.nhsmail.tsl): unknown key"),
    ("GATEWAY_ROUTES_BOGUS_PORT", "25", "GATEWAY_ROUTES_BOGUS_PORT: no route 'bogus' is configured"),
    ("GATEWAY_ROUTES_NHSMAIL", "x", "GATEWAY_ROUTES_NHSMAIL: no key named"),
])
def test_a_bad_route_override_names_the_variable(config_dir, name, value, problem):
    """Each was ignored without a word, and the file's route used."""
    path = write(config_dir, ROUTE.format(tls="starttls-verify"))
    with pytest.raises(ConfigError) as refused:
        load_settings(path, environ={name: value})
    (found,) = refused.value.problems
    assert found.startswith(problem), found


def test_a_route_override_without_routes_in_the_file_is_refused(config_dir):
    path = write(config_dir, "")
    with pytest.raises(ConfigError) as refused:
        load_settings(path, environ={"GATEWAY_ROUTES_NHSMAIL_HOST": "relay.example.net"})
    assert refused.value.problems[0].startswith(
        "GATEWAY_ROUTES_NHSMAIL_HOST: no route 'nhsmail' is configured")


# -- 4. [[users]] without TLS ---------------------------------------------------------


def test_users_without_tls_are_warned(config_dir, capsys):
    path = write(config_dir, f'[[users]]\nname = "relay"\npassword_hash = "{ARGON2}"\n')
    assert main(["check-config", "--config", str(path)]) == 0
    assert ("warning: [[users]] are configured but server.tls_cert is not set: AUTH is "
            "offered only after STARTTLS") in capsys.readouterr().err


def test_users_with_tls_are_not_warned(config_dir, capsys, tls_files):
    path = write(config_dir, f'[server]\ntls_cert = "{tls_files.cert_file}"\n'
                             f'tls_key = "{tls_files.key_file}"\n'
                             f'[[users]]\nname = "relay"\npassword_hash = "{ARGON2}"\n')
    assert main(["check-config", "--config", str(path)]) == 0
    assert "[[users]]" not in capsys.readouterr().err


# -- 5. --version ---------------------------------------------------------------------


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"gateway {version('secure-sharing-gateway')}\n"
