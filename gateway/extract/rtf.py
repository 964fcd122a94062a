"""RTF to text: one regex pass over the tokens, a group stack, a destination per group.

Flow.  Every group (`{...}`) belongs to a destination: the body, or one its
first control word starts (`{\\fonttbl`, `{\\*\\annotation`, ...); a group
that starts none (`{\\b bold}`) writes where its parent writes.  What a
destination's text becomes depends on its kind:

- body: the document's flow, the first text returned.  Text, `\\'hh`
  escapes (in the document's ANSI code page), `\\uN` Unicode escapes
  (skipping their `\\ucN` fallback characters) and escaped braces are kept;
  `\\par`, `\\line`, `\\row` become line breaks and `\\tab`, `\\cell` tabs.
  An object's `\\result` and a field's `\\fldrslt` (what the reader is
  shown) are in the flow.
- apart: text beside the flow, read as one piece on its own lines of a
  second text, so it neither runs into nor splits the sentence it is
  anchored in: text boxes (`\\shptxt`, `\\dptxbxtext`, the `\\shprslt`
  fallback), comments and their authors, footnotes, headers and footers,
  field instructions (a link's address), index entries, the document's
  properties (`\\info`) and the names of the people who changed it.
  A piece said twice (a text box and its fallback) is read once.
- shape properties (`\\sp{\\sn name}{\\sv value}`): a value is read as a
  piece unless it is a number, a list of numbers (geometry) or hex data;
  the text properties (a description, WordArt text) are read whatever
  they hold.
- unknown `\\*` destinations: readers that do not know one skip it, but its
  text still travels in clear, and new ones carry text (Word's maths runs,
  form field defaults, document variables), so it is read as a piece
  (fail closed) unless it is nothing but hex data.  The destinations known
  to hold no text at all (font, colour, style and list tables, theme and
  data stores, pictures, rsid and namespace tables, bookmark names...)
  are skipped whole, so a Word file yields its words, not its hex.
- HTML tags (`\\*\\htmltag`, Outlook's encapsulated HTML, MS-OXRTFEX): the
  HTML is rebuilt from the tags and the body text outside `\\htmlrtf`
  runs (which only the rich-text rendering shows; it stays in the body),
  and read as an HTML page: its hidden text (comments, attribute values,
  hidden elements) and any line the rich text does not show are pieces,
  and a file written out in it (a `data:` URI) is read as that file.
- object data (`\\*\\objdata`): hex (or `\\binN` bytes) of an OLE 1.0
  object (MS-OLEDS 2.2).  After the pass each object is parsed: an
  embedded one's native data is read as the file it is, one level deeper
  (`ExtractContext.nested`); a `Package`'s native data is an OLE package
  whose file is read that way; the names of a linked or packaged file are
  pieces.  Data that does not decode or parse is `malformed_document`.

Bounds: the group stack is bounded (deeper nesting than any real document
is refused), each text by the text limit, object data by the message's
archive bytes (`max_archive_total`) and objects by `max_archive_entries`.
Every token is read once and each piece's text belongs to one
destination, so the cost stays linear in the size of the file.
"""

from __future__ import annotations

import binascii
import contextlib
import re
import struct
from dataclasses import dataclass
from enum import Enum

from compressed_rtf import decompress as decompress_rtf  # type: ignore[import-untyped]

from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    ExtractionError,
    Extractor,
    TextCollector,
    finish,
    normalise_text,
)
from gateway.extract.detect import RTF, content_type_of
from gateway.extract.embedded import EmbeddedFiles
from gateway.extract.html import html_texts

_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\([^a-zA-Z])|([{}])|([^\\{}\r\n]+)|[\r\n]+"
)


class _Kind(Enum):
    """What a destination's text becomes (see the module docstring)."""

    BODY = "body"  # the flow: the first text
    APART = "apart"  # one piece of the second text
    UNKNOWN = "unknown"  # an unknown `\*` destination: a piece unless hex data
    PROPERTY_NAME = "property name"  # a shape property's name (`\sn`)
    PROPERTY_VALUE = "property value"  # its value (`\sv`): a piece unless numbers
    HTML_TAG = "html tag"  # encapsulated HTML
    OBJECT_DATA = "object data"  # an OLE object in hex
    PICTURE = "picture"  # picture data, not read; its properties are
    SKIP = "skip"  # no text


