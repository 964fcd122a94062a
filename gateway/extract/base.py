"""The extractor contract, the bounded context every extractor runs in, and the registry.

An `Extractor` turns the bytes of one format into `ExtractedText` pieces.  It
may raise `ExtractionError` (or `ExtractionLimit` for a bound) for content it
cannot read; the registry turns every failure, expected or not, into a
`Problem` so no exception ever leaves the stage.  Extractors that contain other
files (ZIP, TNEF, attached messages, PDF attachments) hand each member back to
`ExtractContext.nested`, which detects its format and runs the right extractor
one level deeper, under the same time and size budget.

The registry is built explicitly (see `gateway.extract.registry`): nothing
registers itself on import, and registering anything that is not an
`Extractor` raises `TypeError`.
"""

from __future__ import annotations

import codecs
import re
import sys
import time
import unicodedata
from abc import ABC, abstractmethod
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import ClassVar

from gateway.errors import ContentError, LimitExceeded
from gateway.extract.detect import (
    ENCRYPTED,
    NOT_READ,
    TEXT_FORMATS,
    WIDE_BOMS,
    detect_format,
    wide_codec,
)
from gateway.model import Problem
from gateway.parse.limits import ContentLimits

# Characters used to split a number or word without any visible effect.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"), None)
_SPACES = dict.fromkeys(map(ord, "\u00a0\u2007\u202f\u2009\u200a\u3000"), " ")
_TEXT_TABLE: dict[int, str | None] = {**_INVISIBLE, **_SPACES}


def normalise_text(text: str) -> str:
    """Drop zero-width characters and turn no-break spaces into spaces."""
    if text.isascii():
        return text
    return text.translate(_TEXT_TABLE)


@cache
def _format_characters() -> re.Pattern[str]:
    """Runs of Unicode's format characters (category Cf): the zero-width
    space, joiners and non-joiner, the word joiner, the soft hyphen, the
    byte order mark, the direction marks and overrides, the tag characters.
    Listed from the Unicode database once, when first needed (about 0.1 s)."""
    ranges: list[str] = []
    start = previous = -2
    for code in range(0x80, sys.maxunicode + 1):
        if unicodedata.category(chr(code)) != "Cf":
            continue
        if code != previous + 1:
            if start >= 0:
                ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(previous))}")
            start = code
        previous = code
    ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(previous))}")
    return re.compile(f"[{''.join(ranges)}]+")


class SeenText:
    """Text as a reader sees it, mapped back to where it is written.

    Every format character (`_format_characters`: a zero-width space, a
    soft hyphen, a byte order mark...) is dropped and the no-break spaces
    read as spaces: "V\u200bq\u200b7" reads "Vq7", as the sender's reader
    shows it and as the inspect stage read it (`normalise_text` drops the
    usual ones; these are all of them, so that what is looked for in the
    text is found however it was written).  `source` says which characters
    of the written text made a piece of `text`, the format characters
    between them included, so that a password found can be taken out whole.
    """

    __slots__ = ("_seen_at", "_written_at", "text")

    def __init__(self, written: str) -> None:
        # Where each run of kept characters starts, in `text` and in `written`.
        self._seen_at = [0]
        self._written_at = [0]
        if written.isascii():
            self.text = written
            return
        pieces: list[str] = []
        position = size = 0
        for run in _format_characters().finditer(written):
            pieces.append(written[position:run.start()])
            size += run.start() - position
            position = run.end()
            self._seen_at.append(size)
            self._written_at.append(position)
        pieces.append(written[position:])
        self.text = "".join(pieces).translate(_SPACES)

    def _written(self, at: int) -> int:
        run = bisect_right(self._seen_at, at) - 1
        return self._written_at[run] + at - self._seen_at[run]

    def source(self, start: int, end: int) -> tuple[int, int]:
        """The span of the written text that reads as `text[start:end]`."""
        if end <= start:
            at = self._written(start)
            return at, at
        return self._written(start), self._written(end - 1) + 1


def seen_text(text: str) -> str:
    """`text` as a reader sees it (`SeenText`)."""
    return SeenText(text).text


