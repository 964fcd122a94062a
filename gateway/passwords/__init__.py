"""Held passwords: the vault (encrypted at rest) and their life in the database.

- `vault`: PasswordVault seals and opens with AES-256-GCM; keys by id, so a
  new key can be added first and old ones still open what they sealed;
- `schema`: the held_passwords table (one row per recipient);
- `store`: hold_op (inside the enqueue transaction), PasswordStore (list,
  open, release, expire_due, destroy, rekey).

A password never appears in a log line, an audit event or a repr.
"""

from gateway.passwords.schema import held_passwords
from gateway.passwords.store import (
    HeldPassword,
    HeldState,
    PasswordStore,
    Released,
    hold_op,
)
from gateway.passwords.vault import (
    ENV_KEY,
    PasswordVault,
    generate_key,
    key_id_of,
    parse_keys,
)

__all__ = [
    "ENV_KEY",
    "HeldPassword",
    "HeldState",
    "PasswordStore",
    "PasswordVault",
    "Released",
    "generate_key",
    "held_passwords",
    "hold_op",
    "key_id_of",
    "parse_keys",
]
