"""Plain text and CSV.

Plain text is decoded (byte order mark, declared charset, then the parse
stage's fallbacks) and returned as it is.  CSV is read with the csv module so
quoted fields lose their quotes and cells become tab-separated: the detector
then sees `9434765919` rather than `"943 476 5919"` split over quoting.
"""

from __future__ import annotations

import codecs
import csv
import io

from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    Extractor,
    TextCollector,
    finish,
)
from gateway.extract.detect import CSV, TEXT, content_type_of
from gateway.parse.charsets import decode_text

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text of `data`: a byte order mark wins, then the declared charset and fallbacks."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    return decode_text(data, charset)


class PlainTextExtractor(Extractor):
    name = TEXT
    content_type = content_type_of(TEXT)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        collector = TextCollector(ctx.limits.max_text_chars)
        collector.add(decode_bytes(data, ctx.charset))
        return [ExtractedText(finish(collector, ctx))]


class CsvExtractor(Extractor):
    name = CSV
    content_type = content_type_of(CSV)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        text = decode_bytes(data, ctx.charset)
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
        return [ExtractedText(finish(collector, ctx))]


def _dialect(text: str) -> type[csv.Dialect]:
    first = text[:4096].splitlines()[0] if text else ""
    best = max(",;\t|", key=first.count)

    class Sniffed(csv.excel):
        delimiter = best

    return Sniffed