# Destinations that hold no document text: tables, styles and settings,
# numbers and identifiers, and data written out in hex.  Everything inside
# them is skipped.
_NOISE = frozenset(
    (
        # Fonts, colours, styles, lists, page styles and numbering formats.
        b"fonttbl falt fname panose fontemb fontfile colortbl expandedcolortbl stylesheet "
        b"latentstyles defchp defpap listtable listoverridetable listpicture pgdsctbl "
        b"pnseclvl pn pntxta pntxtb "
        # Data in hex: the theme, colour mapping, custom XML store, picture and field data.
        b"themedata colorschememapping datastore blipuid datafield "
        # Revision ids, namespaces, the writer's name, settings and protection hashes.
        b"rsidtbl xmlnstbl generator filetbl mmathPr wgrffmtfilter password passwordhash "
        b"fchars lchars ftnsep ftnsepc aftnsep aftnsepc ftncn aftncn "
        # Bookmark names, a comment's ids and date, an object's class and class id.
        b"bkmkstart bkmkend atnref atndate atnparent atnicn atrfstart atrfend objclass oleclsid "
        # Smart tags and custom XML: names and values derived from the text itself.
        b"xmlopen xmlclose xmlattr factoidname"
    ).split()
)
# Destinations with the document's own text outside its flow: each is a piece.
_APART = frozenset(
    (
        # Text boxes (and the fallback drawn for older readers), comments and their authors.
        b"shptxt dptxbxtext shprslt annotation atnid atnauthor "
        # Footnotes, headers and footers, field instructions, index and contents entries.
        b"footnote header headerl headerr headerf footer footerl footerr footerf "
        b"fldinst xe tc tcn "
        # The names of the people who changed or may change the document.
        b"revtbl protusertbl "
        # The document's properties, each its own piece.
        b"info title subject author manager company operator category keywords comment "
        b"doccomm hlinkbase userprops propname staticval linkval"
    ).split()
)
# `\*` groups that only hold other destinations (a shape's instructions, a
# drawing object, a picture's alternatives, a Unicode alternative): their
# text, if any, stays where their parent's is.
_CONTAINERS = frozenset(b"shpinst shpgrp do shppict ud".split())
_HTML_TAGS = frozenset({b"htmltag", b"mhtmltag"})
# Kinds whose content is not read further: everything inside stays theirs.
_SEALED = frozenset({_Kind.SKIP, _Kind.OBJECT_DATA, _Kind.HTML_TAG})
_BUFFERED = frozenset({_Kind.APART, _Kind.UNKNOWN, _Kind.PROPERTY_NAME, _Kind.PROPERTY_VALUE})
_UNREAD = frozenset({_Kind.SKIP, _Kind.PICTURE})

# Shape properties whose value is text whatever it looks like.
_TEXT_PROPERTIES = frozenset(
    {"gtextUNICODE", "gtextRTF", "wzDescription", "wzName", "wzTooltip", "wzSigSetupSigner"}
)
# A shape property value that is a number, or a list of numbers (geometry:
# `8;4;(0,0);(21600,0)`); one star, so a long near miss costs linear time.
_SHAPE_NUMBER = re.compile(r"-?\d{1,9}")
_SHAPE_NUMBER_LIST = re.compile(r"[-\d(),;\s]*")
# Binary data written out in hex: a long run of hex digits and nothing else.
_HEX_DATA = re.compile(r"[0-9A-Fa-f]{32,}")
_MAX_PROPERTY_NAME = 64

_BREAKS = {
    b"par": "\n",
    b"line": "\n",
    b"row": "\n",
    b"sect": "\n",
    b"page": "\n",
    b"tab": "\t",
    b"cell": "\t",
    b"emdash": "—",
    b"endash": "–",
    b"bullet": "•",
    b"lquote": "‘",
    b"rquote": "’",
    b"ldblquote": "“",
    b"rdblquote": "”",
}
_SYMBOLS = {b"\\": "\\", b"{": "{", b"}": "}", b"~": " ", b"_": "-", b"\n": "\n", b"\r": "\n"}
_MAX_GROUPS = 1000
_TICK = 4096  # tokens between checks of the time and text budgets

