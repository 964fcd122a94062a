"""Office documents and PDFs that used to leave in clear, over real SMTP: an
NHS number in a pivot cache, an altChunk, SmartArt, a chart cache or a slide
master of an OOXML file, in a numeric cell of a legacy .xls workbook, or in a
PDF sticky note, is refused in enforce mode with the right reason and audit
record; a clean document full of ordinary package parts still goes."""

from __future__ import annotations

import gzip
import io
import os
import struct
import zipfile
from collections.abc import Awaitable, Callable
from typing import Any

import compressed_rtf  # type: ignore[import-untyped]
import pytest
from fixtures_content import Entry, build_zip
from policy_messages import ALLOWED, only_record, send
from policy_messages import with_attachment as message
from pypdf import PdfWriter
from pypdf.annotations import Text

Factory = Callable[..., Awaitable[Any]]
NHS = "083 016 6130"  # synthetic, valid check digit
NHS_AS_NUMBER = 9434765919  # synthetic, valid check digit; a number has no leading zero
RECORD = f"Patient: Jane Smith, NHS number {NHS}, date of birth 14/03/2011"
S = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
A = 'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"'
P = 'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"'
CT = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
    "</Types>"
)
DOCX = "vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "vnd.openxmlformats-officedocument.presentationml.presentation"


