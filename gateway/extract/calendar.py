"""iCalendar (RFC 5545) and vCard (RFC 6350, and 2.1) as a calendar or an
address book shows them.

Both are lines of `NAME;PARAMS:VALUE`.  A long line is folded: a line break
followed by one space or tab continues it (Outlook folds at 75 octets), so
`NHS number 083 01` then ` 6 6130` is one value: read as it comes, the
number is split.  Values escape `\\n`, `\\,` and `\\;`.  vCard 2.1 writes
QUOTED-PRINTABLE values, whose lines end in `=` to continue.  A value in
base64 (`ENCODING=BASE64` or `ENCODING=b`: an invitation's attached file, a
contact's photo; or a `data:...;base64,` URI) is a file in clear: it is
decoded and read as any attachment is, and one that does not decode is a
problem, never skipped.

Text parts and attachments of these formats are text to the rest of the
gateway (a `text/calendar` body is a text body); the plain-text reader asks
`is_content_lines` and reads them through here.
"""

from __future__ import annotations

import quopri
import re
from dataclasses import dataclass

from gateway.extract.embedded import BASE64_DATA_URI, decode_base64

_START = re.compile(r"[\ufeff \t\r\n]*BEGIN:(?:VCALENDAR|VCARD)[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
_FOLD = re.compile(r"\r?\n[ \t]")
_LINE_BREAK = re.compile(r"\r\n|\n|\r")
# NAME (with an optional group prefix), then parameters up to the first
# colon outside double quotes, then the value.
_PROPERTY = re.compile(r'([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)?)((?:;(?:"[^"]*"|[^";:])*)*):(.*)', re.DOTALL)
_BASE64 = re.compile(r";\s*ENCODING\s*=\s*(?:B|BASE64)\s*(?:;|$)", re.IGNORECASE)
_QUOTED_PRINTABLE = re.compile(r";\s*(?:ENCODING\s*=\s*)?QUOTED-PRINTABLE\s*(?:;|$)", re.IGNORECASE)
_ESCAPE = re.compile(r"\\([nN,;:\\])")


def is_content_lines(text: str) -> bool:
    """Whether `text` is an iCalendar or vCard object (its first line)."""
    return _START.match(text) is not None


@dataclass(frozen=True, slots=True)
class ContentLines:
    """What the object says, a property a line, unfolded and unescaped;
    and the files its base64 values hold, by property name."""

    text: str
    files: tuple[tuple[str, bytes], ...]


def read_content_lines(text: str) -> ContentLines:
    lines = _LINE_BREAK.split(_FOLD.sub("", text))
    shown: list[str] = []
    files: list[tuple[str, bytes]] = []
    at = 0
    while at < len(lines):
        line = lines[at]
        at += 1
        found = _PROPERTY.fullmatch(line)
        if found is None:
            shown.append(line)
            continue
        name, params, value = found.groups()
        if _QUOTED_PRINTABLE.search(params):
            pieces = [value]
            while pieces[-1].endswith("=") and at < len(lines):
                pieces[-1] = pieces[-1][:-1]  # a soft line break: joined, in one pass
                pieces.append(lines[at])
                at += 1
            value = quopri.decodestring("".join(pieces).encode("utf-8", "surrogateescape")).decode(
                "utf-8", "replace"
            )
        elif _BASE64.search(params) or BASE64_DATA_URI.match(value):
            value = BASE64_DATA_URI.sub("", value, count=1)
            files.append((name, decode_base64(value, f"{name} value")))
            shown.append(f"{name}{params}:")
            continue
        shown.append(f"{name}{params}:{_ESCAPE.sub(_unescape, value)}")
    return ContentLines("\n".join(shown), tuple(files))


def _unescape(escape: re.Match[str]) -> str:
    character = escape.group(1)
    return "\n" if character in "nN" else character
