"""PDF text with pypdf: everything a reader shows, or a recipient can take
out of the file.

`pdf_text` first reads the document as a viewer opens it (its last revision):

* the document information, then every page's text with the page's
  annotations: a note's author (/T), text (/Contents) and rich text (/RC,
  XHTML), and the text its appearance streams draw (/AP: a stamp, a text
  box or a form field shows that, whatever /Contents says);
* a page that selects a font its resources lack (or none): the strings its
  content stream shows, read raw as well, since a viewer draws them with a
  font of its own while pypdf reads nothing (`_page_text`);
* bookmarks and form field values;
* the source of every JavaScript action: the document's /OpenAction and
  /AA, the /Names /JavaScript tree, a page's /AA, an annotation's /A and
  /AA, and what each runs next (/Next), as "(JavaScript)";
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

Last, the objects the cross-reference table lists but that nothing any
reading's trailer leads to refers to (`_unreferenced`): an editing or
"redaction" tool that dropped the reference to old content but left the
object in the file.  Any PDF library (or `strings`) still recovers it, so
its strings, the text a leftover content stream shows and a leftover stream
that is text are read too, as "(unreferenced objects)".  What an earlier
revision still refers to is read with that revision instead (with its
page's fonts), not twice.

An encrypted PDF is read only when the empty user password opens it (an
owner-password-only file: anyone can read it); otherwise there is no text
here and the inspect stage reports the encryption and tries the sender's
passwords through `pdf_text`, and reads what the file holds unencrypted
through `clear_parts` (metadata left clear by /EncryptMetadata false,
streams exempted by the Identity crypt filter).  Pages are read one at a
time with the time budget checked between them.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from typing import cast

from pypdf import PageObject, PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import (
    ArrayObject,
    BooleanObject,
    ByteStringObject,
    ContentStream,
    DecodedStreamObject,
    DictionaryObject,
    EncodedStreamObject,
    IndirectObject,
    NameObject,
    NullObject,
    NumberObject,
    StreamObject,
    TextStringObject,
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
    try:
        results.extend(_unreferenced(reader, ctx, found))
    except _PDF_ERRORS as exc:
        raise ExtractionError("malformed_document", f"PDF: {type(exc).__name__}") from None
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
    reached: set[tuple[int, int]] = field(default_factory=set)  # objects a reading's trailer leads to
    objects_refused: bool = False  # more than `_OBJECT_LIMIT` objects (reported once)


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
        self.scripts = TextCollector(ctx.limits.max_text_chars)

    def add_script(self, source: str) -> None:
        """Note a JavaScript action's source, read after the text as one
        piece; an earlier revision's only when no later reading had it."""
        if not source.strip() or (self.earlier and source in self.found.blocks):
            return
        self.found.blocks.add(source)
        self.scripts.add(source + "\n")

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
        if reading.page_is_new(page) and not reading.add(_page_text(page, reader) + "\n"):
            break
        _actions(page.get("/AA"), reading, triggers=True)
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
    _actions(catalog.get("/OpenAction"), reading)
    _actions(catalog.get("/AA"), reading, triggers=True)
    _named_scripts(catalog, reading)
    if reading.scripts.text():
        reading.nested.append(
            ExtractedText(finish(reading.scripts, ctx), reading.prefix + "(JavaScript)")
        )
    for name, contents in reader.attachments.items():
        for content in contents:
            reading.nest(content, name)
    for spec in _array(catalog.get("/AF")):
        reading.attach(spec)
    for name, attached in reading.attached:
        ctx.check_time()
        reading.nest(attached.get_data(), name)
    reached = _reached(reader, ctx)
    if reached is None:
        _refuse_objects(reading.found, ctx)
    else:
        reading.found.reached |= reached


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
        _actions(annotation.get("/A"), reading)
        _actions(annotation.get("/AA"), reading, triggers=True)
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


# --------------------------------------------------------------------------- text without its font


# A font selection in a content stream: `/F1 12 Tf`.
_FONT_SELECTION = re.compile(rb"/([^\s/\[\]()<>{}%]+)\s+[-+]?[\d.]+\s+Tf\b")


def _page_text(page: PageObject, reader: PdfReader) -> str:
    """The page's text as pypdf reads it; and when the page names a font
    its resources lack (or has none), the strings its content stream
    shows, read raw.  A viewer draws them with a font of its own (MuPDF
    does), but pypdf reads nothing, or a replacement character a glyph."""
    text = page.extract_text()
    content = _page_content(page)
    if b"BT" not in content or not _lacks_a_font(page, content):
        return text
    shown = _shown_text(content, reader)
    return f"{text}\n{shown}" if shown.strip() else text