def name_as_words(name: str) -> str:
    """A file name as detection reads it: underscores as the spaces they
    stand for ("Jack_Jones_4857773457.pdf", as scanners and case systems
    name files).  A word character, an underscore hides a number's and a
    name's edges from every pattern.  Same length, so findings' offsets
    are the name's own."""
    return name.replace("_", " ")


# The Problem code of a message whose extracted text is over its budget.
TEXT_TOO_LARGE = "text_too_large"


class ExtractionError(ContentError):
    """Content of a known format that cannot be read; `code` names why."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


class ExtractionLimit(LimitExceeded):
    """A bound was hit while extracting (size, ratio, entries, depth, time)."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


@dataclass(frozen=True, slots=True)
class ExtractedText:
    """Text from one file, or from one member of a container (`member` is its path)."""

    text: str
    member: str | None = None


@dataclass(slots=True)
class Budget:
    """Counters shared by everything extracted from one message."""

    archive_bytes: int = 0
    # Characters of text extracted, each counted once however deeply its
    # member was nested (`ExtractorRegistry.run`).
    text_chars: int = 0


@dataclass(slots=True)
class ExtractContext:
    """Bounds for one extraction (one attachment and all it contains)."""

    limits: ContentLimits
    registry: ExtractorRegistry
    deadline: float
    part_path: str
    problems: list[Problem] = field(default_factory=list)
    budget: Budget = field(default_factory=Budget)
    depth: int = 0
    member: str | None = None
    charset: str | None = None  # declared charset of the top-level part, if any

    @classmethod
    def start(
        cls,
        limits: ContentLimits,
        registry: ExtractorRegistry,
        part_path: str,
        *,
        deadline: float | None = None,
        budget: Budget | None = None,
        charset: str | None = None,
    ) -> ExtractContext:
        own = time.monotonic() + limits.extract_timeout_s
        return cls(
            limits=limits,
            registry=registry,
            deadline=own if deadline is None else min(own, deadline),
            part_path=part_path,
            budget=budget or Budget(),
            charset=charset,
        )

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise ExtractionLimit("timeout", "extraction took too long")

    def check_text(self) -> None:
        """Refuse to extract more once the message's text is over its
        budget (`ContentLimits.max_message_text_chars`): a zip of a few
        kilobytes can expand to more text than detection could read in its
        time, and what is not read is never clean."""
        if self.budget.text_chars > self.limits.max_message_text_chars:
            raise ExtractionLimit(
                TEXT_TOO_LARGE,
                f"message text over {self.limits.max_message_text_chars} characters",
            )

    def problem(self, code: str, detail: str = "") -> None:
        where = f"{self.member}: {detail}" if self.member and detail else (self.member or detail)
        self.problems.append(Problem(self.part_path, code, where))

    def hidden(self, detail: str) -> None:
        """Encrypted content found inside an attachment: unreadable, so not clean.

        At the top level the inspect stage reports the attachment's encryption
        and tries passwords; deeper down nobody else will, so it is a problem.
        """
        if self.depth > 0:
            self.problem("encrypted_content", detail)

    def child(self, member: str, charset: str | None = None) -> ExtractContext:
        inner = f"{self.member}/{member}" if self.member else member
        return ExtractContext(
            limits=self.limits,
            registry=self.registry,
            deadline=self.deadline,
            part_path=self.part_path,
            problems=self.problems,
            budget=self.budget,
            depth=self.depth + 1,
            member=inner,
            charset=charset,
        )

    def nested(self, data: bytes, member: str, charset: str | None = None) -> list[ExtractedText]:
        """Extract a member of a container, one level deeper, member paths prefixed."""
        if self.depth + 1 > self.limits.max_archive_depth:
            self.problem(
                "too_deep", f"containers nested deeper than {self.limits.max_archive_depth}"
            )
            return []
        inner = self.child(member, charset)
        results = self.registry.extract(data, inner)
        return [
            ExtractedText(r.text, f"{member}/{r.member}" if r.member else member) for r in results
        ]


