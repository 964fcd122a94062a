"""Places in OOXML files where text travels though the page does not show
it, which the extractor used to skip: a picture's or table's alternative
text, a sheet's printed header and footer, a formula's string literal saved
with an empty cached value, and text saved under a picture's name
(word/media/image1.png).  Each case carries a synthetic record only in that
place; ordinary documents read as they did."""

from __future__ import annotations

import io
import os
import zipfile

import pytest
from faker import Faker

from gateway.extract import ExtractContext, build_registry
from gateway.model import Problem
from gateway.parse import ContentLimits

REGISTRY = build_registry()
NHS = "083 016 6130"  # synthetic, valid check digit
_fake = Faker("en_GB")
_fake.seed_instance(5310)
NAME = _fake.name()
RECORD = f"{NAME}, NHS number {NHS}"
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
WP = 'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"'
S = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
A = 'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"'
P = 'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"'
XDR = 'xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"'
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


def docx(body: str, extra: dict[str, str | bytes] | None = None) -> bytes:
    document = f"<w:document {W} {WP}><w:body>{body}</w:body></w:document>"
    return package({"word/document.xml": document, **(extra or {})})


def xlsx(sheet_data: str, after: str = "", extra: dict[str, str | bytes] | None = None) -> bytes:
    sheet = f"<worksheet {S}><sheetData>{sheet_data}</sheetData>{after}</worksheet>"
    workbook = f'<workbook {S}><sheets><sheet name="Summary" sheetId="1"/></sheets></workbook>'
    return package(
        {"xl/workbook.xml": workbook, "xl/worksheets/sheet1.xml": sheet, **(extra or {})}
    )


def picture(descr: str = "", title: str = "") -> str:
    """A Word drawing whose picture repeats the description, as Word writes it."""
    return (
        '<w:p><w:r><w:drawing><wp:inline><wp:docPr id="1" name="Picture 1" '
        f'descr="{descr}" title="{title}"/><a:graphic {A}><a:graphicData><pic:pic '
        'xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:nvPicPr>'
        f'<pic:cNvPr id="0" name="scan.png" descr="{descr}"/></pic:nvPicPr></pic:pic>'
        "</a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>"
    )


def cell(reference: str, formula: str, value: str | None, kind: str = "str") -> str:
    cached = "" if value is None else f"<v>{value}</v>"
    return f'<c r="{reference}" t="{kind}"><f>{formula}</f>{cached}</c>'


# ---------------------------------------------------------------- alternative text


@pytest.mark.parametrize("where", ["descr", "title"])
def test_a_word_pictures_alternative_text_is_read_once(where: str) -> None:
    text, problems = extract(docx(picture(**{where: RECORD})))
    assert NHS in text
    assert text.count(NHS) == 1  # not again from the picture's own copy
    assert problems == []


def test_a_word_tables_alternative_text_is_read() -> None:
    table = (
        f'<w:tbl><w:tblPr><w:tblCaption w:val="Referrals"/><w:tblDescription w:val="{RECORD}"/>'
        "</w:tblPr><w:tr><w:tc><w:p><w:r><w:t>Week 3</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"
    )
    text, _ = extract(docx(table))
    assert NHS in text
    assert "Referrals" in text


def test_a_slides_picture_alternative_text_is_read() -> None:
    slide = (
        f"<p:sld {P} {A}><p:cSld><p:spTree><p:pic><p:nvPicPr>"
        f'<p:cNvPr id="4" name="Picture 3" descr="{RECORD}"/></p:nvPicPr></p:pic>'
        "<p:sp><p:txBody><a:p><a:r><a:t>Case review</a:t></a:r></a:p></p:txBody></p:sp>"
        "</p:spTree></p:cSld></p:sld>"
    )
    data = package(
        {"ppt/presentation.xml": f"<p:presentation {P}/>", "ppt/slides/slide1.xml": slide}
    )
    text, _ = extract(data)
    assert NHS in text


def test_a_sheets_picture_alternative_text_is_read() -> None:
    drawing = (
        f'<xdr:wsDr {XDR}><xdr:oneCellAnchor><xdr:pic><xdr:nvPicPr><xdr:cNvPr id="2" '
        f'name="Picture 1" descr="{RECORD}"/></xdr:nvPicPr></xdr:pic></xdr:oneCellAnchor>'
        "</xdr:wsDr>"
    )
    text, _ = extract(xlsx("", extra={"xl/drawings/drawing1.xml": drawing}))
    assert NHS in text


