"""PDF text with pypdf: document information, every page, form field values, attachments.

An encrypted PDF is read only when the empty user password opens it (an
owner-password-only file: anyone can read it); otherwise there is no text
here and the inspect stage reports the encryption and tries the sender's
passwords through `pdf_text`.  Pages are read one at a time with the time
budget checked between them.
"""

from __future__ import annotations

import io

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    ExtractionError,
    Extractor,
    TextCollector,
    finish,
)
from gateway.extract.detect import PDF, content_type_of

_INFO_KEYS = ("/Title", "/Author", "/Subject", "/Keywords", "/Creator")


def open_pdf(data: bytes) -> PdfReader:
    try:
        return PdfReader(io.BytesIO(data), strict=False)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ExtractionError("malformed_document", f"PDF: {type(exc).__name__}") from None


def pdf_text(reader: PdfReader, ctx: ExtractContext) -> list[ExtractedText]:
    """The text of an open (not encrypted, or decrypted) PDF."""
    collector = TextCollector(ctx.limits.max_text_chars)
    try:
        info = reader.metadata
        if info is not None:
            for key in _INFO_KEYS:
                value = info.get(key)
                if value:
                    collector.add(f"{value}\n")
        for page in reader.pages:
            ctx.check_time()
            if not collector.add(page.extract_text() + "\n"):
                break
        fields = reader.get_fields() or {}
        for name, fld in fields.items():
            value = fld.get("/V")
            if value:
                collector.add(f"{name}: {value}\n")
        results = [ExtractedText(finish(collector, ctx))]
        for name, contents in reader.attachments.items():
            for content in contents:
                results.extend(ctx.nested(content, name))
    except (
        PyPdfError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        OSError,
    ) as exc:
        raise ExtractionError("malformed_document", f"PDF: {type(exc).__name__}") from None
    return results


class PdfExtractor(Extractor):
    name = PDF
    content_type = content_type_of(PDF)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        reader = open_pdf(data)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except (PyPdfError, ValueError, NotImplementedError) as exc:
                raise ExtractionError("malformed_document", f"PDF: {type(exc).__name__}") from None
            if not opened:
                ctx.hidden("PDF needs a password")
                return []
        return pdf_text(reader, ctx)
