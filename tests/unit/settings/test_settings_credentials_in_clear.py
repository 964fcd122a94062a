"""A username for a relay off this machine without TLS insisted on is
warned about (check-config prints it, serve logs it): aiosmtplib sends AUTH
PLAIN to a server that offers AUTH, in clear when no TLS was started, and
opportunistic STARTTLS is only as good as an offer nobody stripped."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import Settings


def _warnings(tmp_path: Path, **upstream: object) -> list[str]:
    (tmp_path / "recipients.csv").write_text(
        "address,name,job_title,department,organisation,telephone,secure_route\n",
        encoding="utf-8")
    settings = Settings.model_validate({"config_dir": tmp_path, "upstream": upstream})
    return [w for w in settings.warnings() if "username" in w]


@pytest.mark.parametrize(("tls", "when"), [("none", "always"),
                                           ("starttls", "whenever STARTTLS is not offered")])
def test_credentials_that_can_cross_in_clear_are_warned_of(tmp_path, tls, when) -> None:
    (warning,) = _warnings(tmp_path, host="smtp.example.net", tls=tls, username="relay",
                           password="not-in-any-warning")
    assert warning.startswith(f"upstream.username is set and upstream.tls is {tls}")
    assert when in warning and "starttls-verify or implicit" in warning
    assert "not-in-any-warning" not in warning


@pytest.mark.parametrize("upstream", [
    {"host": "smtp.example.net", "tls": "starttls-verify", "username": "relay"},
    {"host": "smtp.example.net", "tls": "implicit", "username": "relay"},
    {"host": "127.0.0.1", "tls": "none", "username": "relay"},
    {"host": "smtp.example.net", "tls": "starttls"},
])
def test_no_warning_when_tls_is_required_local_or_no_credentials(tmp_path, upstream) -> None:
    assert _warnings(tmp_path, **upstream) == []
