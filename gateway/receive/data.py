"""DATA content as it streams in: read to its terminator, dot-unstuffed,
checked, kept in memory or spooled to a temporary file.

`read_data` reads the stream the SMTP server hands it.  Between line starts
it searches for CRLF "." with RE2 (one pass over the bytes finds both the
terminator and every transparency dot, RFC 5321 4.5.2), feeds what comes
before to a `DataCollector`, and looks at the byte or two after the dot,
one at a time (a stream cannot be peeked): CRLF ends the content, anything
else continues a line whose stuffing dot is dropped.  Only CRLF "." CRLF
ends DATA; what follows it (pipelined commands) stays in the stream.

The `DataCollector`

- checks the line endings: every CR and LF must belong to a CRLF (a CR
  ending one chunk and an LF starting the next is one) and there is no NUL,
  so a bare CR or LF (SMTP smuggling) is found however the message was cut:
  content going to the spool file chunk by chunk as it arrives, content
  kept in memory once, whole, at the end (`settle`; from 256 KB in a worker
  thread, by a search that lets go of the GIL);
- enforces the size limit (past it, content is dropped but the size is
  still followed, so the reader can go on to the real terminator and the
  answer is 552);
- keeps the content in memory up to `spool_threshold` bytes, and beyond that
  writes it to an anonymous temporary file (unlinked at creation: nothing is
  left behind, not even after a crash) under `spool_dir`.

Nothing the collector does raises out of the reading loop: whatever fails
while the content is kept (the spool's disk full, its folder gone, a
buffered file whose close flushes and fails again, anything else) is kept
in `error`, the content is dropped and its size still followed, so the
reader goes on to the real terminator and the answer is 451.  An exception
out of `feed` would leave the rest of DATA in the stream, read as commands
(SMTP smuggling).

`result()` gives `bytes` for a small message and a `SpooledBody` for a large
one, None when it could not be kept; whoever takes a `SpooledBody` closes it
(the file goes with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from gateway.wire import (
    CR,
    DOT_LINE,
    LF,
    LF_DOT,
    UNLOCKED_FROM,
    bare_cr,
    line_endings,
    line_endings_clean_unlocked,
    pairs_only,
)

__all__ = ["SPOOL_THRESHOLD", "DataCollector", "MessageContent", "SpooledBody", "read_data"]

# Content above this size is spooled to a temporary file as it arrives.
SPOOL_THRESHOLD = 1024 * 1024



@dataclass(frozen=True, eq=False)
class SpooledBody:
    """A received message's content in a temporary file (already unlinked)."""

    file: BinaryIO
    size: int

    def read(self) -> bytes:
        """The whole content, in one read (blocking: call it in a thread)."""
        self.file.seek(0)
        data = self.file.read(self.size)
        if len(data) != self.size:
            raise OSError(f"spool file gave {len(data)} of {self.size} bytes")
        return data

    def close(self) -> None:
        # Nothing is left to lose: the content was read or is not wanted,
        # and the descriptor is let go even when the close fails.
        with contextlib.suppress(OSError):
            self.file.close()

    def __len__(self) -> int:
        return self.size


# What the SMTP layer hands the acceptor.
MessageContent = bytes | SpooledBody


