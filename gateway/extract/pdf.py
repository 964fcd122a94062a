"""PDF text with pypdf: everything a reader shows, or a recipient can take
out of the file.

`pdf_text` first reads the document as a viewer opens it (its last revision):

* the document information, then every page's text with the page's
  annotations: a note's author (/T), text (/Contents) and rich text (/RC,
  XHTML), and the text its appearance streams draw (/AP: a stamp, a text
  box or a form field shows that, whatever /Contents says);
* bookmarks and form field values;
* one level deeper, as nested files: the XMP metadata, the XFA form data
  (its packets together are one XML document: the template's captions and
  the datasets' values), the files in the EmbeddedFiles name tree and the
  files attached to a page by a FileAttachment annotation or listed as
  associated files (/AF).  Nested files count against the message's archive
  budget (number and bytes), and each distinct file is read once.

Then each earlier revision an incremental save left in the file: the bytes
up to each earlier "%%EOF" are a PDF of their own, and whatever an update
replaced (a "redacted" page, a deleted note) is still there and leaves with
the file.  Each is read the same way, keeping only what no later reading
had, as "(earlier revision N)" (see `_earlier_revisions`).

An encrypted PDF is read only when the empty user password opens it (an
owner-password-only file: anyone can read it); otherwise there is no text
here and the inspect stage reports the encryption and tries the sender's
passwords through `pdf_text`.  Pages are read one at a time with the time
budget checked between them.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import cast

from pypdf import PageObject, PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import (
    ArrayObject,
    ByteStringObject,
    DictionaryObject,
    EncodedStreamObject,
    IndirectObject,
    StreamObject,
)

from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    ExtractionError,
    ExtractionLimit,
    Extractor,
    TextCollector,
    finish,
)
from gateway.extract.detect import PDF, content_type_of
from gateway.extract.html import html_to_text
from gateway.extract.xmltext import ANY_PART, xml_text

_INFO_KEYS = ("/Title", "/Author", "/Subject", "/Keywords", "/Creator")
# The author (/T), the note itself (/Contents) and its rich-text form (/RC).
_ANNOTATION_KEYS = ("/T", "/Contents")
_RICH_TEXT = "/RC"
# What pypdf raises on a damaged file (besides its own errors).
_PDF_ERRORS = (
    PyPdfError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    OSError,
)


def open_pdf(data: bytes) -> PdfReader:
    try:
        return PdfReader(io.BytesIO(data), strict=False)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ExtractionError("malformed_document", f"PDF: {type(exc).__name__}") from None


def pdf_text(reader: PdfReader, ctx: ExtractContext) -> list[ExtractedText]:
    """The text of an open (not encrypted, or decrypted) PDF, and of the
    files in it: the document as a viewer shows it first, then what only
    its earlier revisions still hold."""
    data = _file_bytes(reader)
    ends = _earlier_revision_ends(data, ctx) if data is not None else []
    found = _Found(track=bool(ends))
    collector = TextCollector(ctx.limits.max_text_chars)
    reading = _Reading(ctx, found, collector)
    try:
        _read(reader, reading)
    except _PDF_ERRORS as exc:
        raise ExtractionError("malformed_document", f"PDF: {type(exc).__name__}") from None
    results = [ExtractedText(finish(collector, ctx)), *reading.nested]
    if data is not None and ends:
        results.extend(_earlier_revisions(data, ends, ctx, found))
    return results


# --------------------------------------------------------------------------- one reading


@dataclass(slots=True)
class _Found:
    """What the readings of one file have read: shared, so an earlier
    revision adds only what the later ones lack, and a file attached twice
    (or kept in every revision) is read once."""

    track: bool  # the file has earlier revisions: fingerprint every page read
    blocks: set[str] = field(default_factory=set)  # each piece of text added
    drawn: set[bytes] = field(default_factory=set)  # fingerprints of pages, appearances read
    files: set[bytes] = field(default_factory=set)  # digests of nested files read
    file_count: int = 0
    files_refused: bool = False  # a bound on nested files was hit (reported once)


class _Reading:
    """One reading of one revision: its text, the files found on its pages
    (read after the text), and the nested results."""

    def __init__(
        self,
        ctx: ExtractContext,
        found: _Found,
        collector: TextCollector,
        revision: int | None = None,
    ) -> None:
        self.ctx = ctx
        self.found = found
        self.collector = collector
        self.earlier = revision is not None
        self.prefix = "" if revision is None else f"{_revision_name(revision)}/"
        self.prints = _Fingerprints(ctx)
        self.attached: list[tuple[str, StreamObject]] = []
        self.nested: list[ExtractedText] = []

    def add(self, text: str) -> bool:
        """Add one piece of text; False once the text budget is spent.  An
        earlier revision skips a piece a later reading already had (the same
        name counted twice would count as two people)."""
        if self.earlier and text in self.found.blocks:
            return not self.collector.truncated
        self.found.blocks.add(text)
        return self.collector.add(text)

    def page_is_new(self, page: PageObject) -> bool:
        """False for a page of an earlier revision drawn from exactly what a
        later one was: its text is the same, and extracting it again would
        spend the time budget for nothing."""
        if not self.found.track:
            return True
        fingerprint = self.prints.of(page)
        if fingerprint is None:
            return True
        if self.earlier and fingerprint in self.found.drawn:
            return False
        self.found.drawn.add(fingerprint)
        return True

    def appearance_is_new(self, appearance: object) -> bool:
        """False for an appearance drawn from what one already read was (a
        stamp on every page, a revision's unchanged field)."""
        fingerprint = self.prints.of(appearance)
        if fingerprint is None:
            return True
        if fingerprint in self.found.drawn:
            return False
        self.found.drawn.add(fingerprint)
        return True

    def attach(self, spec: object) -> None:
        """Note the embedded file(s) of a file specification, read after the text."""
        spec = _resolved(spec)
        if not isinstance(spec, DictionaryObject):
            return  # a file name only: the file is not in this one
        files = _resolved(spec.get("/EF"))
        if not isinstance(files, DictionaryObject):
            return
        name = _string(spec.get("/UF")) or _string(spec.get("/F")) or "(attached file)"
        for value in list(files.values())[:_EF_KEYS]:
            stream = _resolved(value)
            if not isinstance(stream, StreamObject):
                continue
            if len(self.attached) >= self.ctx.limits.max_archive_entries:
                self.refuse_files(f"more than {self.ctx.limits.max_archive_entries} files")
                return
            self.attached.append((name, stream))

    def admit(self, data: bytes) -> bool:
        """True for a nested file to read: one not read yet, within the count
        and the archive budget (a refusal is a problem: fail closed)."""
        found, limits = self.found, self.ctx.limits
        if found.files_refused:
            return False
        digest = hashlib.sha256(data).digest()
        if digest in found.files:
            return False
        found.files.add(digest)
        self.ctx.budget.archive_bytes += len(data)
        if found.file_count >= limits.max_archive_entries:
            self.refuse_files(f"more than {limits.max_archive_entries} files")
            return False
        if self.ctx.budget.archive_bytes > limits.max_archive_total:
            self.refuse_files(f"files over {limits.max_archive_total} bytes")
            return False
        found.file_count += 1
        return True

    def refuse_files(self, detail: str) -> None:
        if not self.found.files_refused:
            self.found.files_refused = True
            self.ctx.problem("too_large", f"files in the PDF: {detail}")

    def nest(self, data: bytes, name: str) -> None:
        """Extract a file found in the PDF, one level deeper, like any member."""
        if self.admit(data):
            self.nested.extend(self.ctx.nested(data, self.prefix + name))


def _read(reader: PdfReader, reading: _Reading) -> None:
    """Read one revision: its text into the reading's collector, its files
    (and XMP, XFA) into `reading.nested`."""
    ctx = reading.ctx
    info = reader.metadata
    if info is not None:
        for key in _INFO_KEYS:
            value = info.get(key)
            if value:
                reading.add(f"{value}\n")
    for page in reader.pages:
        ctx.check_time()
        if reading.page_is_new(page) and not reading.add(page.extract_text() + "\n"):
            break
        for spec in _array(page.get("/AF")):
            reading.attach(spec)
        if not _annotations(page, reading):
            break
    _outline(reader, reading)
    fields = reader.get_fields() or {}
    for name, fld in fields.items():
        value = fld.get("/V")
        if value:
            reading.add(f"{name}: {value}\n")
    catalog = _catalog(reader)
    metadata = catalog.get("/Metadata")
    stream = metadata.get_object() if metadata is not None else None
    if isinstance(stream, StreamObject):
        # XMP: the document's description, creator, ... as XML, which
        # need not match the information dictionary.
        reading.nest(stream.get_data(), "(XMP metadata)")
    _xfa(catalog, reading)
    for name, contents in reader.attachments.items():
        for content in contents:
            reading.nest(content, name)
    for spec in _array(catalog.get("/AF")):
        reading.attach(spec)
    for name, attached in reading.attached:
        ctx.check_time()
        reading.nest(attached.get_data(), name)


# --------------------------------------------------------------------------- annotations

# Appearances: normal, rollover (shown under the pointer), down (while clicked).
_APPEARANCE_KEYS = ("/N", "/R", "/D")
# States of one appearance read at most: a check box has two, a radio button a few.
_APPEARANCE_STATES = 32
# Streams of one embedded-file dictionary (/F, /UF and the old platform keys).
_EF_KEYS = 8
# Field ancestors looked at for a widget's value.
_FIELD_DEPTH = 32


def _annotations(page: PageObject, reading: _Reading) -> bool:
    """Add the text of the page's annotations; False once the text budget is spent."""
    annotations = _resolved(page.get("/Annots"))
    if not isinstance(annotations, ArrayObject):
        return True
    for reference in annotations:
        reading.ctx.check_time()
        annotation = _resolved(reference)
        if not isinstance(annotation, DictionaryObject):
            continue
        said: list[str] = []
        for key in _ANNOTATION_KEYS:
            text = _string(annotation.get(key))
            said.append(text)
            if text and not reading.add(text + "\n"):
                return False
        rich = _resolved(annotation.get(_RICH_TEXT))
        if rich is not None:
            markup = (
                rich.get_data().decode("utf-8", "replace")
                if isinstance(rich, StreamObject)
                else _string(rich)
            )
            if markup:
                text = html_to_text(markup, reading.ctx)
                said.append(text)
                if not reading.add(text + "\n"):
                    return False
        if annotation.get("/Subtype") == "/FileAttachment":
            reading.attach(annotation.get("/FS"))
        for spec in _array(annotation.get("/AF")):
            reading.attach(spec)
        if not _appearances(page, annotation, said, reading):
            return False
    return True


def _appearances(
    page: PageObject, annotation: DictionaryObject, said: list[str], reading: _Reading
) -> bool:
    """Add the text an annotation's appearance streams draw, unless it is
    what the annotation already said (a text box drawing its /Contents, a
    field drawing its value): read twice it would count twice."""
    appearances = _resolved(annotation.get("/AP"))
    if not isinstance(appearances, DictionaryObject):
        return True
    known = _collapsed(" ".join([*said, *_field_values(annotation)]))
    for key in _APPEARANCE_KEYS:
        entry = appearances.get(key)
        resolved = _resolved(entry)
        if isinstance(resolved, StreamObject):
            states = [entry]
        elif isinstance(resolved, DictionaryObject):
            states = list(resolved.values())[:_APPEARANCE_STATES]
        else:
            continue
        for state in states:
            form = _resolved(state)
            if not isinstance(form, StreamObject) or not reading.appearance_is_new(state):
                continue
            # pypdf reads any form XObject this way; its signature names the
            # encoded kind only.
            text = page.extract_xform_text(cast(EncodedStreamObject, form))
            shown = _collapsed(text)
            if shown and shown not in known and not reading.add(text + "\n"):
                return False
    return True


def _field_values(annotation: DictionaryObject) -> list[str]:
    """A widget's value, its own or its field's (a parent up the field tree)."""
    values: list[str] = []
    node: object = annotation
    for _ in range(_FIELD_DEPTH):
        if not isinstance(node, DictionaryObject):
            break
        value = _string(node.get("/V"))
        if value:
            values.append(value)
        node = _resolved(node.get("/Parent"))
    return values


def _collapsed(text: str) -> str:
    """`text` without white space, to compare what an appearance draws with
    what the annotation says: a viewer wraps the lines of a note wherever
    the box ends, and pypdf spaces the words it draws as the glyphs fall."""
    return "".join(text.split())


# --------------------------------------------------------------------------- bookmarks, XFA

# Bookmarks read at most: a real document has hundreds.
_OUTLINE_LIMIT = 100_000


def _outline(reader: PdfReader, reading: _Reading) -> None:
    """Add the bookmarks' titles (a reader lists them beside the pages; a
    scanned referral's may be the only text in it).  Walked here, not by
    pypdf: each item once, so a /Next that loops back ends the walk."""
    root = _catalog(reader).get("/Outlines")
    outlines = root.get_object() if root is not None else None
    pending = [outlines.get("/First")] if isinstance(outlines, DictionaryObject) else []
    seen: set[int] = set()
    while pending and len(seen) < _OUTLINE_LIMIT:
        item = pending.pop()
        if item is None:
            continue
        node = item.get_object()
        key = item.idnum if isinstance(item, IndirectObject) else id(node)
        if key in seen or not isinstance(node, DictionaryObject):
            continue
        seen.add(key)
        if len(seen) % 1000 == 0:
            reading.ctx.check_time()
        if not reading.add(_string(node.get("/Title")) + "\n"):
            return
        pending.append(node.get("/Next"))
        pending.append(node.get("/First"))


# XFA packets read at most: a form has a dozen (template, datasets, config, ...).
_XFA_PACKETS = 1000


def _xfa(catalog: DictionaryObject, reading: _Reading) -> None:
    """Read the XFA form (one stream, or an array of name, stream pairs whose
    streams together make one XDP document) as XML: the datasets hold what
    was typed into the form, the template its captions and fixed text."""
    ctx = reading.ctx
    form = _resolved(catalog.get("/AcroForm"))
    xfa = _resolved(form.get("/XFA")) if isinstance(form, DictionaryObject) else None
    if isinstance(xfa, StreamObject):
        packets: list[object] = [xfa]
    elif isinstance(xfa, ArrayObject):
        packets = list(xfa[1::2])
        if len(packets) > _XFA_PACKETS:
            ctx.problem("too_large", f"XFA form data in more than {_XFA_PACKETS} packets")
            del packets[_XFA_PACKETS:]
    else:
        return
    parts: list[bytes] = []
    for packet in packets:
        stream = _resolved(packet)
        if isinstance(stream, StreamObject):
            parts.append(stream.get_data())
    data = b"".join(parts)
    if not data.strip() or not reading.admit(data):
        return
    collector = TextCollector(ctx.limits.max_text_chars)
    try:
        xml_text(data, ANY_PART, collector, ctx)
    except ExtractionError as exc:
        # What it held cannot all be read: a problem (fail closed), and the
        # rest of the document is still read.
        ctx.problem(exc.code, f"PDF XFA form data: {exc.detail}")
    text = finish(collector, ctx)
    if text.strip():
        reading.nested.append(ExtractedText(text, reading.prefix + "(XFA form data)"))


# --------------------------------------------------------------------------- earlier revisions

# Earlier revisions read at most.  Past it the file is a problem (fail closed).
_REVISION_LIMIT = 20
_EOF = b"%%EOF"


def _file_bytes(reader: PdfReader) -> bytes | None:
    stream = reader.stream
    return stream.getvalue() if isinstance(stream, io.BytesIO) else None


def _earlier_revision_ends(data: bytes, ctx: ExtractContext) -> list[int]:
    """Where each earlier revision ends, oldest first: just after each "%%EOF"
    but the last (the last is the document a viewer opens).  Searched from
    the end, so at most `_REVISION_LIMIT` + 1 searches whatever the file holds."""
    ends: list[int] = []
    final = data.rfind(_EOF)
    at = data.rfind(_EOF, 0, final) if final > 0 else -1
    while at >= 0 and len(ends) <= _REVISION_LIMIT:
        ends.append(at + len(_EOF))
        at = data.rfind(_EOF, 0, at)
    if len(ends) > _REVISION_LIMIT:
        ctx.problem("too_large", f"PDF with more than {_REVISION_LIMIT} earlier revisions")
        del ends[_REVISION_LIMIT:]
    ends.reverse()
    return ends


def _revision_name(number: int) -> str:
    return f"(earlier revision {number})"


def _earlier_revisions(
    data: bytes, ends: list[int], ctx: ExtractContext, found: _Found
) -> list[ExtractedText]:
    """The text and files only earlier revisions hold.

    Each revision is read as the PDF it was when saved (the bytes up to its
    "%%EOF"), not by hunting for content streams no cross-reference table
    points at: a content stream alone cannot be read without the fonts and
    resources of its page, and a revision has them all, as it had them.
    Everything a later reading already read (same piece of text, same page
    or appearance drawn from the same objects, same file) is skipped, so
    an unchanged revision adds nothing and costs little time.

    A prefix that is no PDF on its own is not a problem in itself: a
    linearised file has a "%%EOF" after its first page, a stream can hold
    the string.  Neither is one pypdf cannot open without a password: it
    is encrypted as the document is (it is read with the empty password
    only, as `PdfExtractor` reads the document).  The texts of all earlier
    revisions share one text budget, past which the file is a problem.
    """
    results: list[ExtractedText] = []
    room = ctx.limits.max_text_chars
    for number, end in enumerate(ends, start=1):
        collector = TextCollector(room)
        reading = _Reading(ctx, found, collector, number)
        stop = False
        try:
            ctx.check_time()
            reader = open_pdf(data[:end])
            if not reader.is_encrypted or reader.decrypt(""):
                _read(reader, reading)
        except ExtractionLimit as exc:
            ctx.problem(exc.code, exc.detail)
            stop = True
        except RecursionError:
            ctx.problem("too_deep", f"PDF {_revision_name(number)} nested too deeply")
        except (ExtractionError, NotImplementedError, *_PDF_ERRORS):
            pass  # what it held before the damage is kept below
        text = finish(collector, ctx)
        if text.strip():
            results.append(ExtractedText(text, _revision_name(number)))
        results.extend(reading.nested)
        room -= len(text)
        if stop or collector.truncated:
            break
    return results


class _TooMuch(Exception):
    """A fingerprint walk past its bounds: the page is read, not skipped."""


# Objects one reader's fingerprints walk at most, and nesting followed.
_WALK_OBJECTS = 100_000
_WALK_DEPTH = 64
# Keys that point away from what a page or appearance draws: the page tree,
# the annotations (read apart), article beads.
_NOT_DRAWN = frozenset({"/Parent", "/P", "/Annots", "/B"})
_BEING_WALKED = b"being walked"


class _Fingerprints:
    """Digests of everything a page or an appearance is drawn from (its
    content streams, resources, fonts, form XObjects, by value), so a page
    an incremental update left alone is recognised in the earlier revision
    even when the update rewrote the page object to add an annotation, and
    a page whose font or form XObject the update replaced is not.  Each
    indirect object is digested once per reader."""

    def __init__(self, ctx: ExtractContext) -> None:
        self.ctx = ctx
        self.memo: dict[tuple[int, int], bytes] = {}

    def of(self, value: object) -> bytes | None:
        try:
            return self._digest(value, 0)
        except (_TooMuch, RecursionError, NotImplementedError, *_PDF_ERRORS):
            return None

    def _digest(self, value: object, depth: int) -> bytes:
        digest = hashlib.sha256()
        self._feed(digest, value, depth)
        return digest.digest()

    def _feed(self, digest: hashlib._Hash, value: object, depth: int) -> None:
        if depth > _WALK_DEPTH:
            raise _TooMuch
        if isinstance(value, IndirectObject):
            key = (value.idnum, value.generation)
            known = self.memo.get(key)
            if known is None:
                if len(self.memo) >= _WALK_OBJECTS:
                    raise _TooMuch
                if len(self.memo) % 1000 == 0:
                    self.ctx.check_time()
                self.memo[key] = _BEING_WALKED  # a reference back up the walk
                known = self._digest(value.get_object(), depth + 1)
                self.memo[key] = known
            digest.update(b"R" + known)
        elif isinstance(value, DictionaryObject):
            digest.update(b"<<")
            for key in sorted(dict.keys(value)):
                if key not in _NOT_DRAWN:
                    digest.update(f"{key} ".encode("utf-8", "replace"))
                    self._feed(digest, value.raw_get(key), depth + 1)
            digest.update(b">>")
            if isinstance(value, StreamObject):
                digest.update(b"stream" + hashlib.sha256(value.get_data()).digest())
        elif isinstance(value, ArrayObject):
            digest.update(b"[")
            for item in value:
                self._feed(digest, item, depth + 1)
            digest.update(b"]")
        else:
            digest.update(f"{type(value).__name__}:{value!r};".encode("utf-8", "replace"))


# --------------------------------------------------------------------------- small readers


def _catalog(reader: PdfReader) -> DictionaryObject:
    catalog = reader.trailer["/Root"].get_object()
    if not isinstance(catalog, DictionaryObject):
        raise ExtractionError("malformed_document", "PDF: no document catalog")
    return catalog


def _resolved(value: object) -> object:
    """The object `value` refers to (itself when direct; None when absent)."""
    if isinstance(value, IndirectObject):
        return value.get_object()
    return value


def _array(value: object) -> list[object]:
    resolved = _resolved(value)
    return list(resolved) if isinstance(resolved, ArrayObject) else []


def _string(value: object) -> str:
    """A PDF string as text (pypdf has already decoded a text string)."""
    if value is None:
        return ""
    if hasattr(value, "get_object"):
        value = value.get_object()
    if isinstance(value, ByteStringObject):
        return bytes(value).decode("latin-1")
    return value if isinstance(value, str) else ""


class PdfExtractor(Extractor):
    name = PDF
    content_type = content_type_of(PDF)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        reader = open_pdf(data)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except (PyPdfError, ValueError, NotImplementedError) as exc:
                raise ExtractionError("malformed_document", f"PDF: {type(exc).__name__}") from None
            if not opened:
                ctx.hidden("PDF needs a password")
                return []
        return pdf_text(reader, ctx)
