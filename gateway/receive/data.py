"""DATA content as it streams in: read to its terminator, dot-unstuffed,
checked, kept in memory or spooled to a temporary file.

`read_data` reads the stream the SMTP server hands it.  Between line starts
it searches for CRLF "." (one pass over the bytes finds both the
terminator and every transparency dot, RFC 5321 4.5.2), feeds what comes
before to a `DataCollector`, and looks at the byte or two after the dot,
one at a time (a stream cannot be peeked): CRLF ends the content, anything
else continues a line whose stuffing dot is dropped.  Only CRLF "." CRLF
ends DATA; what follows it (pipelined commands) stays in the stream.

The `DataCollector`

- checks the line endings: every CR and LF must belong to a CRLF (a CR
  ending one chunk and an LF starting the next is one) and there is no NUL,
  so a bare CR or LF (SMTP smuggling) is found however the message was cut;
- enforces the size limit (past it, content is dropped but the size is
  still followed, so the reader can go on to the real terminator and the
  answer is 552);
- keeps the content in memory up to `spool_threshold` bytes, and beyond that
  writes it to an anonymous temporary file (unlinked at creation: nothing is
  left behind, not even after a crash) under `spool_dir`.

`result()` gives `bytes` for a small message and a `SpooledBody` for a large
one; whoever takes a `SpooledBody` closes it (the file goes with it).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["SPOOL_THRESHOLD", "DataCollector", "MessageContent", "SpooledBody", "read_data"]

# Content above this size is spooled to a temporary file as it arrives.
SPOOL_THRESHOLD = 1024 * 1024

_CR = 13
_LF = 10

# Every byte but CR, LF and NUL: what `translate` deletes to leave the bytes
# whose pairing decides whether a chunk's line endings are all CRLF.
_NOT_LINE_ENDING = bytes(b for b in range(256) if b not in (0, _CR, _LF))


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
        self.file.close()

    def __len__(self) -> int:
        return self.size


# What the SMTP layer hands the acceptor.
MessageContent = bytes | SpooledBody


class DataCollector:
    """One DATA transfer's content and checks; see the module docstring."""

    __slots__ = (
        "_bad", "_cr_pending", "_file", "_held", "_parts", "max_size", "oversize",
        "size", "spool_dir", "spool_error", "spool_threshold",
    )

    def __init__(self, max_size: int, spool_threshold: int, spool_dir: str | None = None) -> None:
        self.max_size = max_size
        self.spool_threshold = spool_threshold
        self.spool_dir = spool_dir or None
        self.size = 0  # content bytes fed (after unstuffing)
        self.oversize = False
        self.spool_error: OSError | None = None
        self._bad = False  # a bare CR or LF, or a NUL, seen
        self._cr_pending = False  # the content so far ends with a CR
        self._parts: list[bytes] = []
        self._held = 0  # content bytes kept
        self._file: BinaryIO | None = None

    @property
    def bare_line_ending(self) -> bool:
        """A bare CR or LF, or a NUL, anywhere in what was fed."""
        return self._bad or self._cr_pending

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.size += len(chunk)
        if self.oversize:
            return
        if self.size > self.max_size:
            self.oversize = True
            self._discard()
            return
        if not self._bad:
            # Every CR, LF and NUL must be part of a CRLF: their number is
            # twice the number of CRLFs (a CR ending the chunk waits for an
            # LF starting the next).  Two passes: `translate` picks the three
            # bytes out, `count` finds the CRLFs.
            ends = len(chunk.translate(None, _NOT_LINE_ENDING))
            pending = self._cr_pending
            self._cr_pending = chunk[-1] == _CR
            if ends or pending:
                pairs = (chunk.count(b"\r\n") if ends else 0) + (pending and chunk[0] == _LF)
                if ends + pending - self._cr_pending != 2 * pairs:
                    self._bad = True
        self._keep(chunk)

    def _keep(self, content: bytes) -> None:
        if self.spool_error is not None:
            return
        held = self._held + len(content)
        if self._file is None and held <= self.spool_threshold:
            self._parts.append(content)
            self._held = held
            return
        try:
            if self._file is None:
                # Closed by close()/SpooledBody.close(), not by a `with`.
                self._file = tempfile.TemporaryFile(dir=self.spool_dir)  # noqa: SIM115
                for part in self._parts:
                    self._file.write(part)
                self._parts.clear()
            self._file.write(content)
        except OSError as exc:  # disk full, spool folder gone: answer 451
            self.spool_error = exc
            self._discard()
            return
        self._held = held

    def result(self) -> MessageContent:
        """The content: bytes, or a `SpooledBody` the caller must close."""
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.flush()
            except OSError:
                file.close()
                raise
            return SpooledBody(file, self._held)
        parts, self._parts = self._parts, []
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)

    def close(self) -> None:
        """Drop whatever is held (the spool file included)."""
        self._discard()

    def _discard(self) -> None:
        self._parts = []
        if self._file is not None:
            file, self._file = self._file, None
            file.close()


# `read_data`'s states between reads.
_MID_LINE = 0  # search on for CRLF "."
_MID_LINE_AFTER_CR = 1  # the last byte read is a CR: search for LF "."
_LINE_START = 2  # the start of the content
_AFTER_DOT = 3  # just after a line's leading dot (dropped)
_AFTER_DOT_CR = 4  # a CR after a line's leading dot, not yet fed
_SEPARATORS = {_MID_LINE: b"\r\n.", _MID_LINE_AFTER_CR: b"\n."}


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
                data = await reader.readuntil(_SEPARATORS[state])
            except asyncio.LimitOverrunError as exc:
                # What stays in the stream can hold the start of a separator;
                # what is taken ends with a CR only if that CR may begin one.
                data = await reader.readexactly(exc.consumed)
                dot = False
            else:
                # A dot starts a line when CRLF comes before it: always for
                # CRLF "."; for LF "." when the byte before the LF is a CR,
                # which is the CR read before this search if nothing else is.
                dot = state == _MID_LINE or len(data) == 2 or data[-3] == _CR
            cut = len(data) - 1 if dot else len(data)
            collector.feed(b"".join((held, memoryview(data)[:cut])) if held else data[:cut])
            held = b""
            if dot:
                state = _AFTER_DOT
            elif state == _MID_LINE_AFTER_CR and data[-1] != _CR:
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
