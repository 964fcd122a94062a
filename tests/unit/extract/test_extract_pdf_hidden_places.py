"""Places in a PDF that a reader (or anyone opening the file) can reach but
the extractor used to skip: a file attached to a page through an annotation,
XFA form data, text drawn only by an annotation's appearance, and an earlier
revision an incremental save left in the file.  Each case carries a synthetic
NHS number only in that place; a plain PDF reads exactly as it did."""

from __future__ import annotations

import io
import random
import sys
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from faker import Faker
from fixtures_content import Entry, build_zip, pdf_of_objects, pdf_with_text
from pypdf import PdfReader, PdfWriter
from pypdf.annotations import Text
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    StreamObject,
    TextStringObject,
)

from gateway.extract import ExtractContext, build_registry
from gateway.extract.base import ExtractedText
from gateway.model import Action, Envelope, Problem
from gateway.parse import ContentLimits
from gateway.pipeline import Pipeline
from gateway.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "detect"))
from synthetic_ids import nhs_number

REGISTRY = build_registry()
NHS = nhs_number(random.Random(4107))
_fake = Faker("en_GB")
_fake.seed_instance(4107)
NAME = _fake.name()
RECORD = f"Patient {NAME}, NHS number {NHS}"


def extract(
    data: bytes, limits: ContentLimits | None = None
) -> tuple[list[ExtractedText], list[Problem]]:
    ctx = ExtractContext.start(limits or ContentLimits(), REGISTRY, "2")
    texts = REGISTRY.extract(data, ctx)
    return texts, ctx.problems


def all_text(texts: list[ExtractedText]) -> str:
    return "\n".join(t.text for t in texts)


def written(writer: PdfWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def stream(data: bytes, **entries: object) -> DecodedStreamObject:
    result = DecodedStreamObject()
    result.set_data(data)
    for key, value in entries.items():
        result[NameObject(f"/{key}")] = value  # type: ignore[assignment]
    return result


def helvetica(writer: PdfWriter) -> DictionaryObject:
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    return DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )


