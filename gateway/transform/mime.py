"""MIME editing with the stdlib email package, changing as little as possible.

Messages are parsed with `policy.default` and written back with the SMTP
policy (CRLF) told never to refold a header it read (`refold_source="none"`):
headers the gateway does not touch (Message-ID, DKIM-Signature, Received…)
leave byte for byte as they came, 8-bit header bytes included, and parts
that are not edited keep their original transfer encoding and text.

Parts are numbered like the parse stage numbers them (IMAP sections: "1",
"2.1"), so a path in an `AttachmentReport` or a `PasswordCandidate` names
the same entity here.
"""

from __future__ import annotations

import bisect
import html
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import errors as email_errors
from email import policy
from email.generator import BytesGenerator
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from functools import lru_cache

from gateway.errors import ContentError
from gateway.extract.html import hides, hiding_rules, is_void, separates
from gateway.extract.text import text_readings
from gateway.parse.charsets import exact_text, normalise_charset

OUTPUT_POLICY = policy.SMTP.clone(refold_source="none")
_BODY_TYPES = frozenset({"text/plain", "text/html"})
SIGNED_TYPES = frozenset({"multipart/signed", "multipart/encrypted"})
SIGNATURE_TYPES = frozenset(
    {
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
        "application/pgp-signature",
    }
)
# Headers of a part that say how it is shown, kept when its text is rewritten.
_PRESENTATION = ("content-disposition", "content-id", "content-language",
                 "content-description", "content-location")
# Defects after which two readers could split the message differently: the
# output must never have more of them than the input.
STRUCTURE_DEFECTS: tuple[type[email_errors.MessageDefect], ...] = (
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.CloseBoundaryNotFoundDefect,
    email_errors.MultipartInvariantViolationDefect,
    email_errors.MissingHeaderBodySeparatorDefect,
    email_errors.FirstHeaderLineIsContinuationDefect,
    email_errors.MisplacedEnvelopeHeaderDefect,
)


def parse(raw: bytes) -> EmailMessage:
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # the stdlib parser on hostile input
        raise ContentError(f"message cannot be parsed ({type(exc).__name__})") from exc
    if not isinstance(message, EmailMessage):
        raise ContentError("message cannot be parsed")
    return message


def serialise(message: EmailMessage) -> bytes:
    buffer = io.BytesIO()
    try:
        BytesGenerator(buffer, mangle_from_=False, policy=OUTPUT_POLICY).flatten(message)
    except Exception as exc:
        raise ContentError(f"message cannot be written ({type(exc).__name__})") from exc
    return buffer.getvalue()


def structure_defects(message: EmailMessage) -> int:
    return sum(
        1 for part in message.walk() for d in part.defects if isinstance(d, STRUCTURE_DEFECTS)
    )


@dataclass(frozen=True, slots=True)
class Node:
    """One entity the transform may act on: a leaf, or an attached message."""

    part: EmailMessage
    path: str
    parent: EmailMessage | None
    is_body: bool
    in_signed: bool  # inside multipart/signed or multipart/encrypted
    container: bool = False  # message/rfc822 and kin: handled as one file

    @property
    def content_type(self) -> str:
        return self.part.get_content_type()


def _join(path: str, index: int) -> str:
    return f"{path}.{index}" if path else str(index)


def nodes(root: EmailMessage) -> list[Node]:
    """Every leaf and attached message, depth first, numbered like the parser."""
    found: list[Node] = []

    def entity(
        part: EmailMessage, path: str, parent: EmailMessage | None, attached: bool, signed: bool
    ) -> None:
        if part.is_multipart():
            payload = part.get_payload()
            if part.get_content_maintype() == "multipart" and isinstance(payload, list):
                inner_attached = attached or part.get_content_disposition() == "attachment"
                inner_signed = signed or part.get_content_type() in SIGNED_TYPES
                for index, child in enumerate(payload, start=1):
                    if isinstance(child, EmailMessage):
                        entity(child, _join(path, index), part, inner_attached, inner_signed)
                return
            found.append(Node(part, path or "1", parent, False, signed, container=True))
            return
        content_type = part.get_content_type()
        is_body = (
            not attached
            and content_type in _BODY_TYPES
            and part.get_content_disposition() != "attachment"
            and part.get_filename() is None
        )
        found.append(Node(part, path or "1", parent, is_body, signed))

    root_path = "" if root.get_content_maintype() == "multipart" and root.is_multipart() else "1"
    entity(root, root_path, None, False, False)
    return found


