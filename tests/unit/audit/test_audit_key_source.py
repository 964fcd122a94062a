"""Where the checkpoint key comes from: GATEWAY_AUDIT_KEY wins over
[audit] key_file, as GATEWAY_PASSWORD_KEY does over [passwords] key_file
(the file's key was used and the environment's ignored without a word)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.audit.chain import AuditKeys
from gateway.errors import ConfigError
from gateway.settings import Settings

FILE_KEY = "f" * 40
ENV_KEY = "e" * 40
MESSAGE = b"checkpoint 1000"


def _settings(tmp_path: Path, **audit: str) -> Settings:
    (tmp_path / "audit.key").write_text(FILE_KEY + "\n", encoding="utf-8")
    (tmp_path / "recipients.csv").write_text("address\n", encoding="utf-8")
    return Settings.model_validate({"config_dir": tmp_path, "audit": audit})


def _signature(keys: AuditKeys) -> object:
    return keys.sign(MESSAGE)


def test_the_environments_key_wins_over_the_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("GATEWAY_AUDIT_KEY", raising=False)
    settings = _settings(tmp_path, key_file="audit.key", key=ENV_KEY)
    assert _signature(AuditKeys.from_settings(settings)) == _signature(AuditKeys.parse(ENV_KEY))


def test_the_file_is_used_without_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("GATEWAY_AUDIT_KEY", raising=False)
    settings = _settings(tmp_path, key_file="audit.key")
    assert _signature(AuditKeys.from_settings(settings)) == _signature(AuditKeys.parse(FILE_KEY))


def test_a_short_environment_key_is_refused_even_with_a_file(tmp_path: Path,
                                                             monkeypatch) -> None:
    monkeypatch.delenv("GATEWAY_AUDIT_KEY", raising=False)
    settings = _settings(tmp_path, key_file="audit.key", key="short")
    with pytest.raises(ConfigError, match="too short"):
        AuditKeys.from_settings(settings)
