"""HTML to text, the way a reader sees it, with the stdlib `html.parser`.

Block-level tags (p, div, tr, li, br, headings...) become line breaks and
table cells become tabs; inline tags (span, b, font, a...) join their text
with nothing, so `943<span>476</span>5919` reads `9434765919` and a number
cannot be hidden by wrapping its digits in tags.  Entities and `&nbsp;` are
decoded.  `alt` and `title` text is kept too: it travels in clear even if
nobody sees it; so do a link's address, a picture's source and a form's
values (`href`, `src`, `value`, `placeholder`, `content`, `data-*`), which
are read with the hidden text.  A file written out in either text (a
`data:` URI in a link or a picture, a pasted base64 or uuencode block) is
decoded and read as the file it is (gateway.extract.embedded).

What the reader does not see is read apart: comments, processing
instructions and declarations (a DOCTYPE's text beyond the standard ones),
an iframe's `srcdoc` document and an object's `data`, scripts, style
sheets (a CSS comment travels in clear too), and elements
hidden with the `hidden` attribute, an inline style (display:none,
visibility:hidden, font-size:0, opacity:0, Outlook's mso-hide:all) or a
class or id the document's own `<style>` hides that way go to a
second text, each piece on its own line, and leave no trace in the visible
one.  `083 01<!-- x -->6 6130` reads `083 016 6130`, as the recipient sees
it, and `x` is still inspected: a comment cannot split a number, and
cannot hide one either.

White space is what a browser shows: outside `<pre>`, a run of spaces, tabs
and line breaks in the source is one space, dropped at the start and end of
a line.  A paragraph (p, headings, lists, blockquote, pre: the blocks with a
margin) is set apart by a blank line, any other block (div, li, tr...) starts
a new line, `<br>` breaks the line, and there is never more than one blank
line in a row.  A line break in
the source is no line break on screen: `943\n476\n5919` reads `943 476 5919`,
as the recipient sees it, and an HTML alternative reads like its plain-text
twin, line for line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser

from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    Extractor,
    TextCollector,
    finish,
)
from gateway.extract.detect import HTML, content_type_of
from gateway.extract.embedded import EmbeddedFiles
from gateway.extract.text import text_readings

_BLOCK = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "caption",
        "center",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "tfoot",
        "thead",
        "title",
        "tr",
        "ul",
        "body",
        "html",
        "head",
    }
)
_CELL = frozenset({"td", "th"})


def separates(tag: str) -> bool:
    """Whether a tag parts the text on either side of it (a block or a
    table cell); an inline tag joins it."""
    return tag in _BLOCK or tag in _CELL
# Elements that have no end tag: one hidden hides only itself.
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
     "source", "track", "wbr"}
)
# Never shown: a mail client runs no script (so <noscript> is shown), and a
# style sheet is applied, not shown; all travel in clear, so all are read.
_UNSHOWN = frozenset({"script", "template", "style"})
_ZERO = r"(?:0+(?:\.0*)?|\.0+)"
_HIDING_STYLE = re.compile(
    r"(?:^|[;\s])(?:display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)"
    r"|mso-hide\s*:\s*all"
    rf"|(?:font-size|opacity)\s*:\s*{_ZERO}[a-z%]*\s*(?:!\s*important\s*)?(?:;|$))",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class HidingRules:
    """What a document's own `<style>` blocks hide: the classes and ids of
    rules whose declarations hide (as `_HIDING_STYLE`), each with its tag
    or "*".  Simple selectors only (`.x`, `#x`, `span.x`, in comma lists):
    a rule with combinators, or inside an at-rule (`@media` applies only
    on some screens), hides nothing here, so its text stays where a reader
    sees it most of the time."""

    classes: frozenset[tuple[str, str]] = frozenset()
    ids: frozenset[tuple[str, str]] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.classes or self.ids)

    def hide(self, tag: str, name: str, value: str) -> bool:
        if name == "class":
            return any((tag, c) in self.classes or ("*", c) in self.classes
                       for c in value.split())
        if name == "id":
            token = value.strip()
            return (tag, token) in self.ids or ("*", token) in self.ids
        return False


NO_RULES = HidingRules()
_STYLE_START = re.compile(r"<style\b[^<>]{0,1024}>", re.IGNORECASE)
_STYLE_END = re.compile(r"</style\s*>", re.IGNORECASE)
_SIMPLE_SELECTOR = re.compile(r"\s*([a-zA-Z][a-zA-Z0-9]*|\*)?([.#])([-_a-zA-Z0-9]+)\s*")


def hiding_rules(markup: str) -> HidingRules:
    """The classes and ids `markup`'s `<style>` blocks hide."""
    classes: set[tuple[str, str]] = set()
    ids: set[tuple[str, str]] = set()
    position = 0
    while (start := _STYLE_START.search(markup, position)) is not None:
        end = _STYLE_END.search(markup, start.end())
        if end is None:
            break  # an unclosed <style> holds the rest: nothing after it shows
        position = end.end()
        css = _without_comments(markup[start.end() : end.start()])
        # Split at braces, never a regular expression over the rule: linear
        # on any input.  `<!--` and `-->` around CSS are not CSS.
        for rule in _outside_at_rules(css.replace("<!--", " ").replace("-->", " ")).split("}"):
            selectors, brace, declarations = rule.partition("{")
            if not brace or not _HIDING_STYLE.search(declarations):
                continue
            for selector in selectors.split(","):
                simple = _SIMPLE_SELECTOR.fullmatch(selector)
                if simple is not None:
                    tag = (simple.group(1) or "*").lower()
                    kept = classes if simple.group(2) == "." else ids
                    kept.add((tag, simple.group(3)))
    if not classes and not ids:
        return NO_RULES
    return HidingRules(frozenset(classes), frozenset(ids))


