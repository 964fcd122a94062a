"""PDF bookmarks and XMP metadata: text a reader lists beside the pages, or
a document's properties show, that used to leave in clear unread."""

from __future__ import annotations

import io

from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject

from gateway.extract import ExtractContext, build_registry
from gateway.model import Problem
from gateway.parse import ContentLimits

REGISTRY = build_registry()
NHS = "083 016 6130"  # synthetic, valid check digit


def extract(data: bytes) -> tuple[str, list[Problem]]:
    ctx = ExtractContext.start(ContentLimits(), REGISTRY, "2")
    texts = REGISTRY.extract(data, ctx)
    return "\n".join(t.text for t in texts), ctx.problems


def written(writer: PdfWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_bookmarks_are_read_nested_too() -> None:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    parent = writer.add_outline_item(title="Referral", page_number=0)
    writer.add_outline_item(title=f"Alex Carter, NHS {NHS}", page_number=0, parent=parent)
    text, problems = extract(written(writer))
    assert "Referral" in text and f"NHS {NHS}" in text
    assert problems == []


def test_a_bookmark_list_that_loops_back_ends() -> None:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    first = writer.add_outline_item(title="One", page_number=0)
    last = writer.add_outline_item(title=f"NHS {NHS}", page_number=0)
    last.get_object()[NameObject("/Next")] = first  # back to the start, for ever
    text, problems = extract(written(writer))
    assert text.count("One") == 1 and f"NHS {NHS}" in text
    assert problems == []


def test_xmp_metadata_is_read() -> None:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    xmp = DecodedStreamObject()
    xmp.set_data(
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description>Alex Carter NHS '
        + NHS.encode() + b"</dc:description></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    xmp[NameObject("/Type")] = NameObject("/Metadata")
    xmp[NameObject("/Subtype")] = NameObject("/XML")
    writer._root_object[NameObject("/Metadata")] = writer._add_object(xmp)
    text, problems = extract(written(writer))
    assert f"NHS {NHS}" in text
    assert problems == []
