"""Documents whose record sits where the page does not show it, over real
SMTP: a Word picture's alternative text, a spreadsheet formula's string
literal saved with no value, a PDF page drawn with a font its resources
lack, a PDF's JavaScript and an HTML file's processing instruction.  Each
was delivered in clear; in enforce mode each is refused now, nothing
reaches the recipient, and the audit record names what was found."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fixtures_content import pdf_of_objects
from policy_messages import ALLOWED, only_record, person, send
from policy_messages import with_attachment as message

Factory = Callable[..., Awaitable[Any]]
WHO = person(6104)
RECORD = f"Patient: {WHO.name}, NHS number {WHO.nhs}, date of birth {WHO.dob}"
CT = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
    "</Types>"
)
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
WP = 'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"'
S = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def package(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CT)
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def docx_with_alt_text() -> bytes:
    body = (
        "<w:p><w:r><w:t>Scan attached.</w:t></w:r></w:p><w:p><w:r><w:drawing><wp:inline>"
        f'<wp:docPr id="1" name="Picture 1" descr="{RECORD}"/></wp:inline></w:drawing></w:r></w:p>'
    )
    document = f"<w:document {W} {WP}><w:body>{body}</w:body></w:document>"
    return package({"word/document.xml": document})


def xlsx_with_formula_literal() -> bytes:
    sheet = (
        f'<worksheet {S}><sheetData><row r="1"><c r="A1" t="str"><f>"{RECORD}"</f><v></v></c>'
        "</row></sheetData></worksheet>"
    )
    workbook = f'<workbook {S}><sheets><sheet name="Summary" sheetId="1"/></sheets></workbook>'
    return package({"xl/workbook.xml": workbook, "xl/worksheets/sheet1.xml": sheet})


def pdf_page(content: bytes, catalog: bytes = b"", resources: bytes = b"") -> bytes:
    return pdf_of_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R " + catalog + b">>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            + resources + b">>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        ]
    )


def pdf_without_its_font() -> bytes:
    return pdf_page(b"BT /F1 12 Tf 72 700 Td (" + RECORD.encode() + b") Tj ET")


def pdf_with_javascript() -> bytes:
    script = f'app.alert("{RECORD}");'.encode()
    return pdf_page(
        b"0 0 m 10 10 l S",
        catalog=b"/OpenAction << /S /JavaScript /JS (" + script + b") >> ",
    )


CASES = [
    ("docx alternative text", docx_with_alt_text(), "scan.docx",
     "vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("xlsx formula literal", xlsx_with_formula_literal(), "list.xlsx",
     "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("pdf font not in resources", pdf_without_its_font(), "letter.pdf", "pdf"),
    ("pdf javascript", pdf_with_javascript(), "form.pdf", "pdf"),
    ("html processing instruction",
     f"<html><body><p>Notes</p><?{RECORD}?></body></html>".encode(), "notes.html", "html"),
]


@pytest.mark.parametrize(
    ("data", "filename", "subtype"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_a_record_where_the_page_does_not_show_it_is_refused(
    gateway_factory: Factory, sink: Any, data: bytes, filename: str, subtype: str
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    maintype = "text" if subtype == "html" else "application"
    code, reply = await send(gw.port, message(data, filename, maintype, subtype))
    assert code == 550, reply
    record = await only_record(gw)
    assert record["verdict"] == "reject"
    assert "uk_nhs_number" in record["information_types"]
    assert all(ALLOWED not in m.rcpt_tos for m in sink.messages)
