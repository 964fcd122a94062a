"""Where the receipts HMAC key comes from.

In order: `GATEWAY_RECEIPTS_KEY` (which the settings loader hands over as
`[receipts] key`), `[receipts] key_file`, else derived from the password
vault's keys (`GATEWAY_PASSWORD_KEY` / `[passwords] key_file`) with
`derive_key`, so a deployment that holds passwords needs no second secret.
Same text form as the vault's keys: base64 of 32 bytes, several newest
first.  Derived keys keep the vault's order, so rotating the vault key
rotates the receipts key too while old addresses still verify.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from gateway.errors import VaultError
from gateway.passwords.vault import ENV_KEY as PASSWORD_ENV_KEY
from gateway.passwords.vault import parse_keys
from gateway.receipts.tokens import ReceiptAddressing, derive_key
from gateway.settings import Settings

ENV_KEY = "GATEWAY_RECEIPTS_KEY"


def _read(settings: Settings, name: str, section: str) -> str:
    path = settings.resolve(name)
    try:
        return path.read_text(encoding="ascii")
    except OSError as exc:
        raise VaultError(f"cannot read [{section}] key_file {path} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise VaultError(f"[{section}] key_file {path}: not base64 text") from None


def receipt_keys(settings: Settings, environ: Mapping[str, str] | None = None) -> list[bytes]:
    """The receipts keys, newest first, or VaultError saying what is missing."""
    env = os.environ if environ is None else environ
    receipts = settings.receipts
    if receipts.key.strip():
        return parse_keys(receipts.key, ENV_KEY)
    if env.get(ENV_KEY, "").strip():
        return parse_keys(env[ENV_KEY], ENV_KEY)
    if receipts.key_file:
        return parse_keys(_read(settings, receipts.key_file, "receipts"), "[receipts] key_file")
    if env.get(PASSWORD_ENV_KEY, "").strip():
        return [derive_key(k) for k in parse_keys(env[PASSWORD_ENV_KEY], PASSWORD_ENV_KEY)]
    if settings.passwords.key_file:
        text = _read(settings, settings.passwords.key_file, "passwords")
        return [derive_key(k) for k in parse_keys(text, "[passwords] key_file")]
    raise VaultError(
        f"no receipts key: set {ENV_KEY}, [receipts] key_file or a password key "
        f"({PASSWORD_ENV_KEY}), from which one is derived"
    )


def receipt_addressing(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> ReceiptAddressing:
    return ReceiptAddressing(receipt_keys(settings, environ), settings.receipts.domain)
