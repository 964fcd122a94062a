"""What a file is, from its bytes: magic numbers, then ZIP member names, then text sniffing.

Images, audio and video are recognised and their pixels and sound not
read; their text is (a PNG's, JPEG's, GIF's or TIFF's text and the bytes
after its end: `gateway.extract.picture`; any other picture's, and audio's
and video's, as strings: `gateway.extract.media`), since a few bytes of
magic say nothing of what follows them.  Anything recognised as nothing at
all is BINARY, which the registry reports as content it cannot read: never
clean.

The declared Content-Type and the file name are never trusted: a sender (or
a mail program) can call a CSV `application/octet-stream` or a ZIP
`report.txt`.  Detection reads at most a few kilobytes from each end of the
data, so it is cheap enough to run on every attachment.
"""

from __future__ import annotations

import codecs
import re
import struct

TEXT = "text"
HTML = "html"
CSV = "csv"
JSON = "json"
XML = "xml"
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
BZIP2 = "bzip2"
XZ = "xz"
TAR = "tar"
IMAGE = "image"
AUDIO = "audio"
VIDEO = "video"
SIGNATURE = "signature"  # a detached S/MIME signature: certificates, no content
ARCHIVE = "archive"  # archive formats we cannot open (7z, RAR, ...)
PGP = "pgp"
CMS = "cms"
BINARY = "binary"

ZIP_FAMILY = frozenset({ZIP, DOCX, XLSX, PPTX, ODF})
TEXT_FORMATS = frozenset({TEXT, CSV, HTML, EML, JSON, XML})
# Recognised as media or a detached signature (certificates only): no
# problem when nothing reads them.  Pictures, sound and film do have readers
# (their text, not their pixels or sound); everything else must be read or
# reported.
NOT_READ = frozenset({IMAGE, AUDIO, VIDEO, SIGNATURE})
ENCRYPTED = frozenset({PGP, CMS})

CONTENT_TYPES: dict[str, str] = {
    TEXT: "text/plain",
    HTML: "text/html",
    CSV: "text/csv",
    JSON: "application/json",
    XML: "application/xml",
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
    BZIP2: "application/x-bzip2",
    XZ: "application/x-xz",
    TAR: "application/x-tar",
    IMAGE: "image/*",
    AUDIO: "audio/*",
    VIDEO: "video/*",
    SIGNATURE: "application/pkcs7-signature",
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
    (b"\xd7\xcd\xc6\x9a", IMAGE),  # placeable Windows metafile
    (b"VCLMTF", IMAGE),  # StarView metafile: OpenDocument object replacements
    (b"ID3", AUDIO),
    (b"OggS", AUDIO),
    (b"fLaC", AUDIO),
    (b"\x1aE\xdf\xa3", VIDEO),  # Matroska, WebM
    (b"\x00\x00\x01\xba", VIDEO),  # MPEG program stream
    (b"7z\xbc\xaf\x27\x1c", ARCHIVE),
    (b"Rar!\x1a\x07", ARCHIVE),
    (b"MSCF\x00\x00\x00\x00", ARCHIVE),
    (b"BZh", BZIP2),
    (b"\xfd7zXZ\x00", XZ),
    (b"\x28\xb5\x2f\xfd", ARCHIVE),  # zstd
    (b"\x04\x22\x4d\x18", ARCHIVE),  # lz4
    (b"\x1f\x9d", ARCHIVE),  # compress (.Z)
    (b"LZIP", ARCHIVE),
    (b"!<arch>\n", ARCHIVE),
    (b"xar!", ARCHIVE),
    (b"-----BEGIN PGP MESSAGE-----", PGP),
)
# OID 1.2.840.113549.1.7.3 (enveloped-data): an S/MIME encrypted blob.
_CMS_ENVELOPED = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03"
# OIDs 1.2.840.113549.1.7.2 (signed-data) and .1 (data), the signed content's type.
_CMS_SIGNED = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02"
_CMS_DATA = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01"
_TAR_MAGIC = b"ustar"  # POSIX "ustar\0" and GNU "ustar  \0", at offset 257
_ISO9660 = b"CD001"  # at 0x8001 (and the next volume descriptors)
# ISO base media (MP4, MOV, HEIC): a box "ftyp" at offset 4, then the brand.
_IMAGE_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis")
_AUDIO_BRANDS = (b"M4A ", b"M4B ", b"M4P ", b"F4A ")
_RIFF_KINDS = {b"WEBP": IMAGE, b"WAVE": AUDIO, b"AVI ": VIDEO}

