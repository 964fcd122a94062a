"""The vault: held passwords sealed with AES-256-GCM, keys rotated by id.

A sealed password is one blob:

    version (1 byte, 0x01) | key id (8 bytes) | nonce (12 bytes) | ciphertext + tag

The key id is the first 8 bytes of SHA-256 over a fixed label and the key: it
names the key without revealing it, so rotation works by listing a new key
first and keeping the old ones after it: `seal` always uses the newest key,
`open` uses whichever key the blob names.  The nonce is random (96 bits) for
every seal.  Callers pass a `context` (the held row's id) that is
authenticated with the ciphertext, so a blob copied onto another row does not
open there.

Keys come from `GATEWAY_PASSWORD_KEY` or `[passwords] key_file`: base64
(standard or URL-safe, padding optional) of 32 random bytes, several
separated by commas (or new lines in a file), newest first.  Error messages
name the source and the position of a bad key, never its material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.errors import VaultError
from gateway.settings import Settings

ENV_KEY = "GATEWAY_PASSWORD_KEY"
KEY_BYTES = 32

_VERSION = b"\x01"
_KEY_ID_BYTES = 8
_NONCE_BYTES = 12
_HEADER = len(_VERSION) + _KEY_ID_BYTES + _NONCE_BYTES
_AAD_LABEL = b"gateway held password\x00"
_ID_LABEL = b"gateway password key id\x00"
_SEPARATORS = re.compile(r"[,\s]+")


def key_id_of_key(key: bytes) -> str:
    """The public name of a key (hex), as stored in `held_passwords.key_id`."""
    return hashlib.sha256(_ID_LABEL + key).digest()[:_KEY_ID_BYTES].hex()


def key_id_of(sealed: bytes) -> str:
    """The id of the key that sealed `sealed`."""
    if len(sealed) <= _HEADER or sealed[:1] != _VERSION:
        raise VaultError("not a sealed password (unknown format)")
    return sealed[1 : 1 + _KEY_ID_BYTES].hex()


def generate_key() -> str:
    """A new random key, base64 (standard), for GATEWAY_PASSWORD_KEY or key_file."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def parse_keys(text: str, source: str) -> list[bytes]:
    """Keys from their text form, newest first; VaultError naming the bad one."""
    items = [item for item in _SEPARATORS.split(text.strip()) if item]
    if not items:
        raise VaultError(f"{source}: no key found")
    keys: list[bytes] = []
    for position, item in enumerate(items, start=1):
        padded = item + "=" * (-len(item) % 4)
        try:
            if "-" in item or "_" in item:
                key = base64.urlsafe_b64decode(padded.encode("ascii"))
            else:
                key = base64.b64decode(padded.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise VaultError(f"{source}: key {position} is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise VaultError(
                f"{source}: key {position} decodes to {len(key)} bytes; "
                f"{KEY_BYTES} random bytes are needed"
            )
        keys.append(key)
    return keys


class PasswordVault:
    """Seals and opens held passwords.  `keys` are raw 32-byte keys, newest first."""

    __slots__ = ("_ciphers", "_newest")

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise VaultError("the password vault needs at least one key")
        ciphers: dict[str, AESGCM] = {}
        for position, key in enumerate(keys, start=1):
            if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
                raise VaultError(f"password key {position} is not {KEY_BYTES} bytes")
            ciphers.setdefault(key_id_of_key(bytes(key)), AESGCM(bytes(key)))
        self._ciphers = ciphers
        self._newest = key_id_of_key(bytes(keys[0]))

    @classmethod
    def from_settings(
        cls, settings: Settings, environ: Mapping[str, str] | None = None
    ) -> PasswordVault:
        """Keys from GATEWAY_PASSWORD_KEY, else from `[passwords] key_file`."""
        env = os.environ if environ is None else environ
        value = env.get(ENV_KEY, "")
        if value.strip():
            return cls(parse_keys(value, ENV_KEY))
        if settings.passwords.key_file:
            path = settings.resolve(settings.passwords.key_file)
            source = f"[passwords] key_file {path}"
            try:
                text = path.read_text(encoding="ascii")
            except OSError as exc:
                raise VaultError(f"cannot read {source} ({exc.strerror})") from None
            except UnicodeDecodeError:
                raise VaultError(f"{source}: not base64 text") from None
            return cls(parse_keys(text, source))
        raise VaultError(
            f"no password key: set {ENV_KEY} or [passwords] key_file to base64 of "
            f"{KEY_BYTES} random bytes (`gateway passwords keygen` makes one)"
        )

    @property
    def key_id(self) -> str:
        """The id of the newest key, which seals."""
        return self._newest

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def seal(self, password: str, context: str = "") -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        cipher = self._ciphers[self._newest]
        body = cipher.encrypt(nonce, password.encode("utf-8"), _aad(context))
        return _VERSION + bytes.fromhex(self._newest) + nonce + body

    def open(self, sealed: bytes, context: str = "") -> str:
        key_id = key_id_of(sealed)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise VaultError(
                f"the held password was sealed with key {key_id}, which is not configured "
                "(keep old keys after the new one until `gateway passwords rekey` has run)"
            )
        nonce = sealed[1 + _KEY_ID_BYTES : _HEADER]
        try:
            clear = cipher.decrypt(nonce, sealed[_HEADER:], _aad(context))
        except InvalidTag:
            raise VaultError(
                "the held password does not open: wrong key, or the stored data was altered"
            ) from None
        return clear.decode("utf-8")

    def __repr__(self) -> str:
        return f"PasswordVault(keys={len(self._ciphers)}, newest={self._newest})"


def _aad(context: str) -> bytes:
    return _AAD_LABEL + context.encode("utf-8")