class DataCollector:
    """One DATA transfer's content and checks; see the module docstring."""

    __slots__ = (
        "_bad", "_checked", "_cr_pending", "_file", "_held", "_parts", "_read_ahead", "ahead",
        "error", "max_size", "oversize", "size", "spool_dir", "spool_threshold",
    )

    def __init__(
        self,
        max_size: int,
        spool_threshold: int,
        spool_dir: str | None = None,
        read_ahead: Callable[[bytes], object] | None = None,
    ) -> None:
        self.max_size = max_size
        # Run on clean content checked in a worker thread, in that thread;
        # its result is `ahead` (see `settle`).
        self._read_ahead = read_ahead
        self.ahead: object = None
        self.spool_threshold = spool_threshold
        self.spool_dir = spool_dir or None
        self.size = 0  # content bytes fed (after unstuffing)
        self.oversize = False
        # What failed while the content was kept (see the module docstring).
        self.error: Exception | None = None
        self._bad = False  # a bare CR or LF, or a NUL, seen
        self._cr_pending = False  # the content so far ends with a CR
        self._parts: list[bytes] = []
        self._checked = 0  # how many of `_parts` had their line endings checked
        self._held = 0  # content bytes kept
        self._file: BinaryIO | None = None

    @property
    def bare_line_ending(self) -> bool:
        """A bare CR or LF, or a NUL, anywhere in what was fed."""
        try:
            self._check_held()
        except Exception as exc:
            self._fail(exc)
        return self._bad or self._cr_pending

    async def settle(self) -> None:
        """Check the line endings of the content held unchecked in memory.

        A message that stays in memory is checked once, whole, when its
        transfer ends rather than chunk by chunk; from `UNLOCKED_FROM` bytes
        by the search that lets go of the GIL, in a worker thread, so the
        event loop serves other connections meanwhile.  There, once the
        content is found clean, `read_ahead` runs on it too (the acceptor's
        own first reading, which would otherwise cost the event loop a
        thread hop of its own, or its time); its result is `ahead`, None
        when it raised.  It does not raise either: a failure is `error`.
        """
        try:
            await self._settle()
        except Exception as exc:
            self._fail(exc)

    async def _settle(self) -> None:
        if self._bad or self._checked == len(self._parts):
            return
        if self._checked == 0 and self._held >= UNLOCKED_FROM:
            content = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
            self._parts, self._checked = [content], 1
            clean, self.ahead = await asyncio.to_thread(self._check_whole, content)
            self._bad = not clean
            return
        self._check_held()

    def _check_whole(self, content: bytes) -> tuple[bool, object]:
        """(line endings clean, what `read_ahead` made of the content); in a worker thread."""
        if not line_endings_clean_unlocked(content):
            return False, None
        if self._read_ahead is None:
            return True, None
        try:
            return True, self._read_ahead(content)
        except Exception:  # only a head start: the acceptor reads it itself
            return True, None

    def feed(self, chunk: bytes) -> None:
        """Take the next piece of content; never raises (see `error`)."""
        if not chunk:
            return
        self.size += len(chunk)
        if self.oversize:
            return
        try:
            self._take(chunk)
        except Exception as exc:
            self._fail(exc)

    def _take(self, chunk: bytes) -> None:
        if self.size > self.max_size:
            self.oversize = True
            self._discard()
            return
        if (
            self._file is None
            and self.error is None
            and self._held + len(chunk) <= self.spool_threshold
        ):
            # Kept in memory: checked at the end (`settle`), or before it
            # goes to a spool file should the message grow past the threshold.
            self._parts.append(chunk)
            self._held += len(chunk)
            return
        self._check_held()
        if not self._bad:
            self._check_line_endings(chunk)
        self._keep(chunk)

    def _check_held(self) -> None:
        """Check, in order, the parts held in memory and not yet checked."""
        unchecked = self._parts[self._checked :]
        self._checked = len(self._parts)
        for part in unchecked:
            if self._bad:
                return
            self._check_line_endings(part)

    def _check_line_endings(self, chunk: bytes) -> None:
        """Every CR, LF and NUL must be part of a CRLF (see gateway.wire); a
        CR ending one chunk waits for an LF starting the next."""
        ends = line_endings(chunk)
        start = 0
        if self._cr_pending:
            if chunk[0] != LF:
                self._bad = True
                return
            start, ends = 1, ends[1:]
        # A CR ending the chunk is kept aside (its LF may start the next one);
        # one before it that is not followed by an LF is found by bare_cr.
        self._cr_pending = len(chunk) > start and chunk[-1] == CR
        if self._cr_pending:
            ends = ends[:-1]
        if ends and (not pairs_only(ends) or bare_cr(chunk, start)):
            self._bad = True

    def _keep(self, content: bytes) -> None:
        """Keep `content`, in memory or in the spool file; raises what fails."""
        if self.error is not None:
            return
        held = self._held + len(content)
        if self._file is None and held <= self.spool_threshold:
            self._parts.append(content)
            self._held = held
            return
        if self._file is None:
            # Closed by close()/SpooledBody.close(), not by a `with`.
            self._file = tempfile.TemporaryFile(dir=self.spool_dir)  # noqa: SIM115
            for part in self._parts:
                self._file.write(part)
            self._parts.clear()
            self._checked = 0
        self._file.write(content)
        self._held = held

    def _fail(self, exc: Exception) -> None:
        """Keeping the content failed (disk full, spool folder gone, ...):
        the first failure is `error`, the answer 451; nothing more is kept."""
        if self.error is None:
            self.error = exc
        self._discard()

    def result(self) -> MessageContent | None:
        """The content: bytes, or a `SpooledBody` the caller must close;
        None when it could not be kept (`error` says why).  Never raises."""
        if self.error is not None:
            return None
        try:
            if self._file is not None:
                # What is still buffered must reach the disk now: a spool
                # read back short would be a message cut short.
                self._file.flush()
                file, self._file = self._file, None
                return SpooledBody(file, self._held)
            parts, self._parts, self._checked = self._parts, [], 0
            if len(parts) == 1:
                return parts[0]
            return b"".join(parts)
        except Exception as exc:
            self._fail(exc)
            return None

    def close(self) -> None:
        """Drop whatever is held (the spool file included); never raises."""
        self._discard()

    def _discard(self) -> None:
        self._parts, self._checked = [], 0
        if self._file is not None:
            file, self._file = self._file, None
            # Closing flushes what is buffered, which fails again on a full
            # disk; the descriptor is let go all the same, and the content
            # is not wanted (dropped, refused or already failed).
            with contextlib.suppress(Exception):
                file.close()


