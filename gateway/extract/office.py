"""OOXML (DOCX, XLSX, PPTX) and OpenDocument: the text of every part that holds any.

Each format lists its main parts (body, headers, footers, notes, comments,
tracked deletions, document properties) and the XML rules for them; members
are read through the bomb-checked ZIP layer and parsed by the streaming
`xml_text`.  XLSX needs its own pass: cells refer to the shared string table
by index, so each sheet is emitted row by row with the strings resolved,
keeping a header cell ("NHS number") on the line of its values; the strings
no cell refers to travel in the table all the same and are read after the
sheets, each once.  OpenDocument keeps some values in attributes (a cell's
`office:string-value`, a user field's or variable's value, hidden text) and
custom properties in meta.xml's `meta:user-defined`: read too, a value only
when the text beside it does not already show it.  OOXML keeps a picture's,
shape's or table's alternative text in attributes (`wp:docPr descr/title`,
`p:cNvPr`, `w:tblDescription`), read too; a sheet's printed headers and
footers (their codes as spaces) and the string literals of its formulas
the cells do not show (a formula saved with no cached value shows nothing
in its cell, but the formula bar does) are read after its rows.

Text also lives in parts no list can foresee (SmartArt, chart and pivot
caches, the glossary, custom XML, masters and layouts, modern comments, an
altChunk's HTML), so every other part is read too, except the few known to
hold no user text (`_NO_USER_TEXT`; for OpenDocument `_ODF_NO_USER_TEXT`):
XML parts with `ANY_PART`, legacy VML drawings leniently as HTML, anything
else by its detected format.  A part named as a picture or a font whose
bytes are text or another document the gateway reads is read as that
(`_in_disguise`): only real pictures and fonts go unread.  Embedded files (an XLSX inside a DOCX) are
extracted one level deeper.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import zipfile
import zlib
from collections.abc import Callable
from datetime import date
from xml.parsers import expat

from gateway.extract.archive import is_encrypted, open_zip, read_member
from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    ExtractionError,
    Extractor,
    TextCollector,
    finish,
)
from gateway.extract.detect import (
    BINARY,
    DOCX,
    NOT_READ,
    ODF,
    PPTX,
    XLSX,
    content_type_of,
    detect_format,
)
from gateway.extract.html import html_to_text
from gateway.extract.text import decode_bytes
from gateway.extract.xmltext import ANY_PART, TextRules, xml_text

_CORE = TextRules(
    text=frozenset(
        {
            "creator",
            "title",
            "subject",
            "description",
            "lastModifiedBy",
            "keywords",
            "initial-creator",
            "keyword",
            "Company",
            "Manager",
        }
    ),
    blocks=frozenset(
        {
            "creator",
            "title",
            "subject",
            "description",
            "lastModifiedBy",
            "keywords",
            "initial-creator",
            "keyword",
            "Company",
            "Manager",
        }
    ),
)
_WORD = TextRules(
    # Field codes too: a mail merge's or a hyperlink's text travels in the file.
    text=frozenset({"t", "delText", "instrText", "delInstrText"}),
    blocks=frozenset({"p", "tr"}),
    cells=frozenset({"tc"}),
    specials={"tab": "\t", "br": "\n", "cr": "\n", "noBreakHyphen": "-"},
    # A legacy form field keeps its choices and its default text in
    # attributes (`w:ffData`): Word shows the selected drop-down entry, which
    # is nowhere else in the file, and the default until someone types over
    # it; the status-bar and help texts too.  A content control's drop-down
    # entries and its title (`w:alias`) likewise.  (A check box's default is
    # a `w:default` too: a 0 or 1, harmless.)
    attributes={
        "listEntry": frozenset({"val"}),
        "default": frozenset({"val"}),
        "statusText": frozenset({"val"}),
        "helpText": frozenset({"val"}),
        "listItem": frozenset({"displayText"}),
        "alias": frozenset({"val"}),
        # A picture's, shape's or chart's alternative text (Format Picture >
        # Alt Text: `wp:docPr`'s description and title) and a table's
        # (`w:tblCaption`, `w:tblDescription`): read aloud, never drawn.
        # Only the drawing's own `docPr`: the picture inside it repeats the
        # description (`pic:cNvPr`), which read too would count twice.
        "docPr": frozenset({"descr", "title"}),
        "tblCaption": frozenset({"val"}),
        "tblDescription": frozenset({"val"}),
    },
)
# word/settings.xml holds no text but the document variables (`w:docVars`,
# each a name and a value): letter-generating systems put a case's details
# there for DOCVARIABLE fields, and they travel whatever the text shows.
_WORD_SETTINGS = TextRules(
    text=frozenset(),
    blocks=frozenset({"docVar"}),
    attributes={"docVar": frozenset({"name", "val"})},
)
_WORD_SETTINGS_PART = "word/settings.xml"
_DRAWING = TextRules(
    text=frozenset({"t"}),
    blocks=frozenset({"p", "tr"}),
    cells=frozenset({"tc"}),
    specials={"br": "\n"},
    # A slide's picture's or shape's alternative text (`p:cNvPr`).
    attributes={"cNvPr": frozenset({"descr", "title"})},
)
_ODF = TextRules(
    # svg:title and svg:desc: a picture's or a shape's alternative text,
    # which a frame anchored to the page keeps outside any paragraph.
    text=frozenset({"p", "h", "title", "desc"}),
    blocks=frozenset({"p", "h", "table-row"}),
    cells=frozenset({"table-cell", "title", "desc"}),
    specials={"s": " ", "tab": "\t", "line-break": "\n"},
    # Values the office suite shows from an attribute, whatever the cached
    # display beside them says: a cell's text or number (`office:value`), a
    # user field's or variable's (`office:string-value`), hidden and
    # conditional text, a form control's content.  (`table:formula` is not
    # among them: its string literals are a formula's, not a value.)
    stored_values=frozenset(
        {
            "string-value",
            "value",
            "string-value-if-true",
            "string-value-if-false",
            "current-value",
        }
    ),
    # Names the reader sees: a spreadsheet's tab (a table's name), a form
    # control's caption and a list box's entries (`form:label`).
    attributes={
        "table": frozenset({"name"}),
        "option": frozenset({"label"}),
        "checkbox": frozenset({"label"}),
        "radio": frozenset({"label"}),
        "button": frozenset({"label"}),
        "fixed-text": frozenset({"label"}),
        "frame": frozenset({"label"}),
    },
)
# meta.xml: the document properties, the custom ones (`meta:user-defined`,
# File > Properties > Custom Properties) each after its name.
_ODF_META = TextRules(
    text=_CORE.text | {"user-defined", "printed-by"},
    blocks=_CORE.blocks | {"user-defined", "printed-by"},
    values=frozenset({"name"}),
)

_WORD_PARTS = re.compile(
    r"^(word/(document|header\d*|footer\d*|footnotes|endnotes|comments)\.xml|docProps/(core|app)\.xml)$"
)
# Legacy comments (<p:text>) are not on this list: ANY_PART reads them.
_PPT_PARTS = re.compile(
    r"^(ppt/(slides/slide\d+|notesSlides/notesSlide\d+)\.xml|docProps/(core|app)\.xml)$"
)
_XL_TEXT_PARTS = re.compile(r"^(xl/comments\d*\.xml|docProps/(core|app)\.xml)$")
# Any sheet name: Excel writes sheetN.xml, other tools need not.
_XL_SHEETS = re.compile(r"^xl/(worksheets|macrosheets|dialogsheets)/[^/]+\.xml$")
_XL_SHARED_STRINGS = "xl/sharedStrings.xml"
_ALT_CHUNK = "/aFChunk"  # the end of an altChunk relationship's type URI
_ODF_PARTS = re.compile(r"^(content|styles|meta)\.xml$")
_EMBEDDED = re.compile(r"^(word|xl|ppt)/embeddings/|^Object \d+/|^ObjectReplacements/")
# OOXML parts that hold no text a person wrote: the package's own plumbing,
# formatting, settings, pictures, fonts, printer set-up, signatures and the
# compiled macro project.  Everything else is read.
_NO_USER_TEXT = re.compile(
    r"^\[Content_Types\]\.xml$|(^|/)_rels/|\.rels$|^_xmlsignatures/"
    r"|^(word|xl|ppt)/(theme/"
    r"|(styles|stylesWithEffects|fontTable|settings|webSettings|presProps|viewProps"
    r"|tableStyles|calcChain)\.xml$)"
    r"|(^|/)(media|fonts|printerSettings)/|^docProps/thumbnail\.|(^|/)vbaProject\.bin$"
    r"|\.(png|jpe?g|gif|bmp|tiff?|emf|wmf|wdp|jfif|ico|svg|odttf|fntdata|ttf|otf)$",
    re.IGNORECASE,
)
# ODF parts that hold no text a person wrote: the package's plumbing, the
# application's settings and pictures.  Everything else in the package
# travels with the document and is read (a tool can put any file there,
# and the office suite opens the document without showing it).
_ODF_NO_USER_TEXT = re.compile(
    r"^mimetype$|^META-INF/|^settings\.xml$|^manifest\.rdf$|^layout-cache$"
    r"|^(Thumbnails|Pictures|Configurations2)/"
    r"|\.(png|jpe?g|gif|bmp|tiff?|emf|wmf|svm|ico|svg)$",
    re.IGNORECASE,
)
# Parts on those lists named as a picture or a font, whose bytes are
# looked at (`_in_disguise`); not an SVG (XML, as named) nor a .bin.
_BINARY_BY_NAME = re.compile(
    r"\.(png|jpe?g|gif|bmp|tiff?|emf|wmf|wdp|jfif|ico|svm|odttf|fntdata|ttf|otf)$", re.IGNORECASE
)
_HEAD = 4096  # bytes of a part enough to tell its format
_NATURAL = re.compile(r"(\d+)")


def _order(name: str) -> list[str | int]:
    """Natural order, so slide10 comes after slide9."""
    return [int(p) if p.isdigit() else p for p in _NATURAL.split(name)]


def _members(zf: zipfile.ZipFile, pattern: re.Pattern[str]) -> list[zipfile.ZipInfo]:
    chosen = [i for i in zf.infolist() if pattern.search(i.filename) and not i.is_dir()]
    return sorted(chosen, key=lambda i: _order(i.filename))


def _open(data: bytes, ctx: ExtractContext) -> zipfile.ZipFile:
    zf = open_zip(data, ctx)
    if any(is_encrypted(i) for i in zf.infolist()):
        # The ZIP itself is encrypted: the inspect stage reports and opens it.
        raise ExtractionError("encrypted_content", "document container is encrypted")
    return zf


def _rules_for(name: str, body: TextRules) -> TextRules:
    if name == "meta.xml":
        return _ODF_META
    return _CORE if name.startswith("docProps/") else body


def _documents(
    data: bytes,
    ctx: ExtractContext,
    pattern: re.Pattern[str],
    body: TextRules,
    *,
    no_user_text: re.Pattern[str] = _NO_USER_TEXT,
    plumbing: dict[str, TextRules] | None = None,
) -> list[ExtractedText]:
    """The main parts by their rules, then every other part.  `plumbing`:
    parts on the no-user-text list that still carry a few values, each read
    with rules that take only those (Word's settings: its variables)."""
    zf = _open(data, ctx)
    results: list[ExtractedText] = []
    for info in _members(zf, pattern):
        collector = TextCollector(ctx.limits.max_text_chars)
        xml_text(read_member(zf, info, ctx), _rules_for(info.filename, body), collector, ctx)
        results.append(ExtractedText(finish(collector, ctx), info.filename))
    for name, rules in (plumbing or {}).items():
        try:
            info = zf.getinfo(name)
        except KeyError:
            continue
        collector = TextCollector(ctx.limits.max_text_chars)
        xml_text(read_member(zf, info, ctx), rules, collector, ctx)
        text = finish(collector, ctx)
        if text.strip():
            results.append(ExtractedText(text, name))
    results.extend(_other_parts(zf, ctx, lambda name: pattern.search(name) is not None,
                                no_user_text))
    results.extend(_embedded(zf, ctx))
    return results


def _other_parts(
    zf: zipfile.ZipFile, ctx: ExtractContext, is_main: Callable[[str], bool],
    no_user_text: re.Pattern[str] = _NO_USER_TEXT,
) -> list[ExtractedText]:
    """The text of every part of the package not read as a main part, an
    embedded file or a part known to hold no user text."""
    results: list[ExtractedText] = []
    imported = _alt_chunks(zf, ctx)
    for info in sorted(zf.infolist(), key=lambda i: _order(i.filename)):
        name = info.filename
        if info.is_dir() or is_main(name) or _EMBEDDED.search(name):
            continue
        if no_user_text.search(name) and name not in imported:
            if _in_disguise(zf, info):
                results.extend(ctx.nested(read_member(zf, info, ctx), name))
            continue
        data = read_member(zf, info, ctx)
        lowered = name.lower()
        if lowered.endswith(".xml"):
            collector = TextCollector(ctx.limits.max_text_chars)
            xml_text(data, ANY_PART, collector, ctx)
            text = finish(collector, ctx)
        elif lowered.endswith(".vml"):
            # Office writes legacy drawings (comment boxes, text boxes) as tag
            # soup that is not always XML: an unclosed <br> is common.
            text = html_to_text(decode_bytes(data, None), ctx)
        else:
            # An altChunk (HTML, MHT, RTF, text, another document), an ActiveX
            # control's storage, or anything else: by what its bytes are.
            results.extend(ctx.nested(data, name))
            continue
        if text.strip():
            results.append(ExtractedText(text, name))
    return results


def _in_disguise(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """Whether a part named as a picture or a font (word/media/image1.png)
    is something else the gateway reads: text, a CSV, another document.
    The office suite ignores it, but it travels in the package and anyone
    unzipping the file opens it.  Only its first bytes are decompressed; a
    part that cannot be read is left unread, as every picture is."""
    if not _BINARY_BY_NAME.search(info.filename) or info.file_size == 0:
        return False
    try:
        with zf.open(info) as handle:
            head = handle.read(_HEAD)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError):
        return False
    found = detect_format(head)
    return found not in NOT_READ and found != BINARY


def _alt_chunks(zf: zipfile.ZipFile, ctx: ExtractContext) -> set[str]:
    """Parts an altChunk relationship points to.  Word imports them into the
    document as it opens, whatever they are called, so a name on the
    no-user-text list must not hide one."""
    targets: set[str] = set()
    for info in zf.infolist():
        if info.is_dir() or not info.filename.endswith(".rels"):
            continue
        # word/_rels/document.xml.rels holds the relationships of word/document.xml.
        source_folder = posixpath.dirname(posixpath.dirname(info.filename))
        for target in _alt_chunk_targets(read_member(zf, info, ctx), ctx):
            path = target[1:] if target.startswith("/") else posixpath.join(source_folder, target)
            targets.add(posixpath.normpath(path))
    return targets


def _alt_chunk_targets(rels: bytes, ctx: ExtractContext) -> list[str]:
    found: list[str] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        if (
            name.rsplit("}", 1)[-1] == "Relationship"
            and attrs.get("Type", "").endswith(_ALT_CHUNK)
            and attrs.get("TargetMode") != "External"
        ):
            found.append(attrs.get("Target", ""))

    parser = _parser()
    parser.StartElementHandler = start
    _parse(parser, rels, ctx)
    return found


def _embedded(zf: zipfile.ZipFile, ctx: ExtractContext) -> list[ExtractedText]:
    results: list[ExtractedText] = []
    for info in _members(zf, _EMBEDDED):
        results.extend(ctx.nested(read_member(zf, info, ctx), info.filename))
    return results


class DocxExtractor(Extractor):
    name = DOCX
    content_type = content_type_of(DOCX)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        return _documents(
            data, ctx, _WORD_PARTS, _WORD, plumbing={_WORD_SETTINGS_PART: _WORD_SETTINGS}
        )


class PptxExtractor(Extractor):
    name = PPTX
    content_type = content_type_of(PPTX)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        return _documents(data, ctx, _PPT_PARTS, _DRAWING)


class OdfExtractor(Extractor):
    name = ODF
    content_type = content_type_of(ODF)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        zf = _open(data, ctx)
        if odf_encryption(zf, ctx) is not None:
            ctx.hidden("encrypted OpenDocument")
            return []  # at the top level the inspect stage reports it
        return _documents(data, ctx, _ODF_PARTS, _ODF, no_user_text=_ODF_NO_USER_TEXT)


def odf_encryption(zf: zipfile.ZipFile, ctx: ExtractContext) -> str | None:
    """The algorithm URI of ODF package encryption, or None when not encrypted."""
    try:
        manifest = zf.getinfo("META-INF/manifest.xml")
    except KeyError:
        return None
    found: list[str] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        if name.rsplit("}", 1)[-1] == "algorithm":
            for key, value in attrs.items():
                if key.rsplit("}", 1)[-1] == "algorithm-name":
                    found.append(value)

    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = _refuse_doctype
    try:
        parser.Parse(read_member(zf, manifest, ctx), True)
    except expat.ExpatError:
        raise ExtractionError("malformed_document", "ODF manifest is not XML") from None
    return found[0] if found else None


def _refuse_doctype(*_args: object) -> None:
    raise ExtractionError("malformed_document", "XML with a DOCTYPE")


class XlsxExtractor(Extractor):
    name = XLSX
    content_type = content_type_of(XLSX)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        zf = _open(data, ctx)
        strings: list[str] = []
        try:
            shared = zf.getinfo(_XL_SHARED_STRINGS)
        except KeyError:
            shared = None
        if shared is not None:
            strings = _shared_strings(read_member(zf, shared, ctx), ctx)
        results: list[ExtractedText] = []
        referenced = bytearray(len(strings))
        dates = _workbook_dates(zf, ctx)
        for info in _members(zf, _XL_SHEETS):
            collector = TextCollector(ctx.limits.max_text_chars)
            _sheet_text(read_member(zf, info, ctx), strings, referenced, dates, collector, ctx)
            results.append(ExtractedText(finish(collector, ctx), info.filename))
        unreferenced = _unreferenced_strings(strings, referenced, ctx)
        if unreferenced:
            results.append(ExtractedText(unreferenced, _XL_SHARED_STRINGS))
        for info in _members(zf, _XL_TEXT_PARTS):
            collector = TextCollector(ctx.limits.max_text_chars)
            xml_text(
                read_member(zf, info, ctx), _rules_for(info.filename, _DRAWING), collector, ctx
            )
            results.append(ExtractedText(finish(collector, ctx), info.filename))
        results.extend(_other_parts(zf, ctx, _is_main_xlsx_part))
        results.extend(_embedded(zf, ctx))
        return results


# Excel's built-in number formats that show a date (ECMA-376 18.8.30):
# d/m/yy and its variants, and date-times and times, whose value is a date
# too; 27-36 and 50-58 are the East Asian date formats.
_BUILT_IN_DATE_FORMATS = frozenset(
    [*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)]
)
# What a format code shows without being a date part: quoted and escaped
# literals, [colour] and [$-locale] brackets (not [h], [mm], [ss]: elapsed
# time), padding (_x) and fill (*x), and the fractions after seconds (ss.000).
_FORMAT_LITERALS = re.compile(
    r'"[^"]*"|\\.|\[(?![hms]+\])[^\]]*\]|[_*].|(?<=s)[.,]0+', re.DOTALL | re.IGNORECASE
)
# Serial numbers Excel shows as dates: 1 (1 January 1900) to 31 December 9999.
_LAST_SERIAL_1900 = 2958465
_LAST_SERIAL_1904 = 2957003
_DAY_0_1900 = date(1899, 12, 30).toordinal()  # from 1 March 1900, past Excel's 29/02/1900
_DAY_0_1904 = date(1904, 1, 1).toordinal()


