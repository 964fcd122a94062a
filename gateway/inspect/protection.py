"""What an inspector says about one attachment, and what opening it with a password gives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.extract.base import ExtractedText
from gateway.model import Encryption

# Weakest first: a mixed archive is as strong as its weakest member.
_STRENGTH = {
    Encryption.NONE: 0,
    Encryption.ZIPCRYPTO: 1,
    Encryption.RC4: 1,
    Encryption.BLOWFISH: 1,
    Encryption.UNKNOWN: 2,
    Encryption.AES_128: 3,
    Encryption.AES_192: 4,
    Encryption.AES_256: 5,
}


def weakest(values: list[Encryption]) -> Encryption:
    return min(values, key=_STRENGTH.__getitem__) if values else Encryption.NONE


@dataclass(frozen=True, slots=True)
class Opened:
    """The text of an attachment opened with a password (and its read-only state, if seen)."""

    texts: list[ExtractedText]
    read_only: bool | None = None


Opener = Callable[[str], Opened | None]
"""Try one password: the opened content, or None when it does not open."""


@dataclass(slots=True)
class Protected:
    """Encryption and read-only state of one attachment, as found without a password."""

    encryption: Encryption
    read_only: bool | None
    entries: int = 0
    opener: Opener | None = None
    extract_as: str | None = None  # format to extract the raw bytes as; None: nothing readable
    texts: list[ExtractedText] = field(default_factory=list)  # already extracted here
