"""Purpose, limits to consent and authoriser: captured, then taken out.

The guidance asks that the recipient understand why information is shared
and the limits to consent, and that the record say who authorised it.  Staff
give these either in headers (`X-Sharing-Purpose`, `X-Sharing-Consent`,
`X-Authorised-By`, set by a mail-client add-in) or as lines of the message
text (`Purpose: …`, `Consent: …`, `Authorised by: …`).  They are captured
here for the policy and the audit record; the outbound message loses them
(the handling notice tells the recipient what they need in plain words).

The transform strips the statements from every body part of the letter
(signed content apart), so they are read from every one, the first body
part's first, then the others' to fill what it did not say: a
multipart/alternative message may give its purpose in the HTML part only.
An HTML part is read as the reader sees it and, in its source, with the very
pattern that strips it (`SHARING_HTML`), so a statement the recipient loses
is one the record could hold.  A message forwarded inline is someone else's:
its statements are neither read nor stripped.

A value is kept as one line of at most 500 characters, a NUL (which only
decoding can make: an encoded-word, a base64 body) replaced by U+FFFD
before the decision is built, so the record hashes what it stores:
PostgreSQL's text cannot hold U+0000, and a write that fails every time
would answer 451 for ever.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from html import unescape

from gateway.model import Inspection, Part, SegmentSource, TextSegment
from gateway.parse.charsets import decode_text
from gateway.parse.keywords import Keywords

PURPOSE_HEADER = "X-Sharing-Purpose"
CONSENT_HEADER = "X-Sharing-Consent"
AUTHORISED_HEADER = "X-Authorised-By"
SHARING_HEADERS = (PURPOSE_HEADER, CONSENT_HEADER, AUTHORISED_HEADER)

_MAX_VALUE = 500

# A line of its own in the message text.  Quoted lines ("> Purpose: …") are
# someone else's earlier message, not this sender's statement, so they are
# neither captured nor removed.
_KEY = (
    r"(?P<key>purpose(?:[ \t]+of[ \t]+sharing)?"
    r"|(?:limits?[ \t]+(?:to|of)[ \t]+)?consent"
    r"|authori[sz]ed[ \t]+by)"
)
SHARING_LINE = re.compile(
    rf"^[ \t]*{_KEY}[ \t]*:[ \t]*(?P<value>[^\r\n]*?)[ \t]*\r?$", re.IGNORECASE | re.MULTILINE
)
# The same statement in HTML: it starts a line or follows a tag, and may be
# split by inline tags (<b>Purpose:</b> …).  The tags are kept when the
# statement is removed so the markup stays balanced.
SHARING_HTML = re.compile(
    rf"(?:^|(?<=[>\n]))[ \t]*{_KEY}(?:\s|<[^<>]*>)*:(?:\s|<[^<>]*>|&nbsp;)*(?P<value>[^<\r\n]+)",
    re.IGNORECASE | re.MULTILINE,
)
_TAG = re.compile(r"<[^<>]*>")
# Every key of _KEY holds one of these.
_MENTIONS = Keywords(("purpose", "consent", "authori"))


@dataclass(frozen=True, slots=True)
class SharingFacts:
    """What the sender said about this sharing (None when not said)."""

    purpose: str | None
    consent: str | None
    authorised_by: str | None


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(value.replace("\x00", "\ufffd").split())[:_MAX_VALUE]
    return text or None


def _field(key: str) -> str:
    # By the first letter: the key matched _KEY case-insensitively, which in
    # Unicode also admits spellings like "purpoſe" that no prefix test knows.
    first = key.casefold()[:1]
    if first == "p":
        return "purpose"
    if first == "a":
        return "authorised_by"
    return "consent"


def may_hold_statement(text: str) -> bool:
    """False only when `text` cannot hold a sharing line: a cheap test in C
    before the line regex, which Python's `re` runs at a few tens of MB/s
    (most mail has no such line, and large mail would pay milliseconds)."""
    if not text.isascii():
        return True  # IGNORECASE also matches non-ASCII spellings (ſ, ı)
    return _MENTIONS.found_in(text)


def lines_in(text: str) -> dict[str, str]:
    """The first Purpose/Consent/Authorised-by line of each kind in `text`."""
    found: dict[str, str] = {}
    if not may_hold_statement(text):
        return found
    for match in SHARING_LINE.finditer(text):
        value = _clean(match.group("value"))
        if value:
            found.setdefault(_field(match.group("key")), value)
    return found


def html_statements_in(document: str) -> dict[str, str]:
    """The first statement of each kind `strip_html` would take out of `document`."""
    found: dict[str, str] = {}
    if not may_hold_statement(document):
        return found
    for match in SHARING_HTML.finditer(document):
        value = _clean(unescape(match.group("value")))
        if value:
            found.setdefault(_field(match.group("key")), value)
    return found


def sharing_facts(inspection: Inspection) -> SharingFacts:
    """From the headers, else from the statements of the letter's body parts."""
    message = inspection.message
    values: dict[str, str | None] = {
        "purpose": _clean(message.header(PURPOSE_HEADER)),
        "consent": _clean(message.header(CONSENT_HEADER)),
        "authorised_by": _clean(message.header(AUTHORISED_HEADER)),
    }
    if not all(values.values()):
        for found in _body_statements(inspection):
            for key, value in found.items():
                if not values.get(key):
                    values[key] = value
    return SharingFacts(values["purpose"], values["consent"], values["authorised_by"])