def _is_date_code(code: str) -> bool:
    """Whether a custom number format shows a date: its first section holds
    a day, month or year and no digit placeholder (0 # ?) or text (@); m
    beside h or s is minutes."""
    section = _FORMAT_LITERALS.sub("", code).split(";", 1)[0].lower()
    if any(c in section for c in "0#?@"):
        return False
    if "d" in section or "y" in section:
        return True
    return "m" in section and "h" not in section and "s" not in section


class _DateStyles:
    """Which cell styles (xl/styles.xml cellXfs, by index) show a number as
    a date, and the workbook's date system; a style's answer kept once."""

    __slots__ = ("_known", "date1904", "styles")

    def __init__(self, styles: frozenset[int], date1904: bool) -> None:
        self.styles = styles
        self.date1904 = date1904
        self._known: dict[str, bool] = {}

    def is_date(self, style: str) -> bool:
        known = self._known.get(style)
        if known is None:
            try:
                known = int(style) in self.styles
            except ValueError:
                known = False
            self._known[style] = known
        return known

    def shown(self, value: str) -> str:
        """The serial `value` as dd/mm/yyyy, as Excel shows it in a date
        format; anything that is no date (a time alone, out of range, not
        a number) as it is."""
        try:
            serial = float(value)
        except ValueError:
            return value
        if self.date1904:
            if not 0 <= serial < _LAST_SERIAL_1904 + 1:
                return value
            return date.fromordinal(_DAY_0_1904 + int(serial)).strftime("%d/%m/%Y")
        if not 1 <= serial < _LAST_SERIAL_1900 + 1:
            return value
        day = int(serial)
        if day == 60:
            return "29/02/1900"  # Lotus 1-2-3's leap day, which Excel kept
        # Before March 1900 the serial is one day ahead of the real calendar.
        return date.fromordinal(_DAY_0_1900 + day + (day < 60)).strftime("%d/%m/%Y")