def package(files: dict[str, str | bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CT)
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def docx(extra: dict[str, str | bytes], body: str = "See below.") -> bytes:
    document = (
        f"<w:document {W}><w:body><w:p><w:r><w:t>{body}</w:t></w:r></w:p></w:body></w:document>"
    )
    return package({"word/document.xml": document, **extra})


def xlsx(extra: dict[str, str | bytes]) -> bytes:
    sheet = f'<worksheet {S}><sheetData><row><c t="inlineStr"><is><t>Summary</t></is></c></row></sheetData></worksheet>'
    workbook = f'<workbook {S}><sheets><sheet name="Summary" sheetId="1"/></sheets></workbook>'
    return package({"xl/workbook.xml": workbook, "xl/worksheets/sheet1.xml": sheet, **extra})


def pptx(extra: dict[str, str | bytes]) -> bytes:
    slide = f"<p:sld {P} {A}><a:p><a:r><a:t>Case review</a:t></a:r></a:p></p:sld>"
    return package(
        {"ppt/presentation.xml": f"<p:presentation {P}/>", "ppt/slides/slide1.xml": slide, **extra}
    )


def drawing(root: str, text: str) -> str:
    return f"<{root} {P} {A}><a:p><a:r><a:t>{text}</a:t></a:r></a:p></{root}>"


# --- a legacy .xls: a BIFF8 Workbook stream in an OLE compound file ----------


def biff(kind: int, body: bytes) -> bytes:
    return struct.pack("<HH", kind, len(body)) + body


def label(row: int, col: int, text: str) -> bytes:
    return biff(0x0204, struct.pack("<HHHHB", row, col, 0, len(text), 0) + text.encode("latin-1"))


def workbook_stream() -> bytes:
    """A header "NHS number" over an NHS number kept as a binary number (NUMBER)."""
    bof = struct.pack("<HHHHII", 0x0600, 0x0005, 0, 0, 0, 0)
    sheet_bof = struct.pack("<HHHHII", 0x0600, 0x0010, 0, 0, 0, 0)
    number = biff(0x0203, struct.pack("<HHHd", 1, 0, 0, float(NHS_AS_NUMBER)))
    stream = (
        biff(0x0809, bof)
        + biff(0x000A, b"")
        + biff(0x0809, sheet_bof)
        + label(0, 0, "NHS number")
        + number
        + biff(0x000A, b"")
    )
    return stream.ljust(4096, b"\x00")  # big enough to live outside the mini stream


def compound_file(stream_name: str, stream: bytes) -> bytes:
    """A version 3 compound file (512-byte sectors) with one stream: sector 0
    is the FAT, then the stream, then the directory."""
    sector = 512
    free, end, fat_sector, no_stream = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    stream_sectors = (len(stream) + sector - 1) // sector
    directory_at = 1 + stream_sectors
    fat = [fat_sector, *range(2, 1 + stream_sectors), end, end]
    fat += [free] * (sector // 4 - len(fat))
    header = (
        bytes.fromhex("d0cf11e0a1b11ae1")
        + bytes(16)
        + struct.pack("<HHHHH", 0x003E, 3, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack("<IIIIIIIII", 0, 1, directory_at, 0, 4096, end, 0, end, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", free) * 108
    )

    def entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
        encoded = (name + "\x00").encode("utf-16-le")
        return (
            encoded.ljust(64, b"\x00")
            + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", no_stream, no_stream, child)
            + bytes(16)
            + struct.pack("<IQQIII", 0, 0, 0, start, size, 0)
        )

    directory = entry("Root Entry", 5, 1, end, 0) + entry(stream_name, 2, no_stream, 1, len(stream))
    directory = directory.ljust(sector, b"\x00")
    body = stream.ljust(stream_sectors * sector, b"\x00")
    return header + struct.pack(f"<{sector // 4}I", *fat) + body + directory


def sticky_note_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    writer.add_annotation(0, Text(rect=(50, 550, 200, 650), text=RECORD))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()




CASES = [
    (
        "xlsx pivot cache",
        xlsx(
            {
                "xl/pivotCache/pivotCacheDefinition1.xml": f"<pivotCacheDefinition {S}><cacheFields>"
                '<cacheField name="Child"/><cacheField name="NHS number"/></cacheFields>'
                "</pivotCacheDefinition>",
                "xl/pivotCache/pivotCacheRecords1.xml": f"<pivotCacheRecords {S}><r>"
                f'<s v="Jane Smith"/><s v="{NHS}"/></r></pivotCacheRecords>',
            }
        ),
        "caseload.xlsx",
        XLSX,
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
        "caseload.xlsx",
        XLSX,
    ),
    (
        "docx altchunk",
        docx({"word/afchunk.htm": f"<html><body><p>{RECORD}</p></body></html>"}),
        "referral.docx",
        DOCX,
    ),
    (
        "docx smartart",
        docx({"word/diagrams/data1.xml": drawing("p:dataModel", RECORD)}),
        "referral.docx",
        DOCX,
    ),
    (
        "pptx slide master",
        pptx({"ppt/slideMasters/slideMaster1.xml": drawing("p:sldMaster", RECORD)}),
        "review.pptx",
        PPTX,
    ),
    (
        "xls numeric cell",
        compound_file("Workbook", workbook_stream()),
        "caseload.xls",
        "vnd.ms-excel",
    ),
    ("pdf sticky note", sticky_note_pdf(), "summary.pdf", "pdf"),
    (
        # An Outlook item whose attachment (PR_ATTACH_DATA_BIN) is
        # compressed: strings of it show nothing.
        "msg compressed attachment",
        compound_file("__substg1.0_37010102", gzip.compress(RECORD.encode()).ljust(4096, b"\0")),
        "forwarded.msg",
        "vnd.ms-outlook",
    ),
    (
        # A rich-text Outlook item: its body only in compressed RTF.
        "msg compressed rtf body",
        compound_file("__substg1.0_10090102", compressed_rtf.compress(
            b"{\\rtf1\\ansi " + RECORD.encode().replace(b"\n", b"\\par ") + b"}"
        ).ljust(4096, b"\0")),
        "forwarded.msg",
        "vnd.ms-outlook",
    ),
    (
        "msg zipped attachment",
        compound_file("__substg1.0_37010102", build_zip(
            [Entry("list.csv", RECORD.encode() * 40)]).ljust(4096, b"\0")),
        "forwarded.msg",
        "vnd.ms-outlook",
    ),
]


@pytest.mark.parametrize(
    ("data", "filename", "subtype"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_personal_data_in_these_documents_is_refused(
    gateway_factory: Factory, sink: Any, data: bytes, filename: str, subtype: str
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await send(gw.port, message(data, filename, "application", subtype))
    assert code == 550, reply
    record = await only_record(gw)
    assert record["verdict"] == "reject"
    assert "unencrypted_attachment" in [r["code"] for r in record["reasons"]]
    assert "uk_nhs_number" in record["information_types"]
    assert all(ALLOWED not in m.rcpt_tos for m in sink.messages)


async def test_a_clean_document_with_ordinary_package_parts_still_goes(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    data = docx(
        {
            "word/styles.xml": f'<w:styles {W}><w:style w:styleId="Normal"><w:name w:val="Normal"/>'
            "</w:style></w:styles>",
            "word/theme/theme1.xml": drawing("a:theme", "Office Theme"),
            "word/numbering.xml": f'<w:numbering {W}><w:abstractNum w:abstractNumId="0"><w:lvl '
            'w:ilvl="0"><w:lvlText w:val="%1."/></w:lvl></w:abstractNum></w:numbering>',
            "word/diagrams/data1.xml": drawing("p:dataModel", "Plan, do, review"),
            "word/media/image1.png": b"\x89PNG\r\n\x1a\n" + os.urandom(256),
            "docProps/custom.xml": '<Properties><property name="Team"><lpwstr>Duty desk'
            "</lpwstr></property></Properties>",
        },
        body="Minutes of the team meeting: rota for next month.",
    )
    code, reply = await send(gw.port, message(data, "minutes.docx", "application", DOCX))
    assert code == 250, reply
    assert len(await sink.wait(1)) == 1
    record = await only_record(gw)
    assert record["verdict"] == "deliver"
    assert record["information_types"] == []