def _without_comments(css: str) -> str:
    """`css` without its /* comments */: found in one pass (a regular
    expression retries from every unclosed `/*`, quadratic)."""
    kept: list[str] = []
    position = 0
    while (start := css.find("/*", position)) >= 0:
        kept.append(css[position:start])
        end = css.find("*/", start + 2)
        if end < 0:
            return " ".join(kept)  # an unclosed comment runs to the end
        kept.append(" ")
        position = end + 2
    kept.append(css[position:])
    return "".join(kept)


def _outside_at_rules(css: str) -> str:
    """`css` without its at-rules (`@media {...}`, `@import ...;`)."""
    kept: list[str] = []
    position = 0
    while (at := css.find("@", position)) >= 0:
        kept.append(css[position:at])
        ends = at
        while ends < len(css) and css[ends] not in "{;":
            ends += 1
        if ends >= len(css) or css[ends] == ";":
            position = ends + 1
            continue
        depth = 0
        while ends < len(css):
            if css[ends] == "{":
                depth += 1
            elif css[ends] == "}":
                depth -= 1
                if depth == 0:
                    break
            ends += 1
        position = ends + 1
    kept.append(css[position:])
    return "".join(kept)


def hides(
    tag: str, attrs: Iterable[tuple[str, str | None]], rules: HidingRules = NO_RULES
) -> bool:
    """Whether an element is kept from the reader's sight: never shown, or
    hidden by its `hidden` attribute, its inline style or, through its
    class or id, the document's own style sheet (`hiding_rules`)."""
    if tag in _UNSHOWN:
        return True
    for name, value in attrs:
        if name == "hidden" or (name == "style" and value and _HIDING_STYLE.search(value)):
            return True
        if rules and value and rules.hide(tag, name, value):
            return True
    return False


def is_void(tag: str) -> bool:
    """Whether an element has no content (and no end tag)."""
    return tag in _VOID


_PRE = frozenset({"pre", "textarea", "listing", "plaintext", "xmp"})
# Blocks a browser sets apart with a margin: a blank line before and after.
_PARAGRAPH = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "blockquote", "pre", "figure", "hr"}
)
_SPACES = re.compile(r"[ \t\r\n\f]+")  # HTML's white space (not U+00A0)
_ATTRIBUTES = frozenset({"alt", "title"})
# Values that travel in clear but are not shown: a link's address (a
# `mailto:` a personal address), a picture's source, a form's value.
# Read with the hidden text.
# `data`: an <object>'s file, a `data:` URI as often as a link's address.
_UNSEEN_ATTRIBUTES = frozenset({"href", "src", "value", "placeholder", "content", "data"})
# An <iframe>'s `srcdoc`: a whole document, read as HTML with the hidden text.
_DOCUMENT_ATTRIBUTE = "srcdoc"
# Declarations and processing instructions every page or Outlook writes,
# which hold nothing but their syntax: skipped, so an ordinary message's
# hidden text stays empty.  Anything else in them is read.
# The standard identifiers only, word by word: a name or a number
# written into a public identifier is read.
_STANDARD_IDENTIFIER = (
    r"-//(?:W3C|IETF|WAPFORUM)//DTD X?HTML(?:\+RDFa|\+ARIA)?"
    r"(?: (?:[\d.]+|Transitional|Strict|Frameset|Final|Basic|Mobile|Level))*//EN"
    r"|https?://www\.w3\.org/[a-zA-Z0-9/.-]*\.dtd|about:legacy-compat"
)
_PLAIN_DOCTYPE = re.compile(
    r"doctype\s+html(?:\s+(?:public|system))?"
    rf"""(?:\s+(?:"(?:{_STANDARD_IDENTIFIER})"|'(?:{_STANDARD_IDENTIFIER})'))*\s*""",
    re.IGNORECASE,
)
_PLAIN_INSTRUCTION = re.compile(
    r"""xml(?:\s+(?:version|encoding|standalone)\s*=\s*(?:"[\w.-]*"|'[\w.-]*'))*\s*\??"""
    r'|xml:namespace\s+prefix\s*=\s*"?\w+"?\s+ns\s*=\s*"urn:schemas-microsoft-com:[\w:.-]*"\s*/?',
    re.IGNORECASE,
)


