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
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator

from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    Extractor,
    TextCollector,
    finish,
)
from gateway.extract.calendar import is_content_lines, read_content_lines
from gateway.extract.detect import CSV, TEXT, WIDE_BOMS, content_type_of
from gateway.parse.charsets import decode_readings, decode_text

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), *WIDE_BOMS)  # UTF-32's before UTF-16's


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text of `data`: a byte order mark wins, then the declared charset and fallbacks."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    return decode_text(data, charset)


def text_readings(data: bytes, charset: str | None) -> list[str]:
    """`decode_bytes`' reading, then the bytes' own one when the declared
    charset garbles them (`gateway.parse.charsets.decode_readings`)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return [data.decode(codec, errors="replace")]
    return decode_readings(data, charset)


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
        for decoded in text_readings(data, ctx.charset):
            if is_content_lines(decoded):
                # An invitation or a contact card: unfolded, its files read.
                lines = read_content_lines(decoded)
                for name, content in lines.files:
                    texts.extend(ctx.nested(content, f"({name})"))
                readings = [lines.text]
            else:
                readings = flowed_readings(decoded)
            for reading in readings:
                collector = TextCollector(ctx.limits.max_text_chars)
                collector.add(reading)
                texts.append(ExtractedText(finish(collector, ctx)))
        return texts


class CsvExtractor(Extractor):
    name = CSV
    content_type = content_type_of(CSV)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        return [self._table(text, ctx) for text in text_readings(data, ctx.charset)]

    @staticmethod
    def _table(text: str, ctx: ExtractContext) -> ExtractedText:
        collector = TextCollector(ctx.limits.max_text_chars)
        try:
            dialect = _dialect(text)
            for index, row in enumerate(csv.reader(io.StringIO(text), dialect)):
                if index % 1000 == 0:
                    ctx.check_time()
                if not collector.add("\t".join(row) + "\n"):
                    break
        except csv.Error:
            # Not quite CSV after all: the raw text still gets inspected.
            collector = TextCollector(ctx.limits.max_text_chars)
            collector.add(text)
        return ExtractedText(finish(collector, ctx))


def _dialect(text: str) -> type[csv.Dialect]:
    first = text[:4096].splitlines()[0] if text else ""
    best = max(",;\t|", key=first.count)

    class Sniffed(csv.excel):
        delimiter = best

    return Sniffed
