"""The SMTP wire format's byte-level rules, checked where mail enters and
where it leaves: lines end in CRLF (a bare CR or LF, or a NUL, is refused:
SMTP smuggling), a line starting with "." is dot-stuffed (RFC 5321
4.5.2), and no line is longer than 998 bytes (RFC 5322 2.1.1; RFC 5321
4.5.3.1.6 lets a server refuse it, as aiosmtpd and many others do).

A line too long is accepted as it comes (mail clients write them, mostly
in HTML), and broken on the way out as Postfix breaks it
(`smtp_line_length_limit`): `fold_long_lines`.

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

__all__ = ["DOT_LINE", "LF_DOT", "MAX_LINE", "UNLOCKED_FROM", "bare_cr", "fold_long_lines", "has_long_line", "line_endings", "line_endings_clean", "line_endings_clean_unlocked", "pairs_only"]

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
# The longest line SMTP may carry, without its CRLF (RFC 5322 2.1.1), and
# a line longer than that.  RE2's DFA: about 1.5 ns a byte, without the GIL.
MAX_LINE: Final = 998
_LONG_LINE: Final = re2.compile(rb"[^\r\n]{%d}" % (MAX_LINE + 1))
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


def has_long_line(data: bytes) -> bool:
    """Is a line of `data` (CRLF line endings) longer than `MAX_LINE` bytes?"""
    if len(data) <= MAX_LINE:
        return False
    if len(data) < UNLOCKED_FROM:
        # Splitting is twice as fast as the DFA here (about 1.3 us for a
        # 2 KB message), and the copies it makes are small.
        return max(map(len, data.split(b"\r\n"))) > MAX_LINE
    return _LONG_LINE.search(data) is not None


def fold_long_lines(data: bytes) -> bytes:
    """`data` (CRLF line endings) with every line longer than `MAX_LINE`
    broken into lines that are not.

    A line is broken before its last space or tab that leaves a piece of at
    least half the limit: in a header that is folding (RFC 5322 2.2.3, the
    header unfolds to what it was), in text a line break where a word
    ends.  A line with no such place (a long URL, an unbroken run of
    characters) is broken at the limit (before a UTF-8 character, not
    inside one) and its rest indented with one space, as Postfix does: a header then unfolds with one space more, text
    shows a break.  A continuation never starts with "." (no dot-stuffing
    is needed there), and base64 and quoted-printable parts, whose lines
    are 76 characters, are never touched."""
    if not has_long_line(data):
        return data
    lines: list[bytes] = []
    for line in data.split(b"\r\n"):
        while len(line) > MAX_LINE:
            cut = max(line.rfind(b" ", MAX_LINE // 2, MAX_LINE + 1),
                      line.rfind(b"\t", MAX_LINE // 2, MAX_LINE + 1))
            if cut > 0:
                lines.append(line[:cut])
                line = line[cut:]  # starts with the space or tab
            else:
                cut = MAX_LINE
                while line[cut] & 0xC0 == 0x80 and cut > MAX_LINE - 4:
                    cut -= 1  # not inside a UTF-8 character (8BITMIME text)
                lines.append(line[:cut])
                line = b" " + line[cut:]
        lines.append(line)
    return b"\r\n".join(lines)
