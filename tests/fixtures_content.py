"""Builders for the content-stage tests: real files made in code, synthetic data only.

    mail(...)                    a MIME message with body, HTML and attachments
    build_zip([...])             a ZIP written by hand: stored/deflated, ZipCrypto,
                                 any external_attr (read-only), any create_system
    aes_zip(...)                 a WinZip AES zip (pyzipper) at 128/192/256 bits
    overlapping_zip(), mismatched_zip(), ratio_bomb(), nested_bomb()
    pdf_with_text(text), pdf_of_objects([...]), encrypted_pdf(...)
    docx(...), xlsx(...), pptx(...), odt(...), encrypted_docx(...)
    rtf(text), tnef(body, attachments)
    png(...), jpeg(...), gif(...), exif(...)   pictures whole in structure, with
                                 text chunks, segments, extensions, a trailer

The ZipCrypto writer is the traditional PKWARE algorithm (three CRC-driven
keys), small enough to keep here rather than depend on a tool that writes it.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP

import pyzipper
from msoffcrypto.format.ooxml import OOXMLFile
from pypdf import PdfReader, PdfWriter
from pypdf.constants import UserAccessPermissions

NHS = "9434765919"  # a valid NHS number (mod 11) that belongs to nobody: test data
PASSWORD = "Tr0ub4dor&3"

# --------------------------------------------------------------------------- mail


def mail(
    body: str = "Hello,\nplease see attached.\n",
    *,
    subject: str = "Report",
    html: str | None = None,
    attachments: list[tuple[str, bytes, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "Alex Carter <alex.carter@council.example.gov.uk>"
    msg["To"] = "Sam Patel <sam.patel@trust.example.nhs.uk>"
    msg["Subject"] = subject
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, data, content_type in attachments or []:
        maintype, subtype = content_type.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


# --------------------------------------------------------------------------- zip


def _make_crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _make_crc_table()


class _ZipCryptoKeys:
    def __init__(self, password: bytes) -> None:
        self.k0, self.k1, self.k2 = 0x12345678, 0x23456789, 0x34567890
        for byte in password:
            self.update(byte)

    @staticmethod
    def _crc(crc: int, byte: int) -> int:
        return (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]

    def update(self, byte: int) -> None:
        self.k0 = self._crc(self.k0, byte)
        self.k1 = ((self.k1 + (self.k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        self.k2 = self._crc(self.k2, self.k1 >> 24)

    def encrypt(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            temp = (self.k2 | 2) & 0xFFFF
            out.append(byte ^ (((temp * (temp ^ 1)) >> 8) & 0xFF))
            self.update(byte)
        return bytes(out)


def zipcrypto_encrypt(data: bytes, password: bytes, crc: int) -> bytes:
    keys = _ZipCryptoKeys(password)
    header = bytes(range(11)) + bytes([crc >> 24])
    return keys.encrypt(header + data)


@dataclass
class Entry:
    name: str
    data: bytes = b"hello"
    password: bytes | None = None
    deflate: bool = True
    external_attr: int = 0o100644 << 16
    create_system: int = 3


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def build_zip(entries: list[Entry]) -> bytes:
    out = bytearray()
    central = bytearray()
    for entry in entries:
        crc = zlib.crc32(entry.data)
        body = _raw_deflate(entry.data) if entry.deflate else entry.data
        method = 8 if entry.deflate else 0
        flags = 0
        if entry.password is not None:
            flags |= 1
            body = zipcrypto_encrypt(body, entry.password, crc)
        name = entry.name.encode()
        offset = len(out)
        out += struct.pack(
            "<4sHHHHHIIIHH",
            b"PK\x03\x04",
            20,
            flags,
            method,
            0,
            0x21,
            crc,
            len(body),
            len(entry.data),
            len(name),
            0,
        )
        out += name + body
        central += struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02",
            (entry.create_system << 8) | 20,
            20,
            flags,
            method,
            0,
            0x21,
            crc,
            len(body),
            len(entry.data),
            len(name),
            0,
            0,
            0,
            0,
            entry.external_attr,
            offset,
        )
        central += name
    cd_offset = len(out)
    out += central
    out += struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), cd_offset, 0
    )
    return bytes(out)


def aes_zip(
    bits: int, files: dict[str, bytes], password: str = PASSWORD, *, read_only: bool = False
) -> bytes:
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(
        buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as zf:
        zf.setpassword(password.encode())
        zf.setencryption(pyzipper.WZ_AES, nbits=bits)
        for name, data in files.items():
            info = zf.zipinfo_cls(name)
            info.compress_type = pyzipper.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = (0o100444 if read_only else 0o100644) << 16
            zf.writestr(info, data)
    return buffer.getvalue()


def overlapping_zip() -> bytes:
    """Two entries whose data overlap: B's local header sits inside A's data."""
    inner_name = b"b.txt"
    inner_data = b"B" * 100
    inner_local = (
        struct.pack(
            "<4sHHHHHIIIHH",
            b"PK\x03\x04",
            20,
            0,
            0,
            0,
            0x21,
            zlib.crc32(inner_data),
            len(inner_data),
            len(inner_data),
            len(inner_name),
            0,
        )
        + inner_name
        + inner_data
    )
    outer_name = b"a.txt"
    outer_data = inner_local
    out = bytearray()
    out += (
        struct.pack(
            "<4sHHHHHIIIHH",
            b"PK\x03\x04",
            20,
            0,
            0,
            0,
            0x21,
            zlib.crc32(outer_data),
            len(outer_data),
            len(outer_data),
            len(outer_name),
            0,
        )
        + outer_name
    )
    inner_offset = len(out)
    out += outer_data
    central = bytearray()
    for name, data, offset in ((outer_name, outer_data, 0), (inner_name, inner_data, inner_offset)):
        central += (
            struct.pack(
                "<4sHHHHHHIIIHHHHHII",
                b"PK\x01\x02",
                20,
                20,
                0,
                0,
                0,
                0x21,
                zlib.crc32(data),
                len(data),
                len(data),
                len(name),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + name
        )
    cd_offset = len(out)
    out += central
    out += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 2, 2, len(central), cd_offset, 0)
    return bytes(out)


def mismatched_zip() -> bytes:
    """The local header names a different file than the central directory."""
    data = bytearray(build_zip([Entry("report.txt", b"harmless")]))
    local_name_at = 30
    data[local_name_at : local_name_at + 10] = b"secret.txt"
    return bytes(data)


def ratio_bomb(size: int = 20 * 1024 * 1024) -> bytes:
    return build_zip([Entry("zeros.bin", b"\x00" * size)])


def nested_bomb(levels: int = 6, width: int = 3) -> bytes:
    """42.zip in miniature: archives of copies of archives."""
    layer = build_zip([Entry("leaf.txt", b"x" * 1000)])
    for level in range(levels):
        layer = build_zip([Entry(f"l{level}-{i}.zip", layer, deflate=False) for i in range(width)])
    return layer


# --------------------------------------------------------------------------- pdf


def pdf_with_text(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return pdf_of_objects(objects)


def pdf_of_objects(objects: list[bytes]) -> bytes:
    """A classic PDF of `objects` (numbered from 1, the first the catalog),
    its cross-reference table and trailer written by hand."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