_NO_DATES = _DateStyles(frozenset(), date1904=False)
_XL_STYLES = "xl/styles.xml"
_XL_WORKBOOK = "xl/workbook.xml"


def _workbook_dates(zf: zipfile.ZipFile, ctx: ExtractContext) -> _DateStyles:
    """The workbook's date styles and date system, read once per workbook
    (the styles part and workbook.xml, both small)."""
    try:
        styles_part = zf.getinfo(_XL_STYLES)
    except KeyError:
        return _NO_DATES
    custom: dict[str, str] = {}
    cell_formats: list[str] = []
    inside = {"numFmts": 0, "cellXfs": 0}

    def start(name: str, attrs: dict[str, str]) -> None:
        tag = name.rsplit("}", 1)[-1]
        if tag in inside:
            inside[tag] += 1
        elif tag == "numFmt" and inside["numFmts"]:
            custom[attrs.get("numFmtId", "")] = attrs.get("formatCode", "")
        elif tag == "xf" and inside["cellXfs"]:
            cell_formats.append(attrs.get("numFmtId", "0"))

    def end(name: str) -> None:
        tag = name.rsplit("}", 1)[-1]
        if tag in inside:
            inside[tag] -= 1

    parser = _parser()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    _parse(parser, read_member(zf, styles_part, ctx), ctx)
    date_formats: dict[str, bool] = {}
    for format_id in set(cell_formats):
        code = custom.get(format_id)
        if code is not None:
            date_formats[format_id] = _is_date_code(code)
        else:
            with contextlib.suppress(ValueError):
                date_formats[format_id] = int(format_id) in _BUILT_IN_DATE_FORMATS
    styles = frozenset(i for i, f in enumerate(cell_formats) if date_formats.get(f, False))
    if not styles:
        return _NO_DATES
    return _DateStyles(styles, _uses_1904_dates(zf, ctx))


