"""Where the receipts key comes from."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from gateway.errors import VaultError
from gateway.receipts import derive_key
from gateway.receipts.keys import receipt_keys
from gateway.settings import Settings

A, B = b"a" * 32, b"b" * 32


def _b64(*keys: bytes) -> str:
    return ",".join(base64.b64encode(k).decode() for k in keys)


def test_own_key_from_settings_or_env() -> None:
    settings = Settings.model_validate({"receipts": {"key": _b64(A)}})
    assert receipt_keys(settings, {}) == [A]
    assert receipt_keys(Settings(), {"GATEWAY_RECEIPTS_KEY": _b64(B, A)}) == [B, A]


def test_key_file(tmp_path: Path) -> None:
    (tmp_path / "r.key").write_text(_b64(A) + "\n")
    settings = Settings.model_validate({"receipts": {"key_file": "r.key"},
                                        "config_dir": tmp_path})
    assert receipt_keys(settings, {}) == [A]


def test_derived_from_the_password_keys_in_order() -> None:
    assert receipt_keys(Settings(), {"GATEWAY_PASSWORD_KEY": _b64(A, B)}) == [
        derive_key(A), derive_key(B)]


def test_password_key_file(tmp_path: Path) -> None:
    (tmp_path / "p.key").write_text(_b64(B))
    settings = Settings.model_validate({"passwords": {"key_file": "p.key"},
                                        "config_dir": tmp_path})
    assert receipt_keys(settings, {}) == [derive_key(B)]


def test_nothing_configured() -> None:
    with pytest.raises(VaultError, match="no receipts key"):
        receipt_keys(Settings(), {})


def test_bad_key_names_its_source_not_its_value() -> None:
    with pytest.raises(VaultError, match="GATEWAY_RECEIPTS_KEY") as caught:
        receipt_keys(Settings(), {"GATEWAY_RECEIPTS_KEY": "c2hvcnQ="})
    assert "c2hvcnQ" not in str(caught.value)
