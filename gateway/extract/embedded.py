"""Files written out as text inside a text: uuencode, yEnc, base64 blocks and
`data:` URIs.

A file need not be attached to travel: a sender can paste it into the text
as uuencode (`begin 644 name` ... `end`, or `begin-base64` ... `====`), as
yEnc (`=ybegin ... name=x` ... `=yend`), as a block of base64 lines copied
from somewhere, or as a `data:` URI (`data:text/plain;base64,...`, or
percent-encoded) in the text or in an HTML attribute.  Whoever receives it
decodes it in one step, so it is a file in clear like any attachment.

Flow: one `EmbeddedFiles` is made per extraction of a text (all its
readings).  `in_text` reads a text's lines once, only when a marker of one
of these encodings is in them at all (ordinary mail costs a split into
lines and one search; the markers see the lines whatever ends them, CRLF
as received over SMTP or LF as saved to a file);
`in_bytes` looks for yEnc, which is 8-bit and so is read from the bytes
before any charset.  Each file decoded goes to `ctx.nested`, which detects
its format and reads it as an attachment is read, one level deeper; a file
found again (in another reading of the same text, or in both the text and
an attribute of an HTML page) is read once.

What is a problem and what is not:
- A block that names itself a file (uuencode's `begin`, yEnc's `=ybegin`, a
  `data:...;base64,` URI) and does not decode, or stops before its end, is a
  problem (`malformed_document`): a recipient's decoder recovers most of a
  damaged file, so the gateway cannot call it clean.
- A run of base64-alphabet lines is only a guess: it must be at least
  `_MIN_BLOCK` characters of lines of one width (as encoders wrap them), and
  is never a problem.  It is decoded leniently, and kept only when the
  bytes are a file the gateway recognises: a signature, a key, a DKIM value
  or random text decodes to bytes of no known format, which a recipient
  cannot read either.  Hexadecimal (hashes) is not base64 and is skipped.
- Counts and sizes share the message's archive bounds: at most
  `max_archive_entries` files per text, and their bytes count towards
  `max_archive_total` with the archives'; past either, a `too_large`
  problem and no more decoding.

`decode_base64` and `BASE64_DATA_URI` are shared with the iCalendar and
vCard reader (gateway.extract.calendar).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import re
import zlib
from array import array
from collections.abc import Iterator, Sequence
from typing import overload
from urllib.parse import unquote_to_bytes

from gateway.extract.base import ExtractContext, ExtractedText, ExtractionError
from gateway.extract.detect import BINARY, detect_format

# The start of a `data:` URI whose value is base64, up to its comma.
BASE64_DATA_URI = re.compile(r"data:[^,;]*(?:;[^,;]*)*;base64,", re.IGNORECASE)
_WHITE = re.compile(r"\s+")


def decode_base64(value: str, what: str) -> bytes:
    """The bytes of a base64 value (white space ignored, padding optional);
    `ExtractionError` when it does not decode."""
    data = _WHITE.sub("", value)
    try:
        return base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ExtractionError("malformed_document", f"{what} in base64 that does not decode") from None


# -- what marks each encoding -----------------------------------------------------------

# A media type and parameters (`text/plain;charset=utf-8;base64`), then the
# data up to white space or what ends a URI in text, markup or CSS.
_DATA_URI = re.compile(
    r"(?<![\w+.-])data:((?:[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+)?(?:;[^,;\s\"'<>()]*)*),"
    r"([^\s\"'<>()]*)",
    re.IGNORECASE,
)
_TRAILING_PUNCTUATION = ".,;:!?]}"
_UU_BEGIN = re.compile(r"begin(-base64)? [0-7]{3,4} +(\S.*?)\s*")
# A line of base64 alone: quote marks of a reply and the spaces around it go.
_BASE64_LINE = re.compile(r"[ \t>]*([A-Za-z0-9+/]+)(={0,2})[ \t]*")
# What hexadecimal (a hash) has none of, of base64's characters.
_NOT_HEX = re.compile(r"[G-Zg-z+/=]")
# What makes a text worth reading line by line, each searched for on its
# own (one pattern of alternatives tries them all at every character).
# They are searched for in the lines joined by "\n" (`in_text`): `^` and
# `$` know no other line end, and mail received over SMTP has CRLF ones.
_UU_MARKER = re.compile(r"^begin(?:-base64)? [0-7]{3,4} ", re.MULTILINE)
_BASE64_MARKER = re.compile(r"^[ \t>]*[A-Za-z0-9+/]{16,}={0,2}[ \t]*\r?$", re.MULTILINE)
_DATA_MARKER = re.compile(r"data:", re.IGNORECASE)
# The line breaks of `str.splitlines` besides CR and LF.
_OTHER_BREAKS = re.compile("[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def _lf_or_crlf(text: str, end: int) -> bool:
    """Whether every line of `text` up to `end` ends in LF or CRLF (two
    counts and a search in C): the markers then read it as it is."""
    if text.find("\r", 0, end) >= 0 and text.count("\r", 0, end) != text.count("\r\n", 0, end):
        return False
    return _OTHER_BREAKS.search(text, 0, end) is None
_MIN_WIDTH = 16  # shorter lines are words, not wrapped base64
_MIN_BLOCK = 200  # characters of base64 before a run of lines is taken for a file
_MAX_NAME = 100
_YENC_BEGIN = re.compile(rb"^=ybegin (.*?)\r?$", re.MULTILINE)
_YENC_PART = re.compile(rb"=ypart (.*?)\r?\n")
_YENC_END = re.compile(rb"^=yend(.*?)\r?$", re.MULTILINE)
_YENC_PARAM = re.compile(rb"(\w+)=(\S+)")
_YENC_NAME = re.compile(rb"name=(.*)")
_YENC_TABLE = bytes((code - 42) % 256 for code in range(256))
_CHECK_TIME_EVERY = 10_000  # steps over the lines (a block is one)
_FONTS = (b"wOFF", b"wOF2", b"OTTO", b"\x00\x01\x00\x00", b"true")


_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=]+")
# Where `str.splitlines` breaks a text, and what it takes out.
_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


class _Lines(Sequence[str]):
    """`text[:end].splitlines()` without making every line a string up
    front: each is cut out when read.  A large body of base64 is hundreds
    of thousands of lines; as strings they would cost the process more
    than the text itself, for as long as the text is read.  Nor is the
    text cut at `end`: that would be a copy of up to the whole limit."""

    def __init__(self, text: str, end: int | None = None) -> None:
        end = len(text) if end is None else min(end, len(text))
        self.text = text
        self._starts = array("q", [0])
        self._ends = array("q")
        # As if the text stopped at `end`: a CR there ends a line even when
        # an LF follows past it, as in the text cut there.
        for brk in _BREAK.finditer(text, 0, end):
            self._ends.append(brk.start())
            self._starts.append(brk.end())
        if self._starts[-1] == end and len(self._starts) > 1:
            self._starts.pop()  # a last line break ends the last line
        elif end:
            self._ends.append(end)
        else:
            self._starts.pop()

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.text[self._starts[index]:self._ends[index]]

    def span(self, first: int, stop: int) -> str:
        """The text from line `first`'s start to line `stop - 1`'s end."""
        return self.text[self._starts[first]:self._ends[stop - 1]]

    def search(self, pattern: re.Pattern[str], first: int, stop: int) -> re.Match[str] | None:
        """`pattern.search(self.span(first, stop))` without cutting the span
        out, for a pattern that looks neither behind nor for `^`."""
        return pattern.search(self.text, self._starts[first], self._ends[stop - 1])


class EmbeddedFiles:
    """The files written out in one text's readings, each decoded and read once."""

    __slots__ = ("_count", "_ctx", "_full", "_seen")

    def __init__(self, ctx: ExtractContext) -> None:
        self._ctx = ctx
        self._seen: set[bytes] = set()
        self._count = 0
        self._full = False  # a bound was hit: nothing more is decoded

    # -- entry points ---------------------------------------------------------------

    def in_text(self, text: str) -> list[ExtractedText]:
        """The files written out in `text` as uuencode, base64 or data: URIs."""
        # Text past the limit is not read (and the reading says so, `finish`).
        # It is not cut off either: every search and line stops at `end`, as
        # in the text cut there, without a copy of up to the whole limit.
        end = self._ctx.limits.max_text_chars
        # The markers' `^` and `$` know LF, and CRLF (as received over SMTP)
        # through `\r?$`.  Any other line end (CR alone, or another of
        # `splitlines`'s breaks) is read as LF at the cost of a copy; most
        # text is not copied at all: a 25 MB body would be three times over
        # (its lines, and them joined), for each message at once.
        if not _worth_reading(text, end) and (
            _lf_or_crlf(text, end)
            or not _worth_reading("\n".join(text[:end].splitlines()), end)
        ):
            return []
        return list(self._scan(_Lines(text, end)))

    def in_bytes(self, data: bytes) -> list[ExtractedText]:
        """The yEnc files in `data`."""
        texts: list[ExtractedText] = []
        data = data[: self._ctx.limits.max_text_chars]
        if b"=ybegin " not in data:
            return texts
        position = 0
        while not self._full and (begin := _YENC_BEGIN.search(data, position)) is not None:
            texts.extend(self._yenc(data, begin))
            end = _YENC_END.search(data, begin.end())
            position = len(data) if end is None else end.end()
        return texts

    # -- reading the lines ------------------------------------------------------------

    def _scan(self, lines: _Lines) -> Iterator[ExtractedText]:
        ends: dict[str, list[int]] | None = None  # where blocks close, found once if needed
        at = 0
        steps = 0
        while at < len(lines) and not self._full:
            steps += 1
            if steps % _CHECK_TIME_EVERY == 0:
                self._ctx.check_time()
            line = lines[at]
            header = _UU_BEGIN.fullmatch(line) if line.startswith("begin") else None
            if header is not None:
                if ends is None:
                    ends = {"end": [], "====": []}
                    for index, text in enumerate(lines):
                        if (closing := text.strip()) in ends:
                            ends[closing].append(index)
                at, found = self._uuencoded(lines, at, header, ends)
                yield from found
                continue
            if _BASE64_LINE.fullmatch(line) is not None:
                at, found = self._base64_block(lines, at)
                yield from found
                continue
            if _DATA_MARKER.search(line) is None:
                at += 1
                continue
            at, found = self._data_uris(lines, at)
            yield from found

    def _uuencoded(
        self, lines: _Lines, at: int, header: re.Match[str], ends: dict[str, list[int]]
    ) -> tuple[int, list[ExtractedText]]:
        """The file of a uuencode block starting at `at`; the line after it."""
        as_base64 = header.group(1) is not None
        name = header.group(2)[:_MAX_NAME]
        closings = ends["====" if as_base64 else "end"]
        index = bisect.bisect_right(closings, at)
        end = closings[index] if index < len(closings) else None
        if end is None:
            # Cut short: the block is the encoded-looking lines that follow.
            stop = at + 1
            while stop < len(lines) and (
                not lines[stop] or _looks_uuencoded(lines[stop], as_base64)
            ):
                stop += 1
        else:
            stop = end
        body = [line for line in lines[at + 1 : stop] if line]
        if not body or not _starts_uuencoded(body[0], as_base64):
            return at + 1, []  # "begin 2023 with a new team" in prose: no block follows
        data, damaged = _uu_decode(body, as_base64)
        if damaged or end is None:
            # The header says a file follows: whatever stops it decoding, a
            # recipient's uudecode still recovers most of it (fail closed).
            why = "does not decode" if damaged else "is cut short"
            self._ctx.problem("malformed_document", f"uuencoded file that {why}")
        texts = self._hand_over(data, name) if data else []
        return (stop if end is None else end + 1), texts

    def _base64_block(self, lines: _Lines, at: int) -> tuple[int, list[ExtractedText]]:
        """A guess: lines of the base64 alphabet alone, as an encoder wraps them."""
        # Widths of the block's first and last lines only: the block itself
        # is cut out of the text at the end, in one piece (a 25 MB body of
        # base64 would otherwise be a third of a million strings twice over).
        count = 0
        last = 0
        width = 0
        size_total = 0  # the block's base64 characters, `=` included
        last_at = at  # the block's last line of base64, and its match
        last_found: re.Match[str] | None = None
        line_at = at
        while line_at < len(lines):
            found = _BASE64_LINE.fullmatch(lines[line_at])
            if found is None:
                # A blank line inside a block of full lines: Outlook's HTML
                # sets each pasted line apart as a paragraph.
                if (
                    count
                    and last == width
                    and not lines[line_at].strip()
                    and line_at + 1 < len(lines)
                    and _BASE64_LINE.fullmatch(lines[line_at + 1]) is not None
                ):
                    line_at += 1
                    continue
                break
            size = found.end(2) - found.start(1)
            if count and (size > width or last < width):
                break  # wider than the block, or the last line came before
            count += 1
            last = size
            width = width or size
            size_total += size
            last_at, last_found = line_at, found
            line_at += 1
            if found.group(2):
                break  # padding ends the encoded data
        if last_found is None or width < _MIN_WIDTH or size_total < _MIN_BLOCK:
            return line_at, []
        if lines.search(_NOT_HEX, at, line_at) is None:
            return line_at, []  # hexadecimal: a hash, not base64
        if not self._room_for(size_total * 3 // 4):
            return line_at, []
        data = _block_base64(lines, at, line_at, size_total, last_at, last_found)
        if detect_format(data) == BINARY:
            # Not a file anyone can open: a signature, a key, a hash, text
            # that only looked like base64.  Its lines are read as text.
            return line_at, []
        return line_at, self._hand_over(data, "base64 block")

    def _data_uris(self, lines: _Lines, at: int) -> tuple[int, list[ExtractedText]]:
        """The data: URIs on line `at`; the last one's base64 may go on
        over the next lines (a wrapped link)."""
        line = lines[at]
        texts: list[ExtractedText] = []
        after = at + 1
        for uri in _DATA_URI.finditer(line):
            header, payload = uri.group(1), uri.group(2)
            if not header.lower().endswith(";base64"):
                if "%" in payload:  # as it is, the text already reads it
                    texts.extend(self._hand_over(unquote_to_bytes(payload), "data: URI"))
                continue
            payload = payload.rstrip(_TRAILING_PUNCTUATION)
            if uri.end() == len(line.rstrip()):
                more, after = _wrapped_base64(lines, at + 1, len(payload))
                payload += more
            if not self._room_for(len(payload) * 3 // 4):
                break
            try:
                # As a browser does: percent-escapes first, then base64.
                data = decode_base64(unquote_to_bytes(payload).decode("latin-1"), "data: URI")
            except ExtractionError as exc:
                # The URI says base64: a file that does not decode is not clean.
                self._ctx.problem(exc.code, exc.detail)
                continue
            if data:
                texts.extend(self._hand_over(data, "data: URI"))
        return after, texts

    # -- yEnc ---------------------------------------------------------------------------

    def _yenc(self, data: bytes, begin: re.Match[bytes]) -> list[ExtractedText]:
        named = _YENC_NAME.search(begin.group(1))
        name = named.group(1).strip().decode("latin-1")[:_MAX_NAME] if named else "yEnc"
        start = begin.end() + 1
        part = _YENC_PART.match(data, start)
        if part is not None:
            start = part.end()
        end = _YENC_END.search(data, start)
        encoded = data[start : len(data) if end is None else end.start()]
        if not self._room_for(len(encoded)):
            return []
        decoded = _yenc_decode(encoded)
        trailer = dict(_YENC_PARAM.findall(end.group(1))) if end is not None else {}
        why = _yenc_damage(decoded, trailer, part is not None) if end is not None else "is cut short"
        if why:
            # `=ybegin` says a file follows; a damaged one is still mostly there.
            self._ctx.problem("malformed_document", f"yEnc file that {why}")
        return self._hand_over(decoded, name) if decoded else []

    # -- handing over ---------------------------------------------------------------------

    def _room_for(self, size: int) -> bool:
        """Whether `size` more decoded bytes fit the message's bound (checked
        before decoding, so a huge block is never decoded)."""
        limits = self._ctx.limits
        if self._ctx.budget.archive_bytes + size > limits.max_archive_total:
            self._stop(f"encoded files in the text over {limits.max_archive_total} bytes")
            return False
        return True

    def _hand_over(self, data: bytes, name: str) -> list[ExtractedText]:
        digest = hashlib.sha256(data).digest()
        if self._full or digest in self._seen or _is_font(data):
            return []
        self._seen.add(digest)
        self._count += 1
        limits = self._ctx.limits
        if self._count > limits.max_archive_entries:
            self._stop(f"more than {limits.max_archive_entries} encoded files in the text")
            return []
        if not self._room_for(len(data)):
            return []
        self._ctx.budget.archive_bytes += len(data)
        return self._ctx.nested(data, f"({name})")

    def _stop(self, detail: str) -> None:
        self._full = True
        self._ctx.problem("too_large", detail)


def _worth_reading(text: str, end: int) -> bool:
    """Whether `text` up to `end` may hold a file written out: ordinary
    mail costs a few searches, not a walk over its lines.  A search to
    `end` reads the text as if it stopped there (`$` matches at `end`)."""
    return (
        (text.find("begin", 0, end) >= 0 and _UU_MARKER.search(text, 0, end) is not None)
        or _BASE64_MARKER.search(text, 0, end) is not None
        or (
            _DATA_MARKER.search(text, 0, end) is not None
            and _DATA_URI.search(text, 0, end) is not None
        )
    )


def _is_font(data: bytes) -> bool:
    """A web font (an HTML style sheet's `@font-face` in a data: URI): its
    glyphs are pictures, not read, as a picture is not.  Text behind a
    font's magic number is text to the detector, so is still read."""
    return data.startswith(_FONTS) and detect_format(data) == BINARY


def _block_base64(
    lines: _Lines, first: int, stop: int, size: int, last_at: int, last: re.Match[str]
) -> bytes:
    """The bytes of the block of base64 lines `first` to `stop`
    (`_base64_block`): `size` base64 characters, the last of them on line
    `last_at` (`last`, its match).  They are what `_lenient_base64` makes
    of the base64 characters alone, decoded without taking them out: the
    decoder skips quote marks, spaces and line breaks, and taking them out
    made the block twice more, with a list of its lines as strings on the
    way (near 30 MB for a 10 MB block)."""
    # The decoder reads a str of ASCII alone (`isascii` is a flag, not a
    # search); any other character and the base64 is taken out after all.
    if size % 4 == 0:
        # The block's `=` are its last line's, at most two: in whole groups
        # of four characters, `_lenient_base64` has nothing to mend.
        block = lines.span(first, stop)
        if block.isascii():
            return binascii.a2b_base64(block)
    else:
        # Not in whole groups (a body cut at the text's limit, base64 sent
        # without its padding): the lines before the last, whole groups as
        # encoders wrap them, decode as they are, and the last line is
        # mended alone, as it would be at the end of them all.
        tail = last.group(1) + last.group(2)
        if last_at > first and (size - len(tail)) % 4 == 0:
            head = lines.span(first, last_at)
            if head.isascii():
                decoded = binascii.a2b_base64(head)
                del head  # not held while the two are joined
                return decoded + _lenient_base64(tail)
    return _lenient_base64(_NOT_BASE64.sub("", lines.span(first, stop)))


def _lenient_base64(encoded: str) -> bytes:
    """As much of `encoded` (base64 characters alone) as decodes: a
    character too many at the end is dropped, missing padding added.
    Decoded from the str itself (`base64.b64decode` makes it bytes first,
    a copy of it), and mended only when it needs to be (another copy)."""
    if len(encoded) % 4 == 0 and not encoded.endswith("==="):
        return binascii.a2b_base64(encoded)  # whole groups, at most two `=`: as it is
    core = encoded.rstrip("=")
    core = core[: len(core) - 1] if len(core) % 4 == 1 else core
    return binascii.a2b_base64(core + "=" * (-len(core) % 4))


def _wrapped_base64(lines: _Lines, at: int, first: int) -> tuple[str, int]:
    """The base64 going on from a line that ended in it, over the lines of
    one width from `at`, and the line after it.  A last shorter line is
    taken when it completes the base64 (a multiple of four characters), so
    a word on the line after a link is not."""
    taken: list[str] = []
    width = 0
    total = first
    while at < len(lines):
        found = _BASE64_LINE.fullmatch(lines[at])
        if found is None:
            break
        chunk = found.group(1) + found.group(2)
        if width and len(chunk) > width:
            break
        if (width and len(chunk) < width) or found.group(2):
            if (total + len(chunk)) % 4 == 0:
                taken.append(chunk)
                at += 1
            break
        width = width or len(chunk)
        taken.append(chunk)
        total += len(chunk)
        at += 1
    return "".join(taken), at


def _looks_uuencoded(line: str, as_base64: bool) -> bool:
    """Whether a line is of uuencode's (or base64's) characters alone."""
    if as_base64:
        return _BASE64_LINE.fullmatch(line) is not None
    return all(" " <= c <= "`" for c in line)


def _starts_uuencoded(line: str, as_base64: bool) -> bool:
    """Whether the first line after a `begin` header opens a block: base64,
    or as long as its first character, uuencode's count of bytes, says
    (within the few characters encoders pad or trim); prose is not."""
    if as_base64:
        return _BASE64_LINE.fullmatch(line) is not None
    count = (ord(line[0]) - 32) & 63
    wanted = (count + 2) // 3 * 4
    return wanted - 3 <= len(line) - 1 <= wanted + 2


def _uu_decode(lines: list[str], as_base64: bool) -> tuple[bytes, bool]:
    """The bytes of a uuencode block's lines, and whether some did not decode."""
    if as_base64:
        try:
            return decode_base64("".join(lines), "uuencoded file"), False
        except ExtractionError:
            return _lenient_base64(_WHITE.sub("", "".join(lines))), True
    out = bytearray()
    for line in lines:
        try:
            out += binascii.a2b_uu(line)
        except (binascii.Error, ValueError):
            try:
                # Some encoders pad lines with characters past their length
                # (the uu module's own workaround).
                count = (((ord(line[0]) - 32) & 63) * 4 + 5) // 3
                out += binascii.a2b_uu(line[:count])
            except (binascii.Error, ValueError):
                return bytes(out), True
    return bytes(out), False


def _yenc_decode(encoded: bytes) -> bytes:
    """yEnc's bytes: line breaks dropped (they are always escaped in the
    data), `=` escapes undone, then 42 taken from every byte."""
    pieces = encoded.replace(b"\r", b"").replace(b"\n", b"").split(b"=")
    out = bytearray(pieces[0])
    for piece in pieces[1:]:
        if piece:
            out.append((piece[0] - 64) % 256)
            out += piece[1:]
    return bytes(out).translate(_YENC_TABLE)


def _yenc_damage(decoded: bytes, trailer: dict[bytes, bytes], is_part: bool) -> str | None:
    """What is wrong with a decoded yEnc file, by its trailer's size and CRC."""
    size = trailer.get(b"size")
    if size is not None and size.isdigit() and int(size) != len(decoded):
        return "is not the size it gives"
    crc = trailer.get(b"pcrc32" if is_part else b"crc32")
    if crc is not None:
        try:
            if int(crc, 16) != zlib.crc32(decoded):
                return "fails its check"
        except ValueError:
            return "fails its check"
    return None
