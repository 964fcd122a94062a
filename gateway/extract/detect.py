"""What a file is, from its bytes: magic numbers, then ZIP member names, then text sniffing.

The declared Content-Type and the file name are never trusted: a sender (or
a mail program) can call a CSV `application/octet-stream` or a ZIP
`report.txt`.  Detection reads at most a few kilobytes from each end of the
data, so it is cheap enough to run on every attachment.
"""

from __future__ import annotations

import re
import struct

TEXT = "text"
HTML = "html"
CSV = "csv"
EML = "eml"
RTF = "rtf"
PDF = "pdf"
ZIP = "zip"
DOCX = "docx"
XLSX = "xlsx"
PPTX = "pptx"
ODF = "odf"
OLE = "ole"
TNEF = "tnef"
GZIP = "gzip"
IMAGE = "image"
ARCHIVE = "archive"  # archive formats we cannot open (7z, RAR, ...)
PGP = "pgp"
CMS = "cms"
BINARY = "binary"

ZIP_FAMILY = frozenset({ZIP, DOCX, XLSX, PPTX, ODF})

CONTENT_TYPES: dict[str, str] = {
    TEXT: "text/plain",
    HTML: "text/html",
    CSV: "text/csv",
    EML: "message/rfc822",
    RTF: "application/rtf",
    PDF: "application/pdf",
    ZIP: "application/zip",
    DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    PPTX: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ODF: "application/vnd.oasis.opendocument",
    OLE: "application/x-ole-storage",
    TNEF: "application/vnd.ms-tnef",
    GZIP: "application/gzip",
    IMAGE: "image/*",
    ARCHIVE: "application/x-archive",
    PGP: "application/pgp-encrypted",
    CMS: "application/pkcs7-mime",
    BINARY: "application/octet-stream",
}

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", ZIP),
    (b"PK\x05\x06", ZIP),
    (b"PK\x07\x08", ZIP),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLE),
    (b"\x78\x9f\x3e\x22", TNEF),
    (b"{\\rtf", RTF),
    (b"\x1f\x8b", GZIP),
    (b"\x89PNG\r\n\x1a\n", IMAGE),
    (b"\xff\xd8\xff", IMAGE),
    (b"GIF87a", IMAGE),
    (b"GIF89a", IMAGE),
    (b"II*\x00", IMAGE),
    (b"MM\x00*", IMAGE),
    (b"7z\xbc\xaf\x27\x1c", ARCHIVE),
    (b"Rar!\x1a\x07", ARCHIVE),
    (b"MSCF\x00\x00\x00\x00", ARCHIVE),
    (b"BZh", ARCHIVE),
    (b"\xfd7zXZ\x00", ARCHIVE),
    (b"-----BEGIN PGP MESSAGE-----", PGP),
)
# OID 1.2.840.113549.1.7.3 (enveloped-data): an S/MIME encrypted blob.
_CMS_ENVELOPED = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03"

_HTML_TAG = re.compile(
    rb"<(?:!doctype\s+html|html|head|body|div|table|p|br|span|font|td|a\s)\b", re.I
)
_HEADER_LINE = re.compile(rb"^([A-Za-z0-9][A-Za-z0-9-]*):[ \t]?", re.M)
_MAIL_HEADERS = frozenset(
    {
        b"from",
        b"to",
        b"cc",
        b"subject",
        b"date",
        b"message-id",
        b"received",
        b"mime-version",
        b"return-path",
        b"content-type",
        b"reply-to",
        b"x-mailer",
    }
)
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")
_SNIFF = 8192


def content_type_of(fmt: str) -> str:
    return CONTENT_TYPES.get(fmt, CONTENT_TYPES[BINARY])


def detect_format(data: bytes) -> str:
    """The format name of `data` (one of the constants of this module)."""
    head = data[:_SNIFF]
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            if fmt == ZIP:
                return zip_kind(data)
            return fmt
    if b"%PDF-" in data[:1024]:
        return PDF
    if head[:1] == b"\x30" and _CMS_ENVELOPED in head[:64]:
        return CMS
    if is_text(head):
        return sniff_text(head)
    if b"PK\x05\x06" in data[-65557:] and b"PK\x01\x02" in data:
        # Something with a ZIP appended (a self-extractor, a polyglot).
        return zip_kind(data)
    if any(head.startswith(m) for m in (b"RIFF", b"BM", b"\x00\x00\x01\x00")):
        return IMAGE
    return BINARY


def is_text(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True  # UTF-16 with a byte order mark
    if not head:
        return True
    if b"\x00" in head:
        return False
    return len(_CONTROL.findall(head)) * 50 < len(head)


def sniff_text(head: bytes) -> str:
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] == b"{" and stripped.startswith(b"{\\rtf"):
        return RTF
    if stripped.startswith(b"-----BEGIN PGP MESSAGE-----"):
        return PGP
    if _looks_like_mail(stripped):
        return EML
    if _HTML_TAG.search(head):
        return HTML
    if _looks_like_csv(stripped):
        return CSV
    return TEXT


def _looks_like_mail(head: bytes) -> bool:
    block = re.split(rb"\r?\n\r?\n", head, maxsplit=1)[0]
    lines = block.splitlines()
    if not lines or _HEADER_LINE.match(lines[0]) is None:
        return False
    names = {m.group(1).lower() for m in _HEADER_LINE.finditer(block)}
    return len(names & _MAIL_HEADERS) >= 2


def _looks_like_csv(head: bytes) -> bool:
    lines = [line for line in head.splitlines()[:20] if line.strip()]
    if len(lines) > 1 and len(head) >= _SNIFF:
        lines = lines[:-1]  # the last line may be cut short by the sniff window
    if len(lines) < 2:
        return False
    for delimiter in (b",", b";", b"\t", b"|"):
        counts = [line.count(delimiter) for line in lines]
        if counts[0] == 0:
            continue
        agreeing = sum(1 for c in counts if c == counts[0])
        if agreeing * 10 >= len(counts) * 8:
            return True
    return False


def zip_kind(data: bytes) -> str:
    """ZIP, or the document format a ZIP container holds (by member names)."""
    if data[30:38] == b"mimetype" and b"application/vnd.oasis.opendocument" in data[38:120]:
        return ODF
    directory = central_directory(data)
    if b"[Content_Types].xml" in directory:
        if b"word/document.xml" in directory:
            return DOCX
        if b"xl/workbook.xml" in directory:
            return XLSX
        if b"ppt/presentation.xml" in directory:
            return PPTX
    if b"content.xml" in directory and b"META-INF/manifest.xml" in directory:
        return ODF
    return ZIP


def central_directory(data: bytes) -> bytes:
    """The central directory bytes, found from the end record (or all data when broken)."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65557))
    if end < 0 or end + 22 > len(data):
        return data
    size, offset = struct.unpack_from("<II", data, end + 12)
    if offset == 0xFFFFFFFF or size == 0xFFFFFFFF or offset + size > end:
        return data
    return data[offset : offset + size]