# OLE 1.0 objects (MS-OLEDS 2.2.4) and OLE packages (Packager's native data).
_LINKED = 1
_EMBEDDED = 2
_PACKAGE_CLASS = "package"
_PACKAGED_LINK = 1
_PACKAGED_FILE = 3


class _ObjectData:
    """The bytes of one `\\*\\objdata`, decoded from hex (and `\\binN` runs) as
    they come, within the room the message's archive bound leaves."""

    __slots__ = ("_halves", "_hex", "_parts", "_room", "fault", "too_large")

    def __init__(self, room: int) -> None:
        self._room = 2 * room  # counted in hex digits: two a byte
        self._halves = 0
        self._hex: list[bytes] = []
        self._parts: list[bytes] = []
        self.fault = ""
        self.too_large = False

    def add_hex(self, text: bytes) -> None:
        digits = b"".join(text.split())
        if self._grow(len(digits)):
            self._hex.append(digits)

    def add_raw(self, raw: bytes) -> None:
        self._decode_hex()
        if self._grow(2 * len(raw)):
            self._parts.append(raw)

    def data(self) -> bytes:
        self._decode_hex()
        return b"".join(self._parts)

    def _grow(self, halves: int) -> bool:
        self._halves += halves
        if self._halves > self._room and not self.too_large:
            self.too_large = True
            self._hex.clear()
            self._parts.clear()
        return not self.too_large

    def _decode_hex(self) -> None:
        if not self._hex:
            return
        try:
            self._parts.append(binascii.unhexlify(b"".join(self._hex)))
        except binascii.Error:
            self.fault = "object data that is not hexadecimal"
        self._hex.clear()


class _Destination:
    """Where the text of a group goes, and what it holds so far."""

    __slots__ = ("chunks", "kind", "object", "property", "size")

    def __init__(self, kind: _Kind, prop: str = "", data: _ObjectData | None = None) -> None:
        self.kind = kind
        self.chunks: list[str] = []
        self.size = 0
        self.property = prop  # the shape property a value belongs to
        self.object = data

    def text(self) -> str:
        return "".join(self.chunks)


def _malformed(detail: str) -> ExtractionError:
    return ExtractionError("malformed_document", f"RTF embedded object: {detail}")