READ_ONLY_PERMISSIONS = (
    UserAccessPermissions.PRINT | UserAccessPermissions.EXTRACT_TEXT_AND_GRAPHICS
)
ALL_PERMISSIONS = UserAccessPermissions(0xFFFFFFFC)


def encrypted_pdf(
    text: str,
    algorithm: str,
    *,
    user_password: str = PASSWORD,
    owner_password: str = "owner-only-secret",
    permissions: UserAccessPermissions = ALL_PERMISSIONS,
) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_with_text(text))))
    writer.encrypt(
        user_password=user_password,
        owner_password=owner_password,
        algorithm=algorithm,
        permissions_flag=permissions,
    )
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------- office

_CT = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/></Types>'
)
_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _zip(files: dict[str, str | bytes]) -> bytes:
    return build_zip(
        [
            Entry(name, data.encode() if isinstance(data, str) else data)
            for name, data in files.items()
        ]
    )


def docx(paragraphs: list[list[str]], *, read_only: bool = False) -> bytes:
    """Each paragraph is a list of runs (so a number can be split across runs)."""
    body = "".join(
        "<w:p>"
        + "".join(f'<w:r><w:t xml:space="preserve">{run}</w:t></w:r>' for run in runs)
        + "</w:p>"
        for runs in paragraphs
    )
    files: dict[str, str | bytes] = {
        "[Content_Types].xml": _CT,
        "word/document.xml": f"<w:document {_W}><w:body>{body}</w:body></w:document>",
    }
    if read_only:
        files["word/settings.xml"] = (
            f'<w:settings {_W}><w:documentProtection w:edit="readOnly" w:enforcement="1"/></w:settings>'
        )
    return _zip(files)


