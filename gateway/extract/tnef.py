"""TNEF (`winmail.dat`): Outlook's wrapper for a message, its MAPI properties
and its attachments (MS-OXTNEF).

Flow: the stream is walked attribute by attribute (level, id, length, data,
checksum), by offsets, so a stream of many tiny attributes costs no more
than its size.  Each attribute is read by what it holds:

    attBody                     the plain body, read as text
    attMAPIProps                a MAPI property block: every string value
                                (PT_STRING8, PT_UNICODE, their multi-valued
                                forms, named properties and their names) is
                                text; PR_BODY is the plain body, PR_BODY_HTML
                                / PR_HTML the HTML body, PR_RTF_COMPRESSED the
                                rich-text body; a PT_OBJECT value is a file
    attRecipTable               rows of property blocks: their strings are text
    attAttachRendData           starts the next attachment
    attAttachData               the attachment's file
    attAttachment               the attachment's property block: its strings
                                are text, PR_ATTACH_DATA_BIN / _OBJ its file
                                (an object without its interface identifier:
                                an embedded message is a TNEF stream itself)
    dates, numbers, metafiles   not text, not read
    any other attribute         text (attSubject, attMessageID, attFrom...)

Every file is extracted one level deeper (`ExtractContext.nested`, which
bounds the nesting of embedded messages).  A winmail.dat attached to the
message itself is read by `unwrap_tnef` instead: its own text (bodies,
properties, embedded messages) as above, and its attached files handed back
whole, for the inspect stage to judge each as the attachment the
recipient's Outlook shows (encryption, read-only, passwords), as it judges a
MIME attachment.  Binary properties other than the
bodies and attachment data (entry ids, search keys, rendering pictures) are
not text and are not read.

Fail closed: a property block that does not parse (cut short, a type this
reader does not know, counts its data cannot hold, bytes left over) is
`malformed_document`, and so is a stream cut short or with bytes after its
last attribute; what was read before the fault is kept, nothing after it is
guessed at.  Attributes, properties per block and values per property are
bounded by `max_archive_entries` (`too_large`).
"""

from __future__ import annotations

import codecs
import struct
from dataclasses import dataclass, field
from typing import NamedTuple

from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    ExtractionError,
    ExtractionLimit,
    Extractor,
    TextCollector,
    finish,
)
from gateway.extract.detect import HTML, TEXT, content_type_of
from gateway.extract.detect import TNEF as TNEF_FORMAT
from gateway.extract.rtf import compressed_rtf_text

_SIGNATURE = b"\x78\x9f\x3e\x22"
_ATTRIBUTE_HEAD = struct.Struct("<BHHI")  # level, id, type, length
_LEVEL_ATTACHMENT = 2

# Attribute ids (the low word of the attribute tag).
_ATT_BODY = 0x800C
_ATT_MESSAGE_STATUS = 0x8007
_ATT_ATTACH_DATA = 0x800F
_ATT_ATTACH_TITLE = 0x8010
_ATT_ATTACH_METAFILE = 0x8011
_ATT_ATTACH_REND_DATA = 0x9002
_ATT_MAPI_PROPS = 0x9003
_ATT_RECIP_TABLE = 0x9004
_ATT_ATTACHMENT = 0x9005
_ATT_TNEF_VERSION = 0x9006
_ATT_OEM_CODEPAGE = 0x9007
# Attribute types that are never text: date, short, long, dword.
_NUMERIC_ATTRIBUTES = frozenset({0x0003, 0x0004, 0x0005, 0x0008})
_NOT_TEXT = frozenset(
    {_ATT_MESSAGE_STATUS, _ATT_ATTACH_METAFILE, _ATT_ATTACH_REND_DATA, _ATT_TNEF_VERSION}
)