def body_nodes(root: EmailMessage) -> Iterator[Node]:
    return (n for n in nodes(root) if n.is_body)


# -- text parts ------------------------------------------------------------------


def _charset(part: EmailMessage) -> tuple[str, str | None]:
    """(charset as declared, Python's codec for it): the content stage's
    reading (gateway.parse.charsets), so a name Python has no codec for, or
    one no mail program applies (unicode_escape), is no codec here either."""
    declared = part.get_content_charset() or "us-ascii"
    return declared, normalise_charset(declared)


def get_text(part: EmailMessage) -> str | None:
    """The decoded text of a text part, or None when it cannot be decoded
    exactly (unknown charset, bytes invalid in it: `exact_text`): such a
    part is never rewritten, since writing it back could change what it says."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return None
    return exact_text(data, part.get_content_charset())


def readings(part: EmailMessage) -> list[str]:
    """A text part's text as the inspect stage reads it: a byte order mark,
    the declared charset, then its fallbacks, and the bytes' own reading
    where the label garbles them (`gateway.extract.text.text_readings`).
    What the recipient's program may show, `get_text` or not."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return []
    return text_readings(data, normalise_charset(part.get_content_charset()))


# Printable ASCII and the white space of text: what a charset that can be
# written line by line writes as the same bytes.
_ASCII_TEXT = "".join(map(chr, range(0x20, 0x7F))) + "\t\n\r\f"


@lru_cache(maxsize=64)
def _writes_ascii(codec: str) -> bool:
    """Whether `codec` writes ASCII text as the same ASCII bytes.

    `set_content` splits the encoded text at its LF bytes and ends each line
    anew, and a 7bit body must be ASCII: in UTF-16 or UTF-32 an LF byte is
    part of a character and every character has a NUL, and UTF-7 writes "+"
    as "+-".  A part in such a charset is rewritten in UTF-8."""
    try:
        return _ASCII_TEXT.encode(codec) == _ASCII_TEXT.encode("ascii")
    except (UnicodeError, LookupError, ValueError):
        return False


def set_text(part: EmailMessage, text: str) -> None:
    """Replace a text part's content, keeping its subtype, how it is shown,
    `format=flowed`, and its charset when the new text fits in it and the
    charset writes ASCII as ASCII (not UTF-16, UTF-32 or UTF-7: `_writes_ascii`)."""
    subtype = part.get_content_subtype()
    declared, original = _charset(part)
    charset = "utf-8"
    if original is not None and original not in ("ascii", "utf-8") and _writes_ascii(original):
        try:
            text.encode(original)
            charset = declared
        except ValueError:  # the new text does not fit in it
            charset = "utf-8"
    elif text.isascii() and original == "ascii":
        charset = "us-ascii"
    flowed = {
        k.lower(): v
        for k, v in (part.get_params() or [])[1:]
        if isinstance(k, str) and k.lower() in ("format", "delsp") and isinstance(v, str)
    }
    kept = [(n, v) for n, v in part.raw_items() if n.lower() in _PRESENTATION]
    had_version = "mime-version" in part
    lines = text.splitlines()
    cte = "7bit" if text.isascii() and all(len(x) <= 998 for x in lines) else "quoted-printable"
    try:
        part.set_content(text, subtype=subtype, charset=charset, cte=cte)
    except (ValueError, LookupError, UnicodeError) as exc:
        raise ContentError(f"text part cannot be rewritten ({type(exc).__name__})") from exc
    for name in {n for n, _ in kept}:
        del part[name]
    for name, value in kept:
        part.set_raw(name, value)
    for key, value in flowed.items():
        part.set_param(key, value)
    if not had_version:
        # EmailMessage.set_content adds one; a part inside a message has none.
        del part["MIME-Version"]