def xlsx(rows: list[list[str | int]]) -> bytes:
    strings: list[str] = []
    sheet_rows = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, value in enumerate(row):
            ref = f"{chr(65 + c)}{r}"
            if isinstance(value, int):
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
            else:
                strings.append(value)
                cells.append(f'<c r="{ref}" t="s"><v>{len(strings) - 1}</v></c>')
        sheet_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    return _zip(
        {
            "[Content_Types].xml": _CT,
            "xl/workbook.xml": f'<workbook {ns}><sheets><sheet name="Sheet1" sheetId="1"/></sheets></workbook>',
            "xl/sharedStrings.xml": f"<sst {ns}>"
            + "".join(f"<si><t>{s}</t></si>" for s in strings)
            + "</sst>",
            "xl/worksheets/sheet1.xml": f"<worksheet {ns}><sheetData>{''.join(sheet_rows)}</sheetData></worksheet>",
        }
    )


def pptx(texts: list[str]) -> bytes:
    a = 'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"'
    p = 'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"'
    body = "".join(f"<a:p><a:r><a:t>{t}</a:t></a:r></a:p>" for t in texts)
    return _zip(
        {
            "[Content_Types].xml": _CT,
            "ppt/presentation.xml": f"<p:presentation {p}/>",
            "ppt/slides/slide1.xml": f"<p:sld {p} {a}><p:cSld><p:spTree><p:sp><p:txBody>{body}"
            "</p:txBody></p:sp></p:spTree></p:cSld></p:sld>",
        }
    )


def odt(paragraphs: list[str], *, encrypted: str | None = None) -> bytes:
    text_ns = 'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
    office_ns = 'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
    body = "".join(f"<text:p>{p}</text:p>" for p in paragraphs)
    manifest_ns = 'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
    encryption = (
        f'<manifest:encryption-data><manifest:algorithm manifest:algorithm-name="{encrypted}"/>'
        "</manifest:encryption-data>"
        if encrypted
        else ""
    )
    manifest = (
        f"<manifest:manifest {manifest_ns}>"
        f'<manifest:file-entry manifest:full-path="content.xml">{encryption}</manifest:file-entry>'
        "</manifest:manifest>"
    )
    return build_zip(
        [
            Entry("mimetype", b"application/vnd.oasis.opendocument.text", deflate=False),
            Entry(
                "content.xml",
                f"<office:document-content {office_ns} {text_ns}><office:body><office:text>{body}"
                "</office:text></office:body></office:document-content>".encode(),
            ),
            Entry("META-INF/manifest.xml", manifest.encode()),
        ]
    )


def encrypted_docx(
    paragraphs: list[list[str]], password: str = PASSWORD, *, read_only: bool = False
) -> bytes:
    # msoffcrypto-tool writes an EncryptedPackage under 4 KiB into the OLE
    # mini stream wrongly (it will not decrypt), so the package is padded
    # with a stored media member, as real documents are that big anyway.
    base = zipfile.ZipFile(io.BytesIO(docx(paragraphs, read_only=read_only)))
    members = [Entry(i.filename, base.read(i)) for i in base.infolist()]
    members.append(Entry("word/media/padding.bin", bytes(range(256)) * 24, deflate=False))
    plain = io.BytesIO(build_zip(members))
    out = io.BytesIO()
    OOXMLFile(plain).encrypt(password, out)
    return out.getvalue()


# --------------------------------------------------------------------------- rtf, tnef


def rtf(text_rtf: str) -> bytes:
    return (
        "{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Arial;}}{\\colortbl;\\red0\\green0\\blue0;}"
        + text_rtf
        + "}"
    ).encode("latin-1")


def _tnef_object(level: int, attribute: int, data: bytes) -> bytes:
    name, kind = attribute & 0xFFFF, attribute >> 16
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", checksum)