# MAPI property types (MS-OXCDATA 2.11.1) and how their values are laid out.
_MULTI = 0x1000
_PT_LONG = 0x0003
_PT_OBJECT = 0x000D
_PT_STRING8 = 0x001E
_PT_UNICODE = 0x001F
_PT_BINARY = 0x0102
# Fixed widths as written in TNEF: 16-bit values are padded out to 4 bytes.
_FIXED_WIDTH = {
    0x0001: 0,  # null
    0x0002: 4,  # short
    _PT_LONG: 4,
    0x0004: 4,  # float
    0x0005: 8,  # double
    0x0006: 8,  # currency
    0x0007: 8,  # application time
    0x000A: 4,  # error
    0x000B: 4,  # boolean
    0x0014: 8,  # 64-bit integer
    0x0040: 8,  # system time
    0x0048: 16,  # GUID
}
_VARIABLE = frozenset({_PT_OBJECT, _PT_STRING8, _PT_UNICODE, _PT_BINARY})
_NAMED = 0x8000  # property ids from here on carry a name (GUID and id or string)
_IID_SIZE = 16  # a PT_OBJECT value starts with its interface identifier

# Property ids.
_PR_BODY = 0x1000
_PR_RTF_COMPRESSED = 0x1009
_PR_BODY_HTML = 0x1013  # PR_HTML when binary
_PR_INTERNET_CPID = 0x3FDE
_PR_DISPLAY_NAME = 0x3001
_PR_ATTACH_DATA = 0x3701
_PR_ATTACH_FILENAME = 0x3704
_PR_ATTACH_LONG_FILENAME = 0x3707

# Windows code pages Python knows by another name.
_CODE_PAGES = {
    1200: "utf-16-le",
    1201: "utf-16-be",
    10000: "mac-roman",
    20127: "ascii",
    20866: "koi8-r",
    21866: "koi8-u",
    50220: "iso2022-jp",
    50221: "iso2022-jp",
    50222: "iso2022-jp",
    51932: "euc-jp",
    54936: "gb18030",
    65001: "utf-8",
}


def _codec(code_page: int) -> str:
    """The Python codec of a Windows code page; cp1252 (Outlook's default) when unknown."""
    if 28591 <= code_page <= 28605:
        name = f"iso8859-{code_page - 28590}"
    else:
        name = _CODE_PAGES.get(code_page, f"cp{code_page}")
    try:
        codecs.lookup(name)
    except LookupError:
        return "cp1252"
    return name


def _malformed(detail: str) -> ExtractionError:
    return ExtractionError("malformed_document", f"TNEF {detail}")


def _text(raw: bytes, codec: str) -> str:
    """A TNEF or MAPI string: its terminating NULs gone, any other NUL a line break."""
    return raw.decode(codec, errors="replace").rstrip("\x00").replace("\x00", "\n")


class _Value(NamedTuple):
    """One value of a property: text for strings, bytes for binary and objects,
    an int for a PT_LONG, None for other fixed-width values (not read)."""

    pid: int
    kind: int
    value: str | bytes | int | None