def test_a_picture_without_alternative_text_adds_nothing() -> None:
    text, _ = extract(docx(picture() + "<w:p><w:r><w:t>Rota for May</w:t></w:r></w:p>"))
    assert text.split() == ["Rota", "for", "May"]


# ---------------------------------------------------------------- headers and footers


@pytest.mark.parametrize(
    "element", ["oddHeader", "oddFooter", "evenHeader", "evenFooter", "firstHeader", "firstFooter"]
)
def test_a_sheets_printed_header_and_footer_are_read(element: str) -> None:
    after = f"<headerFooter><{element}>{RECORD}</{element}></headerFooter>"
    text, problems = extract(xlsx("", after))
    assert NHS in text
    assert problems == []


def test_header_codes_do_not_join_the_words_they_stand_between() -> None:
    first, last = NAME.split()[0], NAME.split()[-1]
    codes = (
        f'&amp;L&amp;"Arial,Bold"&amp;8{first} {last}&amp;C&amp;KFF0000Page &amp;P'
        "&amp;RSmith &amp;&amp; Co"
    )
    text, _ = extract(xlsx("", f"<headerFooter><oddHeader>{codes}</oddHeader></headerFooter>"))
    assert f"{first} {last}" in text
    assert f"L{first}" not in text and "8" not in text and "FF0000" not in text
    assert "Smith & Co" in text


# ---------------------------------------------------------------- formulas


@pytest.mark.parametrize("cached", ["", None], ids=["empty value", "no value"])
def test_a_formulas_string_literal_is_read_when_its_value_is_not_saved(cached: str | None) -> None:
    row = f'<row r="1">{cell("A1", f"&quot;{RECORD}&quot;", cached)}</row>'
    text, problems = extract(xlsx(row))
    assert NHS in text
    assert problems == []


def test_a_literal_in_a_longer_formula_is_read() -> None:
    formula = f'IF(B1=1,&quot;{RECORD}&quot;,&quot;&quot;)'
    text, _ = extract(xlsx(f'<row r="1">{cell("A1", formula, "")}</row>'))
    assert NHS in text


def test_a_literal_the_cell_shows_is_read_once() -> None:
    rows = "".join(
        f'<row r="{n}">{cell(f"A{n}", "IF(B1&gt;0,&quot;Yes&quot;,&quot;Not yet&quot;)", "Yes")}'
        "</row>"
        for n in range(1, 4)
    )
    text, _ = extract(xlsx(rows))
    assert text.count("Yes") == 3  # the three cells, as they show
    assert text.count("Not yet") == 1  # the unshown literal, once for the sheet


def test_formulas_without_literals_read_as_before() -> None:
    rows = (
        '<row r="1"><c r="A1"><v>2</v></c><c r="B1"><v>3</v></c>'
        '<c r="C1"><f>SUM(A1:B1)</f><v>5</v></c></row>'
    )
    text, _ = extract(xlsx(rows))
    assert text.split() == ["2", "3", "5", "Summary"]  # the cells, then the sheet's name


# ---------------------------------------------------------------- parts in disguise


def test_text_saved_under_a_pictures_name_is_read() -> None:
    data = docx(
        "<w:p><w:r><w:t>Hello</w:t></w:r></w:p>", {"word/media/image1.png": RECORD.encode()}
    )
    text, problems = extract(data)
    assert NHS in text
    assert problems == []


def test_a_csv_saved_as_a_font_is_read_as_a_table() -> None:
    rows = "name,nhs number\n" + "".join(
        f"{_fake.name()},{NHS}\n" for _ in range(3)
    )
    data = docx("<w:p><w:r><w:t>Hello</w:t></w:r></w:p>", {"word/fonts/font1.odttf": rows})
    text, _ = extract(data)
    assert NHS in text


def test_real_pictures_and_fonts_are_still_not_read() -> None:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(512)
    jpeg = b"\xff\xd8\xff\xe0" + os.urandom(512)
    font = b"\x00\x01\x00\x00" + os.urandom(512)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><path d="M12 3.5 07700 900123"/></svg>'
    data = docx(
        "<w:p><w:r><w:t>Rota for May</w:t></w:r></w:p>",
        {
            "word/media/image1.png": png,
            "word/media/image2.jpeg": jpeg,
            "word/fonts/font1.odttf": font,
            "word/media/image3.svg": svg,
            "word/media/image4.png": b"",
        },
    )
    text, problems = extract(data)
    assert text.split() == ["Rota", "for", "May"]
    assert problems == []
