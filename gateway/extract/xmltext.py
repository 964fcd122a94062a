"""Streaming XML to text for office documents and XML files (expat, no DTDs, bounded).

Office XML is parsed with expat handlers rather than a tree, so a 50 MB sheet
costs no more memory than its text.  Any DOCTYPE or entity declaration is
refused: no office format uses one, and refusing them closes off entity
expansion bombs and external entities in one move.

A `TextRules` value says, per format, which elements hold text, which end a
line, which separate cells and which stand for a tab, space or break.  Parts
with no rules of their own (SmartArt, chart and pivot caches, custom XML) are
read with `ANY_PART`: the character data of every element, and the values of
the attributes that carry data (a pivot cache keeps its items in `v="..."`).
Rules can also name attributes that hold the value an element stands for
(`stored_values`, an OpenDocument cell's or field's): read unless the
element's own text shows it; and, per element, attributes whose values are
text wherever they stand (`attributes`: a sheet's tab name, a form field's
drop-down entries).

An XML file attached on its own (`XmlExtractor`) is read twice: as plain
text (the file as an editor shows it, context words beside the values), and
as a reader of the document sees it, its character references (`&#57;`,
`&#x39;`) and the five predefined entities decoded: parsed with `XML_FILE`
(every element's text and every attribute's value after its name, a
comment no longer splitting the text around it), or, when it does not
parse (not well-formed, an encoding expat cannot read, a DOCTYPE it is not
allowed to), with the references decoded where they stand
(`decode_references`).  Entity declarations are not expanded, so a file
that declares any is a problem: its entities could assemble what no
reading shows whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.parsers import expat

from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    ExtractionError,
    Extractor,
    TextCollector,
    finish,
)
from gateway.extract.detect import TEXT, XML, content_type_of
from gateway.extract.text import decode_bytes

_CHUNK = 65536


@dataclass(frozen=True, slots=True)
class TextRules:
    text: frozenset[str]  # character data is kept only inside these (local names)
    blocks: frozenset[str] = frozenset()  # end of one of these = a line break
    cells: frozenset[str] = frozenset()  # end of one of these = a tab
    specials: dict[str, str] = field(default_factory=dict)  # empty elements that stand for text
    # Keep character data in every element, not only in `text`; then the end of
    # an element that held some is a tab, unless it is in `joined` (a run of a
    # paragraph, whose text continues in the next run).
    everywhere: bool = False
    joined: frozenset[str] = frozenset()
    values: frozenset[str] = frozenset()  # attributes whose values are text (local names)
    # Attributes holding the value an element stands for (an OpenDocument
    # cell's `office:string-value`, a field's): read at the element's end,
    # unless the text inside the element already shows it, so a value is
    # read once whether or not the file also carries its display.
    stored_values: frozenset[str] = frozenset()
    every_value: bool = False  # every attribute's value is text (with `everywhere`)
    # Per element (local name), the attributes whose values the reader sees
    # as text: read before the element's content (a sheet's tab name, a
    # drop-down form field's entries, a Word document variable).
    attributes: dict[str, frozenset[str]] = field(default_factory=dict)
    # Each element's name before its content and each attribute's before its
    # value: in a data file the names are the only words beside the values.
    names: bool = False


# Any XML part of an office package: every text node, and item values.  An
# element whose children carried values (a pivot cache record `<r>`) ends a
# line, so one record stays on one line.
ANY_PART = TextRules(
    text=frozenset(),
    blocks=frozenset({"p", "tr", "row", "pt", "si", "comment", "cm", "docPart"}),
    cells=frozenset({"tc", "c", "cell"}),
    specials={"tab": "\t", "br": "\n", "cr": "\n"},
    everywhere=True,
    joined=frozenset({"t", "delText", "instrText", "delInstrText"}),
    # `descr` and `title`: a drawing's alternative text (a spreadsheet's
    # picture, `xdr:cNvPr`; SmartArt's).
    values=frozenset({"v", "name", "caption", "descr", "title"}),
)

# An XML file of any vocabulary: every element's text and every attribute's
# value, each after its name (`<nhs>` is the context of the number in it).
XML_FILE = TextRules(text=frozenset(), everywhere=True, every_value=True, names=True)


class _Refused(Exception):
    pass


# Letters and digits only: "943 476 5919" shows the value 9434765919.
_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")


def _shown_form(text: str) -> str:
    return _NOT_ALPHANUMERIC.sub("", text).casefold()


class _StoredValues:
    """The stored values of one open element and the text shown inside it.
    The shown text is kept only up to a few times the values' length:
    beyond that the values are read anyway (at worst twice), so what this
    holds is bounded by the attributes, never by the element's content."""

    __slots__ = ("depth", "limit", "shown", "size", "values")

    def __init__(self, depth: int, values: list[str]) -> None:
        self.depth = depth
        self.values = values
        self.limit = 4 * sum(map(len, values)) + 64
        self.shown: list[str] = []
        self.size = 0

    def add(self, text: str) -> None:
        self.size += len(text)
        if self.size <= self.limit:
            self.shown.append(text)
        else:
            self.shown.clear()

    def absorb(self, inner: _StoredValues) -> None:
        """What an inner element showed, this one showed too."""
        self.size += inner.size
        if self.size <= self.limit:
            self.shown.extend(inner.shown)
        else:
            self.shown.clear()

    def unshown(self) -> list[str]:
        if self.size > self.limit:
            return self.values
        raw = "".join(self.shown)
        # Most values appear as they are ("3.5" in "3.50"): no regex for those.
        unshown = [v for v in self.values if v not in raw]
        if not unshown or not raw:
            return unshown
        shown = _shown_form(raw)
        return [v for v in unshown if _shown_form(v) not in shown]


