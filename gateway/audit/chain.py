"""The hash chain and checkpoint signatures: pure functions, no database.

Every row of audit_records and audit_events holds
`hash = sha256(prev_hash || "\\n" || content)` where `content` is the row's
stored columns (not `seq`: the position is already fixed by `prev_hash`, and
leaving it out lets verify tell a renumbered insertion from an edit), each
length-prefixed: `<utf-8 byte length>:<text>`, or `~` for NULL.  That
encoding is unambiguous and simple enough for PostgreSQL to recompute in SQL
(sha256, octet_length, to_char), which is how verify reaches its speed there.
A record's `events` (the events it was written with, migration 0007) are
its last field, left out altogether when NULL (rows written before).  Times
are `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC.  The first row links to GENESIS,
or, after a purge, to the hash recorded in the `cut` checkpoint.

Checkpoints pin (seq, hash) with HMAC-SHA256 under the `[audit]` key, so a
database administrator who rewrites the (unkeyed) chain from some row onwards
is caught at the next signed checkpoint.  Without a key checkpoints are
written unsigned: they still catch truncation of the chain's tail and
careless edits, not a careful rewrite (README: "Audit trail integrity").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.audit.record import utc
from gateway.errors import ConfigError

GENESIS = "0" * 64
KEY_ENV = "GATEWAY_AUDIT_KEY"
_MIN_KEY_LENGTH = 32


def ts(value: datetime) -> str:
    """A fixed-format UTC timestamp: what the chain hashes for a time column,
    identical whether PostgreSQL (aware) or SQLite (naive) handed it back."""
    # isoformat (C) writes what strftime("%Y-%m-%dT%H:%M:%S.%fZ") would, faster;
    # its first 26 characters are the time, "+00:00" follows.
    if value.tzinfo is not UTC:
        value = utc(value)
    return value.isoformat("T", "microseconds")[:26] + "Z"


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(prev_hash: str, content: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + content).hexdigest()


def chain_hash(prev_hash: str, content: Any) -> str:
    """Hash of a JSON-able `content` linked to `prev_hash`."""
    return link(prev_hash, canonical(content))


def lp(value: str | None) -> str:
    """One length-prefixed field of the hashed content."""
    if value is None:
        return "~"
    size = len(value) if value.isascii() else len(value.encode())
    return f"{size}:{value}"


def _fields(values: Sequence[str | None]) -> str:
    """`lp` of each value, one after the other: a row's hashed fields in one
    call (the trail builds two rows per message, verify reads them back)."""
    return "".join([
        "~" if v is None else f"{len(v) if v.isascii() else len(v.encode())}:{v}"
        for v in values
    ])


def record_content(
    id: str,
    message_id: str | None,
    received_at: datetime,
    sender: str,
    verdict: str,
    marking: str | None,
    purpose: str | None,
    terms: str,
    document: str,
    events: str | None = None,
) -> bytes:
    # `events` (migration 0007) is appended only when present: a row written
    # before it hashes as it always did.  Each field is length-prefixed, so
    # a row with events and one without can never hash the same content.
    fields = [id, message_id, ts(received_at), sender, verdict, marking, purpose, terms, document]
    if events is not None:
        fields.append(events)
    return ("6:record" + _fields(fields)).encode()


def event_content(record_id: str, at: datetime, type: str, detail: str) -> bytes:
    return ("5:event" + _fields((record_id, ts(at), type, detail))).encode()


def term_key(value: str) -> str:
    """What a search term is matched by: case-insensitive, the same on any database."""
    return value.casefold()


def terms_text(terms: Sequence[tuple[str, str]]) -> str:
    """The stored (hashed) form of a record's search terms: sorted by code
    point (PostgreSQL: COLLATE "C"), field, value and key length-prefixed."""
    return _fields([x for f, v in sorted(set(terms)) for x in (f, v, term_key(v))])


@dataclass(frozen=True, slots=True)
class Signature:
    key_id: str
    value: str


class AuditKeys:
    """The HMAC keys that sign checkpoints; the first signs, all verify (rotation).

    A key is any secret text of at least 32 characters (e.g. `openssl rand
    -base64 32`), from `[audit] key_file`, `[audit] key` or the environment
    variable GATEWAY_AUDIT_KEY; several may be given comma-separated, newest
    first.
    """

    def __init__(self, secrets: Sequence[str]) -> None:
        keys = [s.strip() for s in secrets if s.strip()]
        for key in keys:
            if len(key) < _MIN_KEY_LENGTH:
                raise ConfigError(
                    f"audit key: too short ({len(key)} characters, at least {_MIN_KEY_LENGTH})"
                )
        self._keys = {self.key_id(k): k.encode() for k in keys}
        self._current = self.key_id(keys[0]) if keys else None

    @staticmethod
    def key_id(secret: str) -> str:
        # Names the key without revealing it, so verify can say "signed with
        # another key" rather than "forged".
        return hashlib.sha256(b"gateway-audit-key-id\n" + secret.encode()).hexdigest()[:16]

    @classmethod
    def parse(cls, text: str) -> AuditKeys:
        return cls(text.split(","))

    @classmethod
    def from_settings(cls, settings: Any) -> AuditKeys:
        """[audit] key (GATEWAY_AUDIT_KEY lands there through the settings'
        environment overrides) or the environment, else [audit] key_file.
        The environment wins, as GATEWAY_PASSWORD_KEY does over [passwords]
        key_file: a key rotated through the environment must not leave the
        file's old one signing without a word."""
        audit = settings.audit
        text = getattr(audit, "key", "") or os.environ.get(KEY_ENV, "")
        key_file = getattr(audit, "key_file", "")
        if text.strip() or not key_file:
            return cls.parse(text)
        path = settings.resolve(key_file)
        try:
            return cls.parse(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"audit.key_file: cannot read {path} ({exc.strerror})") from None

    @property
    def configured(self) -> bool:
        return self._current is not None

    def sign(self, message: bytes) -> Signature | None:
        if self._current is None:
            return None
        mac = hmac.new(self._keys[self._current], message, hashlib.sha256).hexdigest()
        return Signature(self._current, mac)

    def check(self, message: bytes, key_id: str, signature: str) -> bool | None:
        """True/False, or None when the signing key is not one of ours."""
        key = self._keys.get(key_id)
        if key is None:
            return None
        expected = hmac.new(key, message, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)


def checkpoint_message(kind: str, seq: int, hash_: str, at: datetime, detail: str) -> bytes:
    return canonical(["gateway-audit-checkpoint", kind, seq, hash_, ts(at), detail])