def text_part(text: str, disposition: str | None = "inline") -> MIMEPart:
    part = MIMEPart(policy=policy.default)
    cte = "7bit" if text.isascii() else "quoted-printable"
    part.set_content(text, subtype="plain", charset="utf-8" if not text.isascii() else "us-ascii",
                     cte=cte, disposition=disposition)
    return part


# -- HTML ----------------------------------------------------------------------------

_BODY_TAG = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)
_HTML_TAG = re.compile(r"<html\b[^>]*>", re.IGNORECASE)


def insert_html(document: str, fragment: str) -> str:
    """`fragment` placed first in the document's body, never before <html>/<head>."""
    for pattern in (_BODY_TAG, _HEAD_END, _HTML_TAG):
        match = pattern.search(document)
        if match:
            return document[: match.end()] + fragment + document[match.end() :]
    return fragment + document


@dataclass(frozen=True, slots=True)
class _Run:
    """A run of the visible text and the source it came from: `exact` when
    each character is the source character at the same offset, otherwise
    (an entity, a separator) the run's characters come from the whole span."""

    at: int  # offset in the visible text
    size: int
    start: int  # source span
    end: int
    exact: bool


class HtmlText:
    """An HTML document's text as a reader sees it, mapped back to the source.

    As the detect stage reads HTML (gateway.extract.html): inline tags
    (span, b, Outlook's o:p) join the text on either side, so
    `Marmalad<span>e</span>` reads `Marmalade`; block tags and table cells
    part it; entities are decoded (`&#45;` is `-`); `alt` and `title` values
    are read too, since they travel in clear.  Comments and hidden elements
    (`gateway.extract.html.hides`) leave the flow, so `Marma<!-- x -->lade`
    reads `Marmalade`, and are read after it, a piece a line, with the
    values of attributes that travel unseen (`href`, `src`, `value`, ...):
    a password in them is found and taken out too.  White space is kept as it is.
    `spans` says which source characters made a piece of the visible text,
    so a password found there can be taken out of the source with the markup
    around and inside it left as it was.
    """

    __slots__ = ("_offsets", "_runs", "text")

    def __init__(self, document: str) -> None:
        self._runs: list[_Run] = []
        pieces: list[str] = []
        size = 0

        def add(text: str, start: int, end: int, exact: bool) -> None:
            nonlocal size
            if text:
                self._runs.append(_Run(size, len(text), start, end, exact))
                pieces.append(text)
                size += len(text)

        def source_text(start: int, end: int, decode: bool = True) -> None:
            segment = document[start:end]
            done = 0
            if decode:
                for entity in _ENTITY.finditer(segment):
                    add(segment[done:entity.start()], start + done, start + entity.start(), True)
                    add(html.unescape(entity.group()), start + entity.start(),
                        start + entity.end(), False)
                    done = entity.end()
            add(segment[done:], start + done, end, True)

        # Read after the flow: (start, end, decode entities), None a line break.
        unseen: list[tuple[int, int, bool] | None] = []
        hiding: list[str] = []  # elements open inside a hidden one (it first)

        def text_at(start: int, end: int, decode: bool = True) -> None:
            if hiding:
                unseen.append((start, end, decode))
            else:
                source_text(start, end, decode)

        def separator(at: int) -> None:
            if hiding:
                unseen.append(None)
            else:
                add("\n", at, at, False)

        rules = hiding_rules(document)
        position = 0
        for token in _MARKUP.finditer(document):
            text_at(position, token.start())
            position = token.end()
            if token.group(1) is not None:  # a comment
                unseen.extend((None, (token.start(1), token.end(1), False), None))
                continue
            name = _TAG_NAME.match(token.group())
            tag = name.group(1).lower() if name is not None else ""
            if tag and token.group().lstrip("< \t\r\n").startswith("/"):
                if hiding:
                    if tag in hiding:
                        del hiding[len(hiding) - 1 - hiding[::-1].index(tag) :]
                    if separates(tag) or not hiding:
                        unseen.append(None)
                elif separates(tag):
                    add("\n", token.start(), token.start(), False)
                continue
            if tag and not hiding and hides(tag, _attributes(token.group()), rules):
                unseen.append(None)
                if not is_void(tag) and not token.group().endswith("/>"):
                    hiding.append(tag)
                closes = not hiding
            else:
                closes = False
                if tag and separates(tag):
                    separator(token.start())
                if hiding and tag and not is_void(tag) and not token.group().endswith("/>"):
                    hiding.append(tag)
            for attribute in _TEXT_ATTRIBUTE.finditer(token.group()):
                group = next(g for g in (1, 2, 3) if attribute.group(g) is not None)
                if closes or hiding:
                    unseen.append((token.start() + attribute.start(group),
                                   token.start() + attribute.end(group), True))
                    continue
                add(" ", token.start(), token.start(), False)
                source_text(token.start() + attribute.start(group),
                            token.start() + attribute.end(group))
                add(" ", token.start(), token.start(), False)
            for attribute in _UNSEEN_ATTRIBUTE.finditer(token.group()):
                group = next(g for g in (1, 2, 3) if attribute.group(g) is not None)
                unseen.extend((None, (token.start() + attribute.start(group),
                                      token.start() + attribute.end(group), True), None))
            if closes:  # a hidden element with no content: <img hidden alt=...>
                unseen.append(None)
        text_at(position, len(document))
        for item in unseen:
            if item is None:
                add("\n", len(document), len(document), False)
            else:
                source_text(*item)
        self.text = "".join(pieces)
        self._offsets = [run.at for run in self._runs]

    def spans(self, start: int, end: int) -> list[tuple[int, int]]:
        """The source spans of the visible text's [start, end), in order."""
        found: list[tuple[int, int]] = []
        index = max(0, bisect.bisect_right(self._offsets, start) - 1)
        for run in self._runs[index:]:
            if run.at >= end:
                break
            low, high = max(start, run.at), min(end, run.at + run.size)
            if low >= high or run.start == run.end:
                continue
            if run.exact:
                found.append((run.start + low - run.at, run.start + high - run.at))
            elif not found or found[-1] != (run.start, run.end):
                found.append((run.start, run.end))
        return found


