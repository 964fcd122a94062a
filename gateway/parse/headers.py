"""Header values as a person reads them: unfolded, RFC 2047 decoded, 8-bit mended.

`decode_header_value` never raises: a broken encoded word is kept as it was
written (so its text is still inspected).  It also reports whether decoding
produced a CR or LF that was not in the raw value: an encoded word such as
``=?utf-8?q?x=0D=0ABcc:_y?=`` is read as one header by one program and as two
by another (the CVE-2024-6923 family), so the caller refuses it as ambiguous.
"""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.header import decode_header
from email.utils import collapse_rfc2231_value

from gateway.parse.charsets import decode_surrogates, decode_text

# Headers whose value is free text that travels in clear like the subject:
# Outlook's Thread-Topic keeps the conversation's first subject (a name
# taken out of a reply's subject is still there), and people type
# Keywords and Comments (RFC 5322 section 3.6.5).  They are read as the
# subject is, and taken out when the gateway protects the message.
TOPIC_HEADERS = ("Thread-Topic", "Keywords", "Comments")
# The part_path of a topic header's text: "header:Thread-Topic".
TOPIC_PATH = "header:"


def is_topic_path(part_path: str) -> bool:
    """Whether a SUBJECT-source text came from a topic header, not the subject."""
    return part_path.startswith(TOPIC_PATH)

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_NEWLINE = re.compile(r"[\r\n]")


def unfold(value: str) -> str:
    """RFC 5322 unfolding: a line break followed by white space is removed."""
    if "\n" not in value:
        return value
    return _FOLD.sub("", value)


def decode_header_value(raw: str) -> tuple[str, bool]:
    """(decoded text, whether decoding introduced a CR or LF) for one raw value."""
    value = decode_surrogates(unfold(raw))
    if "=?" not in value:
        return value, False
    try:
        chunks = decode_header(value)
    except (HeaderParseError, ValueError, LookupError):
        return value, False
    pieces: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            pieces.append(chunk)
        else:
            pieces.append(decode_text(chunk, charset))
    decoded = "".join(pieces)
    injected = _NEWLINE.search(decoded) is not None and _NEWLINE.search(value) is None
    return decoded, injected


def clean_newlines(value: str) -> str:
    """Replace CR and LF with spaces so no header value spans lines downstream."""
    return _NEWLINE.sub(" ", value)


def decode_param(value: str | tuple[str | None, str | None, str]) -> tuple[str, bool]:
    """A MIME parameter (RFC 2231 tuple or plain string, maybe RFC 2047 inside)."""
    if isinstance(value, tuple):
        charset, language, raw = value
        text = collapse_rfc2231_value(
            (charset or "us-ascii", language or "", raw), errors="replace"
        )
        text = decode_surrogates(text)
        return text, _NEWLINE.search(text) is not None
    # Outlook and others put RFC 2047 words inside quoted parameters.
    return decode_header_value(value)