def unseen_attribute(name: str) -> bool:
    return name in _UNSEEN_ATTRIBUTES or name.startswith("data-")
_CHUNK = 65536
# Unparsed input left at the end is an unterminated construct ("<!--" with no
# "-->").  HTMLParser.close() rescans it once per "<", quadratic on hostile
# input, so a long leftover is read as text with its tags stripped instead.
_MAX_LEFTOVER = 4096
_TAG = re.compile(r"<[^<>]{0,1024}>")


class _TextParser(HTMLParser):
    def __init__(
        self, collector: TextCollector, hidden: TextCollector, rules: HidingRules = NO_RULES
    ) -> None:
        super().__init__(convert_charrefs=True)
        self.rules = rules
        self.attribute_values: list[str] = []  # unseen: read unless also shown
        self.documents: list[str] = []  # iframes' srcdoc, read as HTML
        self.collector = collector
        self.hidden = hidden  # comments and hidden elements, apart from the flow
        self.hiding: list[str] = []  # elements open inside a hidden one (it first)
        self.preformatted = 0
        self.newlines = 2  # line breaks just written (the start counts as a blank line)
        self.space = False  # a collapsed space waits for the next visible text

    def _break(self, tag: str) -> None:
        """The line break a tag makes: at most one blank line in a row."""
        self.space = False
        # <br> always starts a new line, even an empty one.
        wanted = min(2, self.newlines + 1) if tag == "br" else 2 if tag in _PARAGRAPH else 1
        while self.newlines < wanted:
            self.collector.add("\n")
            self.newlines += 1

    def _text(self, text: str) -> None:
        if self.space:
            text = " " + text
        self.space = False
        if text:
            self.collector.add(text)
            self.newlines = len(text) - len(text.rstrip("\n"))

    def _hidden_start(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.hiding or separates(tag):
            self.hidden.add("\n")
        if tag not in _VOID:
            self.hiding.append(tag)
        for name, value in attrs:
            if name in _ATTRIBUTES and value:
                self.hidden.add(f" {value} ")
        if not self.hiding:  # a hidden void element: nothing follows it
            self.hidden.add("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and unseen_attribute(name):
                self.attribute_values.append(value)
            elif value and name == _DOCUMENT_ATTRIBUTE:
                self.documents.append(value)
        if self.hiding or hides(tag, attrs, self.rules):
            self._hidden_start(tag, attrs)
            return
        if tag in _PRE:
            self.preformatted += 1
        if tag in _BLOCK:
            self._break(tag)
        elif tag in _CELL:
            self._text("\t")
        for name, value in attrs:
            if name in _ATTRIBUTES and value:
                self._text(f" {value} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        open_before = len(self.hiding)
        self.handle_starttag(tag, attrs)
        if len(self.hiding) > open_before:  # <span hidden/>: closed as it opened
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.hiding:
            if tag in self.hiding:
                # Closes it and whatever was left open inside it.
                del self.hiding[len(self.hiding) - 1 - self.hiding[::-1].index(tag) :]
            if separates(tag) or not self.hiding:
                self.hidden.add("\n")
            return
        if tag in _PRE:
            self.preformatted = max(0, self.preformatted - 1)
        if tag in _BLOCK:
            self._break(tag)
        elif tag in _CELL:
            self._text("\t")

    def handle_data(self, data: str) -> None:
        if self.hiding:
            self.hidden.add(_SPACES.sub(" ", data))
            return
        if self.preformatted:
            self._text(data)
            return
        collapsed = _SPACES.sub(" ", data)
        if self.newlines:
            collapsed = collapsed.lstrip(" ")  # a line does not start with a space
        if collapsed.endswith(" "):
            # Shown only if more text follows on this line.
            collapsed = collapsed[:-1]
            self._text(collapsed)
            self.space = True
        else:
            self._text(collapsed)

    def handle_comment(self, data: str) -> None:
        self.hidden.add(f"\n{data}\n")

    # A processing instruction (<?...>) and a declaration (<!DOCTYPE ...>,
    # <![CDATA[...]]>) travel in clear as a comment does, and are read as one.

    def handle_pi(self, data: str) -> None:
        if not _PLAIN_INSTRUCTION.fullmatch(data.strip()):
            self.hidden.add(f"\n{data}\n")

    def handle_decl(self, decl: str) -> None:
        if not _PLAIN_DOCTYPE.fullmatch(decl.strip()):
            self.hidden.add(f"\n{decl}\n")

    def unknown_decl(self, data: str) -> None:
        # Outlook's conditional sections (<![if !supportLists]>, <![endif]>)
        # are syntax; a CDATA section's text is read.
        if data.startswith("CDATA["):
            self.hidden.add(f"\n{data[6:]}\n")


_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")


def html_texts(markup: str, ctx: ExtractContext) -> tuple[str, str]:
    """(the text a reader sees, the text nobody is shown: comments and
    hidden elements, a piece a line)."""
    collector = TextCollector(ctx.limits.max_text_chars)
    hidden = TextCollector(ctx.limits.max_text_chars)
    parser = _TextParser(collector, hidden, hiding_rules(markup))
    # Fed in chunks so the time budget is checked between them: html.parser
    # has worst cases on malformed input that would otherwise run unbounded.
    for start in range(0, len(markup), _CHUNK):
        ctx.check_time()
        parser.feed(markup[start : start + _CHUNK])
        if collector.truncated or hidden.truncated:
            break
    leftover = parser.rawdata
    if len(leftover) > _MAX_LEFTOVER:
        parser.reset()
        collector.add(unescape(_TAG.sub(" ", leftover)))
    else:
        parser.close()
        if parser.rawdata:
            # An unclosed <script> or <style> (html.parser keeps what
            # follows it unread, waiting for the end tag): the rest of the
            # document is in it, unseen but sent, so read.
            hidden.add("\n" + parser.rawdata)
    visible = finish(collector, ctx).strip("\n")
    for document in parser.documents:
        # Each level of srcdoc escapes the one inside it, so the nesting
        # grows the markup and ends within the size limit.
        hidden.add(f"\n{html_to_text(document, ctx)}\n")
    if parser.attribute_values:
        shown = _Shown(visible)
        for value in parser.attribute_values:
            if not shown.holds(value):
                hidden.add(f"\n{value}\n")
    unseen = _BLANK_LINES.sub("\n", finish(hidden, ctx)) if hidden.text() else ""
    return visible, unseen.strip("\n")


_PHONE_LINK = ("tel:", "sms:", "callto:", "fax:")
_MOST_LOOKS = 200
_NOT_DIGITS = re.compile(r"\D+")


class _Shown:
    """What the reader sees, to tell which unseen values it shows anyway.

    A signature's `<a href="tel:+441632960002">01632 960002</a>` or
    `<a href="mailto:a@b">a@b</a>` says nothing the text does not: read
    apart, the number would lose the signature around it that tells the
    detector it is the sender's own, and every such message would be
    refused.  A link whose number or address is not in the text is read,
    and so is every other value."""

    def __init__(self, visible: str) -> None:
        self.text = visible.lower()
        self.digits = _NOT_DIGITS.sub("", visible)
        # Each look is a search of the whole text: a message of many
        # thousands of links reads the rest rather than take quadratic time.
        self.looks = _MOST_LOOKS

    def holds(self, value: str) -> bool:
        lowered = value.strip().lower()
        phone = lowered.startswith(_PHONE_LINK)
        if not (phone or lowered.startswith("mailto:")) or self.looks <= 0:
            return False
        self.looks -= 1
        if phone:
            digits = _NOT_DIGITS.sub("", lowered)
            # The national number's last nine digits: +44 and 0 both drop.
            return len(digits) >= 9 and digits[-9:] in self.digits
        address = lowered[len("mailto:"):].split("?", 1)[0].strip()
        return bool(address) and address in self.text


def html_to_text(markup: str, ctx: ExtractContext) -> str:
    """Everything inspected in `markup`: the visible text, then the hidden."""
    visible, hidden = html_texts(markup, ctx)
    return f"{visible}\n\n{hidden}" if hidden else visible


class HtmlExtractor(Extractor):
    name = HTML
    content_type = content_type_of(HTML)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        texts: list[ExtractedText] = []
        files = EmbeddedFiles(ctx)
        found: list[ExtractedText] = []
        for markup in text_readings(data, ctx.charset):
            visible, hidden = html_texts(markup, ctx)
            texts.append(ExtractedText(visible))
            found.extend(files.in_text(visible))
            if hidden.strip():
                texts.append(ExtractedText(hidden))
                # Attribute values are read here: a `data:` URI in a link
                # or a picture is a file.
                found.extend(files.in_text(hidden))
        return texts + found
