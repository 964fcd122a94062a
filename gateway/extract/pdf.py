"""PDF text with pypdf: document information and XMP metadata, every page,
bookmarks, form field values, attachments.

Each page's annotations are read with it: a sticky note or a text box keeps
its words in `/Contents` (and as rich text, XHTML, in `/RC`), not in the page
content, and a reader shows them all the same.

An encrypted PDF is read only when the empty user password opens it (an
owner-password-only file: anyone can read it); otherwise there is no text
here and the inspect stage reports the encryption and tries the sender's
passwords through `pdf_text`.  Pages are read one at a time with the time
budget checked between them.
"""

from __future__ import annotations

import io

from pypdf import PageObject, PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import (
    ArrayObject,
    ByteStringObject,
    DictionaryObject,
    IndirectObject,
    StreamObject,
)

from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    ExtractionError,
    Extractor,
    TextCollector,
    finish,
)
from gateway.extract.detect import PDF, content_type_of
from gateway.extract.html import html_to_text

_INFO_KEYS = ("/Title", "/Author", "/Subject", "/Keywords", "/Creator")
# The author (/T), the note itself (/Contents) and its rich-text form (/RC).
_ANNOTATION_KEYS = ("/T", "/Contents")
_RICH_TEXT = "/RC"


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
            if not _annotations(page, collector, ctx):
                break
        _outline(reader, collector, ctx)
        fields = reader.get_fields() or {}
        for name, fld in fields.items():
            value = fld.get("/V")
            if value:
                collector.add(f"{name}: {value}\n")
        results = [ExtractedText(finish(collector, ctx))]
        metadata = _catalog(reader).get("/Metadata")
        stream = metadata.get_object() if metadata is not None else None
        if isinstance(stream, StreamObject):
            # XMP: the document's description, creator, ... as XML, which
            # need not match the information dictionary.
            results.extend(ctx.nested(stream.get_data(), "(XMP metadata)"))
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


def _annotations(page: PageObject, collector: TextCollector, ctx: ExtractContext) -> bool:
    """Add the text of the page's annotations; False once the text budget is spent."""
    annotations = page.get("/Annots")
    if annotations is None:
        return True
    annotations = annotations.get_object()
    if not isinstance(annotations, ArrayObject):
        return True
    for reference in annotations:
        ctx.check_time()
        annotation = reference.get_object()
        if not isinstance(annotation, DictionaryObject):
            continue
        for key in _ANNOTATION_KEYS:
            text = _string(annotation.get(key))
            if text and not collector.add(text + "\n"):
                return False
        rich = annotation.get(_RICH_TEXT)
        if rich is not None:
            rich = rich.get_object()
            markup = (
                rich.get_data().decode("utf-8", "replace")
                if isinstance(rich, StreamObject)
                else _string(rich)
            )
            if markup and not collector.add(html_to_text(markup, ctx) + "\n"):
                return False
    return True


# Bookmarks read at most: a real document has hundreds.
_OUTLINE_LIMIT = 100_000


def _outline(reader: PdfReader, collector: TextCollector, ctx: ExtractContext) -> None:
    """Add the bookmarks' titles (a reader lists them beside the pages; a
    scanned referral's may be the only text in it).  Walked here, not by
    pypdf: each item once, so a /Next that loops back ends the walk."""
    root = _catalog(reader).get("/Outlines")
    outlines = root.get_object() if root is not None else None
    pending = [outlines.get("/First")] if isinstance(outlines, DictionaryObject) else []
    seen: set[int] = set()
    while pending and len(seen) < _OUTLINE_LIMIT:
        item = pending.pop()
        if item is None:
            continue
        node = item.get_object()
        key = item.idnum if isinstance(item, IndirectObject) else id(node)
        if key in seen or not isinstance(node, DictionaryObject):
            continue
        seen.add(key)
        if len(seen) % 1000 == 0:
            ctx.check_time()
        if not collector.add(_string(node.get("/Title")) + "\n"):
            return
        pending.append(node.get("/Next"))
        pending.append(node.get("/First"))


def _catalog(reader: PdfReader) -> DictionaryObject:
    catalog = reader.trailer["/Root"].get_object()
    if not isinstance(catalog, DictionaryObject):
        raise ExtractionError("malformed_document", "PDF: no document catalog")
    return catalog


def _string(value: object) -> str:
    """A PDF string as text (pypdf has already decoded a text string)."""
    if value is None:
        return ""
    if hasattr(value, "get_object"):
        value = value.get_object()
    if isinstance(value, ByteStringObject):
        return bytes(value).decode("latin-1")
    return value if isinstance(value, str) else ""


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