def shown(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"BT /F1 10 Tf 2 20 Td ({escaped}) Tj ET".encode("latin-1")


def rect() -> ArrayObject:
    return ArrayObject([FloatObject(50), FloatObject(550), FloatObject(300), FloatObject(600)])


def annotated(subtype: str, **entries: object) -> PdfWriter:
    """A one-page PDF (its own text "Referral") with one annotation."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_with_text("Referral"))))
    annotation = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject(subtype),
            NameObject("/Rect"): rect(),
        }
    )
    for key, value in entries.items():
        annotation[NameObject(f"/{key}")] = value  # type: ignore[assignment]
    writer.pages[0][NameObject("/Annots")] = ArrayObject([writer._add_object(annotation)])
    return writer


# -- 1. a file attached to a page ------------------------------------------------------


def file_attachment_pdf(content: bytes, name: str = "notes.txt") -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_with_text("Referral"))))
    embedded = stream(content, Type=NameObject("/EmbeddedFile"))
    spec = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Filespec"),
            NameObject("/F"): TextStringObject(name),
            NameObject("/EF"): DictionaryObject({NameObject("/F"): writer._add_object(embedded)}),
        }
    )
    annotation = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/FileAttachment"),
            NameObject("/Rect"): rect(),
            NameObject("/FS"): writer._add_object(spec),
        }
    )
    writer.pages[0][NameObject("/Annots")] = ArrayObject([writer._add_object(annotation)])
    return written(writer)


def test_a_file_attached_to_a_page_is_read_as_a_nested_file() -> None:
    texts, problems = extract(file_attachment_pdf(RECORD.encode()))
    assert any(t.member == "notes.txt" and NHS in t.text for t in texts)
    assert problems == []


def test_a_file_attached_to_a_page_is_read_like_an_embedded_one() -> None:
    """A zipped attachment goes through the archive extractor, as embedded files do."""
    texts, problems = extract(
        file_attachment_pdf(build_zip([Entry("list.csv", RECORD.encode())]), "a.zip")
    )
    assert any(t.member == "a.zip/list.csv" and NHS in t.text for t in texts)
    assert problems == []


def test_the_same_file_attached_twice_is_read_once() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(file_attachment_pdf(RECORD.encode()))))
    writer.add_attachment("notes.txt", RECORD.encode())  # also in the EmbeddedFiles tree
    texts, problems = extract(written(writer))
    assert all_text(texts).count(NHS) == 1
    assert problems == []


def test_attached_files_over_the_size_budget_are_a_problem() -> None:
    limits = ContentLimits(max_archive_total=1000)
    texts, problems = extract(file_attachment_pdf(RECORD.encode() + b"x" * 2000), limits)
    assert NHS not in all_text(texts)
    assert [p.code for p in problems] == ["too_large"]


# -- 2. XFA form data ----------------------------------------------------------------------

XDP_OPEN = b'<xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/">'
TEMPLATE = (
    b'<template xmlns="http://www.xfa.org/schema/xfa-template/3.3/"><subform name="form1">'
    b'<field name="nhs"><caption><value><text>NHS number</text></value></caption></field>'
    b"</subform></template>"
)
DATASETS = (
    b'<xfa:datasets xmlns:xfa="http://www.xfa.org/schema/xfa-data/1.0/"><xfa:data>'
    b"<form1><name>"
    + NAME.encode()
    + b"</name><nhs>&#"
    + str(ord(NHS[0])).encode()
    + b";"
    + NHS[1:].encode()
    + b"</nhs></form1></xfa:data></xfa:datasets>"
)


def xfa_pdf(xfa: list[tuple[str, bytes]] | bytes) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_with_text("Referral"))))
    if isinstance(xfa, bytes):
        value: object = writer._add_object(stream(xfa))
    else:
        packets = ArrayObject()
        for name, data in xfa:
            packets.append(TextStringObject(name))
            packets.append(writer._add_object(stream(data)))
        value = packets
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject(
        {NameObject("/Fields"): ArrayObject(), NameObject("/XFA"): value}
    )
    return written(writer)


def test_xfa_datasets_are_read() -> None:
    data = xfa_pdf(
        [
            ("preamble", XDP_OPEN),
            ("template", TEMPLATE),
            ("datasets", DATASETS),
            ("postamble", b"</xdp:xdp>"),
        ]
    )
    texts, problems = extract(data)
    # Read as XML: the character reference is the digit it stands for.
    assert NHS in all_text(texts) and NAME in all_text(texts)
    assert "NHS number" in all_text(texts)
    assert problems == []


def test_a_single_xfa_stream_is_read() -> None:
    texts, problems = extract(xfa_pdf(XDP_OPEN + TEMPLATE + DATASETS + b"</xdp:xdp>"))
    assert NHS in all_text(texts)
    assert problems == []


def test_xfa_that_is_not_xml_is_a_problem_and_the_pages_are_still_read() -> None:
    texts, problems = extract(xfa_pdf([("datasets", b"<xfa:datasets><unclosed " + NHS.encode())]))
    assert "Referral" in all_text(texts)
    assert [p.code for p in problems] == ["malformed_document"]


# -- 3. text only in an annotation's appearance ------------------------------------------------


def appearance(writer: PdfWriter, text: str) -> StreamObject:
    return writer._add_object(  # type: ignore[return-value]
        stream(
            shown(text),
            Type=NameObject("/XObject"),
            Subtype=NameObject("/Form"),
            BBox=ArrayObject([FloatObject(0), FloatObject(0), FloatObject(250), FloatObject(50)]),
            Resources=helvetica(writer),
        )
    )


@pytest.mark.parametrize("subtype", ["/Stamp", "/FreeText", "/Widget"])
def test_text_only_in_an_appearance_stream_is_read(subtype: str) -> None:
    writer = annotated(subtype)
    annotation = writer.pages[0]["/Annots"][0].get_object()
    annotation[NameObject("/AP")] = DictionaryObject({NameObject("/N"): appearance(writer, RECORD)})
    texts, problems = extract(written(writer))
    assert NHS in all_text(texts)
    assert problems == []


def test_text_in_an_appearance_state_and_a_rollover_is_read() -> None:
    writer = annotated("/Widget")
    annotation = writer.pages[0]["/Annots"][0].get_object()
    annotation[NameObject("/AP")] = DictionaryObject(
        {
            NameObject("/N"): DictionaryObject(
                {
                    NameObject("/Off"): appearance(writer, "no"),
                    NameObject("/On"): appearance(writer, NAME),
                }
            ),
            NameObject("/R"): appearance(writer, f"NHS {NHS}"),
        }
    )
    texts, problems = extract(written(writer))
    assert NHS in all_text(texts) and NAME in all_text(texts)
    assert problems == []


def test_an_appearance_showing_the_note_text_is_not_read_twice() -> None:
    writer = annotated("/FreeText", Contents=TextStringObject(RECORD))
    annotation = writer.pages[0]["/Annots"][0].get_object()
    # The appearance wraps the note over two lines, as a viewer draws it.
    words = RECORD.split(" ")
    content = shown(" ".join(words[:3])).replace(
        b"Tj", b"Tj 0 -12 Td (" + " ".join(words[3:]).encode() + b") Tj"
    )
    annotation[NameObject("/AP")] = DictionaryObject(
        {
            NameObject("/N"): writer._add_object(
                stream(content, Subtype=NameObject("/Form"), Resources=helvetica(writer))
            )
        }
    )
    texts, problems = extract(written(writer))
    assert all_text(texts).count(NHS) == 1
    assert problems == []


def test_note_author_contents_and_rich_text_are_still_read() -> None:
    rich = f"<body><p>{NAME}</p></body>"
    writer = annotated(
        "/Text",
        T=TextStringObject("Duty desk"),
        Contents=TextStringObject(f"NHS {NHS}"),
        RC=TextStringObject(rich),
    )
    texts, problems = extract(written(writer))
    assert "Duty desk" in all_text(texts) and NHS in all_text(texts) and NAME in all_text(texts)
    assert problems == []


# -- 4. an earlier revision kept by an incremental save ----------------------------------------


def content_stream(data: bytes, entries: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), entries) + data + b"\nendstream"


def updated(original: bytes, objects: dict[int, bytes]) -> bytes:
    """`original` with an incremental update appended, written as a word
    processor does: the new objects, an xref section for them and a trailer
    pointing back (/Prev).  What they replace stays in the file."""
    previous = int(original.rsplit(b"startxref", 1)[1].split()[0])
    size = int(original.rsplit(b"/Size", 1)[1].split()[0])
    out = bytearray(original)
    offsets = {}
    for number, body in objects.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n"
    for number, offset in offsets.items():
        out += b"%d 1\n%010d 00000 n \n" % (number, offset)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        max(size, *objects) + 1,
        previous,
        xref,
    )
    return bytes(out)


def redacted_by_an_update(original: bytes, replacement: str = "[redacted]") -> bytes:
    """`original` (from `pdf_with_text`, or from this) with page 1's content
    replaced by an incremental update; the old content stream is no longer
    referenced."""
    contents = int(original.rsplit(b"/Size", 1)[1].split()[0])  # a new object
    content = f"BT /F1 12 Tf 72 720 Td ({replacement}) Tj ET".encode("latin-1")
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>" % contents
    )
    return updated(original, {3: page, contents: content_stream(content)})


def drawn_through_a_form(text: str) -> bytes:
    """A page whose content only draws a form XObject (6 0 R) that shows `text`."""
    form = content_stream(
        shown(text),
        b"/Type /XObject /Subtype /Form /BBox [0 0 300 50] /Resources << /Font << /F1 5 0 R >> >> ",
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /XObject << /Fm1 6 0 R >> >> >>",
        content_stream(b"q 1 0 0 1 72 700 cm /Fm1 Do Q"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        form,
    ]
    return pdf_of_objects(objects)


def test_the_text_an_incremental_update_replaced_is_read() -> None:
    data = redacted_by_an_update(pdf_with_text(RECORD))
    assert data.count(b"%%EOF") == 2
    texts, problems = extract(data)
    assert texts[0].text.strip() == "[redacted]"  # what a reader shows, first and unchanged
    earlier = [t for t in texts if t.member == "(earlier revision 1)"]
    assert len(earlier) == 1 and NHS in earlier[0].text
    assert problems == []


def test_a_deleted_note_in_an_earlier_revision_is_read() -> None:
    writer = annotated("/Text", Contents=TextStringObject(RECORD))
    update = PdfWriter(PdfReader(io.BytesIO(written(writer))), incremental=True)
    del update.pages[0][NameObject("/Annots")]
    texts, problems = extract(written(update))
    assert NHS in all_text(texts)
    assert problems == []


def test_an_update_that_changes_nothing_read_adds_no_second_reading() -> None:
    """A signature or a filled-in field saved incrementally: what did not
    change is not read a second time (counting one person twice)."""
    writer = PdfWriter(PdfReader(io.BytesIO(pdf_with_text(RECORD))), incremental=True)
    writer.add_metadata({"/Title": "Signed"})
    data = written(writer)
    assert data.count(b"%%EOF") == 2
    texts, problems = extract(data)
    assert all_text(texts).count(NHS) == 1
    assert problems == []


def test_a_form_xobject_an_update_replaced_is_read() -> None:
    """The page's content stream is the same in both revisions: what it
    draws (the form XObject) is not, so the earlier page is read."""
    form = content_stream(
        shown("[redacted]"),
        b"/Type /XObject /Subtype /Form /BBox [0 0 300 50] /Resources << /Font << /F1 5 0 R >> >> ",
    )
    texts, problems = extract(updated(drawn_through_a_form(RECORD), {6: form}))
    assert "[redacted]" in texts[0].text and NHS not in texts[0].text
    assert NHS in all_text(texts)
    assert problems == []


def test_a_note_added_by_an_update_does_not_read_the_page_twice() -> None:
    """Adding a note (or a signature field) rewrites the page object; the
    page drawn is the same, so the earlier revision adds nothing."""
    writer = PdfWriter(PdfReader(io.BytesIO(pdf_with_text(RECORD))), incremental=True)
    writer.add_annotation(0, Text(rect=(50, 550, 200, 650), text="Seen by the duty desk"))
    data = written(writer)
    assert data.count(b"%%EOF") == 2
    texts, problems = extract(data)
    assert all_text(texts).count(NHS) == 1 and "Seen by the duty desk" in texts[0].text
    assert [t.member for t in texts] == [None]
    assert problems == []


def test_a_revision_that_does_not_parse_on_its_own_loses_nothing() -> None:
    # An "%%EOF" inside a stream (an embedded PDF, a comment in a font):
    # the prefix up to it is no PDF, and that is not a problem.
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_with_text(RECORD))))
    writer.add_attachment("notes.txt", b"A PDF ends with a line %%EOF\nand may go on.\n")
    data = written(writer)
    texts, problems = extract(data)
    assert RECORD in texts[0].text
    assert problems == []


def test_earlier_revisions_are_bounded() -> None:
    data = pdf_with_text(RECORD)
    for n in range(25):
        data = redacted_by_an_update(data, f"version {n}")
    texts, problems = extract(data)
    assert "version 24" in texts[0].text
    assert [p.code for p in problems] == ["too_large"]
    assert len([t for t in texts if t.member and t.member.startswith("(earlier revision")]) <= 20


# -- a plain PDF ------------------------------------------------------------------------------------


def test_a_plain_pdf_reads_as_it_did() -> None:
    texts, problems = extract(pdf_with_text(RECORD))
    assert [(t.text, t.member) for t in texts] == [(RECORD + "\n", None)]
    assert problems == []


def test_a_pdf_written_by_pypdf_with_a_note_reads_once() -> None:
    writer = annotated("/Text", Contents=TextStringObject(RECORD))
    compressed = PdfWriter(clone_from=PdfReader(io.BytesIO(written(writer))))
    compressed.compress_identical_objects()
    texts, problems = extract(written(compressed))
    assert all_text(texts).count(NHS) == 1
    assert [t.member for t in texts] == [None]
    assert problems == []


# -- the whole pipeline ---------------------------------------------------------------------------

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
)


def message_with(pdf: bytes) -> bytes:
    mail = EmailMessage(policy=SMTP)
    mail["From"] = "caseworker@council.example"
    mail["To"] = "team@recipient.example"
    mail["Subject"] = "Private and Confidential: referral"
    mail["Message-ID"] = "<pdf-hidden@council.example>"
    mail.set_content("Please see attached.\n\nPurpose: child protection referral\n")
    mail.add_attachment(pdf, maintype="application", subtype="pdf", filename="referral.pdf")
    return mail.as_bytes(policy=SMTP)


def stamp_pdf() -> bytes:
    writer = annotated("/Stamp")
    annotation = writer.pages[0]["/Annots"][0].get_object()
    annotation[NameObject("/AP")] = DictionaryObject({NameObject("/N"): appearance(writer, RECORD)})
    return written(writer)


HIDING_PLACES = [
    pytest.param(file_attachment_pdf(RECORD.encode()), id="file-attachment-annotation"),
    pytest.param(
        xfa_pdf([("preamble", XDP_OPEN), ("datasets", DATASETS), ("postamble", b"</xdp:xdp>")]),
        id="xfa-datasets",
    ),
    pytest.param(stamp_pdf(), id="stamp-appearance"),
    pytest.param(redacted_by_an_update(pdf_with_text(RECORD)), id="earlier-revision"),
]


@pytest.mark.parametrize("pdf", HIDING_PLACES)
def test_a_pdf_with_the_number_only_there_is_not_delivered_in_clear(
    tmp_path: Path, pdf: bytes
) -> None:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    settings = Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": "enforce"}})
    envelope = Envelope("caseworker@council.example", ("team@recipient.example",))
    decision = Pipeline(settings).run(envelope, message_with(pdf))
    assert decision.verdict.action is not Action.DELIVER
    assert "uk_nhs_number" in decision.verdict.information_types


def test_the_same_message_with_a_plain_pdf_is_delivered(tmp_path: Path) -> None:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    settings = Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": "enforce"}})
    envelope = Envelope("caseworker@council.example", ("team@recipient.example",))
    clean = redacted_by_an_update(pdf_with_text("Minutes of the team meeting"), "Minutes, final")
    decision = Pipeline(settings).run(envelope, message_with(clean))
    assert decision.verdict.action is Action.DELIVER, decision.verdict.reasons
