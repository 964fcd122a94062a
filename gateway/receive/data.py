"""DATA content as it streams in: checked, dot-unstuffed, kept in memory or
spooled to a temporary file.

The SMTP server reads DATA in chunks (see `GatewaySMTP._read_data`) and
feeds each raw chunk -- transparency dots still in, terminator excluded -- to
a `DataCollector`, which

- counts CR, LF and CRLF (a CR ending one chunk and an LF starting the next
  is a CRLF) and looks for NUL, so bare line endings are refused however the
  message was cut;
- removes the transparency dot of every line (RFC 5321 4.5.2), also when
  the line's CRLF ended the previous chunk;
- enforces the size limit (past it, content is dropped but the size and the
  line-ending state are still followed, so the reader can drain to the real
  terminator and answer 552);
- keeps the content in memory up to `spool_threshold` bytes, and beyond that
  writes it to an anonymous temporary file (unlinked at creation: nothing is
  left behind, not even after a crash) under `spool_dir`.

`result()` gives `bytes` for a small message and a `SpooledBody` for a large
one; whoever takes a `SpooledBody` closes it (the file goes with it).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["SPOOL_THRESHOLD", "DataCollector", "MessageContent", "SpooledBody"]

# Content above this size is spooled to a temporary file as it arrives.
SPOOL_THRESHOLD = 1024 * 1024

_CR = 13
_LF = 10
_DOT = 46

# The collector's line-ending state: what the raw stream so far ends with.
_AT_LINE_START = 2  # CRLF (or nothing yet: DATA content starts on a line)
_AFTER_CR = 1
_MID_LINE = 0


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
        "_cr", "_crlf", "_file", "_held", "_lf", "_nul", "_parts", "max_size",
        "oversize", "size", "spool_dir", "spool_error", "spool_threshold", "tail",
    )

    def __init__(self, max_size: int, spool_threshold: int, spool_dir: str | None = None) -> None:
        self.max_size = max_size
        self.spool_threshold = spool_threshold
        self.spool_dir = spool_dir or None
        self.size = 0  # raw bytes fed (before unstuffing)
        self.tail = _AT_LINE_START
        self.oversize = False
        self.spool_error: OSError | None = None
        self._cr = 0
        self._lf = 0
        self._crlf = 0
        self._nul = False
        self._parts: list[bytes] = []
        self._held = 0  # content bytes kept (after unstuffing)
        self._file: BinaryIO | None = None

    @property
    def ends_with_cr(self) -> bool:
        """Did the raw data fed so far end with a CR?"""
        return self.tail == _AFTER_CR

    @property
    def bare_line_ending(self) -> bool:
        """A bare CR or LF, or a NUL, anywhere in what was fed."""
        return self._nul or self._cr != self._lf or self._crlf != self._lf

    def feed(self, chunk: bytes) -> None:
        n = len(chunk)
        if not n:
            return
        tail = self.tail
        self.size += n
        if n >= 2:
            last = chunk[-1]
            self.tail = (
                (_AT_LINE_START if chunk[-2] == _CR else _MID_LINE) if last == _LF
                else _AFTER_CR if last == _CR else _MID_LINE
            )
        else:
            only = chunk[0]
            self.tail = (
                _AFTER_CR if only == _CR
                else _AT_LINE_START if only == _LF and tail == _AFTER_CR
                else _MID_LINE
            )
        if self.oversize:
            return
        if self.size > self.max_size:
            self.oversize = True
            self._discard()
            return
        self._cr += chunk.count(b"\r")
        self._lf += chunk.count(b"\n")
        self._crlf += chunk.count(b"\r\n")
        if tail == _AFTER_CR and chunk[0] == _LF:
            self._crlf += 1  # the CRLF spans the two chunks
        if not self._nul and b"\x00" in chunk:
            self._nul = True
        # Dot-unstuffing: the dot starting a line whose CRLF (or part of it)
        # ended the previous chunk, then every CRLF "." inside this one.
        content = chunk
        if tail == _AT_LINE_START:
            if chunk[0] == _DOT:
                content = chunk[1:]
        elif tail == _AFTER_CR and n >= 2 and chunk[0] == _LF and chunk[1] == _DOT:
            content = b"\n" + chunk[2:]
        if b"\r\n." in content:
            content = content.replace(b"\r\n.", b"\r\n")
        self._keep(content)

    def _keep(self, content: bytes) -> None:
        if self.spool_error is not None or not content:
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
