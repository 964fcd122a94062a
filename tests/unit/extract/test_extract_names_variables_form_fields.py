"""Names, variables and form-field values a file keeps in attributes or headers are read.

A Word document's variables (`w:docVars` in word/settings.xml, where letter
systems put a case's details), a legacy form field's drop-down entries and
default text (`w:ffData`), an OpenDocument spreadsheet's tab names
(`table:name`) and a form control's caption (`form:label`), and a gzip
file's original name and comment (RFC 1952 FNAME and FCOMMENT): the
recipient sees each of them, so each is read.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from xml.sax.saxutils import quoteattr

import pytest
from faker import Faker
from fixtures_content import NHS, mail

from gateway.detect import build_engine
from gateway.extract import ExtractContext, build_registry
from gateway.inspect import inspect_message
from gateway.model import InformationType
from gateway.parse import ContentLimits

REGISTRY = build_registry()
_FAKE = Faker("en_GB")
_FAKE.seed_instance(5310)
NAME = _FAKE.name()
POSTCODE = _FAKE.postcode()
SPACED = f"{NHS[:3]} {NHS[3:6]} {NHS[6:]}"
RECORD = f"{NAME}, NHS number {SPACED}, {POSTCODE}"

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
CT = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
    "</Types>"
)
ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:form="urn:oasis:names:tc:opendocument:xmlns:form:1.0"'
)
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"


def extract(data: bytes) -> str:
    ctx = ExtractContext.start(ContentLimits(), REGISTRY, "2")
    texts = REGISTRY.extract(data, ctx)
    assert ctx.problems == []
    return "\n".join(t.text for t in texts)


def found_types(filename: str, data: bytes, content_type: str) -> set[InformationType]:
    inspection = inspect_message(
        mail("Please see the attached file.\n", attachments=[(filename, data, content_type)])
    )
    return {f.info_type for f in build_engine().detect(inspection.segments)}


# --- Word -----------------------------------------------------------------


def docx(body: str, *, settings: str | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CT)
        zf.writestr("word/document.xml", f"<w:document {W}><w:body>{body}</w:body></w:document>")
        if settings is not None:
            zf.writestr("word/settings.xml", f"<w:settings {W}>{settings}</w:settings>")
    return out.getvalue()


def paragraph(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


PLAIN_SETTINGS = (
    '<w:zoom w:percent="100"/><w:proofState w:spelling="clean"/>'
    '<w:defaultTabStop w:val="720"/><w:characterSpacingControl w:val="doNotCompress"/>'
    '<w:rsids><w:rsidRoot w:val="00A1B2C3"/><w:rsid w:val="00D4E5F6"/></w:rsids>'
    '<w:themeFontLang w:val="en-GB"/>'
)


def doc_variables(variables: dict[str, str]) -> str:
    entries = "".join(
        f"<w:docVar w:name={quoteattr(name)} w:val={quoteattr(value)}/>"
        for name, value in variables.items()
    )
    return f"{PLAIN_SETTINGS}<w:docVars>{entries}</w:docVars>"


def test_word_document_variables_are_read_each_after_its_name() -> None:
    settings = doc_variables({"ChildName": NAME, "NHSNumber": SPACED, "Postcode": POSTCODE})
    text = extract(docx(paragraph("Referral letter."), settings=settings))
    assert f"ChildName\t{NAME}" in text
    assert f"NHSNumber\t{SPACED}" in text
    assert POSTCODE in text


def test_a_letter_whose_variables_hold_a_record_has_personal_data() -> None:
    data = docx(paragraph("Referral letter."), settings=doc_variables({"Client": RECORD}))
    types = found_types("letter.docx", data, "application/octet-stream")
    assert InformationType.UK_NHS_NUMBER in types


def test_word_settings_without_variables_add_no_text() -> None:
    text = extract(docx(paragraph("Referral letter."), settings=PLAIN_SETTINGS))
    assert text.strip() == "Referral letter."


def form_field(ff_data: str, instruction: str, result: str = "") -> str:
    runs = (
        f'<w:r><w:fldChar w:fldCharType="begin"><w:ffData><w:name w:val="Field1"/>'
        f"<w:enabled/>{ff_data}</w:ffData></w:fldChar></w:r>"
        f'<w:r><w:instrText xml:space="preserve"> {instruction} </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        + (f"<w:r><w:t>{result}</w:t></w:r>" if result else "")
        + '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
    )
    return f"<w:p><w:r><w:t>Child: </w:t></w:r>{runs}</w:p>"


def test_a_legacy_drop_down_field_s_entries_are_read() -> None:
    ff_data = (
        '<w:ddList><w:result w:val="1"/><w:listEntry w:val="Choose"/>'
        f"<w:listEntry w:val={quoteattr(RECORD)}/></w:ddList>"
    )
    text = extract(docx(form_field(ff_data, "FORMDROPDOWN")))
    assert RECORD in text
    assert "Choose" in text


def test_a_legacy_text_field_s_default_and_help_texts_are_read() -> None:
    ff_data = (
        f'<w:helpText w:type="text" w:val="Child: {NAME}"/>'
        f'<w:statusText w:type="text" w:val="Postcode {POSTCODE}"/>'
        f'<w:textInput><w:default w:val="NHS number {SPACED}"/></w:textInput>'
    )
    text = extract(docx(form_field(ff_data, "FORMTEXT", result="     ")))
    assert f"NHS number {SPACED}" in text
    assert NAME in text
    assert POSTCODE in text


def test_a_form_field_whose_default_holds_a_record_has_personal_data() -> None:
    ff_data = f"<w:textInput><w:default w:val={quoteattr(RECORD)}/></w:textInput>"
    data = docx(form_field(ff_data, "FORMTEXT", result="     "))
    assert InformationType.UK_NHS_NUMBER in found_types("form.docx", data, "application/msword")


def test_a_content_control_s_drop_down_entries_are_read() -> None:
    control = (
        f'<w:sdt><w:sdtPr><w:alias w:val="Child"/><w:dropDownList>'
        f'<w:listItem w:displayText="Choose an item." w:value=""/>'
        f"<w:listItem w:displayText={quoteattr(RECORD)} w:value=\"1\"/>"
        "</w:dropDownList></w:sdtPr><w:sdtContent><w:p><w:r><w:t>Choose an item.</w:t>"
        "</w:r></w:p></w:sdtContent></w:sdt>"
    )
    text = extract(docx(control))
    assert RECORD in text


# --- OpenDocument ---------------------------------------------------------


def odf(mimetype: str, body: str) -> bytes:
    kind = {ODT: "text", ODS: "spreadsheet"}[mimetype]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED)
        zf.writestr(
            "content.xml",
            f"<office:document-content {ODF_NS}><office:body><office:{kind}>{body}"
            f"</office:{kind}></office:body></office:document-content>",
        )
    return out.getvalue()


def ods_table(name: str, cell: str) -> str:
    return (
        f"<table:table table:name={quoteattr(name)}><table:table-row><table:table-cell>"
        f"<text:p>{cell}</text:p></table:table-cell></table:table-row></table:table>"
    )


def test_an_ods_tab_name_is_read() -> None:
    text = extract(odf(ODS, ods_table(f"{NAME} {NHS}", "Summary")))
    assert f"{NAME} {NHS}" in text
    assert "Summary" in text


def test_a_spreadsheet_tab_named_with_a_record_has_personal_data() -> None:
    data = odf(ODS, ods_table(RECORD, "Summary"))
    assert InformationType.UK_NHS_NUMBER in found_types("d.ods", data, ODS)


def test_odt_form_controls_captions_and_list_entries_are_read() -> None:
    body = (
        "<office:forms><form:form>"
        f"<form:listbox form:name=\"child\"><form:option form:label={quoteattr(NAME)}/>"
        "</form:listbox>"
        f'<form:checkbox form:name="consent" form:label="NHS number {SPACED}"/>'
        f'<form:button form:name="go" form:label="Postcode {POSTCODE}"/>'
        "</form:form></office:forms><text:p>Referral form</text:p>"
    )
    text = extract(odf(ODT, body))
    assert NAME in text
    assert f"NHS number {SPACED}" in text
    assert POSTCODE in text
    assert "Referral form" in text


# --- gzip -----------------------------------------------------------------


def gzip_member(content: bytes, *, name: bytes = b"", comment: bytes = b"") -> bytes:
    """One gzip member (RFC 1952) with the FNAME and FCOMMENT fields given;
    Python's gzip module cannot write a comment."""
    flags = (8 if name else 0) | (16 if comment else 0)
    header = b"\x1f\x8b\x08" + bytes([flags]) + struct.pack("<I", 0) + b"\x00\xff"
    if name:
        header += name + b"\x00"
    if comment:
        header += comment + b"\x00"
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = deflater.compress(content) + deflater.flush()
    trailer = struct.pack("<II", zlib.crc32(content), len(content) & 0xFFFFFFFF)
    return header + body + trailer


