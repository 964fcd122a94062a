"""PDF objects no page or catalog refers to are read.

An editing or "redaction" tool that drops the reference to old content but
leaves the object in the file (listed in the cross-reference table) leaves
the text for anyone with a PDF library or `strings`: it is read as
"(unreferenced objects)", and a leftover an earlier revision still shows is
read once, with that revision.
"""

from __future__ import annotations

import io
import random

from faker import Faker
from fixtures_content import PASSWORD, pdf_of_objects
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject

from gateway.extract import ExtractContext, build_registry
from gateway.extract.base import ExtractedText
from gateway.extract.pdf import open_pdf, pdf_text
from gateway.model import Problem
from gateway.parse import ContentLimits

REGISTRY = build_registry()
NHS = "943 476 5919"  # valid check digit, belongs to nobody


def _person() -> str:
    fake = Faker("en_GB")
    fake.seed_instance(41)
    return f"{fake.name()}, NHS number {NHS}, {fake.postcode()}"


def _extract(data: bytes) -> tuple[list[ExtractedText], list[Problem]]:
    ctx = ExtractContext.start(ContentLimits(), REGISTRY, "2")
    return REGISTRY.extract(data, ctx), ctx.problems


def _stream(data: bytes, entries: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), entries) + data + b"\nendstream"


def _with_leftover(leftover: bytes) -> bytes:
    """A one-page PDF showing "Meeting notes" and object 6, which the
    cross-reference table lists and nothing refers to."""
    return pdf_of_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        _stream(b"BT /F1 10 Tf 50 750 Td (Meeting notes) Tj ET"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        leftover,
    ])


def _leftovers(texts: list[ExtractedText]) -> str:
    return "\n".join(t.text for t in texts if t.member == "(unreferenced objects)")


def test_an_unreferenced_text_stream_is_read() -> None:
    record = _person()
    texts, problems = _extract(_with_leftover(_stream(record.encode())))
    assert texts[0].text.strip() == "Meeting notes"  # the page, first and as shown
    assert record in _leftovers(texts)
    assert problems == []


def test_an_unreferenced_content_stream_is_read_as_the_text_it_shows() -> None:
    """Kerned (TJ) and split strings are put back together: a word split by a
    small kerning move is one word, a large move is a space."""
    name, rest = _person().split(",", 1)
    first, last = name.split(" ", 1)
    content = (
        f"BT /F1 10 Tf 50 700 Td [({first[:2]}) -12 ({first[2:]}) -450 ({last})] TJ "
        f"0 -12 Td ({rest.strip()}) Tj ET"
    ).encode("latin-1")
    texts, _ = _extract(_with_leftover(_stream(content)))
    shown = _leftovers(texts)
    assert f"{first} {last}" in shown
    assert NHS in shown


def test_an_unreferenced_annotation_is_read() -> None:
    record = _person()
    note = f"<< /Type /Annot /Subtype /Text /Rect [0 0 10 10] /Contents ({record}) >>"
    texts, _ = _extract(_with_leftover(note.encode("latin-1")))
    assert record in _leftovers(texts)


def test_an_unreferenced_binary_stream_adds_nothing_and_is_no_problem() -> None:
    noise = random.Random(5).randbytes(3000)
    texts, problems = _extract(_with_leftover(_stream(noise)))
    assert _leftovers(texts) == ""
    assert problems == []


def test_a_leftover_without_text_adds_no_reading() -> None:
    data = _with_leftover(b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>")
    texts, problems = _extract(data)
    assert [t.member for t in texts] == [None]
    assert problems == []


def test_a_leftover_in_an_encrypted_document_is_read_once_opened() -> None:
    record = _person()
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(_with_leftover(b"null"))))
    # An object nothing refers to (pypdf has no public call for one),
    # written encrypted with the rest.
    leftover = DecodedStreamObject()
    leftover.set_data(record.encode())
    writer._add_object(leftover)
    writer.encrypt(user_password=PASSWORD, owner_password="owner-secret", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    reader = open_pdf(out.getvalue())
    assert reader.decrypt(PASSWORD)
    ctx = ExtractContext.start(ContentLimits(), REGISTRY, "2")
    assert record in _leftovers(pdf_text(reader, ctx))
