"""Plain text and CSV.

Plain text is decoded (byte order mark, declared charset, then the parse
stage's fallbacks) and returned as it is.  CSV is read with the csv module so
quoted fields lose their quotes and cells become tab-separated: the detector
then sees `9434765919` rather than `"943 476 5919"` split over quoting.

A declared charset that garbles ASCII (UTF-16 on an ASCII file) gets the
bytes' own reading too (`text_readings`, `gateway.parse.charsets`).

Plain text with soft line breaks (a line ending in a space: format=flowed,
RFC 3676, as Thunderbird writes it) is read as the recipient's client shows
it, the broken lines joined (`unflow`): `083 016 ` then `6130` is one
number.  The extractor does not see the Content-Type parameters, so it
cannot tell whether DelSp=yes deletes the space at each break; where that
could close a number (a digit, the space, a digit on the next line) the
paragraphs with such breaks are read a second time with it deleted.

An iCalendar invitation or a vCard is read unfolded, its base64 files
extracted (gateway.extract.calendar).

A file written out in the text (uuencode, yEnc, a pasted base64 block, a
`data:` URI) is decoded and read as the file it is (gateway.extract.embedded).

A UTF-16 or UTF-32 byte order mark decides the reading; when the body
declares an 8-bit charset and its bytes after the mark are not wide text,
the declared charset's reading is given too: a mail client goes by the
label and shows the text.

A CSV cell that a spreadsheet wrote as a float (`9.434765919E+09`,
`9434765919.0`) is an identifier to whoever opens the file: when a cell
holds a whole number of 9 to 12 digits, a second reading has the digits
(`_integral_digits`).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    Extractor,
    TextCollector,
    finish,
    normalise_text,
)
from gateway.extract.calendar import is_content_lines, read_content_lines
from gateway.extract.detect import CSV, TEXT, WIDE_BOMS, content_type_of
from gateway.extract.embedded import EmbeddedFiles
from gateway.extract.tabular import SAMPLE_ROWS, Table, people_table
from gateway.parse.charsets import decode_readings, decode_text, normalise_charset

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), *WIDE_BOMS)  # UTF-32's before UTF-16's


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text of `data`: a byte order mark wins, then the declared charset and fallbacks."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    return decode_text(data, charset)


def text_readings(data: bytes, charset: str | None) -> list[str]:
    """`decode_bytes`' reading, then the bytes' own one when the declared
    charset garbles them (`gateway.parse.charsets.decode_readings`), or,
    after a wide byte order mark, the declared charset's (`_behind_wide_bom`)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            reading = data.decode(codec, errors="replace")
            if codec == "utf-8-sig":
                return [reading]
            declared = _behind_wide_bom(data[len(bom) :], charset)
            return [reading, *(text for text in declared if text != reading)]
    return decode_readings(data, charset)


def _behind_wide_bom(rest: bytes, charset: str | None) -> list[str]:
    """The declared 8-bit charset's readings of the bytes after a UTF-16 or
    UTF-32 byte order mark, when they are not wide text: a mail client goes
    by the label and shows `FF FE` then the text.  Wide text of ASCII has a
    zero in every other byte; without a label, the mark decides."""
    codec = normalise_charset(charset)
    if codec is None or codec.startswith(("utf-16", "utf-32")) or b"\x00" in rest[:4096]:
        return []
    return decode_readings(rest, charset)


# -- format=flowed (RFC 3676) ------------------------------------------------------

_LINE_BREAK = re.compile(r"(\r\n|\n|\r)")
_SIGNATURE_SEPARATOR = "-- "
# A soft break that deleting its space (DelSp=yes) would turn into digits
# side by side; quote marks and a stuffing space may start the next line.
_DIGITS_ACROSS = re.compile(r"[0-9] (?:\r\n|\n|\r)>* ?[0-9]")


def _has_soft_break(text: str) -> bool:
    return " \n" in text or " \r" in text


class _Paragraph:
    """Lines that a flowed reader shows as one: each ends in a space but the last."""

    __slots__ = ("depth", "ending", "pieces", "source")

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.pieces: list[str] = []  # the lines' content: quote marks and stuffing gone
        self.source: list[str] = []  # the lines as they came, with their line breaks
        self.ending = ""

    def render(self, delsp: bool) -> str:
        if len(self.pieces) == 1:
            return self.source[0]  # nothing joined: the line as it came
        pieces = [p[:-1] for p in self.pieces[:-1]] if delsp else self.pieces[:-1]
        prefix = ">" * self.depth + " " if self.depth else ""
        return prefix + "".join(pieces) + self.pieces[-1] + self.ending


def _paragraphs(text: str) -> Iterator[_Paragraph]:
    parts = _LINE_BREAK.split(text)
    current: _Paragraph | None = None
    for index in range(0, len(parts), 2):
        line = parts[index]
        ending = parts[index + 1] if index + 1 < len(parts) else ""
        if not line and not ending:
            continue  # after the last line break
        content = line.lstrip(">")
        depth = len(line) - len(content)
        if content.startswith(" "):
            content = content[1:]  # space-stuffing (and the space after quote marks)
        signature = content == _SIGNATURE_SEPARATOR
        if current is not None and (current.depth != depth or signature):
            yield current  # quote depth changed or a signature starts: a hard break
            current = None
        if current is None:
            current = _Paragraph(depth)
        current.pieces.append(content)
        current.source.append(line + ending)
        current.ending = ending
        if signature or not content.endswith(" "):
            yield current
            current = None
    if current is not None:
        yield current