class _PropertyReader:
    """The properties of one attMAPIProps, attAttachment or attRecipTable
    attribute (MS-OXTNEF 2.1.3.4), read from the front.  `values` keeps
    what was read when a fault stops the reading."""

    __slots__ = ("_at", "_codec", "_data", "_left", "values")

    def __init__(self, data: bytes, codec: str, limit: int) -> None:
        self._data = data
        self._at = 0
        self._codec = codec
        self._left = limit  # properties and values this attribute may hold
        self.values: list[_Value] = []

    def table(self) -> None:
        for _ in range(self._count("rows")):
            self._spend(1)
            self.block()
        self.end()

    def block(self) -> None:
        for _ in range(self._count("properties")):
            self._property()

    def end(self) -> None:
        if self._at != len(self._data):
            raise _malformed("properties followed by stray bytes")

    def _u32(self) -> int:
        if len(self._data) - self._at < 4:
            raise _malformed("property block cut short")
        value = int(struct.unpack_from("<I", self._data, self._at)[0])
        self._at += 4
        return value

    def _take(self, size: int) -> bytes:
        if size > len(self._data) - self._at:
            raise _malformed("property value longer than its block")
        chunk = self._data[self._at : self._at + size]
        # Values are padded to four bytes; a last value without its padding is
        # tolerated (the stray-bytes check still sees everything else).
        self._at = min(len(self._data), self._at + size + (-size % 4))
        return chunk

    def _spend(self, count: int) -> None:
        self._left -= count
        if self._left < 0:
            raise ExtractionLimit("too_large", "TNEF with too many properties")

    def _count(self, what: str) -> int:
        """A count of things of four bytes or more each, checked against the data left."""
        count = self._u32()
        if count * 4 > len(self._data) - self._at:
            raise _malformed(f"more {what} than its block holds")
        return count

    def _property(self) -> None:
        self._spend(1)
        if len(self._data) - self._at < 4:
            raise _malformed("property block cut short")
        kind, pid = struct.unpack_from("<HH", self._data, self._at)
        self._at += 4
        if pid >= _NAMED:
            self._name(pid)
        base = kind & ~_MULTI
        if base in _FIXED_WIDTH:
            count = self._u32() if kind & _MULTI else 1
            width = _FIXED_WIDTH[base]
            raw = self._take(count * width)
            value = struct.unpack_from("<i", raw)[0] if base == _PT_LONG and count == 1 else None
            self.values.append(_Value(pid, base, value))
        elif base in _VARIABLE:
            count = self._count("values")
            self._spend(count)
            for _ in range(count):
                self.values.append(_Value(pid, base, self._variable(base)))
        else:
            raise _malformed(f"property of unknown type {kind:#06x}")

    def _name(self, pid: int) -> None:
        """A named property's GUID and id or name; a name is a string like any other."""
        self._take(16)
        name_kind = self._u32()
        if name_kind == 0:
            self._u32()
        elif name_kind == 1:
            name = self._take(self._u32())
            self.values.append(_Value(pid, _PT_UNICODE, _text(name, "utf-16-le")))
        else:
            raise _malformed("named property of unknown kind")

    def _variable(self, base: int) -> str | bytes:
        raw = self._take(self._u32())
        if base == _PT_UNICODE:
            return _text(raw, "utf-16-le")
        if base == _PT_STRING8:
            return _text(raw, self._codec)
        if base == _PT_OBJECT:
            if len(raw) < _IID_SIZE:
                raise _malformed("object without its interface identifier")
            return raw[_IID_SIZE:]
        return raw


@dataclass(slots=True)
class _Attachment:
    text: TextCollector
    title: str = ""
    names: dict[int, str] = field(default_factory=dict)  # property id -> file name
    files: list[bytes] = field(default_factory=list)

    def add_file(self, data: bytes) -> None:
        if data and data not in self.files:  # attAttachData and PR_ATTACH_DATA_BIN may agree
            self.files.append(data)

    def name(self, index: int) -> str:
        for pid in (_PR_ATTACH_LONG_FILENAME, _PR_ATTACH_FILENAME):
            if self.names.get(pid, "").strip():
                return self.names[pid].strip()
        if self.title.strip():
            return self.title.strip()
        return self.names.get(_PR_DISPLAY_NAME, "").strip() or f"attachment-{index}"


@dataclass(slots=True)
class _Body:
    member: str
    data: bytes
    fmt: str
    charset: str | None