_MARKUP = re.compile(r"<!--(.*?)-->|<[^<>]*>", re.DOTALL)
_TAG_NAME = re.compile(r"<\s*/?\s*([A-Za-z][A-Za-z0-9:_-]*)")
_TEXT_ATTRIBUTE = re.compile(
    r"""\s(?:alt|title)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE
)
# As gateway.extract.html reads them: values that travel in clear but are
# not shown (a link's address, a form's value), read after the flow.
_UNSEEN_ATTRIBUTE = re.compile(
    r"""\s(?:href|src|value|placeholder|content|data-[\w.:-]+)\s*=\s*"""
    r"""(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""",
    re.IGNORECASE,
)
_ENTITY = re.compile(r"&(?:#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[A-Za-z][A-Za-z0-9]*;?)")
_ATTRIBUTE = re.compile(
    r"""\s([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?"""
)


def _attributes(tag: str) -> list[tuple[str, str | None]]:
    """A start tag's attributes as html.parser gives them: names in lower
    case, values with entities decoded."""
    found: list[tuple[str, str | None]] = []
    name = _TAG_NAME.match(tag)
    for match in _ATTRIBUTE.finditer(tag, name.end() if name is not None else 0):
        value = next((v for v in match.group(2, 3, 4) if v is not None), None)
        found.append((match.group(1).lower(), html.unescape(value) if value is not None else None))
    return found


def html_visible_text(document: str) -> str:
    """The text a reader sees (`HtmlText`)."""
    return HtmlText(document).text