def _body_statements(inspection: Inspection) -> Iterator[dict[str, str]]:
    """Each letter body part's statements, in the message's order."""
    for part in _letter_parts(inspection.message.parts):
        yield lines_in("\n".join(
            s.text
            for s in inspection.segments
            if s.part_path == part.path and s.source is SegmentSource.BODY
        ))
        if part.content_type == "text/html":
            yield html_statements_in(decode_text(part.payload, part.charset))


def without_statements(inspection: Inspection, segments: list[TextSegment]) -> list[TextSegment]:
    """`segments` with the statements the transform strips blanked out
    (spaces, so offsets hold) in the letter's body parts.

    They never leave in the message (the record keeps them, redacted), so
    what they say is not personal data in the body: "Authorised by: Helen
    Ward, Team Manager" under "Purpose: child protection plan" is a member
    of staff and a reason, not a person's special-category data."""
    letters = {p.path for p in _letter_parts(inspection.message.parts)}
    out = []
    for segment in segments:
        if (segment.source is SegmentSource.BODY and segment.part_path in letters
                and may_hold_statement(segment.text)):
            text = SHARING_LINE.sub(
                lambda m: " " * len(m.group(0)) if m.group("value").strip() else m.group(0),
                segment.text,
            )
            if text != segment.text:
                segment = replace(segment, text=text)
        out.append(segment)
    return out


def _letter_parts(parts: tuple[Part, ...]) -> Iterator[Part]:
    """The body parts the transform edits: text, not inside a message shown
    inline (the parse stage gives such a message's headers a part of its
    own, `<path>.HEADER`, and numbers its body parts below that path)."""
    inline_messages = tuple(p.path[: -len("HEADER")] for p in parts if p.path.endswith(".HEADER"))
    for part in parts:
        if (part.is_body and part.content_type in ("text/plain", "text/html")
                and not part.path.startswith(inline_messages)):
            yield part


def strip_text(text: str) -> str:
    """`text` without its Purpose/Consent/Authorised-by lines (line breaks too).

    A key with an empty value is a form's label, not a statement: kept.
    """
    if not may_hold_statement(text):
        return text
    return drop_lines(text, _is_statement)


def _is_statement(line: str) -> bool:
    match = SHARING_LINE.match(line)
    return match is not None and bool(match.group("value").strip())


def drop_lines(text: str, drop: Callable[[str], bool]) -> str:
    """`text` without the lines `drop` picks; a blank line left doubled by a
    removal is dropped too, so the text keeps its paragraphs."""
    kept: list[str] = []
    removed = False
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if drop(body):
            removed = True
            continue
        blank = not body.strip()
        if removed and blank and (not kept or not kept[-1].strip()):
            continue
        removed = removed and blank
        kept.append(line)
    return "".join(kept)


def strip_html(html: str) -> str:
    """`html` without the statements; the tags inside them are kept."""
    return SHARING_HTML.sub(lambda m: "".join(_TAG.findall(m.group(0))), html)