def _page_content(page: PageObject) -> bytes:
    """The page's content streams, decoded and joined."""
    contents = _resolved(page.get("/Contents"))
    streams = list(contents) if isinstance(contents, ArrayObject) else [contents]
    parts: list[bytes] = []
    for item in streams:
        stream = _resolved(item)
        if isinstance(stream, StreamObject):
            parts.append(stream.get_data())
    return b"\n".join(parts)


def _lacks_a_font(page: PageObject, content: bytes) -> bool:
    """Whether the page's resources (its own or inherited) hold no font,
    or not one the content selects.  (pypdf reads a text that selects no
    font with one of the page's.)"""
    resources = _resolved(page.get("/Resources"))
    fonts = _resolved(resources.get("/Font")) if isinstance(resources, DictionaryObject) else None
    held = {str(name) for name in fonts} if isinstance(fonts, DictionaryObject) else set()
    chosen = {"/" + m.group(1).decode("latin-1") for m in _FONT_SELECTION.finditer(content)}
    return not held or not chosen <= held


# --------------------------------------------------------------------------- JavaScript

# Actions of one chain (/Next) and nodes of the JavaScript name tree
# followed at most: a real form has a few hundred.
_ACTION_LIMIT = 10_000
_JAVASCRIPT = "/JavaScript"


def _actions(value: object, reading: _Reading, *, triggers: bool = False) -> None:
    """Note the source of every JavaScript action `value` runs: an action
    (/OpenAction, a link's /A; an array there is a destination, no
    action), or with `triggers` an additional-actions dictionary (/AA, a
    trigger to each action); and the actions each one's /Next runs after
    it.  Anyone opening the file reads the script, whatever a viewer runs."""
    if triggers:
        table = _resolved(value)
        pending = list(dict.values(table)) if isinstance(table, DictionaryObject) else []
    else:
        pending = [value]
    seen: set[tuple[int, int]] = set()  # indirect actions followed: a loop of /Next ends
    looked = 0
    while pending and looked < _ACTION_LIMIT:
        item = pending.pop()
        looked += 1
        if isinstance(item, IndirectObject):
            if (item.idnum, item.generation) in seen:
                continue
            seen.add((item.idnum, item.generation))
        action = _resolved(item)
        if not isinstance(action, DictionaryObject):
            continue
        if action.get("/S") == _JAVASCRIPT:
            reading.add_script(_script_source(action.get("/JS")))
        following = action.raw_get("/Next") if "/Next" in action else None
        resolved = _resolved(following)
        if isinstance(resolved, ArrayObject):
            pending.extend(resolved)
        elif following is not None:
            pending.append(following)


