"""Office encryption: encrypted OOXML and legacy binary files, both OLE compound files.

* Encrypted OOXML keeps an `EncryptionInfo` stream: version 4.4 is agile
  encryption (its XML names the cipher and key size), 2.2/3.2/4.2 standard
  encryption (the header's AlgID and KeySize), 3.3/4.3 extensible (unknown).
* Legacy .doc/.xls/.ppt encryption is RC4 (or XOR obfuscation): `rc4`.
* Excel encrypts with the published default password `VelvetSweatshop` when
  a workbook is only write-protected: whatever opens with it is not
  encrypted, and its content is extracted like any other.
* `documentProtection` in a DOCX's settings.xml is editing restriction, not
  encryption: it can make the file read-only, never encrypted.

msoffcrypto-tool verifies passwords and decrypts.
"""

from __future__ import annotations

import io
import struct
import zipfile
from typing import Any
from xml.parsers import expat

import msoffcrypto
import olefile  # type: ignore[import-untyped]

from gateway.extract.archive import open_zip, read_member
from gateway.extract.base import ExtractContext, ExtractionError
from gateway.extract.detect import DOCX, OLE
from gateway.extract.office import odf_encryption
from gateway.inspect.protection import Opened, Protected
from gateway.model import Encryption

DEFAULT_PASSWORD = "VelvetSweatshop"
_AES_BITS = {128: Encryption.AES_128, 192: Encryption.AES_192, 256: Encryption.AES_256}
_STANDARD_AES = {0x660E: Encryption.AES_128, 0x660F: Encryption.AES_192, 0x6610: Encryption.AES_256}
_STANDARD_RC4 = 0x6801
_TRUE = frozenset({"1", "true", "on"})
# Each password try costs `spinCount` hash rounds in Python (100,000 ~ 0.15 s);
# the format allows 10,000,000, so a hostile file could eat the time budget.
MAX_SPIN_COUNT = 1_000_000


def classify_encryption_info(stream: bytes) -> Encryption:
    """The cipher named by an OOXML `EncryptionInfo` stream."""
    return _classify(stream)[0]


def _classify(stream: bytes) -> tuple[Encryption, int]:
    """(cipher, password hash rounds) of an `EncryptionInfo` stream."""
    if len(stream) < 8:
        return Encryption.UNKNOWN, 0
    major, minor = struct.unpack_from("<HH", stream)
    if (major, minor) == (4, 4):
        return _agile(stream[8:])
    return _standard(stream, major, minor), 0


def _standard(stream: bytes, major: int, minor: int) -> Encryption:
    if minor == 2 and major in (2, 3, 4) and len(stream) >= 32:
        alg_id, _hash, key_bits = struct.unpack_from("<III", stream, 20)
        if alg_id in _STANDARD_AES:
            return _STANDARD_AES[alg_id]
        if alg_id == _STANDARD_RC4:
            return Encryption.RC4
        if alg_id == 0:  # "decided by the flags": AES when fAES (0x20) is set
            (flags,) = struct.unpack_from("<I", stream, 12)
            if flags & 0x20:
                return _AES_BITS.get(key_bits, Encryption.UNKNOWN)
            if flags & 0x04:
                return Encryption.RC4
    return Encryption.UNKNOWN


def _agile(xml: bytes) -> tuple[Encryption, int]:
    found: dict[str, str] = {}
    spins: list[int] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        local = name.rsplit("}", 1)[-1]
        if local == "keyData" and not found:
            found.update(attrs)
        elif local == "encryptedKey" and "spinCount" in attrs:
            try:
                spins.append(int(attrs["spinCount"]))
            except ValueError:
                spins.append(MAX_SPIN_COUNT + 1)

    def refuse(*_args: object) -> None:
        raise ValueError("DOCTYPE in EncryptionInfo")

    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = refuse
    try:
        parser.Parse(xml, True)
    except (expat.ExpatError, ValueError):
        return Encryption.UNKNOWN, 0
    spin = max(spins, default=0)
    algorithm = found.get("cipherAlgorithm", "")
    try:
        bits = int(found.get("keyBits", "0"))
    except ValueError:
        return Encryption.UNKNOWN, spin
    if algorithm == "AES":
        return _AES_BITS.get(bits, Encryption.UNKNOWN), spin
    if algorithm == "RC4":
        return Encryption.RC4, spin
    return Encryption.UNKNOWN, spin


