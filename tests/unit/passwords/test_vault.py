"""The vault: AES-256-GCM round trip, wrong keys, rotation, key parsing."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest

from gateway.errors import VaultError
from gateway.passwords import PasswordVault, generate_key, key_id_of, parse_keys
from gateway.settings import Settings

PASSWORD = "Mi7AA-Fpfeg-iFgs6-EEjab"


def test_round_trip_and_fresh_nonce_each_time(vault: PasswordVault) -> None:
    one, two = vault.seal(PASSWORD, "row1"), vault.seal(PASSWORD, "row1")
    assert one != two
    assert vault.open(one, "row1") == vault.open(two, "row1") == PASSWORD
    assert PASSWORD.encode() not in one
    assert key_id_of(one) == vault.key_id


def test_wrong_key_fails(vault: PasswordVault) -> None:
    sealed = vault.seal(PASSWORD)
    other = PasswordVault([secrets.token_bytes(32)])
    with pytest.raises(VaultError, match="not configured"):
        other.open(sealed)


def test_altered_ciphertext_or_other_row_fails(vault: PasswordVault) -> None:
    sealed = vault.seal(PASSWORD, "row1")
    with pytest.raises(VaultError, match="does not open"):
        vault.open(sealed, "row2")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(VaultError, match="does not open"):
        vault.open(tampered, "row1")
    with pytest.raises(VaultError):
        vault.open(b"junk")


def test_rotation_new_key_first_old_still_opens(old_key: bytes, new_key: bytes) -> None:
    sealed_old = PasswordVault([old_key]).seal(PASSWORD, "r")
    rotated = PasswordVault([new_key, old_key])
    assert rotated.open(sealed_old, "r") == PASSWORD
    sealed_new = rotated.seal(PASSWORD, "r")
    assert key_id_of(sealed_new) == rotated.key_id != key_id_of(sealed_old)
    with pytest.raises(VaultError):
        PasswordVault([old_key]).open(sealed_new, "r")


def test_repr_hides_keys(old_key: bytes) -> None:
    text = repr(PasswordVault([old_key]))
    assert base64.b64encode(old_key).decode() not in text and old_key.hex() not in text


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_parse_keys_standard_and_url_safe(encode: object) -> None:
    keys = [secrets.token_bytes(32) for _ in range(3)]
    text = " , ".join(encode(k).decode().rstrip("=") for k in keys)  # type: ignore[operator]
    assert parse_keys(text, "env") == keys


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no key found"),
        ("!!!notbase64!!!", "key 1 is not valid base64"),
        (base64.b64encode(b"short").decode(), "key 1 decodes to 5 bytes"),
    ],
)
def test_bad_keys_are_named_not_shown(text: str, message: str) -> None:
    with pytest.raises(VaultError, match=message) as info:
        parse_keys(text, "GATEWAY_PASSWORD_KEY")
    if text:
        assert text not in str(info.value)


def test_second_bad_key_is_named() -> None:
    with pytest.raises(VaultError, match="key 2 "):
        parse_keys(generate_key() + ",AAAA", "env")


def test_from_settings_env_wins_over_file(tmp_path: Path) -> None:
    file_key, env_key = secrets.token_bytes(32), secrets.token_bytes(32)
    (tmp_path / "pw.key").write_text(base64.b64encode(file_key).decode() + "\n")
    settings = Settings.model_validate(
        {"passwords": {"key_file": "pw.key"}, "config_dir": tmp_path})
    from_file = PasswordVault.from_settings(settings, {})
    assert from_file.key_id == PasswordVault([file_key]).key_id
    env = {"GATEWAY_PASSWORD_KEY": base64.b64encode(env_key).decode()}
    assert PasswordVault.from_settings(settings, env).key_id == PasswordVault([env_key]).key_id


def test_from_settings_missing_or_unreadable(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match="no password key"):
        PasswordVault.from_settings(Settings(), {})
    settings = Settings.model_validate(
        {"passwords": {"key_file": "absent.key"}, "config_dir": tmp_path})
    with pytest.raises(VaultError, match="cannot read"):
        PasswordVault.from_settings(settings, {})


def test_vault_needs_32_byte_keys() -> None:
    with pytest.raises(VaultError):
        PasswordVault([])
    with pytest.raises(VaultError):
        PasswordVault([b"x" * 16])