def _script_source(value: object) -> str:
    """A /JS entry as text: a string, or a stream (UTF-16 with its mark,
    else UTF-8, else Latin-1)."""
    source = _resolved(value)
    if not isinstance(source, StreamObject):
        return _string(source)
    data = source.get_data()
    if data[:2] in (b"\xfe\xff", b"\xff\xfe"):
        return data.decode("utf-16", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _named_scripts(catalog: DictionaryObject, reading: _Reading) -> None:
    """The document-level scripts: the /Names /JavaScript name tree's actions."""
    names = _resolved(catalog.get("/Names"))
    root = _resolved(names.get(_JAVASCRIPT)) if isinstance(names, DictionaryObject) else None
    pending: list[object] = [root]
    walked = 0
    while pending and walked < _ACTION_LIMIT:
        node = _resolved(pending.pop())
        walked += 1
        if not isinstance(node, DictionaryObject):
            continue
        leaves = _array(node.get("/Names"))
        for action in leaves[1::2]:
            _actions(action, reading)
        pending.extend(_array(node.get("/Kids")))


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


# --------------------------------------------------------------------------- objects nothing shows

# Objects of one file walked at most (what the trailer leads to, what the
# cross-reference table lists); past it the file is a problem (fail closed).
_OBJECT_LIMIT = 250_000
# Nesting of a leftover object's strings followed at most.
_STRING_DEPTH = 32
# A leftover stream is read as text when it is UTF-8 and at least this share
# of its first characters are printable: images, fonts and other binary
# data are not text, and reading them would only find noise.
_PRINTABLE_SHARE = 0.95
_SAMPLE = 4096
# Streams never text: cross-reference and object streams, images, font programs.
_NOT_TEXT_TYPES = frozenset({"/XRef", "/ObjStm"})
_NOT_TEXT_SUBTYPES = frozenset({"/Image", "/Type1C", "/CIDFontType0C", "/OpenType"})
_FONT_PROGRAM_KEYS = ("/Length1", "/Length2", "/Length3")
# Content-stream operators that show a string, and those that start a new line.
_SHOWING = frozenset({b"Tj", b"TJ", b"'", b'"'})
_NEW_LINE = frozenset({b"ET", b"Td", b"TD", b"T*", b"Tm", b"'", b'"'})
# In a TJ array, a move left of more than this (thousandths of a text space)
# is the space between two words.
_WORD_GAP = 200


def _listed(reader: PdfReader, *, in_object_streams: bool = True) -> list[tuple[int, int]]:
    """(number, generation) of every object the cross-reference table lists as in use."""
    free = reader.xref_free_entry
    listed = {
        (number, generation)
        for generation, table in reader.xref.items()
        for number in table
        if not free.get(generation, {}).get(number, False)
    }
    if in_object_streams:
        listed.update((number, 0) for number in reader.xref_objStm)
    return sorted(listed)


def _reached(reader: PdfReader, ctx: ExtractContext) -> set[tuple[int, int]] | None:
    """Every object the trailer leads to (the catalog, the document
    information and all they refer to, however deep); None past
    `_OBJECT_LIMIT`.  A reference is followed once, so a loop ends."""
    reached: set[tuple[int, int]] = set()
    pending: list[object] = list(dict.values(reader.trailer))
    while pending:
        value = pending.pop()
        if isinstance(value, IndirectObject):
            key = (value.idnum, value.generation)
            if key in reached:
                continue
            if len(reached) >= _OBJECT_LIMIT:
                return None
            reached.add(key)
            if len(reached) % 1000 == 0:
                ctx.check_time()
            try:
                value = value.get_object()
            except (NotImplementedError, RecursionError, *_PDF_ERRORS):
                continue
        if isinstance(value, DictionaryObject):
            pending.extend(dict.values(value))
        elif isinstance(value, ArrayObject):
            pending.extend(value)
    return reached


def _refuse_objects(found: _Found, ctx: ExtractContext) -> None:
    if not found.objects_refused:
        found.objects_refused = True
        ctx.problem("too_large", f"PDF with more than {_OBJECT_LIMIT} objects")


def _unreferenced(reader: PdfReader, ctx: ExtractContext, found: _Found) -> list[ExtractedText]:
    """The objects the cross-reference table lists that nothing any reading
    was led to refers to: content an editing or "redaction" tool unlinked
    but left in the file, which any PDF library still reads."""
    if found.objects_refused:
        return []
    listed = _listed(reader)
    if len(listed) > _OBJECT_LIMIT:
        _refuse_objects(found, ctx)
        return []
    collector = TextCollector(ctx.limits.max_text_chars)
    reading = _Reading(ctx, found, collector)
    for count, (number, generation) in enumerate(listed):
        if (number, generation) in found.reached:
            continue
        if count % 1000 == 0:
            ctx.check_time()
        try:
            value = IndirectObject(number, generation, reader).get_object()
        except (NotImplementedError, RecursionError, *_PDF_ERRORS):
            continue  # damaged beyond what a library reads: nothing to recover
        if isinstance(value, StreamObject):
            if _never_text(value):
                continue
            try:
                data = value.get_data()
            except (NotImplementedError, *_PDF_ERRORS):
                continue
            if not _read_stream(data, f"(unreferenced object {number})", reader, reading):
                break
        elif not _read_strings(value, reading):
            break
    text = finish(collector, ctx)
    results = [ExtractedText(text, "(unreferenced objects)")] if text.strip() else []
    return results + reading.nested


def _never_text(stream: StreamObject) -> bool:
    return (
        str(stream.get("/Type")) in _NOT_TEXT_TYPES
        or str(stream.get("/Subtype")) in _NOT_TEXT_SUBTYPES
        or any(key in stream for key in _FONT_PROGRAM_KEYS)
    )


def _read_strings(value: object, reading: _Reading) -> bool:
    """Add the readable strings of an object; False once the text budget is spent."""
    strings = [text for text in _strings(value, 0) if _printable(text)]
    return not strings or reading.add(" ".join(strings) + "\n")


def _strings(value: object, depth: int) -> list[str]:
    """The strings in an object, its dictionaries and arrays (not what it refers to)."""
    if depth > _STRING_DEPTH or isinstance(value, IndirectObject):
        return []
    if isinstance(value, TextStringObject | ByteStringObject):  # not names
        return [_string(value)]
    if isinstance(value, DictionaryObject):
        return [text for item in dict.values(value) for text in _strings(item, depth + 1)]
    if isinstance(value, ArrayObject):
        return [text for item in value for text in _strings(item, depth + 1)]
    return []


def _read_stream(data: bytes, name: str, reader: PdfReader, reading: _Reading) -> bool:
    """Add what a stream no page draws holds: the strings it would show if
    it is a content stream, else its text if it is text (XML, an XMP
    packet or HTML read by their format, one level deeper).  False once
    the text budget is spent."""
    if b"BT" in data:
        shown = _shown_text(data, reader)
        if shown.strip():
            return reading.add(shown + "\n")
    text = _text_of(data)
    if text is None or not text.strip():
        return True
    if text.lstrip().startswith("<"):
        reading.nest(data, name)
        return True
    return reading.add(text + "\n")


def _shown_text(data: bytes, reader: PdfReader) -> str:
    """The strings a content stream shows, a line per text line (without
    its page there are no fonts: a simple font's bytes read as they are)."""
    stream = DecodedStreamObject()
    stream.set_data(data)
    try:
        operations = ContentStream(stream, reader).operations
    except (NotImplementedError, RecursionError, *_PDF_ERRORS):
        return ""
    pieces: list[str] = []
    for operands, operator in operations:
        if operator in _SHOWING and operands:
            shown = operands[-1]
            if isinstance(shown, ArrayObject):
                pieces.append("".join(
                    " " if isinstance(item, NumberObject | float) and item < -_WORD_GAP
                    else _string(item) for item in shown
                ))
            else:
                pieces.append(_string(shown))
            pieces.append(" ")
        if operator in _NEW_LINE:
            pieces.append("\n")
    return "".join(pieces)


def _text_of(data: bytes) -> str | None:
    """`data` as text when it is UTF-8 (or UTF-16 with its mark) and printable."""
    try:
        if data[:2] in (b"\xfe\xff", b"\xff\xfe"):
            text = data.decode("utf-16")
        else:
            text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if _printable(text) else None


def _printable(text: str) -> bool:
    sample = text[:_SAMPLE]
    shown = sum(ch.isprintable() or ch in "\t\r\n" for ch in sample)
    return bool(sample) and shown >= _PRINTABLE_SHARE * len(sample)


# --------------------------------------------------------------------------- encrypted, yet clear

# Crypt filters that leave data as it is.
_IDENTITY = "/Identity"
_NO_CIPHER = "/None"


@dataclass(frozen=True, slots=True)
class _Exempt:
    """What an encrypted file's /Encrypt dictionary leaves unencrypted."""

    filters: frozenset[str]  # crypt filter names that do not encrypt
    streams: bool  # every stream (/StmF)
    strings: bool  # every string (/StrF)
    files: bool  # embedded files (/EFF)
    metadata: bool  # metadata streams (/EncryptMetadata false)

    @classmethod
    def of(cls, encrypt: DictionaryObject) -> _Exempt:
        filters = {_IDENTITY}
        defined = _resolved(encrypt.get("/CF"))
        if isinstance(defined, DictionaryObject):
            for name, value in defined.items():
                entry = _resolved(value)
                if isinstance(entry, DictionaryObject) and entry.get("/CFM") == _NO_CIPHER:
                    filters.add(str(name))
        streams = str(encrypt.get("/StmF", _IDENTITY))
        flag = _resolved(encrypt.get("/EncryptMetadata"))
        return cls(
            filters=frozenset(filters),
            streams=streams in filters,
            strings=str(encrypt.get("/StrF", _IDENTITY)) in filters,
            files=str(encrypt.get("/EFF", streams)) in filters,
            metadata=isinstance(flag, BooleanObject) and not flag.value,
        )

    def leaves_clear(self, stream: StreamObject) -> bool:
        crypt = _crypt_filter(stream)
        if crypt is not None:
            return crypt in self.filters
        kind = stream.get("/Type")
        if kind == "/EmbeddedFile":
            return self.files
        if kind == "/Metadata" and self.metadata:
            return True
        return self.streams


def clear_parts(data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
    """What an encrypted PDF (crypt filters: /V 4 or 5) holds unencrypted,
    read without its password: metadata an /EncryptMetadata false left
    clear (Acrobat's "encrypt all contents except metadata"), streams and
    embedded files exempted by the Identity crypt filter (or one whose
    method is /None), strings when /StrF is such a filter.  Anyone who has
    the file reads these, so they are clear content.  Each object listed
    in the cross-reference table is looked at as stored, nothing decrypted."""
    reader = open_pdf(data)
    try:
        encrypt = _resolved(reader.trailer.get("/Encrypt"))
        if not isinstance(encrypt, DictionaryObject) or int(encrypt.get("/V", 0)) < 4:
            return []  # RC4 without crypt filters: everything is encrypted
        exempt = _Exempt.of(encrypt)
    except _PDF_ERRORS as exc:
        raise ExtractionError("malformed_document", f"PDF: {type(exc).__name__}") from None
    # pypdf's own switch (its xmp_metadata reads a clear XMP packet so):
    # objects come as stored instead of "File has not been decrypted".
    reader._override_encryption = True
    # Streams are never inside object streams, and what an object stream
    # holds is encrypted with it: only top-level objects are looked at.
    listed = _listed(reader, in_object_streams=False)
    if len(listed) > _OBJECT_LIMIT:
        ctx.problem("too_large", f"PDF with more than {_OBJECT_LIMIT} objects")
        return []
    collector = TextCollector(ctx.limits.max_text_chars)
    reading = _Reading(ctx, _Found(track=False), collector)
    for count, (number, generation) in enumerate(listed):
        if count % 1000 == 0:
            ctx.check_time()
        try:
            value = IndirectObject(number, generation, reader).get_object()
        except (NotImplementedError, RecursionError, *_PDF_ERRORS):
            continue  # an encrypted object stream's members, a damaged object
        if not isinstance(value, StreamObject):
            if exempt.strings and not _read_strings(value, reading):
                break
            continue
        # A cross-reference stream is never encrypted, and is no content; an
        # object stream left clear is read as the text it is (its objects'
        # strings written out in PDF syntax).
        if value.get("/Type") == "/XRef" or not exempt.leaves_clear(value):
            continue
        try:
            content = _without_crypt_filter(value)
        except (NotImplementedError, RecursionError, *_PDF_ERRORS):
            # Unencrypted, so readable by anyone, but not by us: fail closed.
            ctx.problem("malformed_document", "PDF: an unencrypted stream could not be read")
            continue
        kind = value.get("/Type")
        if kind == "/EmbeddedFile":
            reading.nest(content, "(unencrypted attached file)")
        elif kind == "/Metadata":
            # Encrypted after all (a reader applying /EncryptMetadata to the
            # document's metadata only) when it is not text.
            if _text_of(content) is not None:
                reading.nest(content, "(unencrypted XMP metadata)")
        elif not _read_stream(content, f"(unencrypted object {number})", reader, reading):
            break
    text = finish(collector, ctx)
    results = [ExtractedText(text, "(unencrypted part)")] if text.strip() else []
    return results + reading.nested


def _filters(stream: StreamObject) -> list[tuple[str, object]]:
    """(filter name, its decode parameters or None) of a stream, in order."""
    names = _resolved(stream.get("/Filter"))
    listed = list(names) if isinstance(names, ArrayObject) else [names] if names else []
    parms = _resolved(stream.get("/DecodeParms"))
    given = list(parms) if isinstance(parms, ArrayObject) else [parms]
    return [
        (str(_resolved(name)), _resolved(given[i]) if i < len(given) else None)
        for i, name in enumerate(listed)
    ]


def _crypt_filter(stream: StreamObject) -> str | None:
    """The crypt filter a stream names for itself (/Identity when it names
    none), None when it has no /Crypt filter."""
    for name, parms in _filters(stream):
        if name == "/Crypt":
            chosen = parms.get("/Name") if isinstance(parms, DictionaryObject) else None
            return str(chosen) if chosen is not None else _IDENTITY
    return None


def _without_crypt_filter(stream: StreamObject) -> bytes:
    """A clear stream's data decoded by its other filters (pypdf does not
    decode a /Crypt filter that names itself)."""
    kept = [(name, parms) for name, parms in _filters(stream) if name != "/Crypt"]
    fields: dict[str, object] = {
        key: value for key, value in stream.items()
        if key not in ("/Filter", "/DecodeParms", "/Length")
    }
    if kept:
        fields["/Filter"] = ArrayObject(NameObject(name) for name, _ in kept)
        fields["/DecodeParms"] = ArrayObject(
            parms if parms is not None else NullObject() for _, parms in kept
        )
    fields["__streamdata__"] = stream._data
    return StreamObject.initialize_from_dictionary(fields).get_data()


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
