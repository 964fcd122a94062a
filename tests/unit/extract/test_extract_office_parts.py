"""Text that used to be invisible in office documents and PDFs: OOXML parts
off the fixed lists (SmartArt, pivot caches, chart caches, altChunk HTML,
the glossary, custom XML, modern comments, masters, oddly named sheets),
numeric cells of legacy .xls workbooks, and PDF annotations."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest
from pypdf import PdfWriter
from pypdf.annotations import FreeText, Text
from pypdf.generic import NameObject, TextStringObject

from gateway.extract import ExtractContext, build_registry
from gateway.model import Problem
from gateway.parse import ContentLimits

REGISTRY = build_registry()
NHS = "083 016 6130"  # synthetic, valid check digit
RECORD = f"Patient: Jane Smith, NHS number {NHS}"
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
S = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
A = 'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"'
P = 'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"'
CT = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
    "</Types>"
)


def extract(data: bytes) -> tuple[str, list[Problem]]:
    ctx = ExtractContext.start(ContentLimits(), REGISTRY, "2")
    texts = REGISTRY.extract(data, ctx)
    return "\n".join(t.text for t in texts), ctx.problems


def package(files: dict[str, str | bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CT)
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def docx(extra: dict[str, str | bytes]) -> bytes:
    body = (
        f"<w:document {W}><w:body><w:p><w:r><w:t>See below.</w:t></w:r></w:p></w:body></w:document>"
    )
    return package({"word/document.xml": body, **extra})


def xlsx(extra: dict[str, str | bytes]) -> bytes:
    sheet = f"<worksheet {S}><sheetData/></worksheet>"
    workbook = f'<workbook {S}><sheets><sheet name="Summary" sheetId="1"/></sheets></workbook>'
    return package({"xl/workbook.xml": workbook, "xl/worksheets/sheet1.xml": sheet, **extra})


def pptx(extra: dict[str, str | bytes]) -> bytes:
    slide = f"<p:sld {P} {A}><a:p><a:r><a:t>Case review</a:t></a:r></a:p></p:sld>"
    return package(
        {"ppt/presentation.xml": f"<p:presentation {P}/>", "ppt/slides/slide1.xml": slide, **extra}
    )


def drawing_text(root: str, text: str) -> str:
    return f"<{root} {P} {A}><a:p><a:r><a:t>{text}</a:t></a:r></a:p></{root}>"


OOXML_CASES = [
    ("docx smartart", docx({"word/diagrams/data1.xml": drawing_text("p:dataModel", RECORD)})),
    (
        "docx altchunk html",
        docx({"word/afchunk.htm": f"<html><body><p>{RECORD}</p></body></html>"}),
    ),
    ("docx altchunk under another name", docx({"word/chunk7.mht": f"<p>{RECORD}</p>"})),
    (
        "docx glossary",
        docx(
            {
                "word/glossary/document.xml": f"<w:glossaryDocument {W}><w:docParts><w:docPart>"
                f"<w:docPartBody><w:p><w:r><w:t>{RECORD}</w:t></w:r></w:p></w:docPartBody>"
                "</w:docPart></w:docParts></w:glossaryDocument>"
            }
        ),
    ),
    ("docx custom xml", docx({"customXml/item1.xml": f"<root><patient>{RECORD}</patient></root>"})),
    (
        "xlsx pivot cache records",
        xlsx(
            {
                "xl/pivotCache/pivotCacheRecords1.xml": f"<pivotCacheRecords {S}><r>"
                f'<s v="Jane Smith"/><s v="{NHS}"/></r></pivotCacheRecords>'
            }
        ),
    ),
    (
        "xlsx chart cache",
        xlsx(
            {
                "xl/charts/chart1.xml": '<c:chartSpace xmlns:c="http://schemas.openxmlformats.org/'
                f'drawingml/2006/chart"><c:strCache><c:pt idx="0"><c:v>{RECORD}</c:v></c:pt>'
                "</c:strCache></c:chartSpace>"
            }
        ),
    ),
    (
        "xlsx sheet not named sheetN",
        xlsx(
            {
                "xl/worksheets/Data.xml": f'<worksheet {S}><sheetData><row><c t="inlineStr">'
                f"<is><t>{RECORD}</t></is></c></row></sheetData></worksheet>"
            }
        ),
    ),
    (
        "pptx modern comment",
        pptx(
            {
                "ppt/comments/modernComment_100_1.xml": '<p188:cmLst xmlns:p188="http://schemas.'
                f'microsoft.com/office/powerpoint/2018/8/main" {A}><p188:cm><p188:txBody><a:p><a:r>'
                f"<a:t>{RECORD}</a:t></a:r></a:p></p188:txBody></p188:cm></p188:cmLst>"
            }
        ),
    ),
    (
        "pptx legacy comment",
        pptx(
            {
                "ppt/comments/comment1.xml": f'<p:cmLst {P}><p:cm authorId="0"><p:text>{RECORD}'
                "</p:text></p:cm></p:cmLst>"
            }
        ),
    ),
    ("pptx smartart", pptx({"ppt/diagrams/data1.xml": drawing_text("p:dataModel", RECORD)})),
    (
        "pptx slide master",
        pptx({"ppt/slideMasters/slideMaster1.xml": drawing_text("p:sldMaster", RECORD)}),
    ),
    (
        "pptx slide layout",
        pptx({"ppt/slideLayouts/slideLayout1.xml": drawing_text("p:sldLayout", RECORD)}),
    ),
]


@pytest.mark.parametrize("data", [c[1] for c in OOXML_CASES], ids=[c[0] for c in OOXML_CASES])
def test_text_in_every_part_of_an_office_package_is_read(data: bytes) -> None:
    text, problems = extract(data)
    assert NHS in text
    assert problems == []


def test_pivot_cache_keeps_a_record_on_one_line_after_its_field_names() -> None:
    definition = (
        f'<pivotCacheDefinition {S}><cacheFields><cacheField name="NHS number">'
        f'<sharedItems><n v="830166130"/></sharedItems></cacheField></cacheFields>'
        "</pivotCacheDefinition>"
    )
    records = (
        f'<pivotCacheRecords {S}><r><s v="Jane Smith"/><n v="8301661"/></r>'
        f'<r><s v="Sam Jones"/><n v="4010232137"/></r></pivotCacheRecords>'
    )
    text, _ = extract(
        xlsx(
            {
                "xl/pivotCache/pivotCacheDefinition1.xml": definition,
                "xl/pivotCache/pivotCacheRecords1.xml": records,
            }
        )
    )
    assert "NHS number" in text
    assert "Jane Smith\t8301661\t\n" in text
    assert "Sam Jones\t4010232137\t\n" in text


def test_parts_without_user_text_are_not_read() -> None:
    theme = drawing_text("a:theme", "Office Theme 0830166130")
    styles = (
        f'<w:styles {W}><w:style w:styleId="x"><w:name w:val="0830166130"/></w:style></w:styles>'
    )
    text, problems = extract(
        docx(
            {
                "word/theme/theme1.xml": theme,
                "word/styles.xml": styles,
                "word/_rels/document.xml.rels": "<Relationships>0830166130</Relationships>",
                "word/media/image1.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
                "word/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\x00" * 60,
                "docProps/thumbnail.jpeg": b"\xff\xd8\xff\xe0" + b"\x00" * 60,
            }
        )
    )
    assert "0830166130" not in text
    assert problems == []


def test_an_altchunk_is_read_wherever_its_relationship_points() -> None:
    rels = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/aFChunk" Target="theme/chunk.htm"/></Relationships>'
    )
    text, problems = extract(
        docx(
            {
                "word/_rels/document.xml.rels": rels,
                "word/theme/chunk.htm": f"<html><body><p>{RECORD}</p></body></html>",
            }
        )
    )
    assert NHS in text
    assert problems == []


def test_run_split_number_in_an_extra_part_stays_whole() -> None:
    split = (
        f"<p:dataModel {P} {A}><a:p><a:r><a:t>NHS 083 0</a:t></a:r><a:r><a:t>16 6130</a:t>"
        "</a:r></a:p></p:dataModel>"
    )
    text, _ = extract(docx({"word/diagrams/data1.xml": split}))
    assert NHS in text


def test_malformed_extra_part_is_a_problem_not_clean() -> None:
    _, problems = extract(docx({"word/diagrams/data1.xml": "<broken><a>"}))
    assert [p.code for p in problems] == ["malformed_document"]


def test_legacy_vml_that_is_not_xml_is_read_leniently() -> None:
    vml = (
        f"<xml><v:shape><v:textbox><div><font>{RECORD}<br></font></div></v:textbox></v:shape></xml>"
    )
    text, problems = extract(xlsx({"xl/drawings/vmlDrawing1.vml": vml}))
    assert NHS in text
    assert problems == []


def test_an_entity_declaration_in_an_extra_part_is_refused() -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    _, problems = extract(docx({"customXml/item1.xml": bomb}))
    assert [p.code for p in problems] == ["malformed_document"]


# --- legacy .xls: BIFF8 records of the Workbook stream ---------------------


def record(kind: int, body: bytes) -> bytes:
    return struct.pack("<HH", kind, len(body)) + body


def bof(kind: int) -> bytes:
    return record(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0, 0, 0, 0))


def rk_integer(value: int) -> int:
    return ((value << 2) | 2) & 0xFFFFFFFF


def short_string(text: str) -> bytes:
    return struct.pack("<HB", len(text), 0) + text.encode("latin-1")


def sst(strings: list[str], split_after: int) -> bytes:
    """A shared string table whose second string is split over a CONTINUE record,
    the continuation stored as UTF-16 (the flags byte that starts it says so)."""
    first, second = strings
    body = struct.pack("<II", 2, 2) + short_string(first)
    body += struct.pack("<HB", len(second), 0) + second[:split_after].encode("latin-1")
    rest = b"\x01" + second[split_after:].encode("utf-16-le")
    return record(0x00FC, body) + record(0x003C, rest)


def workbook_stream() -> bytes:
    row0 = record(0x00FD, struct.pack("<HHHI", 0, 0, 15, 0)) + record(
        0x00FD, struct.pack("<HHHI", 0, 1, 15, 1)
    )
    number = record(0x0203, struct.pack("<HHHd", 1, 0, 15, 830166130.0))
    mulrk = record(
        0x00BD,
        struct.pack("<HH", 2, 0)
        + struct.pack("<HI", 15, rk_integer(4010232137 // 1000))
        + struct.pack("<HI", 15, 1234 << 2 | 3)  # 12.34: an integer RK stored times 100
        + struct.pack("<H", 1),
    )
    rk = record(0x027E, struct.pack("<HHHI", 3, 1, 15, rk_integer(-7)))
    formula = record(0x0006, struct.pack("<HHHdHI", 3, 0, 15, 9434765919.0, 0, 0) + b"\x00\x00")
    formula_text = record(
        0x0006,
        struct.pack("<HHH", 4, 0, 15)
        + b"\x00\x00\x00\x00\x00\x00\xff\xff"
        + struct.pack("<HI", 0, 0)
        + b"\x00\x00",
    ) + record(0x0207, short_string("Sam Jones"))
    return (
        bof(0x0005)
        + sst(["NHS number", "Patient name"], 4)
        + record(0x000A, b"")
        + bof(0x0010)
        + row0
        + number
        + mulrk
        + formula
        + rk
        + formula_text
        + record(0x000A, b"")
    )


def test_numeric_cells_of_a_legacy_workbook_are_read_in_row_order() -> None:
    from gateway.extract.ole import workbook_text

    ctx = ExtractContext.start(ContentLimits(), REGISTRY, "2")
    text = workbook_text(workbook_stream(), ctx)
    assert text.splitlines() == [
        "NHS number\tPatient name",
        "830166130",
        "4010232\t12.34",
        "9434765919\t-7",
        "Sam Jones",
    ]


def test_a_damaged_workbook_stream_is_read_as_far_as_it_goes() -> None:
    from gateway.extract.ole import workbook_text

    ctx = ExtractContext.start(ContentLimits(), REGISTRY, "2")
    stream = workbook_stream()
    text = workbook_text(stream[: len(stream) - 40] + b"\x03\x02\xff\x7f", ctx)
    assert "830166130" in text


def test_a_number_is_written_as_its_format_shows_it() -> None:
    from gateway.extract.ole import workbook_text

    digit_places = record(0x041E, struct.pack("<HHB", 164, 12, 0) + b"000 000 0000")
    cell_formats = b"".join(
        record(0x00E0, struct.pack("<HH", 0, fmt) + bytes(16)) for fmt in (0, 164, 14)
    )
    cells = (
        record(0x0203, struct.pack("<HHHd", 0, 0, 1, 830166130.0))  # "000 000 0000"
        + record(0x0203, struct.pack("<HHHd", 0, 1, 2, 40616.0))  # built-in date format 14
        + record(0x0203, struct.pack("<HHHd", 0, 2, 0, 830166130.0))  # General
    )
    stream = (
        bof(0x0005)
        + digit_places
        + cell_formats
        + record(0x000A, b"")
        + bof(0x0010)
        + cells
        + record(0x000A, b"")
    )
    ctx = ExtractContext.start(ContentLimits(), REGISTRY, "2")
    assert workbook_text(stream, ctx).splitlines() == [f"{NHS}\t14/03/2011\t830166130"]


# --- PDF annotations -------------------------------------------------------


def pdf_with(annotation: object) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    writer.add_annotation(0, annotation)  # type: ignore[arg-type]
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def rich_text_note() -> bytes:
    note = Text(rect=(50, 550, 200, 650), text="see below")
    note[NameObject("/RC")] = TextStringObject(
        '<?xml version="1.0"?><body xmlns="http://www.w3.org/1999/xhtml"><p>NHS '
        "<span>083 016</span> 6130</p></body>"
    )
    return pdf_with(note)


@pytest.mark.parametrize(
    "data",
    [
        pdf_with(Text(rect=(50, 550, 200, 650), text=RECORD)),
        pdf_with(FreeText(text=RECORD, rect=(50, 550, 200, 650))),
        rich_text_note(),
    ],
    ids=["sticky note", "free text", "rich text"],
)
def test_pdf_annotation_text_is_read(data: bytes) -> None:
    text, problems = extract(data)
    assert NHS in text
    assert problems == []