def xml_text(data: bytes, rules: TextRules, collector: TextCollector, ctx: ExtractContext) -> None:
    """Append the text of one XML document to `collector` following `rules`."""
    parser = expat.ParserCreate(namespace_separator="}")
    inside = 0
    # Per open element (only with `everywhere`): [held text, a child carried values].
    open_elements: list[list[bool]] = []
    # The open elements that carry `stored_values`, innermost last; and per
    # attribute name met, whether it is one (a sheet repeats a few names a
    # million times: each is looked at once).
    stored_values = rules.stored_values
    stored: list[_StoredValues] = []
    stored_keys: dict[str, bool] = {}
    depth = 0

    def local(name: str) -> str:
        return name.rsplit("}", 1)[-1]

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal inside, depth
        depth += 1
        tag = local(name)
        if tag in rules.text:
            inside += 1
        special = rules.specials.get(tag)
        if special is not None:
            collector.add(special)
        if rules.names:
            collector.add(tag + " ")
        if stored_values and attrs:
            values = None
            for key, value in attrs.items():
                is_stored = stored_keys.get(key)
                if is_stored is None:
                    is_stored = stored_keys[key] = local(key) in stored_values
                if is_stored and value:
                    values = [value] if values is None else [*values, value]
            if values:
                stored.append(_StoredValues(depth, values))
        if rules.attributes and attrs:
            wanted = rules.attributes.get(tag)
            if wanted:
                for key, value in attrs.items():
                    if value and local(key) in wanted:
                        collector.add(value + "\t")
        if not rules.everywhere and rules.values and attrs:
            # A label kept in an attribute (a custom property's name) goes
            # before the element's text, as its context.
            for key, value in attrs.items():
                if value and local(key) in rules.values:
                    collector.add(value + "\t")
        if rules.everywhere:
            if (rules.values or rules.every_value) and attrs:
                carried = False
                for key, value in attrs.items():
                    if value and (rules.every_value or local(key) in rules.values):
                        collector.add((f"{local(key)} " if rules.names else "") + value + "\t")
                        carried = True
                if carried and open_elements:
                    open_elements[-1][1] = True
            open_elements.append([False, False])

    def end(name: str) -> None:
        nonlocal inside, depth
        tag = local(name)
        if tag in rules.text:
            inside -= 1
        if stored and stored[-1].depth == depth:
            element = stored.pop()
            for value in element.unshown():
                collector.add(value + "\t")
            if stored:
                stored[-1].absorb(element)
        depth -= 1
        held_text = carried_values = False
        if open_elements:
            held_text, carried_values = open_elements.pop()
        if tag in rules.blocks or carried_values:
            collector.add("\n")
        elif tag in rules.cells or (held_text and tag not in rules.joined):
            collector.add("\t")

    def chars(data: str) -> None:
        if inside > 0:
            collector.add(data)
        elif rules.everywhere:
            collector.add(data)
            if open_elements and not data.isspace():
                open_elements[-1][0] = True
        else:
            return
        if stored:
            stored[-1].add(data)

    def refuse(*_args: object) -> None:
        raise _Refused

    def refuse_entity(*_args: object) -> int:
        raise _Refused

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse_entity
    parser.buffer_text = True
    try:
        for offset in range(0, len(data), _CHUNK):
            ctx.check_time()
            parser.Parse(data[offset : offset + _CHUNK], False)
            if collector.truncated:
                return
        parser.Parse(b"", True)
    except _Refused:
        raise ExtractionError("malformed_document", "XML with a DOCTYPE or entity") from None
    except expat.ExpatError as exc:
        raise ExtractionError("malformed_document", f"XML error: {exc.code}") from None


# A character reference (leading zeros any number) or one of the five
# entities every XML document has.
_REFERENCE = re.compile(r"&(?:#0*([0-9]{1,8})|#[xX]0*([0-9a-fA-F]{1,8})|(lt|gt|amp|quot|apos));")
_PREDEFINED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_ENTITY_DECLARATION = re.compile(r"<!ENTITY\s")


def _character(code: int) -> str:
    """The character a reference names; U+FFFD for one XML does not allow
    (NUL, a surrogate, beyond Unicode), as a browser shows it."""
    if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        return "\ufffd"
    return chr(code)


def decode_references(text: str) -> str:
    """`text` with its character references and predefined entities decoded
    where they stand; anything else (an undeclared entity) left as it is."""

    def decoded(match: re.Match[str]) -> str:
        decimal, hexadecimal, name = match.groups()
        if name:
            return _PREDEFINED[name]
        return _character(int(decimal, 10) if decimal else int(hexadecimal, 16))

    return _REFERENCE.sub(decoded, text)


class XmlExtractor(Extractor):
    name = XML
    content_type = content_type_of(XML)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        texts = ctx.registry.extract(data, ctx, TEXT)
        collector = TextCollector(ctx.limits.max_text_chars)
        try:
            xml_text(data, XML_FILE, collector, ctx)
        except (ExtractionError, ValueError, LookupError):  # an encoding expat cannot read
            # Not well-formed, or a DOCTYPE: still a text, its references decoded.
            text = decode_bytes(data, ctx.charset)
            if _ENTITY_DECLARATION.search(text):
                ctx.problem("malformed_document", "XML entity declarations are not expanded")
            collector = TextCollector(ctx.limits.max_text_chars)
            collector.add(decode_references(text))
        texts.append(ExtractedText(finish(collector, ctx)))
        return texts
