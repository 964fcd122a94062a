"""Bytes to text for message content: the declared charset, then fallbacks.

Mail in the wild declares the wrong charset, an unknown one, or none at all
with 8-bit bytes.  We try the declared one, then UTF-8 (strict, so it fails
fast on legacy text), then Windows-1252 (what undeclared Western 8-bit text
almost always is), and finally Latin-1, which cannot fail: detection must
always get text, never an exception.

A declared charset can also be wrong in a way that decodes: plain ASCII
bytes declared UTF-16 or EBCDIC (cp500) read as CJK or symbols, while the
program that opens the saved file (Excel, Notepad) ignores the MIME label
and shows the text.  `decode_readings` then gives the bytes' own reading
too, so what the recipient may read is inspected either way.

`exact_text` is the strict reading, no fallbacks: the text a part can be
rewritten from (the transform stage) without changing what it says.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache

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
    return _decode(data, normalise_charset(declared))[0]


def exact_text(data: bytes, declared: str | None) -> str | None:
    """`data` read with its declared charset exactly (US-ASCII when none is
    declared), or None when the charset is unknown (or one no mail program
    applies) or the bytes are invalid in it.  Undeclared 8-bit text is read
    as UTF-8, as a modern client writes it.

    The transform stage rewrites a text part only from this reading, since
    writing back a guessed one could change what it says; the inspect stage
    asks it too, since a password in a part without it cannot be taken out."""
    charset = normalise_charset(declared or "us-ascii")
    if charset is None:
        return None
    try:
        return data.decode(charset)
    except ValueError:  # bytes invalid in the charset (UnicodeDecodeError and the like)
        if charset == "ascii":
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                return None
        return None


def decode_readings(data: bytes, declared: str | None = None) -> list[str]:
    """`decode_text`'s reading, then the bytes' own one when the declared
    charset garbles ASCII (UTF-16, UTF-32, EBCDIC...) and the bytes are text
    in UTF-8 or mostly-ASCII cp1252 all the same.  A charset that leaves
    ASCII as it is (Latin-1 for UTF-8, say) gets no second reading: both
    would hold the same identifiers, counted twice."""
    charset = normalise_charset(declared)
    text, used = _decode(data, charset)
    if used != charset or charset is None or not _garbles_ascii(charset):
        return [text]
    own = _own_reading(data)
    return [text] if own is None or own == text else [text, own]


def _decode(data: bytes, first: str | None) -> tuple[str, str]:
    """The text and the codec that read it."""
    tried: list[str] = []
    candidates = (first, *_FALLBACKS) if first else _FALLBACKS
    for charset in candidates:
        if charset in tried:
            continue
        tried.append(charset)
        try:
            return data.decode(charset), charset
        except (UnicodeError, LookupError, ValueError):
            # ValueError: some codecs (e.g. utf-7) raise it on junk input.
            continue
    return data.decode("latin-1"), "latin-1"


# Printable ASCII and the white space of text files: what a probe of an
# ASCII-compatible charset reads unchanged.
_ASCII_TEXT = bytes(range(0x20, 0x7F)) + b"\t\n\r\f"
_CONTROL = re.compile(b"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# Share of ASCII a file needs to be read as cp1252 when it is not UTF-8:
# Western text with a few accented letters or pound signs.
_MOSTLY_ASCII = 0.9
_ASCII_BYTES = bytes(range(0x80))


@lru_cache(maxsize=64)
def _garbles_ascii(charset: str) -> bool:
    """Whether `charset` reads ASCII text as something else."""
    probe = _ASCII_TEXT + b" " * 6  # a length the UTF-16 and UTF-32 codecs accept
    try:
        return probe.decode(charset) != probe.decode("ascii")
    except (UnicodeError, LookupError, ValueError):
        return True


def _own_reading(data: bytes) -> str | None:
    """The text a program ignoring the label shows: UTF-8, or cp1252 when
    the bytes are mostly ASCII; None for bytes that are not such text (NULs
    or control characters: real UTF-16 or binary)."""
    if not data or _CONTROL.search(data) is not None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    non_ascii = len(data.translate(None, _ASCII_BYTES))
    if non_ascii > (1 - _MOSTLY_ASCII) * len(data):
        return None
    return _decode(data, "cp1252")[0]


def decode_surrogates(value: str) -> str:
    """Undo the parser's surrogateescape for raw 8-bit header bytes."""
    if _SURROGATE.search(value) is None:
        return value
    # Real non-ASCII characters can sit beside the escaped bytes (a header
    # already partly decoded): they go back as UTF-8, the bytes as they were.
    return decode_text(value.encode("utf-8", "surrogateescape"))