def tnef(body: str, attachments: dict[str, bytes]) -> bytes:
    out = bytearray(struct.pack("<IH", 0x223E9F78, 0x0001))
    out += _tnef_object(1, 0x00089006, struct.pack("<I", 0x00010000))  # TNEF version
    out += _tnef_object(1, 0x0002800C, body.encode("cp1252"))  # attBody
    for name, data in attachments.items():
        out += _tnef_object(2, 0x00069002, b"\x00" * 14)  # attAttachRendData
        out += _tnef_object(2, 0x00018010, name.encode("cp1252") + b"\x00")  # attAttachTitle
        out += _tnef_object(2, 0x0006800F, data)  # attAttachData
    return bytes(out)


# -- pictures: structurally whole PNG, JPEG and GIF files (pixels not meant to decode) --


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(*chunks: bytes, trailer: bytes = b"", pixels: bytes = b"\x00\x00") -> bytes:
    """A 1x1 greyscale PNG with `chunks` (from `png_chunk`) before its IDAT,
    and `trailer` after IEND."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    return (b"\x89PNG\r\n\x1a\n" + header + b"".join(chunks)
            + png_chunk(b"IDAT", zlib.compress(pixels)) + png_chunk(b"IEND", b"") + trailer)


def jpeg_segment(marker: int, data: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(data) + 2) + data


def jpeg(*segments: bytes, trailer: bytes = b"") -> bytes:
    """A 1x1 baseline JPEG's segments with `segments` (from `jpeg_segment`)
    after APP0, entropy-coded data holding stuffed 0xFF bytes and a restart
    marker, and `trailer` after EOI."""
    app0 = jpeg_segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    dqt = jpeg_segment(0xDB, b"\x00" + bytes(range(1, 65)))
    sof = jpeg_segment(0xC0, b"\x08\x00\x01\x00\x01\x01\x01\x11\x00")
    dht = jpeg_segment(0xC4, b"\x00" + b"\x00\x01" + bytes(14) + b"\x00")
    sos = jpeg_segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    scan = b"\x12\xff\x00\x34\xff\xd0\x56\xff\x00\x78\x9a"
    return (b"\xff\xd8" + app0 + b"".join(segments) + dqt + sof + dht + sos + scan
            + b"\xff\xd9" + trailer)


_TIFF_UNITS = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1}


def _ifd(at: int, entries: list[tuple[int, int, bytes]]) -> bytes:
    """A little-endian TIFF directory of `entries` (tag, type, value bytes),
    its values after it, to sit at offset `at`."""
    data_at = at + 2 + 12 * len(entries) + 4
    table, blob = b"", b""
    for tag, kind, value in sorted(entries):
        if len(value) <= 4:
            field = value.ljust(4, b"\x00")
        else:
            field = struct.pack("<I", data_at + len(blob))
            blob += value + b"\x00" * (len(value) % 2)
        table += struct.pack("<HHI", tag, kind, len(value) // _TIFF_UNITS[kind]) + field
    return struct.pack("<H", len(entries)) + table + b"\x00" * 4 + blob


def exif(
    entries: list[tuple[int, int, bytes]], exif_entries: list[tuple[int, int, bytes]] | None = None
) -> bytes:
    """A TIFF structure as Exif keeps it: IFD0's `entries` and, if given,
    an Exif IFD's (UserComment lives there)."""
    head = b"II*\x00" + struct.pack("<I", 8)
    if not exif_entries:
        return head + _ifd(8, entries)
    sub_at = 8 + len(_ifd(8, [*entries, (0x8769, 4, bytes(4))]))
    ifd0 = _ifd(8, [*entries, (0x8769, 4, struct.pack("<I", sub_at))])
    return head + ifd0 + _ifd(sub_at, exif_entries)


def gif(*extensions: bytes, trailer: bytes = b"") -> bytes:
    """A 1x1 GIF89a with `extensions` (whole blocks, from `gif_extension`)
    before its image, and `trailer` after its 0x3B."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x4c\x01\x00"
    return screen + b"".join(extensions) + image + b"\x3b" + trailer


def gif_extension(label: int, data: bytes) -> bytes:
    blocks = b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255]
                      for i in range(0, len(data), 255))
    return b"\x21" + bytes([label]) + blocks + b"\x00"