# `read_data`'s states between reads.
_MID_LINE = 0  # search on for CRLF "."
_MID_LINE_AFTER_CR = 1  # the last byte read is a CR: search for LF "."
_LINE_START = 2  # the start of the content
_AFTER_DOT = 3  # just after a line's leading dot (dropped)
_AFTER_DOT_CR = 4  # a CR after a line's leading dot, not yet fed
# What each searching state looks for, and how long it is.
_SEPARATORS: dict[int, tuple[Any, int]] = {
    _MID_LINE: (DOT_LINE, 3),
    _MID_LINE_AFTER_CR: (LF_DOT, 2),
}


async def _read_until(reader: asyncio.StreamReader, separator: Any, seplen: int) -> bytes:
    """`reader.readuntil()` for a separator given as an RE2 pattern.

    The same contract, step for step (asyncio/streams.py, Python 3.11-3.13):
    the data up to and with the separator, taken out of the stream;
    LimitOverrunError with `consumed` when `limit` bytes hold no separator;
    IncompleteReadError at EOF.  Only the search differs: RE2's memchr finds
    CRLF "." in a 200 KB message about seven times faster than the
    `bytearray.find` readuntil uses, and without the GIL (gateway.wire).
    This leans on the StreamReader's own fields, as aiosmtpd does; the
    stream tests split DATA at every byte to hold it to readuntil's behaviour.
    """
    stream: Any = reader
    if stream._exception is not None:
        raise stream._exception
    offset = 0
    while True:
        buffer: bytearray = stream._buffer
        buflen = len(buffer)
        if buflen - offset >= seplen:
            found = separator.search(buffer, offset)
            if found is not None:
                start, end = found.start(), found.end()
                break
            offset = buflen + 1 - seplen
            if offset > stream._limit:
                raise asyncio.LimitOverrunError(
                    "Separator is not found, and chunk exceed the limit", offset)
        if stream._eof:
            partial = bytes(buffer)
            buffer.clear()
            raise asyncio.IncompleteReadError(partial, None)
        await stream._wait_for_data("readuntil")
    if start > stream._limit:
        raise asyncio.LimitOverrunError("Separator is found, but chunk is longer than limit", start)
    with memoryview(buffer) as view:
        data = bytes(view[:end])
    del buffer[:end]
    stream._maybe_resume_transport()
    return data


