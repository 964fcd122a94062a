"""The SMTP wire format's two byte-level rules, checked where mail enters and
where it leaves: lines end in CRLF (a bare CR or LF, or a NUL, is refused:
SMTP smuggling), and a line starting with "." is dot-stuffed (RFC 5321
4.5.2).

Both ends search whole messages, so the searches are RE2's: a pattern that
starts with a literal byte is found by memchr, several times faster than
`bytes.find` or `bytes.count` for a two- or three-byte needle (on a 200 KB
message about 25 µs against 180-210 µs), and RE2 lets go of the GIL while
it searches.

`line_endings_clean` decides from two passes (`line_endings_clean_unlocked`
from one slower search that a worker thread can run beside the event loop): `translate` picks out every
CR, LF and NUL in order, which must be CRLF pairs only; and a search for a
CR followed by a byte other than LF.  Together they are exact: pairs only
means no NUL, as many LFs as CRs and no CR last; with no CR followed by
anything else, every CR is followed by its LF, so every LF belongs to a
CRLF.  (`translate` alone would take CR, x, LF for a pair.)
"""

from __future__ import annotations

from typing import Final

import re2  # type: ignore[import-untyped]

__all__ = ["DOT_LINE", "LF_DOT", "UNLOCKED_FROM", "bare_cr", "line_endings", "line_endings_clean", "line_endings_clean_unlocked", "pairs_only"]

CR: Final = 13
LF: Final = 10

# CRLF then ".": DATA's terminator, or a line whose dot is stuffed; and its
# rest, searched for when the CR came in on its own.
DOT_LINE: Final = re2.compile(rb"\r\n\.")
LF_DOT: Final = re2.compile(rb"\n\.")
# A CR followed by anything but LF.  (A CR that ends the data is not found
# here: `line_endings` leaves it last, where no pair can end.)
_BARE_CR: Final = re2.compile(rb"\r[^\n]")
# Anything that breaks the CRLF rule, in one pattern without a literal start:
# the DFA reads every byte (about 1.7 ns a byte here, twice `translate`), but
# without the GIL.
_BROKEN_LINE: Final = re2.compile(rb"\r[^\n]|\r\z|[^\r]\n|\A\n|\x00")
# From this size a whole message is checked by `line_endings_clean_unlocked`
# in a worker thread rather than on the event loop.  Below it the check is
# cheaper than the hop: 0.16 ms for 200 KB on the loop, where handing work
# to a thread and back costs a busy loop 10-25 ms of latency (and a thread
# running Python meanwhile takes the GIL from the loop).
UNLOCKED_FROM: Final = 256 * 1024
# Every byte but CR, LF and NUL: what `line_endings` deletes.
_NOT_LINE_ENDING: Final = bytes(b for b in range(256) if b not in (0, CR, LF))


def line_endings(data: bytes) -> bytes:
    """The CR, LF and NUL bytes of `data`, in order."""
    return data.translate(None, _NOT_LINE_ENDING)


def pairs_only(ends: bytes) -> bool:
    """Is `ends` (from `line_endings`) nothing but CRLF pairs?"""
    return 2 * ends.count(b"\r\n") == len(ends)


def bare_cr(data: bytes | bytearray, start: int = 0) -> bool:
    """Is there a CR in `data[start:]` followed by a byte that is not LF?"""
    return _BARE_CR.search(data, start) is not None


def line_endings_clean(data: bytes) -> bool:
    """Does every CR and LF in `data` belong to a CRLF, with no NUL?"""
    ends = line_endings(data)
    return not ends or (pairs_only(ends) and not bare_cr(data))


def line_endings_clean_unlocked(data: bytes) -> bool:
    """`line_endings_clean`'s answer from one RE2 search that lets go of the
    GIL: slower on one core, but in a worker thread it leaves the event loop
    free for that time (for messages from `UNLOCKED_FROM` bytes)."""
    return _BROKEN_LINE.search(data) is None
