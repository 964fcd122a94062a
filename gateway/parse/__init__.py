"""Parse stage: raw message bytes -> `ParsedMessage` (every leaf part, decoded).

parse_message(raw, limits) -> ParsedMessage
ContentLimits                 the bounds shared by parse, extract and inspect
decode_text(data, charset)    declared charset, then UTF-8, cp1252, Latin-1
"""

from __future__ import annotations

from gateway.parse.charsets import decode_text, normalise_charset
from gateway.parse.limits import ContentLimits
from gateway.parse.parser import HEADERS_CONTENT_TYPE, OUTSIDE_PARTS_CONTENT_TYPE, parse_message

__all__ = [
    "HEADERS_CONTENT_TYPE",
    "OUTSIDE_PARTS_CONTENT_TYPE",
    "ContentLimits",
    "decode_text",
    "normalise_charset",
    "parse_message",
]