def test_a_gzip_file_s_original_name_is_read() -> None:
    name = f"{NAME} NHS {SPACED} {POSTCODE}.txt"
    text = extract(gzip_member(b"see title", name=name.encode()))
    assert name in text
    assert "see title" in text


def test_a_gzip_file_s_comment_is_read() -> None:
    text = extract(gzip_member(b"hello", name=b"x.txt", comment=RECORD.encode()))
    assert RECORD in text
    assert "x.txt" in text


def test_the_names_of_every_member_of_a_gzip_file_are_read() -> None:
    data = gzip_member(b"first\n", name=b"a.txt") + gzip_member(b"second\n", name=NAME.encode())
    text = extract(data)
    assert NAME in text
    assert "first\nsecond" in text


def test_a_latin_1_gzip_name_is_read() -> None:
    name = f"{NAME} café {NHS}.txt"
    text = extract(gzip_member(b"hello", name=name.encode("latin-1")))
    assert name in text


def test_a_gzip_file_named_with_a_record_has_personal_data() -> None:
    data = gzip_member(b"see title", comment=RECORD.encode())
    assert InformationType.UK_NHS_NUMBER in found_types("export.gz", data, "application/gzip")


@pytest.mark.parametrize("extra", [b"", b"AB\x02\x00xy"])
def test_a_gzip_member_with_an_extra_field_still_shows_its_name(extra: bytes) -> None:
    member = gzip_member(b"hello", name=NAME.encode())
    if extra:
        # FEXTRA: a length, then that many bytes, before the name.
        member = (
            member[:3] + bytes([member[3] | 4]) + member[4:10]
            + struct.pack("<H", len(extra)) + extra + member[10:]
        )
    assert NAME in extract(member)


# --- XLSX tab names (already read through workbook.xml: held here) ----------


def test_an_xlsx_tab_name_is_read() -> None:
    s = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CT)
        zf.writestr(
            "xl/workbook.xml",
            f"<workbook {s}><sheets><sheet name={quoteattr(RECORD)} sheetId=\"1\"/></sheets>"
            "</workbook>",
        )
        zf.writestr("xl/worksheets/sheet1.xml", f"<worksheet {s}><sheetData/></worksheet>")
    assert RECORD in extract(out.getvalue())