class _Cursor:
    """Reads an OLE 1.0 object or package from the front; running past the
    end is a malformed object."""

    __slots__ = ("_at", "_data")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def take(self, size: int) -> bytes:
        if size > len(self._data) - self._at:
            raise _malformed("cut short")
        chunk = self._data[self._at : self._at + size]
        self._at += size
        return chunk

    def u16(self) -> int:
        return int(struct.unpack("<H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def ansi(self) -> str:
        """A LengthPrefixedAnsiString (its length counts the closing NUL)."""
        return _name(self.take(self.u32()))

    def c_string(self) -> str:
        end = self._data.find(b"\0", self._at)
        if end < 0:
            raise _malformed("a name without its end")
        text = _name(self._data[self._at : end])
        self._at = end + 1
        return text


def _name(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("cp1252", errors="replace").strip()


@dataclass(frozen=True, slots=True)
class _OleObject:
    format_id: int
    class_name: str
    names: tuple[str, ...]  # topic, item (and a link's network name): file names
    native: bytes


def _ole_object(data: bytes) -> _OleObject:
    """An OLE 1.0 EmbeddedObject or LinkedObject (MS-OLEDS 2.2.4-2.2.6)."""
    cursor = _Cursor(data)
    cursor.u32()  # OLEVersion
    format_id = cursor.u32()
    if format_id not in (_LINKED, _EMBEDDED):
        raise _malformed("neither embedded nor linked")
    class_name = cursor.ansi()
    if format_id == _LINKED:
        # A link holds no file, only where it is; Word writes an automatic
        # link's header alone (the path is in the LINK field), so a link
        # cut short hides nothing.
        names: list[str] = []
        with contextlib.suppress(ExtractionError):
            for _ in range(3):  # topic, item, network name
                names.append(cursor.ansi())
        return _OleObject(format_id, class_name, tuple(names), b"")
    names = [cursor.ansi(), cursor.ansi()]
    return _OleObject(format_id, class_name, tuple(names), cursor.take(cursor.u32()))


@dataclass(frozen=True, slots=True)
class _Package:
    names: tuple[str, ...]  # label, source path, temporary path
    data: bytes | None  # None: a link to a file, not the file


def _package(native: bytes) -> _Package:
    """Packager's native data: header, label, source path, reserved, kind,
    then for an embedded file its temporary path and its bytes."""
    cursor = _Cursor(native)
    cursor.u16()  # header
    label, source = cursor.c_string(), cursor.c_string()
    cursor.u16()  # reserved
    kind = cursor.u16()
    if kind == _PACKAGED_LINK:
        return _Package((label, source), None)
    if kind != _PACKAGED_FILE:
        raise _malformed("package of an unknown kind")
    temp = _name(cursor.take(cursor.u32()))
    return _Package((label, source, temp), cursor.take(cursor.u32()))


class _Reader:
    """One pass over an RTF file: the body, the pieces apart, the HTML and
    the objects it holds."""

    def __init__(self, data: bytes, ctx: ExtractContext) -> None:
        self.ctx = ctx
        self.limit = ctx.limits.max_text_chars
        self.body = TextCollector(self.limit)
        self.apart = TextCollector(self.limit)
        self.seen: set[str] = set()  # pieces read already, white space collapsed
        # Only a file with HTML tags can carry HTML: ordinary files pay one search.
        self.html = TextCollector(self.limit) if b"htmltag" in data else None
        self.html_seen = False
        self.htmlrtf = False  # in a run only the rich-text rendering shows
        self.root = _Destination(_Kind.BODY)
        self.dest = self.root
        self.stack: list[tuple[_Destination, int, bool]] = []
        self.fresh = False  # at the start of a group: a destination may follow
        self.starred = False
        self.codepage = "cp1252"
        self.uc = 1  # fallback characters after each \uN
        self.property_name = ""
        self.objects: list[bytes] = []
        self.objects_full = False
        self.overflow = False

    # -- the pass ----------------------------------------------------------------------

    def read(self, data: bytes) -> None:
        pending_skip = 0
        position = 0
        tokens = 0
        length = len(data)
        while position < length:
            match = _TOKEN.match(data, position)
            if match is None:
                position += 1
                continue
            position = match.end()
            tokens += 1
            if tokens % _TICK == 0:
                self.ctx.check_time()
                if self._full():
                    break
            word, arg, hexbyte, symbol, brace, text = match.groups()
            if pending_skip and (text is not None or hexbyte is not None):
                # The fallback of a \uN escape: drop that many characters.
                if text is not None:
                    drop = min(pending_skip, len(text))
                    pending_skip -= drop
                    text = text[drop:]
                    if not text:
                        continue
                else:
                    pending_skip -= 1
                    continue
            if brace is not None:
                if brace == b"{":
                    self._push()
                else:
                    self._pop()
            elif word is not None:
                if word == b"bin" and arg:
                    size = max(0, int(arg))
                    if self.dest.object is not None:
                        self.dest.object.add_raw(data[position : position + size])
                    position += size
                    self.fresh = False
                elif word == b"u" and arg:
                    self.fresh = False
                    value = int(arg)
                    self._escape(chr(value + 65536 if value < 0 else value))
                    pending_skip = self.uc
                else:
                    self._word(word, arg)
            elif symbol is not None:
                if symbol == b"*" and self.fresh:
                    self.starred = True
                    continue
                self.fresh = False
                if symbol in _SYMBOLS:
                    self._escape(_SYMBOLS[symbol])
            elif hexbyte is not None:
                self.fresh = False
                self._escape(_decode(bytes((int(hexbyte, 16),)), self.codepage))
            elif text is not None:
                # `{ \fonttbl`: white space before the first control word
                # does not keep it from starting a destination.
                self.fresh = self.fresh and text.isspace()
                if self.dest.object is not None:
                    self.dest.object.add_hex(text)
                elif self.dest.kind not in _UNREAD:
                    self._emit(_decode(text, self.codepage))
        while self.stack:  # groups left open at the end: what they hold is read
            self._pop()

    def _full(self) -> bool:
        html_full = self.html is not None and self.html.truncated
        return self.body.truncated or self.apart.truncated or self.overflow or html_full

    def _push(self) -> None:
        if len(self.stack) >= _MAX_GROUPS:
            raise ExtractionError("malformed_document", "RTF groups nested too deeply")
        self.stack.append((self.dest, self.uc, self.htmlrtf))
        self.fresh = True
        self.starred = False

    def _pop(self) -> None:
        self.fresh = False
        if not self.stack:
            return
        outer, self.uc, self.htmlrtf = self.stack.pop()
        if outer is not self.dest:
            self._close(self.dest)
            self.dest = outer

    def _word(self, word: bytes, arg: bytes | None) -> None:
        if self.fresh:
            self.fresh = False
            self._open(word)
        if word == b"ansicpg" and arg:
            self.codepage = f"cp{int(arg)}"
        elif word == b"uc" and arg:
            self.uc = max(0, int(arg))
        elif word == b"htmlrtf":
            self.htmlrtf = arg is None or int(arg) != 0
        elif word in _BREAKS:
            self._emit(_BREAKS[word])

    def _escape(self, text: str) -> None:
        """Text from an escape: in object data, which is hex, it is a fault."""
        if self.dest.object is not None:
            self.dest.object.fault = "object data that is not hexadecimal"
        else:
            self._emit(text)

    def _emit(self, text: str) -> None:
        dest = self.dest
        kind = dest.kind
        if kind is _Kind.BODY:
            self.body.add(text)
            if self.html is not None and not self.htmlrtf:
                self.html.add(text)
        elif kind in _BUFFERED:
            if dest.size >= self.limit:
                self.overflow = True
                return
            dest.chunks.append(text)
            dest.size += len(text)
        elif kind is _Kind.HTML_TAG and self.html is not None:
            self.html.add(text)

    # -- destinations ------------------------------------------------------------------

    def _open(self, word: bytes) -> None:
        """The destination a group's first control word starts, if any."""
        kind = self.dest.kind
        if kind in _SEALED:
            return
        if kind is _Kind.PICTURE:
            # A picture's data is not read, its alternative text is.
            if word == b"picprop":
                self.dest = _Destination(_Kind.APART)
            return
        if word in _NOISE:
            self.dest = _Destination(_Kind.SKIP)
        elif word == b"pict":
            self.dest = _Destination(_Kind.PICTURE)
        elif word == b"objdata":
            self.dest = self._object_data()
        elif word in _HTML_TAGS:
            self.html_seen = True
            self.dest = _Destination(_Kind.HTML_TAG)
        elif word == b"sp":
            self.property_name = ""
        elif word == b"sn":
            self.dest = _Destination(_Kind.PROPERTY_NAME)
        elif word == b"sv":
            self.dest = _Destination(_Kind.PROPERTY_VALUE, self.property_name)
        elif word in _APART:
            self.dest = _Destination(_Kind.APART)
        elif self.starred and word not in _CONTAINERS:
            # A reader that does not know a `\*` destination skips it, but
            # its text travels all the same, and new destinations do carry
            # text: read it apart (fail closed); `_close` drops hex data.
            self.dest = _Destination(_Kind.UNKNOWN)

    def _object_data(self) -> _Destination:
        limits = self.ctx.limits
        if len(self.objects) >= limits.max_archive_entries:
            if not self.objects_full:
                self.objects_full = True
                self.ctx.problem(
                    "too_large", f"more than {limits.max_archive_entries} RTF embedded objects"
                )
            return _Destination(_Kind.SKIP)
        room = limits.max_archive_total - self.ctx.budget.archive_bytes
        return _Destination(_Kind.OBJECT_DATA, data=_ObjectData(room))

    def _close(self, dest: _Destination) -> None:
        kind = dest.kind
        if kind is _Kind.APART:
            self._piece(dest.text())
        elif kind is _Kind.UNKNOWN:
            text = dest.text()
            if not _HEX_DATA.fullmatch("".join(text.split())):
                self._piece(text)
        elif kind is _Kind.PROPERTY_NAME:
            self.property_name = dest.text().strip()[:_MAX_PROPERTY_NAME]
        elif kind is _Kind.PROPERTY_VALUE:
            self._property(dest.property, dest.text())
        elif dest.object is not None:
            self._object_closed(dest.object)

    def _property(self, name: str, value: str) -> None:
        stripped = value.strip()
        numbers = _SHAPE_NUMBER.fullmatch(stripped) or (
            ";" in stripped and _SHAPE_NUMBER_LIST.fullmatch(stripped)
        )
        if name in _TEXT_PROPERTIES or not (
            numbers or _HEX_DATA.fullmatch("".join(stripped.split()))
        ):
            self._piece(value)

    def _object_closed(self, data: _ObjectData) -> None:
        ctx = self.ctx
        if data.too_large:
            ctx.problem(
                "too_large", f"RTF embedded objects over {ctx.limits.max_archive_total} bytes"
            )
            return
        decoded = data.data()
        if data.fault:
            ctx.problem("malformed_document", f"RTF embedded object: {data.fault}")
        elif decoded:
            ctx.budget.archive_bytes += len(decoded)
            self.objects.append(decoded)

    def _piece(self, text: str) -> None:
        """Text beside the flow, on lines of its own; a piece read already is
        not read again (a text box and its fallback say the same)."""
        key = " ".join(text.split())
        # Punctuation alone (`;;`, the entries of an empty table) says nothing.
        if key not in self.seen and any(c.isalnum() for c in key):
            self.seen.add(key)
            self.apart.add(text.strip() + "\n")

    # -- after the pass ----------------------------------------------------------------

    def objects_read(self) -> list[ExtractedText]:
        results: list[ExtractedText] = []
        for index, data in enumerate(self.objects, start=1):
            self.ctx.check_time()
            try:
                results.extend(self._object(data, index))
            except ExtractionError as exc:
                self.ctx.problem(exc.code, exc.detail)
        return results

    def _object(self, data: bytes, index: int) -> list[ExtractedText]:
        ole = _ole_object(data)
        for name in ole.names:
            self._piece(name)
        if ole.format_id == _LINKED:
            return []  # the file stays on the sender's disk: its names are all that travel
        if ole.class_name.lower() == _PACKAGE_CLASS:
            packaged = _package(ole.native)
            for name in packaged.names:
                self._piece(name)
            if packaged.data is None:
                return []
            return self.ctx.nested(packaged.data, packaged.names[0] or f"object-{index}")
        if not ole.native:
            return []
        return self.ctx.nested(ole.native, f"object-{index}")

    def html_read(self) -> list[ExtractedText]:
        """The encapsulated HTML, read as a page: what the rich text does not
        show is a piece; a file written out in it is read as that file."""
        if self.html is None or not self.html_seen:
            return []
        visible, hidden = html_texts(finish(self.html, self.ctx), self.ctx)
        shown = {"".join(line.split()) for line in normalise_text(self.body.text()).splitlines()}
        self._piece(
            "\n".join(line for line in visible.splitlines() if "".join(line.split()) not in shown)
        )
        self._piece(hidden)
        files = EmbeddedFiles(self.ctx)
        return files.in_text(visible) + files.in_text(hidden)

    def texts(self) -> list[ExtractedText]:
        found = self.objects_read() + self.html_read()
        if self.overflow and not self.apart.truncated:
            self.ctx.problem("too_large", f"text over {self.limit} characters")
        texts = [ExtractedText(finish(self.body, self.ctx))]
        apart = finish(self.apart, self.ctx).strip("\n")
        if apart:
            texts.append(ExtractedText(apart))
        return texts + found


def rtf_texts(data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
    """The body's text, then the text beside it, then the files it holds."""
    reader = _Reader(data, ctx)
    reader.read(data)
    return reader.texts()


def _decode(raw: bytes, codepage: str) -> str:
    try:
        return raw.decode(codepage)
    except (LookupError, UnicodeDecodeError):
        return raw.decode("cp1252", errors="replace")


class RtfExtractor(Extractor):
    name = RTF
    content_type = content_type_of(RTF)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        return rtf_texts(data, ctx)


def compressed_rtf_text(compressed: bytes, ctx: ExtractContext, member: str) -> list[ExtractedText]:
    """An Outlook body in compressed RTF (MS-OXRTFCP, `LZFu`: a TNEF's or a
    .msg's PR_RTF_COMPRESSED), decompressed and read as RTF; one that does
    not decompress is a problem."""
    try:
        rtf = decompress_rtf(bytes(compressed) + b"\x00")
    except Exception:  # compressed_rtf raises bare Exceptions on junk
        ctx.problem("malformed_document", f"{member}: compressed RTF does not decompress")
        return []
    return ctx.registry.extract(rtf, ctx.child(member), RTF)
