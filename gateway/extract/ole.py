"""Legacy binary Office files and Outlook `.msg` items (OLE compound files).

There is no parser for most of the old binary formats here, so their text is
taken the way `strings` would: runs of printable UTF-16LE and 8-bit
characters from every stream.  That finds the text of a .doc or .msg, and is
recorded as partial (`partial_extraction`, a note for the policy).

An Excel workbook (a `Workbook` or `Book` stream, also one embedded in a .doc)
keeps its numbers as binary values that `strings` cannot see, so its cell
records are read as well (BIFF: shared strings, labels, numbers, RK and
MULRK numbers, formula results) and each sheet is written out row by row,
like an XLSX: a header cell ("NHS number") stays on the line above its
values, an integer has no decimal point, a number shown through a format such
as "000 000 0000" keeps its leading zeros, and a date is written as a date.
Encrypted files are not read here: the inspect stage reports and opens them.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import math
import re
import struct
from collections.abc import Iterator

import olefile  # type: ignore[import-untyped]

from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    ExtractionError,
    ExtractionLimit,
    Extractor,
    TextCollector,
    finish,
)
from gateway.extract.detect import (
    BINARY,
    CSV,
    HTML,
    NOT_READ,
    OLE,
    TEXT,
    content_type_of,
    detect_format,
)
from gateway.extract.rtf import compressed_rtf_text

_UTF16 = re.compile(rb"(?:[\x09\x0a\x0d\x20-\x7e\xa0-\xff]\x00){4,}")
_BYTES = re.compile(rb"[\x09\x0a\x0d\x20-\x7e\x80-\xff]{4,}")
_ENCRYPTED_STREAMS = ("EncryptionInfo", "EncryptedPackage")
_WORKBOOK_STREAMS = ("Workbook", "Book")
# An Outlook item's body in compressed RTF (PR_RTF_COMPRESSED): the only
# copy of the body in a rich-text message, and no strings show through it.
_RTF_COMPRESSED = "__substg1.0_10090102"

# BIFF record types (MS-XLS 2.3).
_BOF = 0x0809
_EOF = 0x000A
_SST = 0x00FC
_CONTINUE = 0x003C
_LABELSST = 0x00FD
_LABEL = 0x0204
_RSTRING = 0x00D6
_NUMBER = 0x0203
_RK = 0x027E
_MULRK = 0x00BD
_FORMULA = 0x0006
_STRING = 0x0207
_FORMAT = 0x041E
_XF = 0x00E0
_DATEMODE = 0x0022
_BIFF8 = 0x0600

# Built-in number formats that show a date (MS-XLS 2.4.126; 18-21 are times).
_DATE_FORMATS = frozenset({14, 15, 16, 17, 22})
# Date codes in a custom format, once quoted text, escapes and [colours] are gone.
_FORMAT_NOISE = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]')
_DATE_CODES = re.compile(r"[dy]|m{3,}", re.IGNORECASE)
# A format of digit places and separators only ("0000000000", "000 000 0000").
_DIGIT_PLACES = re.compile(r"^[0 \-]*0[0 \-]*$")


class _Short(Exception):
    """A record ends before the structure it holds."""


def _records(stream: bytes) -> Iterator[tuple[int, bytes]]:
    offset = 0
    while offset + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, offset)
        body = stream[offset + 4 : offset + 4 + size]
        if len(body) < size:
            return  # cut short: the strings pass still reads what is there
        yield kind, body
        offset += 4 + size


class _Segments:
    """Bytes of a record and its CONTINUE records, read across their joins.

    Characters of a string split by a join restart with a flags byte that
    says whether the rest is one byte or two a character (MS-XLS 2.5.293).
    """

    def __init__(self, parts: list[bytes]) -> None:
        self._parts = parts
        self._index = 0
        self._pos = 0

    def take(self, size: int) -> bytes:
        out = bytearray()
        while size > 0:
            if self._index >= len(self._parts):
                raise _Short
            part = self._parts[self._index]
            if self._pos >= len(part):
                self._index += 1
                self._pos = 0
                continue
            chunk = part[self._pos : self._pos + size]
            out += chunk
            self._pos += len(chunk)
            size -= len(chunk)
        return bytes(out)

    def chars(self, count: int, wide: bool) -> str:
        pieces: list[str] = []
        while count > 0:
            if self._index >= len(self._parts):
                raise _Short
            part = self._parts[self._index]
            if self._pos >= len(part):
                self._index += 1
                if self._index >= len(self._parts) or not self._parts[self._index]:
                    raise _Short
                wide = bool(self._parts[self._index][0] & 1)
                self._pos = 1
                continue
            width = 2 if wide else 1
            fit = min(count, (len(part) - self._pos) // width)
            if fit == 0:
                raise _Short
            raw = part[self._pos : self._pos + fit * width]
            pieces.append(raw.decode("utf-16-le" if wide else "latin-1", "replace"))
            self._pos += fit * width
            count -= fit
        return "".join(pieces)

    def string(self) -> str:
        """An XLUnicodeRichExtendedString (the rich-text runs and phonetics skipped)."""
        count, flags = struct.unpack("<HB", self.take(3))
        runs = struct.unpack("<H", self.take(2))[0] if flags & 0x08 else 0
        extra = struct.unpack("<i", self.take(4))[0] if flags & 0x04 else 0
        text = self.chars(count, bool(flags & 0x01))
        self.take(4 * runs + max(extra, 0))
        return text


def _string_at(body: bytes, offset: int) -> str:
    try:
        return _Segments([body[offset:]]).string()
    except (_Short, struct.error):
        return ""


def _rk(value: int) -> float:
    """An RK number: 30 bits of an integer or of a double's high part, maybe /100."""
    if value & 0x02:
        number = float(struct.unpack("<i", struct.pack("<I", value))[0] >> 2)
    else:
        number = struct.unpack("<d", struct.pack("<Q", (value & 0xFFFFFFFC) << 32))[0]
    return number / 100 if value & 0x01 else number