def unflow(text: str, *, delsp: bool = False) -> str:
    """Format=flowed text as a reader shows it: soft line breaks joined
    (their space deleted with DelSp=yes), quote marks and space-stuffing of
    the joined lines gone; a line that joins nothing stays as it came."""
    return "".join(p.render(delsp) for p in _paragraphs(text))


def flowed_readings(text: str) -> list[str]:
    """The text as a flowed reader shows it (the text itself when it has no
    soft break), then, when a break sits between digits, the paragraphs
    with such breaks read with DelSp=yes."""
    if not _has_soft_break(text):
        return [text]
    if _DIGITS_ACROSS.search(text) is None:
        return [unflow(text)]
    readings: list[str] = []
    closing: list[str] = []
    for paragraph in _paragraphs(text):
        readings.append(paragraph.render(delsp=False))
        if len(paragraph.pieces) > 1 and _DIGITS_ACROSS.search("".join(paragraph.source)):
            closing.append(paragraph.render(delsp=True))
    return ["".join(readings), "\n".join(closing)]


class PlainTextExtractor(Extractor):
    name = TEXT
    content_type = content_type_of(TEXT)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        texts: list[ExtractedText] = []
        files = EmbeddedFiles(ctx)
        found = files.in_bytes(data)
        for decoded in text_readings(data, ctx.charset):
            if is_content_lines(decoded):
                # An invitation or a contact card: unfolded, its files read.
                lines = read_content_lines(decoded)
                for name, content in lines.files:
                    texts.extend(ctx.nested(content, f"({name})"))
                readings = [lines.text]
                found.extend(files.in_text(lines.text))
            else:
                readings = flowed_readings(decoded)
                found.extend(files.in_text(decoded))
            for reading in readings:
                collector = TextCollector(ctx.limits.max_text_chars)
                collector.add(reading)
                texts.append(ExtractedText(finish(collector, ctx)))
        return texts + found


class CsvExtractor(Extractor):
    name = CSV
    content_type = content_type_of(CSV)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        return [table for text in text_readings(data, ctx.charset)
                for table in self._tables(text, ctx)]

    @staticmethod
    def _tables(text: str, ctx: ExtractContext) -> list[ExtractedText]:
        """The table as it is, then, when a cell holds an identifier written
        as a float, the table with such cells as their digits."""
        collector = TextCollector(ctx.limits.max_text_chars)
        # Rows that did not change are the same strings in both: no copy.
        expanded = TextCollector(ctx.limits.max_text_chars)
        changed = False
        sample: list[list[str]] = []  # the first rows, to tell whether it is a table of people
        table: Table | None = None
        try:
            dialect = _dialect(text)
            for index, row in enumerate(csv.reader(io.StringIO(text), dialect)):
                if index % 1000 == 0:
                    ctx.check_time()
                if index <= SAMPLE_ROWS:
                    sample.append(row)
                line = "\t".join(row) + "\n"
                digits = [_integral_digits(cell) or cell for cell in row]
                if digits != row:
                    changed = True
                    expanded.add("\t".join(digits) + "\n")
                else:
                    expanded.add(line)
                if not collector.add(line):
                    break
            table = people_table(sample)
        except csv.Error:
            # Not quite CSV after all: the raw text still gets inspected.
            collector = TextCollector(ctx.limits.max_text_chars)
            collector.add(text)
            changed = False
        tables = [ExtractedText(finish(collector, ctx))]
        if changed:
            tables.append(ExtractedText(finish(expanded, ctx)))
        if table is not None:
            tables.append(ExtractedText(_records(text, dialect, table, ctx)))
        return tables


def _records(text: str, dialect: type[csv.Dialect], table: Table, ctx: ExtractContext) -> str:
    """A table of people's rows as records, each cell after its label
    (gateway.extract.tabular).  A second reading of a table read whole
    already: past the text budget it is cut short, no problem of its own."""
    records = TextCollector(ctx.limits.max_text_chars)
    for index, row in enumerate(csv.reader(io.StringIO(text), dialect)):
        if index % 1000 == 0:
            ctx.check_time()
        if index == 0 and table.header is not None:
            continue
        if not records.add(table.record(row) + "\n"):
            break
    return normalise_text(records.text())


# A number as a spreadsheet writes a float: digits, a point or an exponent
# (two digits at most: a longer one is no identifier and costs a huge int).
_FLOAT_CELL = re.compile(r"\+?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})(?:[eE][+-]?[0-9]{1,2})?")
_LOST_DIGITS = 2  # zeros a float may drop from the end of an identifier


def _integral_digits(cell: str) -> str | None:
    """The digits of a whole number of 9 to 12 digits written as a float
    (`9.434765919E+09`, `9434765919.0`), else None.  A float rounded by
    the spreadsheet (`9.43477E+09`) lost the identifier's digits: its
    expansion would be a different number, so the written digits must give
    all but the last `_LOST_DIGITS` (zeros a float drops) of them."""
    value = cell.strip()
    if not value or value[0] not in "+.0123456789" or value.isdigit():
        return None
    if _FLOAT_CELL.fullmatch(value) is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    if number != number.to_integral_value():
        return None
    digits = str(int(number))
    written = value.lstrip("+").split("e")[0].split("E")[0].replace(".", "").strip("0")
    if not 9 <= len(digits) <= 12 or len(digits) - len(written) > _LOST_DIGITS:
        return None
    return digits


def _dialect(text: str) -> type[csv.Dialect]:
    first = text[:4096].splitlines()[0] if text else ""
    best = max(",;\t|", key=first.count)

    class Sniffed(csv.excel):
        delimiter = best

    return Sniffed
