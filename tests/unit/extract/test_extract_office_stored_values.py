"""Text an office file stores out of its visible flow is read, once.

An XLSX's shared-string table travels whole, whether or not a cell refers
to each string; an OpenDocument file keeps a cell's or a field's value in an
attribute (`office:string-value`, `office:value`, `text:string-value`) and
custom document properties in `meta:user-defined`.  The recipient unzips the
file, or the office suite shows the value, so all of it is read.  A value
that the text beside it already shows is not read a second time (a count of
records must not double).  The places already read (comments, tracked
deletions, hidden sections, tables and sheets) are held here too.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from faker import Faker
from fixtures_content import NHS

from gateway.extract import ExtractContext, build_registry
from gateway.model import Problem
from gateway.parse import ContentLimits

REGISTRY = build_registry()
_FAKE = Faker("en_GB")
_FAKE.seed_instance(4127)
NAME = _FAKE.name()
POSTCODE = _FAKE.postcode()
RECORD = f"{NAME}, NHS number {NHS}, {POSTCODE}"
SPACED = f"{NHS[:3]} {NHS[3:6]} {NHS[6:]}"  # as a "000 000 0000" number format shows it

S = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
CT = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
    "</Types>"
)
ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" '
    'xmlns:form="urn:oasis:names:tc:opendocument:xmlns:form:1.0" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"'
)
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"


def extract(data: bytes) -> tuple[str, list[Problem]]:
    ctx = ExtractContext.start(ContentLimits(), REGISTRY, "2")
    texts = REGISTRY.extract(data, ctx)
    return "\n".join(t.text for t in texts), ctx.problems


# --- XLSX ----------------------------------------------------------------


def xlsx(sheets: dict[str, str], strings: list[str], *, states: dict[str, str] | None = None) -> bytes:
    states = states or {}
    entries = "".join(
        f'<sheet name="{name}" sheetId="{i}"'
        + (f' state="{states[name]}"' if name in states else "")
        + "/>"
        for i, name in enumerate(sheets, start=1)
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CT)
        zf.writestr("xl/workbook.xml", f"<workbook {S}><sheets>{entries}</sheets></workbook>")
        zf.writestr(
            "xl/sharedStrings.xml",
            f"<sst {S}>" + "".join(f"<si><t>{s}</t></si>" for s in strings) + "</sst>",
        )
        for i, rows in enumerate(sheets.values(), start=1):
            zf.writestr(
                f"xl/worksheets/sheet{i}.xml",
                f"<worksheet {S}><sheetData>{rows}</sheetData></worksheet>",
            )
    return out.getvalue()


def inline_row(text: str) -> str:
    return f'<row r="1"><c r="A1" t="inlineStr"><is><t>{text}</t></is></c></row>'


def shared_row(*indexes: int) -> str:
    cells = "".join(
        f'<c r="{chr(65 + c)}1" t="s"><v>{index}</v></c>' for c, index in enumerate(indexes)
    )
    return f'<row r="1">{cells}</row>'


def test_a_shared_string_no_cell_refers_to_is_read() -> None:
    text, problems = extract(xlsx({"Summary": inline_row("Summary")}, ["Total", RECORD]))
    assert "Summary" in text
    assert NHS in text
    assert NAME in text
    assert problems == []


def test_unreferenced_strings_are_read_beside_the_referenced_ones() -> None:
    strings = ["Total", NAME, NHS, POSTCODE]
    text, _ = extract(xlsx({"Summary": shared_row(0)}, strings))
    for value in strings:
        assert text.count(value) == 1, value


def test_a_referenced_shared_string_is_read_once() -> None:
    strings = [f"NHS number {NHS}", "Total", NAME]
    text, _ = extract(xlsx({"Summary": shared_row(0, 2, 0)}, strings))
    # Twice through the cells that refer to it, not a third time as table text.
    assert text.count(NHS) == 2
    assert text.count(NAME) == 1
    assert "Total" in text


def test_a_string_referred_to_from_a_second_sheet_is_not_read_again() -> None:
    strings = ["Summary", RECORD]
    text, _ = extract(xlsx({"Front": shared_row(0), "Detail": shared_row(1)}, strings))
    assert text.count(NHS) == 1


@pytest.mark.parametrize("state", ["hidden", "veryHidden"])
def test_a_hidden_sheet_is_read(state: str) -> None:
    sheets = {"Front": inline_row("Summary"), "Back": shared_row(0)}
    text, _ = extract(xlsx(sheets, [RECORD], states={"Back": state}))
    assert text.count(NHS) == 1


# --- OpenDocument ---------------------------------------------------------


def odf(mimetype: str, body: str, *, meta: str | None = None) -> bytes:
    kind = {ODT: "text", ODS: "spreadsheet", ODP: "presentation"}[mimetype]
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODF_NS}>'
        f"<office:body><office:{kind}>{body}</office:{kind}></office:body>"
        "</office:document-content>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), mimetype)
        zf.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        if meta is not None:
            zf.writestr(
                "meta.xml",
                f'<?xml version="1.0" encoding="UTF-8"?><office:document-meta {ODF_NS}>'
                f"<office:meta>{meta}</office:meta></office:document-meta>",
                zipfile.ZIP_DEFLATED,
            )
    return out.getvalue()


def sheet(*cells: str) -> str:
    return (
        '<table:table table:name="Sheet1"><table:table-row>'
        + "".join(cells)
        + "</table:table-row></table:table>"
    )


@pytest.mark.parametrize("mimetype, body", [
    (ODT, "<text:p>Notes</text:p>"),
    (ODS, sheet("<table:table-cell><text:p>Notes</text:p></table:table-cell>")),
    (ODP, '<draw:page draw:name="1"><draw:frame><draw:text-box><text:p>Notes</text:p>'
          "</draw:text-box></draw:frame></draw:page>"),
])
def test_a_user_defined_property_is_read(mimetype: str, body: str) -> None:
    meta = f'<meta:user-defined meta:name="Client">{RECORD}</meta:user-defined>'
    text, problems = extract(odf(mimetype, body, meta=meta))
    assert "Notes" in text
    assert NHS in text
    assert "Client" in text  # the property's name is the value's context
    assert problems == []


def test_a_user_defined_propertys_name_is_read() -> None:
    meta = f'<meta:user-defined meta:name="{RECORD}" meta:value-type="boolean">true</meta:user-defined>'
    text, _ = extract(odf(ODT, "<text:p>Notes</text:p>", meta=meta))
    assert NHS in text


def test_who_printed_the_document_is_read() -> None:
    text, _ = extract(odf(ODT, "<text:p>Notes</text:p>", meta=f"<meta:printed-by>{NAME}</meta:printed-by>"))
    assert NAME in text


def test_a_cells_string_value_that_differs_from_its_text_is_read() -> None:
    cell = (
        f'<table:table-cell office:value-type="string" office:string-value="{RECORD}">'
        "<text:p>x</text:p></table:table-cell>"
    )
    text, problems = extract(odf(ODS, sheet(cell)))
    assert NHS in text
    assert NAME in text
    assert problems == []


def test_a_cells_string_value_its_text_shows_is_read_once() -> None:
    cell = (
        f'<table:table-cell office:value-type="string" office:string-value="{RECORD}">'
        f"<text:p>{RECORD}</text:p></table:table-cell>"
    )
    text, _ = extract(odf(ODS, sheet(cell)))
    assert text.count(NHS) == 1


def test_a_number_cell_is_read_when_its_format_hides_the_number() -> None:
    cells = (
        '<table:table-cell office:value-type="string"><text:p>NHS number</text:p></table:table-cell>'
        f'<table:table-cell office:value-type="float" office:value="{NHS}">'
        "<text:p>9.43E+09</text:p></table:table-cell>"
    )
    text, _ = extract(odf(ODS, sheet(cells)))
    assert NHS in text


def test_a_number_cell_its_format_shows_whole_is_read_once() -> None:
    cell = (
        f'<table:table-cell office:value-type="float" office:value="{NHS}">'
        f"<text:p>{SPACED}</text:p></table:table-cell>"
    )
    text, _ = extract(odf(ODS, sheet(cell)))
    assert text.count(SPACED) == 1
    assert NHS not in text


def test_a_cell_with_a_value_and_no_text_is_read() -> None:
    cell = f'<table:table-cell office:value-type="string" office:string-value="{RECORD}"/>'
    text, _ = extract(odf(ODS, sheet(cell)))
    assert NHS in text


def test_a_formula_cells_text_result_is_read() -> None:
    cell = (
        f'<table:table-cell table:formula="of:=[.B1]" office:value-type="string" '
        f'office:string-value="{RECORD}"><text:p>see B1</text:p></table:table-cell>'
    )
    text, _ = extract(odf(ODS, sheet(cell)))
    assert NHS in text


@pytest.mark.parametrize("body", [
    # Insert > Field > User Field: the declaration holds the value the field shows.
    f'<text:user-field-decls><text:user-field-decl office:value-type="string" '
    f'office:string-value="{RECORD}" text:name="Client"/></text:user-field-decls>'
    '<text:p>Notes <text:user-field-get text:name="Client"/></text:p>',
    f'<text:variable-decls><text:variable-decl office:value-type="string" text:name="V"/>'
    f'</text:variable-decls><text:p><text:variable-set text:name="V" office:value-type="string" '
    f'office:string-value="{RECORD}" text:display="none"/>Notes</text:p>',
    f'<text:p><text:hidden-text text:condition="ooow:1" text:string-value="{RECORD}"/>Notes</text:p>',
    f'<text:p><text:conditional-text text:condition="ooow:1" text:string-value-if-true="Notes" '
    f'text:string-value-if-false="{RECORD}">Notes</text:conditional-text></text:p>',
])
def test_a_fields_stored_value_is_read(body: str) -> None:
    text, problems = extract(odf(ODT, body))
    assert "Notes" in text
    assert NHS in text
    assert problems == []


def test_a_form_fields_value_is_read() -> None:
    body = (
        '<office:forms><form:form form:name="Form"><form:text form:name="Client" '
        f'form:current-value="{RECORD}"/></form:form></office:forms><text:p>Notes</text:p>'
    )
    text, _ = extract(odf(ODT, body))
    assert NHS in text


@pytest.mark.parametrize("mimetype, body", [
    (ODT, f"<text:p>Notes<office:annotation><dc:creator>A</dc:creator><text:p>{RECORD}</text:p>"
          "</office:annotation></text:p>"),
    (ODS, sheet(f"<table:table-cell><office:annotation><text:p>{RECORD}</text:p>"
                "</office:annotation><text:p>Notes</text:p></table:table-cell>")),
    (ODT, '<text:tracked-changes><text:changed-region text:id="c1"><text:deletion>'
          f"<office:change-info><dc:creator>A</dc:creator></office:change-info><text:p>{RECORD}"
          "</text:p></text:deletion></text:changed-region></text:tracked-changes>"
          '<text:p><text:change text:change-id="c1"/>Notes</text:p>'),
    (ODT, f'<text:p>Notes</text:p><text:section text:name="S" text:display="none"><text:p>{RECORD}'
          "</text:p></text:section>"),
    (ODT, f'<text:p>Notes</text:p><text:p><text:hidden-paragraph text:condition="ooow:1" '
          f'text:is-hidden="true"/>{RECORD}</text:p>'),
    (ODS, sheet("<table:table-cell><text:p>Notes</text:p></table:table-cell>")
     + f'<table:table table:name="B" table:display="false"><table:table-row><table:table-cell>'
       f"<text:p>{RECORD}</text:p></table:table-cell></table:table-row></table:table>"),
    (ODS, '<table:table table:name="A"><table:table-row><table:table-cell><text:p>Notes</text:p>'
          '</table:table-cell></table:table-row><table:table-row table:visibility="collapse">'
          f"<table:table-cell><text:p>{RECORD}</text:p></table:table-cell></table:table-row>"
          "</table:table>"),
])
def test_comments_deletions_and_hidden_parts_are_read_once(mimetype: str, body: str) -> None:
    text, _ = extract(odf(mimetype, body))
    assert "Notes" in text
    assert text.count(NHS) == 1


@pytest.mark.parametrize("element", ["svg:title", "svg:desc"])
def test_the_alternative_text_of_a_picture_anchored_to_the_page_is_read(element: str) -> None:
    svg = 'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"'
    body = (
        f'<draw:frame text:anchor-type="page"><draw:image/><{element} {svg}>{RECORD}</{element}>'
        "</draw:frame><text:p>Notes</text:p>"
    )
    text, _ = extract(odf(ODT, body))
    assert "Notes" in text
    assert text.count(NHS) == 1