class _Reading:
    """What one TNEF stream holds, gathered attribute by attribute."""

    def __init__(self, ctx: ExtractContext) -> None:
        self.ctx = ctx
        self.codec = "cp1252"
        self.text = TextCollector(ctx.limits.max_text_chars)  # the message's properties
        self.bodies: list[_Body] = []
        self.rtf: list[bytes] = []
        self.objects: list[bytes] = []
        self.attachments: list[_Attachment] = []

    def attribute(self, level: int, attribute_id: int, kind: int, data: bytes) -> None:
        if level == _LEVEL_ATTACHMENT:
            self._attachment_attribute(attribute_id, kind, data)
        elif attribute_id == _ATT_OEM_CODEPAGE and len(data) >= 4:
            self.codec = _codec(struct.unpack_from("<I", data)[0])
        elif attribute_id == _ATT_BODY:
            self.bodies.append(_Body("body", _text(data, self.codec).encode(), TEXT, "utf-8"))
        elif attribute_id == _ATT_MAPI_PROPS:
            self._message_properties(self._properties(data, "message properties"))
        elif attribute_id == _ATT_RECIP_TABLE:
            values = self._properties(data, "recipient table", table=True)
            self._strings(values, self.text)
        elif attribute_id == _ATT_OEM_CODEPAGE or not _is_text(attribute_id, kind):
            return
        else:
            self.text.add(_text(data, self.codec) + "\n")

    def _attachment_attribute(self, attribute_id: int, kind: int, data: bytes) -> None:
        if attribute_id == _ATT_ATTACH_REND_DATA or not self.attachments:
            self.attachments.append(_Attachment(TextCollector(self.ctx.limits.max_text_chars)))
        attachment = self.attachments[-1]
        if attribute_id == _ATT_ATTACH_DATA:
            attachment.add_file(data)
        elif attribute_id in (_ATT_ATTACHMENT, _ATT_MAPI_PROPS):
            values = self._properties(data, "attachment properties")
            self._strings(values, attachment.text)
            for value in values:
                if value.pid == _PR_ATTACH_DATA and isinstance(value.value, bytes):
                    attachment.add_file(value.value)
                elif value.kind == _PT_OBJECT and isinstance(value.value, bytes):
                    self.objects.append(value.value)
                elif isinstance(value.value, str) and value.pid not in attachment.names:
                    attachment.names[value.pid] = value.value
        elif _is_text(attribute_id, kind):
            text = _text(data, self.codec)
            if attribute_id == _ATT_ATTACH_TITLE:
                attachment.title = text
            attachment.text.add(text + "\n")

    def _properties(self, data: bytes, where: str, *, table: bool = False) -> list[_Value]:
        reader = _PropertyReader(data, self.codec, self.ctx.limits.max_archive_entries)
        try:
            if table:
                reader.table()
            else:
                reader.block()
                reader.end()
        except (ExtractionError, ExtractionLimit) as exc:
            self.ctx.problem(exc.code, f"{where}: {exc.detail}")
        return reader.values

    def _message_properties(self, values: list[_Value]) -> None:
        code_page = next(
            (v.value for v in values if v.pid == _PR_INTERNET_CPID and isinstance(v.value, int)),
            None,
        )
        html_charset = _codec(code_page) if code_page is not None else None
        for value in values:
            if value.pid == _PR_BODY and isinstance(value.value, str):
                self.bodies.append(_Body("body", value.value.encode(), TEXT, "utf-8"))
            elif value.pid == _PR_BODY_HTML and isinstance(value.value, str):
                self.bodies.append(_Body("body", value.value.encode(), HTML, "utf-8"))
            elif value.pid == _PR_BODY_HTML and isinstance(value.value, bytes):
                self.bodies.append(_Body("body", value.value, HTML, html_charset))
            elif value.pid == _PR_RTF_COMPRESSED and isinstance(value.value, bytes):
                self.rtf.append(value.value)
            elif value.kind == _PT_OBJECT and isinstance(value.value, bytes):
                self.objects.append(value.value)
        self._strings([v for v in values if v.pid not in (_PR_BODY, _PR_BODY_HTML)], self.text)

    @staticmethod
    def _strings(values: list[_Value], collector: TextCollector) -> None:
        for value in values:
            if isinstance(value.value, str) and value.value.strip():
                collector.add(value.value + "\n")

    def results(self) -> list[ExtractedText]:
        """The text of everything in the stream, each file extracted one level deeper."""
        ctx = self.ctx
        results = self.own_texts()
        for index, attachment in enumerate(self.attachments, start=1):
            ctx.check_time()
            name = attachment.name(index)
            results.extend(self.attachment_texts(attachment, name))
            for data in attachment.files:
                results.extend(ctx.nested(data, name))
        return results

    def unwrapped(self) -> Unwrapped:
        """The stream's own text, and its attached files whole."""
        texts = self.own_texts()
        files: list[OutlookFile] = []
        for index, attachment in enumerate(self.attachments, start=1):
            self.ctx.check_time()
            name = attachment.name(index)
            if not attachment.files:  # a name and properties without a file
                texts.extend(self.attachment_texts(attachment, name))
                continue
            properties = finish(attachment.text, self.ctx)
            files.extend(OutlookFile(name, data, properties) for data in attachment.files)
        return Unwrapped(tuple(texts), tuple(files))

    def attachment_texts(self, attachment: _Attachment, name: str) -> list[ExtractedText]:
        results = [ExtractedText(name, name)]
        text = finish(attachment.text, self.ctx)
        if text.strip():
            results.append(ExtractedText(text, f"{name} (properties)"))
        return results

    def own_texts(self) -> list[ExtractedText]:
        """The message's bodies, properties and embedded messages."""
        ctx = self.ctx
        results: list[ExtractedText] = []
        for body in self.bodies:
            results.extend(
                ctx.registry.extract(body.data, ctx.child(body.member, body.charset), body.fmt)
            )
        for compressed in self.rtf:
            results.extend(compressed_rtf_text(compressed, ctx, "body.rtf"))
        properties = finish(self.text, ctx)
        if properties.strip():
            results.append(ExtractedText(properties, "properties"))
        for index, data in enumerate(self.objects, start=1):
            ctx.check_time()
            results.extend(ctx.nested(data, f"object-{index}"))
        return results


