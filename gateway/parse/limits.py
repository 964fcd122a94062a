"""The bounds every content stage works within.

One frozen value is built from the configuration and handed to parse, extract
and inspect; a stage that hits a bound records a `Problem` (fail closed) and
stops that piece of work, it never raises out and never runs unbounded.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True, slots=True)
class ContentLimits:
    """Size, count, depth and time bounds for parsing and extracting a message."""

    max_parts: int = 500  # MIME entities, containers included
    max_depth: int = 20  # nesting of multiparts and message/rfc822
    max_header_bytes: int = 256 * KIB  # one header block (the message's or a part's)
    max_decoded_bytes: int = 100 * MIB  # all decoded part payloads together
    max_text_chars: int = 10_000_000  # text one extractor may return
    max_archive_ratio: int = 100  # uncompressed / compressed, per archive member
    max_archive_entries: int = 10_000  # members of one archive
    max_archive_total: int = 200 * MIB  # uncompressed bytes of all archives in a message
    max_archive_depth: int = 5  # archives (and attached messages) inside attachments
    extract_timeout_s: float = 10.0  # one attachment, everything nested in it included
    total_timeout_s: float = 30.0  # the whole inspection of one message
    max_password_tries: int = 8  # candidate passwords tried on one attachment