def docx_read_only(data: bytes, ctx: ExtractContext) -> bool:
    """True when settings.xml enforces `documentProtection w:edit="readOnly"`."""
    zf = open_zip(data, ctx)
    try:
        settings = zf.getinfo("word/settings.xml")
    except KeyError:
        return False
    found: list[bool] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        if name.rsplit("}", 1)[-1] != "documentProtection":
            return
        local = {key.rsplit("}", 1)[-1]: value for key, value in attrs.items()}
        found.append(
            local.get("edit") == "readOnly" and local.get("enforcement", "").lower() in _TRUE
        )

    def refuse(*_args: object) -> None:
        raise ExtractionError("malformed_document", "XML with a DOCTYPE")

    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = refuse
    try:
        parser.Parse(read_member(zf, settings, ctx), True)
    except expat.ExpatError:
        return False
    return any(found)


def inspect_ooxml(data: bytes, ctx: ExtractContext, fmt: str) -> Protected:
    """A plain (ZIP) Office document: never encrypted; DOCX may be read-only."""
    read_only = docx_read_only(data, ctx) if fmt == DOCX else False
    return Protected(Encryption.NONE, read_only, extract_as=fmt)


_ODF_CIPHERS = {
    "aes128-cbc": Encryption.AES_128,
    "aes192-cbc": Encryption.AES_192,
    "aes256-cbc": Encryption.AES_256,
    "aes128-gcm": Encryption.AES_128,
    "aes192-gcm": Encryption.AES_192,
    "aes256-gcm": Encryption.AES_256,
    "Blowfish CFB": Encryption.BLOWFISH,
}


def inspect_odf(data: bytes, ctx: ExtractContext, fmt: str) -> Protected:
    """OpenDocument package encryption (per member, declared in the manifest)."""
    algorithm = odf_encryption(open_zip(data, ctx), ctx)
    if algorithm is None:
        return Protected(Encryption.NONE, False, extract_as=fmt)
    # "http://www.w3.org/2001/04/xmlenc#aes256-cbc"; ODF 1.1's "Blowfish CFB".
    return Protected(_ODF_CIPHERS.get(algorithm.rsplit("#", 1)[-1], Encryption.UNKNOWN), None)


def inspect_ole(data: bytes, ctx: ExtractContext) -> Protected:
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except (OSError, ValueError, IndexError) as exc:
        raise ExtractionError("malformed_document", f"OLE: {type(exc).__name__}") from None
    try:
        if ole.exists("EncryptionInfo"):
            if not ole.exists("EncryptedPackage"):
                return Protected(Encryption.UNKNOWN, None)
            info = ole.openstream("EncryptionInfo").read(65536)
            encryption, spin = _classify(info)
            is_ooxml = True
            if spin > MAX_SPIN_COUNT:
                ctx.problem("too_costly", "password hashing rounds too high to try passwords")
                return Protected(encryption, None)
        else:
            is_ooxml = False
            encryption = _legacy_encryption(data)
            if encryption is Encryption.NONE:
                return Protected(Encryption.NONE, None, extract_as=OLE)
    finally:
        ole.close()

    def open_with(password: str) -> Opened | None:
        clear = _decrypt(data, password, is_ooxml)
        if clear is None:
            return None
        texts = ctx.registry.extract(clear, ctx)
        read_only = _decrypted_read_only(clear, ctx) if is_ooxml else None
        return Opened(texts, read_only)

    default = open_with(DEFAULT_PASSWORD)
    if default is not None:
        return Protected(Encryption.NONE, default.read_only, texts=default.texts)
    return Protected(encryption, None, opener=open_with)


def _decrypted_read_only(clear: bytes, ctx: ExtractContext) -> bool | None:
    try:
        return docx_read_only(clear, ctx) if b"word/document.xml" in clear else False
    except ExtractionError:
        return None


def _legacy_encryption(data: bytes) -> Encryption:
    try:
        office: Any = msoffcrypto.OfficeFile(io.BytesIO(data))
        encrypted = bool(office.is_encrypted())
    except Exception:  # not an Office file (an Outlook item, a thumbnail cache...)
        return Encryption.NONE
    return Encryption.RC4 if encrypted else Encryption.NONE


def _decrypt(data: bytes, password: str, is_ooxml: bool) -> bytes | None:
    out = io.BytesIO()
    try:
        office: Any = msoffcrypto.OfficeFile(io.BytesIO(data))
        if is_ooxml:
            office.load_key(password=password, verify_password=True)
        else:
            office.load_key(password=password)
        office.decrypt(out)
    except Exception:  # msoffcrypto signals a wrong password with several types
        return None
    clear = out.getvalue()
    if is_ooxml and not zipfile.is_zipfile(io.BytesIO(clear)):
        return None
    return clear