def _is_text(attribute_id: int, kind: int) -> bool:
    return kind not in _NUMERIC_ATTRIBUTES and attribute_id not in _NOT_TEXT


def _read(data: bytes, ctx: ExtractContext) -> _Reading:
    if not data.startswith(_SIGNATURE) or len(data) < 6:
        raise _malformed("signature missing")
    reading = _Reading(ctx)
    offset, count = 6, 0
    while offset < len(data):
        count += 1
        if count > ctx.limits.max_archive_entries:
            raise ExtractionLimit("too_large", "TNEF with too many attributes")
        ctx.check_time()
        if len(data) - offset < _ATTRIBUTE_HEAD.size + 2:
            ctx.problem("malformed_document", "TNEF with stray bytes after its attributes")
            break
        level, attribute_id, kind, length = _ATTRIBUTE_HEAD.unpack_from(data, offset)
        start = offset + _ATTRIBUTE_HEAD.size
        offset = start + length + 2  # the data, then its checksum (not checked)
        if offset > len(data):
            ctx.problem("malformed_document", "TNEF attribute cut short")
        reading.attribute(level, attribute_id, kind, data[start : start + length])
    return reading


@dataclass(frozen=True, slots=True)
class OutlookFile:
    """A file Outlook attached inside a winmail.dat: the recipient's Outlook
    shows it as an attachment of its own."""

    name: str
    data: bytes = field(repr=False)
    properties: str = field(repr=False)  # the text of its attachment properties


@dataclass(frozen=True, slots=True)
class Unwrapped:
    """A winmail.dat taken apart: its own text and its attached files."""

    texts: tuple[ExtractedText, ...]
    files: tuple[OutlookFile, ...]


def unwrap_tnef(data: bytes, ctx: ExtractContext) -> Unwrapped:
    """The text of a winmail.dat but its attached files, and those files whole.

    Raises `ExtractionError` / `ExtractionLimit` as `extract` does; a fault
    that is recorded as a Problem in `ctx` (a property block that does not
    parse, a stream cut short) keeps what was read before it."""
    return _read(data, ctx).unwrapped()


class TnefExtractor(Extractor):
    name = TNEF_FORMAT
    content_type = content_type_of(TNEF_FORMAT)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        return _read(data, ctx).results()
