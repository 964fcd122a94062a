"""The default set of extractors, built explicitly at start-up.

`build_registry()` is called once by whoever composes the pipeline (the
inspect stage keeps one); nothing is registered as a side effect of
importing an extractor module.
"""

from __future__ import annotations

from gateway.extract.archive import (
    Bzip2Extractor,
    GzipExtractor,
    TarExtractor,
    XzExtractor,
    ZipExtractor,
)
from gateway.extract.base import ExtractContext, ExtractedText, Extractor, ExtractorRegistry
from gateway.extract.detect import ARCHIVE, content_type_of
from gateway.extract.eml import EmlExtractor
from gateway.extract.html import HtmlExtractor
from gateway.extract.jsontext import JsonExtractor
from gateway.extract.media import AudioExtractor, VideoExtractor
from gateway.extract.office import DocxExtractor, OdfExtractor, PptxExtractor, XlsxExtractor
from gateway.extract.ole import OleExtractor
from gateway.extract.pdf import PdfExtractor
from gateway.extract.picture import PictureExtractor
from gateway.extract.rtf import RtfExtractor
from gateway.extract.text import CsvExtractor, PlainTextExtractor
from gateway.extract.tnef import TnefExtractor
from gateway.extract.xmltext import XmlExtractor


class UnsupportedArchiveExtractor(Extractor):
    """7z, RAR, CAB, zstd, lz4, ISO...: recorded as not inspectable rather than
    passed as clean."""

    name = ARCHIVE
    content_type = content_type_of(ARCHIVE)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        ctx.problem("unsupported_format", "archive format that cannot be opened")
        return []


def default_extractors() -> tuple[Extractor, ...]:
    return (
        PlainTextExtractor(),
        CsvExtractor(),
        JsonExtractor(),
        XmlExtractor(),
        HtmlExtractor(),
        RtfExtractor(),
        PdfExtractor(),
        ZipExtractor(),
        GzipExtractor(),
        Bzip2Extractor(),
        XzExtractor(),
        TarExtractor(),
        DocxExtractor(),
        XlsxExtractor(),
        PptxExtractor(),
        OdfExtractor(),
        OleExtractor(),
        EmlExtractor(),
        TnefExtractor(),
        UnsupportedArchiveExtractor(),
        PictureExtractor(),
        AudioExtractor(),
        VideoExtractor(),
    )


def build_registry() -> ExtractorRegistry:
    """A registry with every extractor this package provides."""
    return ExtractorRegistry(default_extractors())
