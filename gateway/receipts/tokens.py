"""Receipt addresses that cannot be forged or guessed.

Every message carrying personal data leaves with, per recipient, a VERP
return path (for DSNs) and a Disposition-Notification-To address (for MDNs)
on `[receipts] domain`:

    dsn+<queue id>-<recipient index>-<tag>@receipts.example.org
    mdn+<queue id>-<recipient index>-<tag>@receipts.example.org

`tag` is an HMAC-SHA256 of the kind, queue id and index under the receipts
key, so a receipt names the message and recipient it belongs to and nobody
without the key can make one for another message.  Several keys may be given
(newest first): addresses are made with the newest and checked against all,
so a key can be rotated while messages are in flight.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

_TAG_LENGTH = 20  # base32 characters: 100 bits
# Case-insensitive: some mail systems fold the local part to lower (or upper)
# case.  Queue ids are upper case and tags lower case, so the parts are put
# back into their own case before the tag is checked.
_LOCAL = re.compile(
    r"^(?P<kind>dsn|mdn)\+(?P<queue>[0-9A-Z]{8,32})-(?P<index>\d{1,5})-(?P<tag>[a-z2-7]{20})$",
    re.IGNORECASE,
)
_ENVID = re.compile(r"^(?P<queue>[0-9A-Z]{8,32})-(?P<index>\d{1,5})$")


class ReceiptKind(StrEnum):
    DSN = "dsn"
    MDN = "mdn"


@dataclass(frozen=True, slots=True)
class ReceiptRef:
    """The message and recipient a receipt address stands for."""

    kind: ReceiptKind
    queue_id: str
    index: int

    @property
    def envid(self) -> str:
        return envelope_id(self.queue_id, self.index)


def envelope_id(queue_id: str, index: int) -> str:
    """The DSN ENVID sent upstream: names the message and recipient."""
    return f"{queue_id}-{index}"


def parse_envelope_id(value: str | None) -> tuple[str, int] | None:
    """(queue id, index) from an ENVID the gateway sent, else None.  Not proof
    of anything: an ENVID is not authenticated (the queue id is not secret)."""
    match = _ENVID.match((value or "").strip())
    return None if match is None else (match["queue"], int(match["index"]))


def derive_key(secret: bytes, purpose: bytes = b"gateway receipts v1") -> bytes:
    """A receipts key derived from another secret (the password vault key)."""
    return hmac.new(secret, purpose, hashlib.sha256).digest()


class ReceiptAddressing:
    def __init__(self, keys: Sequence[bytes], domain: str) -> None:
        if not keys:
            raise ValueError("at least one receipts key is needed")
        self._keys = list(keys)
        self.domain = domain.lower().rstrip(".")

    def _tag(self, key: bytes, kind: ReceiptKind, queue_id: str, index: int) -> str:
        mac = hmac.new(key, f"{kind.value}:{queue_id}:{index}".encode(), hashlib.sha256).digest()
        return base64.b32encode(mac).decode("ascii").lower()[:_TAG_LENGTH]

    def address(self, kind: ReceiptKind, queue_id: str, index: int) -> str:
        tag = self._tag(self._keys[0], kind, queue_id, index)
        return f"{kind.value}+{queue_id}-{index}-{tag}@{self.domain}"

    def return_path(self, queue_id: str, index: int) -> str:
        return self.address(ReceiptKind.DSN, queue_id, index)

    def mdn_address(self, queue_id: str, index: int) -> str:
        return self.address(ReceiptKind.MDN, queue_id, index)

    def is_receipt_domain(self, address: str) -> bool:
        return address.rpartition("@")[2].lower().rstrip(".") == self.domain

    def token_shaped(self, address: str) -> bool:
        """True when `address` looks like a receipt address, genuine or not."""
        local, _, domain = address.rpartition("@")
        return domain.lower().rstrip(".") == self.domain and _LOCAL.match(local) is not None

    def parse(self, address: str) -> ReceiptRef | None:
        """The ReceiptRef of a genuine receipt address, else None."""
        local, _, domain = address.rpartition("@")
        if domain.lower().rstrip(".") != self.domain:
            return None
        match = _LOCAL.match(local)
        if match is None:
            return None
        kind = ReceiptKind(match["kind"].lower())
        queue_id, index = match["queue"].upper(), int(match["index"])
        tag = match["tag"].lower()
        for key in self._keys:
            if hmac.compare_digest(self._tag(key, kind, queue_id, index), tag):
                return ReceiptRef(kind, queue_id, index)
        return None
