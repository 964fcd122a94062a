"""The bounds every content stage works within.

One frozen value is built from the configuration and handed to parse, extract
and inspect; a stage that hits a bound records a `Problem` (fail closed) and
stops that piece of work, it never raises out and never runs unbounded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from gateway.errors import LimitExceeded

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
    # Text extracted from the whole message (every part and member of it):
    # detection reads a few hundred kilobytes of dense data a second, so more
    # could not be checked within the time bound ([server] max_inspected_text).
    max_message_text_chars: int = 4_000_000
    max_archive_ratio: int = 100  # uncompressed / compressed, per archive member
    max_archive_entries: int = 10_000  # members of one archive
    max_archive_total: int = 200 * MIB  # uncompressed bytes of all archives in a message
    max_archive_depth: int = 5  # archives (and attached messages) inside attachments
    extract_timeout_s: float = 10.0  # one attachment, everything nested in it included
    total_timeout_s: float = 30.0  # the whole inspection of one message
    max_password_tries: int = 8  # candidate passwords tried on one attachment


class Deadline:
    """When the inspection of one message must be over, checked cooperatively
    by the stages that loop over its text (detection).

    `tick` is called once per step of a loop (a candidate, a place a pass
    stops): it only counts, and looks at the clock every `every` calls, so
    the loops pay a few nanoseconds, not a clock read, per step.  Past the
    deadline it raises `LimitExceeded`: the message could not be inspected
    within the limits, which is never taken as clean."""

    __slots__ = ("_left", "at", "every")

    def __init__(self, at: float, every: int = 512) -> None:
        self.at = at
        self.every = every
        self._left = every

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def check(self) -> None:
        """Raise `LimitExceeded` once past the deadline (reads the clock)."""
        self._left = self.every
        if time.monotonic() > self.at:
            raise LimitExceeded("inspection took too long")

    def tick(self) -> None:
        """One step of a loop: `check` every `every` of them."""
        self._left -= 1
        if self._left <= 0:
            self.check()