class _Workbook:
    """Cells of every sheet of one Workbook stream, and the formats that show them."""

    def __init__(self, ctx: ExtractContext) -> None:
        self.ctx = ctx
        self.strings: list[str] = []
        self.formats: dict[int, str] = {}
        self.cell_formats: list[int] = []  # XF index -> number format id
        self.date_base = datetime.date(1899, 12, 30)
        self.biff8 = True
        self.sheets: list[dict[tuple[int, int], str]] = []

    def read(self, stream: bytes) -> None:
        depth = 0
        sheet: dict[tuple[int, int], str] = {}
        pending: tuple[int, int] | None = None  # a formula whose text is in the next STRING
        records = list(_records(stream))
        for index, (kind, body) in enumerate(records):
            if index % 4096 == 0:
                self.ctx.check_time()
            if kind == _BOF:
                if depth == 0:
                    sheet = {}
                    if len(body) >= 2:
                        self.biff8 = struct.unpack_from("<H", body)[0] == _BIFF8
                depth += 1
            elif kind == _EOF:
                depth -= 1
                if depth <= 0:
                    depth = 0
                    if sheet:
                        self.sheets.append(sheet)
                    sheet = {}
            elif kind == _STRING and pending is not None:
                sheet[pending] = _string_at(body, 0) if self.biff8 else ""
                pending = None
            else:
                pending = self._record(kind, body, index, records, sheet)
        if sheet:
            self.sheets.append(sheet)

    def _record(
        self,
        kind: int,
        body: bytes,
        index: int,
        records: list[tuple[int, bytes]],
        sheet: dict[tuple[int, int], str],
    ) -> tuple[int, int] | None:
        try:
            if kind == _NUMBER:
                row, col, xf, number = struct.unpack_from("<HHHd", body)
                sheet[row, col] = self._number(number, xf)
            elif kind == _RK:
                row, col, xf, rk = struct.unpack_from("<HHHI", body)
                sheet[row, col] = self._number(_rk(rk), xf)
            elif kind == _MULRK:
                row, first = struct.unpack_from("<HH", body)
                for n in range((len(body) - 6) // 6):
                    xf, rk = struct.unpack_from("<HI", body, 4 + 6 * n)
                    sheet[row, first + n] = self._number(_rk(rk), xf)
            elif kind == _FORMULA:
                row, col, xf = struct.unpack_from("<HHH", body)
                result = body[6:14]
                if len(result) < 8:
                    return None
                if result[6:8] != b"\xff\xff":
                    sheet[row, col] = self._number(struct.unpack("<d", result)[0], xf)
                elif result[0] == 0:
                    return row, col  # the text follows in a STRING record
                elif result[0] == 1:
                    sheet[row, col] = "TRUE" if result[2] else "FALSE"
            elif kind == _LABELSST:
                row, col, _xf, item = struct.unpack_from("<HHHI", body)
                if item < len(self.strings):
                    sheet[row, col] = self.strings[item]
            elif kind in (_LABEL, _RSTRING) and self.biff8:
                row, col = struct.unpack_from("<HH", body)
                sheet[row, col] = _string_at(body, 6)
            elif kind == _SST:
                parts = [body[8:]]
                follower = index + 1
                while follower < len(records) and records[follower][0] == _CONTINUE:
                    parts.append(records[follower][1])
                    follower += 1
                self._shared_strings(struct.unpack_from("<I", body, 4)[0], parts)
            elif kind == _FORMAT and self.biff8:
                self.formats[struct.unpack_from("<H", body)[0]] = _string_at(body, 2)
            elif kind == _XF:
                self.cell_formats.append(struct.unpack_from("<H", body, 2)[0])
            elif kind == _DATEMODE and struct.unpack_from("<H", body)[0] == 1:
                self.date_base = datetime.date(1904, 1, 1)
        except struct.error:
            pass  # a record too short for its type: its bytes still go through strings
        return None

    def _shared_strings(self, unique: int, parts: list[bytes]) -> None:
        segments = _Segments(parts)
        total = 0
        try:
            for count in range(unique):
                if count % 4096 == 0:
                    self.ctx.check_time()
                text = segments.string()
                total += len(text)
                if total > self.ctx.limits.max_text_chars:
                    raise ExtractionLimit("too_large", "shared strings over the text limit")
                self.strings.append(text)
        except (_Short, struct.error):
            # A table cut short: the strings before the cut are kept, and the
            # stream's bytes still go through the strings scan (as a record
            # too short for its type does).
            return

    def _number(self, number: float, xf: int) -> str:
        """A number as the sheet shows it: a date, digits with their leading
        zeros, or a plain number (an integer without a decimal point)."""
        if not math.isfinite(number):
            return ""
        fmt = self.cell_formats[xf] if xf < len(self.cell_formats) else 0
        pattern = self.formats.get(fmt, "")
        if fmt in _DATE_FORMATS or _DATE_CODES.search(_FORMAT_NOISE.sub("", pattern)):
            with contextlib.suppress(OverflowError):  # a serial no calendar has
                day = self.date_base + datetime.timedelta(days=int(number))
                return day.strftime("%d/%m/%Y")
        if number == int(number) and abs(number) < 1e16:
            digits = str(int(number))
            if _DIGIT_PLACES.match(pattern) and number >= 0:
                return _with_places(digits, pattern)
            return digits
        return format(number, ".15g")

    def text(self) -> str:
        lines: list[str] = []
        for sheet in self.sheets:
            row_cells: dict[int, list[tuple[int, str]]] = {}
            for (row, col), value in sheet.items():
                row_cells.setdefault(row, []).append((col, value))
            for row in sorted(row_cells):
                lines.append("\t".join(v for _, v in sorted(row_cells[row])))
            lines.append("")
        return "\n".join(lines)


def _with_places(digits: str, pattern: str) -> str:
    """`digits` laid out in a digit-place format: zero-padded, separators kept."""
    places = pattern.count("0")
    if len(digits) > places:
        return digits
    padded = iter(digits.rjust(places, "0"))
    return "".join(next(padded) if c == "0" else c for c in pattern)


# Streams whose text `strings` already sees (or that hold none): anything
# else is a file inside the file.
_READ_AS_STRINGS = frozenset({TEXT, CSV, HTML, BINARY}) | NOT_READ


def workbook_text(stream: bytes, ctx: ExtractContext) -> str:
    """The cells of a BIFF Workbook stream, each sheet row by row."""
    workbook = _Workbook(ctx)
    workbook.read(stream)
    return workbook.text()


def ole_texts(data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
    """The compound file's strings, then each stream that is a file of its
    own (an Outlook item's attachment, a Word document's embedded package),
    read as that file: compressed or zipped, its text is no string."""
    embedded: list[ExtractedText] = []
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except (OSError, ValueError, IndexError) as exc:
        raise ExtractionError("malformed_document", f"OLE: {type(exc).__name__}") from None
    collector = TextCollector(ctx.limits.max_text_chars)
    total = 0
    try:
        for entry in ole.listdir(streams=True, storages=False):
            ctx.check_time()
            name = "/".join(entry)
            collector.add(name + "\n")
            if entry[-1] in _ENCRYPTED_STREAMS:
                ctx.hidden("encrypted Office document")
                continue
            size = ole.get_size(entry)
            total += size
            if total > ctx.limits.max_archive_total:
                raise ExtractionLimit("too_large", "compound file streams too large")
            stream = ole.openstream(entry).read()
            if entry[-1] in _WORKBOOK_STREAMS:
                collector.add(workbook_text(stream, ctx) + "\n")
            elif entry[-1] == _RTF_COMPRESSED:
                embedded.extend(compressed_rtf_text(stream, ctx, name))
            elif detect_format(stream) not in _READ_AS_STRINGS:
                embedded.extend(ctx.nested(stream, name))
            for match in _UTF16.finditer(stream):
                collector.add(match.group().decode("utf-16-le", "replace") + "\n")
            for match in _BYTES.finditer(stream):
                collector.add(match.group().decode("cp1252", "replace") + "\n")
            if collector.truncated:
                break
    finally:
        ole.close()
    return [ExtractedText(finish(collector, ctx)), *embedded]


class OleExtractor(Extractor):
    name = OLE
    content_type = content_type_of(OLE)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        texts = ole_texts(data, ctx)
        ctx.problem(
            "partial_extraction", "legacy binary Office or Outlook item: text read as strings"
        )
        return texts
