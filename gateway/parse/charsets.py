"""Bytes to text for message content: the declared charset, then fallbacks.

Mail in the wild declares the wrong charset, an unknown one, or none at all
with 8-bit bytes.  We try the declared one, then UTF-8 (strict, so it fails
fast on legacy text), then Windows-1252 (what undeclared Western 8-bit text
almost always is), and finally Latin-1, which cannot fail: detection must
always get text, never an exception.
"""

from __future__ import annotations

import codecs
import re

# Codecs that Python accepts as "charsets" but that no mail program would
# apply: decoding with them would show us text the recipient never sees.
_REFUSED_CODECS = frozenset(
    {"unicode_escape", "raw_unicode_escape", "idna", "punycode", "undefined", "mbcs", "oem"}
)

_FALLBACKS = ("utf-8", "cp1252")
_SURROGATE = re.compile("[\udc80-\udcff]")


def normalise_charset(name: str | None) -> str | None:
    """The codec name for a declared charset, or None when Python has none."""
    if not name:
        return None
    cleaned = name.strip().strip('"').lower()
    if not cleaned:
        return None
    try:
        info = codecs.lookup(cleaned)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return None
    if info.name.replace("-", "_") in _REFUSED_CODECS:
        return None
    return info.name


def decode_text(data: bytes, declared: str | None = None) -> str:
    """Decode `data` with `declared`, then UTF-8, then cp1252, then Latin-1."""
    tried: list[str] = []
    first = normalise_charset(declared)
    candidates = (first, *_FALLBACKS) if first else _FALLBACKS
    for charset in candidates:
        if charset in tried:
            continue
        tried.append(charset)
        try:
            return data.decode(charset)
        except (UnicodeError, LookupError, ValueError):
            # ValueError: some codecs (e.g. utf-7) raise it on junk input.
            continue
    return data.decode("latin-1")


def decode_surrogates(value: str) -> str:
    """Undo the parser's surrogateescape for raw 8-bit header bytes."""
    if _SURROGATE.search(value) is None:
        return value
    # Real non-ASCII characters can sit beside the escaped bytes (a header
    # already partly decoded): they go back as UTF-8, the bytes as they were.
    return decode_text(value.encode("utf-8", "surrogateescape"))