_HTML_TAG = re.compile(
    rb"<(?:!doctype\s+html|html|head|body|div|table|p|br|span|font|td|a\s)\b", re.I
)
# JSON: an object whose first member name (or end) follows the brace, or an
# array that opens with a string, object, array or its end.  "[1] Introduction"
# or "{{name}}" stay text; a JSON array of numbers alone reads the same as text.
_JSON_START = re.compile(rb'(?:\{\s*["}]|\[\s*[\[{"\]])')
# XML: a declaration, or a comment or element first and another tag (or an
# empty element's end) after it ("<Sam> said hello" is not XML).  Misread text loses nothing: the XML
# extractor reads the plain text too.
_XML_DECLARATION = re.compile(rb"<\?xml[\s?]")
_XML_START = re.compile(rb"<(?:!--|[A-Za-z_][\w.:-]*[\s/>])")
_XML_TAG = re.compile(rb"</?[A-Za-z_][\w.:-]*[\s/>]|/>")
# A data file's elements may carry HTML's names (`<export><div><name>...`,
# `<patients><p name="..."/>`): it is XML, not a page, when it says so (a
# declaration) or when its root element is no HTML element and is closed,
# unless it is an HTML document (a doctype or an `<html>` root).
_HTML_DOCUMENT = re.compile(rb"<(?:!doctype\s+html|html)\b", re.I)
_ROOT = re.compile(rb"(?:<\?.*?\?>|<!--.*?-->|\s)*<([A-Za-z_][\w.:-]*)", re.S)
_HTML_ELEMENTS = frozenset(
    b"a abbr address area article aside b base basefont bdi bdo big blockquote body br"
    b" button caption center cite code col colgroup dd del details dfn dialog div dl dt em"
    b" embed fieldset figcaption figure font footer form h1 h2 h3 h4 h5 h6 head header hr"
    b" html i iframe img input ins kbd label legend li link main map mark meta nav noscript"
    b" object ol optgroup option p param picture pre q s samp script section select small"
    b" source span strike strong style sub summary sup table tbody td template textarea"
    b" tfoot th thead time title tr tt u ul var video wbr".split()
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
# A sentence's end: a line of prose, not a row of cells.
_SENTENCE = re.compile(rb"[.!?](?:\s|$)")
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
    if head[:1] == b"\x30" and _CMS_SIGNED in head[:64]:
        return SIGNATURE if is_detached_signature(head) else BINARY
    if head[257:262] == _TAR_MAGIC and _tar_header_sums(head):
        return TAR
    codec = wide_codec(head)
    if codec is not None:
        width = 4 if codec.startswith("utf-32") else 2
        return sniff_text(head[: len(head) - len(head) % width].decode(codec, errors="replace")
                          .encode())
    if is_text(head):
        return sniff_text(head)
    if b"PK\x05\x06" in data[-65557:] and b"PK\x01\x02" in data:
        # Something with a ZIP appended (a self-extractor, a polyglot).
        return zip_kind(data)
    return _media(data) or BINARY


def _tar_header_sums(head: bytes) -> bool:
    """The first tar header's checksum is right (so "ustar" in a text is not a tar)."""
    field = head[148:156].replace(b"\x00", b" ").strip()
    try:
        stored = int(field, 8)
    except ValueError:
        return False
    block = head[:512]
    return len(block) == 512 and stored == sum(block[:148]) + 8 * 32 + sum(block[156:])


def _media(data: bytes) -> str | None:
    """Image, audio, video or disc image formats whose magic is not at offset 0 alone."""
    head = data[:64]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return IMAGE if brand in _IMAGE_BRANDS else AUDIO if brand in _AUDIO_BRANDS else VIDEO
    if head.startswith(b"RIFF"):
        return _RIFF_KINDS.get(head[8:12])
    if head.startswith((b"BM", b"\x00\x00\x01\x00")):
        return IMAGE
    if head[40:44] == b" EMF":
        return IMAGE
    if head.startswith((b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xf1", b"\xff\xf9")):
        return AUDIO  # MP3 or AAC frames without a tag
    if data[0x8001:0x8006] == _ISO9660:
        return ARCHIVE
    return None


def is_detached_signature(head: bytes) -> bool:
    """A CMS signed-data whose signed content (type data) is absent: a
    detached signature.  Present (opaque signing), that content is a whole
    message which is not read here."""
    at = head.find(_CMS_DATA, head.find(_CMS_SIGNED) + len(_CMS_SIGNED))
    if at < 2:
        return False
    # encapContentInfo is SEQUENCE { eContentType, [0] eContent OPTIONAL }:
    # detached, the sequence holds the OID alone (definite length 11, or
    # indefinite length closed right after it).
    after = head[at + len(_CMS_DATA) : at + len(_CMS_DATA) + 2]
    return head[at - 2 : at] == b"\x30\x0b" or (
        head[at - 2 : at] == b"\x30\x80" and after == b"\x00\x00"
    )


# Checked in this order: UTF-32LE's byte order mark begins with UTF-16LE's.
WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def wide_codec(head: bytes) -> str | None:
    """The codec of text in UTF-32 or UTF-16: "utf-32" or "utf-16" after a
    byte order mark, else "utf-32-le", "utf-32-be", "utf-16-le" or
    "utf-16-be" read from the zeros; None for anything else.

    Text that is mostly ASCII (and personal data is: digits, names) has a
    zero as every other byte in UTF-16, and three zeros in four in UTF-32;
    binary data has zeros everywhere.  The decoded text must then be
    mostly printable.
    """
    for bom, codec in WIDE_BOMS:
        if head.startswith(bom):
            return codec
    return _zeros_codec(head, 4) or _zeros_codec(head, 2)


def _zeros_codec(head: bytes, width: int) -> str | None:
    sample = head[:4096]
    sample = sample[: len(sample) - len(sample) % width]
    units = len(sample) // width
    if units < 4:
        return None
    zeros = [sample[at::width].count(0) for at in range(width)]
    # ASCII's own byte is the first (little-endian) or the last; a zero in
    # a quarter of the others' places at least, and nearly none in its own.
    others_le, others_be = zeros[1:], zeros[:-1]
    if min(others_le) * 4 >= units and zeros[0] * 50 <= units:
        codec = f"utf-{8 * width}-le"
    elif min(others_be) * 4 >= units and zeros[-1] * 50 <= units:
        codec = f"utf-{8 * width}-be"
    else:
        return None
    text = sample.decode(codec, errors="replace")
    unreadable = sum(1 for c in text if not (c.isprintable() or c in "\t\r\n\f"))
    return codec if unreadable * 20 <= len(text) else None


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
    if _JSON_START.match(stripped):
        return JSON  # before HTML: markup in its strings does not make it a page
    if _HTML_TAG.search(head) and not _xml_with_html_names(stripped):
        return HTML
    if _XML_DECLARATION.match(stripped) or (
        _XML_START.match(stripped) and _XML_TAG.search(stripped, 1)
    ):
        return XML
    if _looks_like_csv(stripped):
        return CSV
    return TEXT


def _xml_with_html_names(head: bytes) -> bool:
    """An XML file whose elements carry HTML's names (`_HTML_ELEMENTS`): it
    declares itself XML, or its root element is no HTML element and is
    closed; never an HTML document."""
    if _HTML_DOCUMENT.search(head):
        return False
    if _XML_DECLARATION.match(head):
        return True
    root = _ROOT.match(head)
    if root is None or root.group(1).lower() in _HTML_ELEMENTS or b":" in root.group(1):
        return False
    return b"</" + root.group(1) + b">" in head or head.rstrip().endswith(b"/>")


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
        if min(counts) > 0 and not any(_SENTENCE.search(line) for line in lines):
            return True  # ragged rows (a cell's line break left unquoted), not sentences
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