def _without_wide(data: bytes) -> bytes:
    """UTF-32 or UTF-16 text without a byte order mark as UTF-8 with one
    (which the text readers honour); other data as it is.  Ordinary text
    has no zero byte in its first few kilobytes, so costs one `in` test."""
    if b"\x00" not in data[:4096] or data.startswith(tuple(bom for bom, _ in WIDE_BOMS)):
        return data
    codec = wide_codec(data[:4096])
    if codec is None:
        return data
    width = 4 if codec.startswith("utf-32") else 2
    text = data[: len(data) - len(data) % width].decode(codec, errors="replace")
    return codecs.BOM_UTF8 + text.encode()


class TextCollector:
    """Accumulates text up to the per-extractor character budget."""

    __slots__ = ("_chunks", "_limit", "_size", "truncated")

    def __init__(self, limit: int) -> None:
        self._chunks: list[str] = []
        self._size = 0
        self._limit = limit
        self.truncated = False

    def add(self, text: str) -> bool:
        """Append `text`; False once the budget is spent (the rest is dropped)."""
        if self.truncated:
            return False
        room = self._limit - self._size
        if len(text) > room:
            self._chunks.append(text[:room])
            self._size = self._limit
            self.truncated = True
            return False
        self._chunks.append(text)
        self._size += len(text)
        return True

    def text(self) -> str:
        return "".join(self._chunks)


def finish(collector: TextCollector, ctx: ExtractContext) -> str:
    """The collected text; a truncation is recorded as a problem (fail closed)."""
    if collector.truncated:
        ctx.problem("too_large", f"text over {ctx.limits.max_text_chars} characters")
    return normalise_text(collector.text())


class Extractor(ABC):
    """Text out of one file format.  Subclasses set `name` and `content_type`."""

    name: ClassVar[str]
    content_type: ClassVar[str]

    @abstractmethod
    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        """The text in `data`; raise `ExtractionError`/`ExtractionLimit` when unreadable."""


class ExtractorRegistry:
    """Format name -> extractor, and the guarded call that runs one."""

    def __init__(self, extractors: Iterable[Extractor] = ()) -> None:
        self._by_name: dict[str, Extractor] = {}
        for extractor in extractors:
            self.register(extractor)

    def register(self, extractor: Extractor) -> None:
        if not isinstance(extractor, Extractor):
            raise TypeError(f"not an Extractor: {type(extractor).__name__}")
        if extractor.name in self._by_name:
            raise ValueError(f"an extractor for {extractor.name!r} is already registered")
        self._by_name[extractor.name] = extractor

    def get(self, name: str) -> Extractor | None:
        return self._by_name.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def extract(
        self, data: bytes, ctx: ExtractContext, fmt: str | None = None
    ) -> list[ExtractedText]:
        """Detect the format (unless given) and extract; failures become Problems.

        A format with no extractor is content the gateway cannot read, so a
        Problem (fail closed), unless it is media it deliberately does not
        read or encryption (reported by the inspect stage at the top level).
        """
        fmt = fmt or detect_format(data)
        extractor = self._by_name.get(fmt)
        if extractor is None:
            if fmt in ENCRYPTED:
                ctx.hidden(f"{fmt} encrypted content")
            elif fmt not in NOT_READ:
                ctx.problem("unsupported_format", f"{fmt} content the gateway cannot read")
            return []
        if fmt in TEXT_FORMATS:
            data = _without_wide(data)
        return self.run(extractor, data, ctx)

    @staticmethod
    def run(extractor: Extractor, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        try:
            ctx.check_time()
            ctx.check_text()
            before = ctx.budget.text_chars
            texts = extractor.extract(data, ctx)
            # A container's text holds its members' (counted as they were
            # extracted, one level deeper): only what it adds is counted.
            produced = sum(len(t.text) for t in texts)
            ctx.budget.text_chars = before + max(produced, ctx.budget.text_chars - before)
            ctx.check_text()
            return texts
        except (ExtractionLimit, ExtractionError) as exc:
            ctx.problem(exc.code, exc.detail)
        except RecursionError:
            ctx.problem("too_deep", f"{extractor.name} structure nested too deeply")
        except MemoryError:
            ctx.problem("too_large", f"{extractor.name} content too large to hold")
        except Exception as exc:  # a third-party parser failing on hostile input
            ctx.problem("extract_failed", f"{extractor.name}: {type(exc).__name__}")
        return []