def _uses_1904_dates(zf: zipfile.ZipFile, ctx: ExtractContext) -> bool:
    """Whether workbook.xml says `date1904` (serials count from 1 January 1904)."""
    try:
        workbook = zf.getinfo(_XL_WORKBOOK)
    except KeyError:
        return False
    found = False

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal found
        if name.rsplit("}", 1)[-1] == "workbookPr":
            found = attrs.get("date1904", "").lower() in ("1", "true")

    parser = _parser()
    parser.StartElementHandler = start
    _parse(parser, read_member(zf, workbook, ctx), ctx)
    return found


def _is_main_xlsx_part(name: str) -> bool:
    return (
        name == _XL_SHARED_STRINGS
        or _XL_SHEETS.search(name) is not None
        or _XL_TEXT_PARTS.search(name) is not None
    )


def _parser() -> expat.XMLParserType:
    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    parser.buffer_text = True
    return parser


def _parse(parser: expat.XMLParserType, data: bytes, ctx: ExtractContext) -> None:
    try:
        for offset in range(0, len(data), 65536):
            ctx.check_time()
            parser.Parse(data[offset : offset + 65536], False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise ExtractionError("malformed_document", f"XML error: {exc.code}") from None


def _shared_strings(data: bytes, ctx: ExtractContext) -> list[str]:
    strings: list[str] = []
    current: list[str] = []
    inside_t = 0
    total = 0
    parser = _parser()

    def start(name: str, _attrs: dict[str, str]) -> None:
        nonlocal inside_t
        tag = name.rsplit("}", 1)[-1]
        if tag == "si":
            current.clear()
        elif tag == "t":
            inside_t += 1

    def end(name: str) -> None:
        nonlocal inside_t, total
        tag = name.rsplit("}", 1)[-1]
        if tag == "t":
            inside_t -= 1
        elif tag == "si":
            text = "".join(current)
            total += len(text)
            if total > ctx.limits.max_text_chars:
                raise ExtractionError("too_large", "shared strings over the text limit")
            strings.append(text)

    def chars(text: str) -> None:
        if inside_t:
            current.append(text)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    _parse(parser, data, ctx)
    return strings


def _unreferenced_strings(strings: list[str], referenced: bytearray, ctx: ExtractContext) -> str:
    """The shared strings no cell refers to, one a line.  The table travels
    whole (a tool may write its whole string pool, a cleared cell leaves its
    string behind), and anyone unzipping the file reads all of it."""
    collector = TextCollector(ctx.limits.max_text_chars)
    for text, used in zip(strings, referenced, strict=True):
        if not used:
            collector.add(text + "\n")
    return finish(collector, ctx)


def _sheet_text(
    data: bytes,
    strings: list[str],
    referenced: bytearray,
    dates: _DateStyles,
    collector: TextCollector,
    ctx: ExtractContext,
) -> None:
    """One sheet row by row, each cell's shared string resolved and marked
    in `referenced` (so the table's other strings are read once, apart), and
    each number in a date format read as the date Excel shows."""
    cell_type = ""
    style: str | None = None
    has_dates = bool(dates.styles)  # most workbooks' cells: no look-up at all
    value: list[str] = []
    capture = 0
    formula: list[str] = []
    in_formula = 0
    # Read after the rows, each once: a formula's string literals the cell
    # does not show, and the printed headers and footers.
    literals: dict[str, None] = {}
    margins: list[str] = []
    margin: list[str] = []
    in_margin = 0
    parser = _parser()

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal cell_type, capture, style, in_formula, in_margin
        tag = name.rsplit("}", 1)[-1]
        if tag == "c":
            cell_type = attrs.get("t", "n")
            style = attrs.get("s")
            value.clear()
            formula.clear()
        elif tag in ("v", "t"):
            capture += 1
        elif tag == "f":
            in_formula += 1
        elif tag in _HEADERS_FOOTERS:
            in_margin += 1
            margin.clear()

    def end(name: str) -> None:
        nonlocal capture, in_formula, in_margin
        tag = name.rsplit("}", 1)[-1]
        if tag in ("v", "t"):
            capture -= 1
        elif tag == "f":
            in_formula -= 1
        elif tag in _HEADERS_FOOTERS:
            in_margin -= 1
            shown = _header_footer_text("".join(margin))
            if shown.strip():
                margins.append(shown)
        elif tag == "c":
            text = "".join(value)
            if cell_type == "s":
                with contextlib.suppress(ValueError):
                    index = int(text)
                    # A negative index would count from the table's end.
                    if 0 <= index < len(strings):
                        text = strings[index]
                        referenced[index] = 1
            elif has_dates and cell_type == "n" and style is not None and dates.is_date(style):
                text = dates.shown(text)
            if formula:
                for literal in _formula_literals("".join(formula)):
                    if literal.strip() and literal not in text:
                        literals[literal] = None
            collector.add(text + "\t")
        elif tag == "row":
            collector.add("\n")

    def chars(text: str) -> None:
        if capture:
            value.append(text)
        elif in_formula:
            formula.append(text)
        elif in_margin:
            margin.append(text)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    _parse(parser, data, ctx)
    for literal in literals:
        collector.add(literal + "\n")
    for shown in margins:
        collector.add(shown + "\n")


# A sheet's printed headers and footers (Page Layout > Header & Footer),
# each written as one string of sections and fields.
_HEADERS_FOOTERS = frozenset(
    {"oddHeader", "oddFooter", "evenHeader", "evenFooter", "firstHeader", "firstFooter"}
)
# Their codes (ECMA-376 18.3.1.46): "&&" is an ampersand; a font ("&\"Arial,
# Bold\""), a size (&12), a colour (&KFF0000, &K01+049) or a one-letter
# code (&L &C &R sections, &P page, &D date, &B bold...) stands between
# the words, as a space.
_HEADER_FOOTER_CODE = re.compile(
    r'&&|&"[^"]*"?|&K(?:[0-9A-F]{6}|\d\d[+-]\d{3})|&\d+|&[LCRPNDTFAZGBIUESXYOHK]',
    re.IGNORECASE,
)
# A formula's string literal ("" inside is a quote).
_FORMULA_STRING = re.compile(r'"((?:[^"]|"")*)"')


def _header_footer_text(codes: str) -> str:
    """What a header or footer prints, its codes spaces (its fields, the
    page number or the file's name, are not in the file)."""
    return _HEADER_FOOTER_CODE.sub(lambda m: "&" if m.group() == "&&" else " ", codes).strip()


def _formula_literals(formula: str) -> list[str]:
    """A formula's string literals.  The formula bar shows them whatever
    the cell's cached value says (`="Jack Wilson"` saved with its value
    empty shows nothing in the cell)."""
    return [m.group(1).replace('""', '"') for m in _FORMULA_STRING.finditer(formula)]