async def read_data(
    reader: asyncio.StreamReader,
    collector: DataCollector,
    chunk: int,
    progress: Callable[[], None],
) -> None:
    """Read DATA content up to and including CRLF "." CRLF into `collector`.

    The content starts on a line.  `reader`'s limit is at most `chunk`: a
    search that overruns feeds the part that cannot hold the start of a
    separator and goes on.  `progress` is called after each `chunk` bytes.
    A bare CR or LF, a NUL or too much content is the collector's to report
    afterwards; the reading always goes on to the real terminator, so
    nothing of the message is ever taken as a command.

    Bytes are read one at a time only at the start and after a line's
    leading dot, never in a loop: when a CR has been read on its own (it may
    be the start of a CRLF "."), the next search is for LF "." and looks at
    the byte before it.
    """
    state = _LINE_START
    held = b""  # bytes read one at a time, fed with the next chunk
    since_progress = 0
    while True:
        if state <= _MID_LINE_AFTER_CR:
            try:
                data = await _read_until(reader, *_SEPARATORS[state])
            except asyncio.LimitOverrunError as exc:
                # What stays in the stream can hold the start of a separator;
                # what is taken ends with a CR only if that CR may begin one.
                data = await reader.readexactly(exc.consumed)
                dot = False
            else:
                # A dot starts a line when CRLF comes before it: always for
                # CRLF "."; for LF "." when the byte before the LF is a CR,
                # which is the CR read before this search if nothing else is.
                dot = state == _MID_LINE or len(data) == 2 or data[-3] == CR
            cut = len(data) - 1 if dot else len(data)
            collector.feed(b"".join((held, memoryview(data)[:cut])) if held else data[:cut])
            held = b""
            if dot:
                state = _AFTER_DOT
            elif state == _MID_LINE_AFTER_CR and data[-1] != CR:
                state = _MID_LINE
            since_progress += len(data)
            if since_progress >= chunk:
                since_progress = 0
                progress()
            continue
        byte = await reader.readexactly(1)
        if state == _AFTER_DOT_CR:
            if byte == b"\n":
                collector.feed(held)
                await collector.settle()
                return
            # ".", CR, then not LF: a bare CR (refused); go on to the end.
            held = b"\r" + byte
            state = _MID_LINE_AFTER_CR if byte == b"\r" else _MID_LINE
        elif byte == b"\r":
            if state == _AFTER_DOT:
                state = _AFTER_DOT_CR
            else:
                held = byte
                state = _MID_LINE_AFTER_CR
        elif byte == b"." and state == _LINE_START:
            state = _AFTER_DOT
        else:
            held = byte
            state = _MID_LINE


# A Received field's name at the start of a header line, in any case.
_RECEIVED = re.compile(rb"^received[ \t]*:", re.IGNORECASE | re.MULTILINE)
# How far the header is looked for: a header longer than this is not mail
# any program wrote, and its Received fields past it are not counted.
_HEADER_SEARCH = 1 << 20


def received_count(content: bytes) -> int:
    """How many Received fields the message's header has: the hops it made
    (RFC 5321 6.3's loop detection).  Only the header is read: the body may
    quote a forwarded message's own."""
    end = content.find(b"\r\n\r\n", 0, _HEADER_SEARCH)
    head = content[: end if end >= 0 else _HEADER_SEARCH]
    return len(_RECEIVED.findall(head))
