"""The content of an opaque-signed S/MIME entity (RFC 8551 3.5.2), read from its DER.

An opaque-signed message (`application/pkcs7-mime; smime-type=signed-data`,
smime.p7m) carries the whole MIME entity a mail program shows inside a CMS
SignedData (RFC 5652 5.1): signed, not encrypted, so anyone can read it.
The `cryptography` package signs such data and loads its certificates but
offers no reader for the signed content, so this module walks the BER/DER
itself, as far as the one OCTET STRING it needs:

    ContentInfo ::= SEQUENCE { contentType signedData,
                               content [0] EXPLICIT SignedData }
    SignedData  ::= SEQUENCE { version, digestAlgorithms SET,
                               encapContentInfo SEQUENCE { eContentType data,
                                   eContent [0] EXPLICIT OCTET STRING OPTIONAL },
                               ... }

Definite and indefinite lengths are read, and an OCTET STRING sent in
pieces (constructed, as streaming signers write it).  The walk is bounded
(nesting, pieces) and strict: anything not exactly this shape -- another
content type, a detached signature with no content, a length past the end,
bytes after the structure -- gives None, and the caller treats the part as
content it could not read (fail closed).  The signature is not verified:
what the recipient's program shows is the content, whoever signed it.
"""

from __future__ import annotations

from dataclasses import dataclass

SIGNED_DATA_OID = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2
DATA_OID = bytes.fromhex("2a864886f70d010701")  # 1.2.840.113549.1.7.1

_SEQUENCE, _SET, _OID, _INTEGER, _OCTETS = 0x30, 0x31, 0x06, 0x02, 0x04
_CONSTRUCTED_OCTETS, _EXPLICIT_0 = 0x24, 0xA0
# A signer writes the content in one piece or in pieces one level deep;
# deeper nesting or thousands of pieces is no signer's output.
_MAX_NESTING = 8
_MAX_PIECES = 100_000


class _Malformed(Exception):
    """The bytes are not the expected structure (never leaves this module)."""


@dataclass(frozen=True, slots=True)
class _Element:
    tag: int
    start: int  # first byte of the contents
    end: int  # one past the last byte of the contents
    after: int  # one past the element (its end-of-contents octets included)

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)


def signed_content(der: bytes) -> bytes | None:
    """The encapsulated content of a CMS SignedData of type data, or None.

    None for anything else: enveloped (encrypted) data, a detached signature
    (no content), damaged or unexpected bytes."""
    try:
        return _signed_content(der)
    except (_Malformed, IndexError, RecursionError):
        return None


def _signed_content(der: bytes) -> bytes | None:
    info = _read(der, 0, len(der), 0)
    if info.tag != _SEQUENCE or info.after != len(der):
        return None
    oid, wrapped = _children(der, info, 2)
    if not _is_oid(der, oid, SIGNED_DATA_OID) or wrapped.tag != _EXPLICIT_0:
        return None
    (signed,) = _children(der, wrapped, 1)
    if signed.tag != _SEQUENCE:
        return None
    version, algorithms, encapsulated = _children(der, signed, 3)
    if version.tag != _INTEGER or algorithms.tag != _SET or encapsulated.tag != _SEQUENCE:
        return None
    inside = _all_children(der, encapsulated)
    if not inside or not _is_oid(der, inside[0], DATA_OID) or len(inside) != 2:
        return None  # another content type, or detached (no eContent)
    explicit = inside[1]
    if explicit.tag != _EXPLICIT_0:
        return None
    (octets,) = _children(der, explicit, 1)
    pieces: list[bytes] = []
    _octets(der, octets, pieces, 0)
    return b"".join(pieces)


def _octets(der: bytes, element: _Element, pieces: list[bytes], depth: int) -> None:
    """An OCTET STRING's bytes, primitive or in pieces (BER's constructed form)."""
    if element.tag == _OCTETS:
        pieces.append(der[element.start : element.end])
    elif element.tag == _CONSTRUCTED_OCTETS and depth < _MAX_NESTING:
        for piece in _all_children(der, element):
            if len(pieces) >= _MAX_PIECES:
                raise _Malformed("too many pieces")
            _octets(der, piece, pieces, depth + 1)
    else:
        raise _Malformed("not an OCTET STRING")


def _is_oid(der: bytes, element: _Element, oid: bytes) -> bool:
    return element.tag == _OID and der[element.start : element.end] == oid


def _children(der: bytes, parent: _Element, count: int) -> list[_Element]:
    """The first `count` elements inside `parent` (it may hold more)."""
    found: list[_Element] = []
    at = parent.start
    while len(found) < count:
        if at >= parent.end:
            raise _Malformed("too few elements")
        element = _read(der, at, parent.end, 0)
        found.append(element)
        at = element.after
    return found


def _all_children(der: bytes, parent: _Element) -> list[_Element]:
    found: list[_Element] = []
    at = parent.start
    while at < parent.end:
        element = _read(der, at, parent.end, 0)
        found.append(element)
        at = element.after
    if at != parent.end:
        raise _Malformed("elements overrun their parent")
    return found


def _read(der: bytes, at: int, limit: int, depth: int) -> _Element:
    """The element starting at `at`, which must end by `limit`."""
    if depth > _MAX_NESTING:
        raise _Malformed("nested too deeply")
    if at + 2 > limit:
        raise _Malformed("truncated")
    tag = der[at]
    if tag & 0x1F == 0x1F or tag == 0:
        raise _Malformed("unexpected tag")  # high tag numbers: never in this structure
    first = der[at + 1]
    at += 2
    if first == 0x80:  # indefinite length: constructed only, up to end-of-contents
        if not tag & 0x20:
            raise _Malformed("indefinite primitive")
        start = at
        while True:
            if at + 2 > limit:
                raise _Malformed("no end-of-contents")
            if der[at] == 0 and der[at + 1] == 0:
                return _Element(tag, start, at, at + 2)
            at = _read(der, at, limit, depth + 1).after
    if first & 0x80:
        size = first & 0x7F
        if size > 4 or at + size > limit:
            raise _Malformed("bad length")
        length = int.from_bytes(der[at : at + size], "big")
        at += size
    else:
        length = first
    if at + length > limit:
        raise _Malformed("length past the end")
    return _Element(tag, at, at + length, at + length)
