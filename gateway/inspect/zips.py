"""ZIP encryption and read-only state, entry by entry.

An entry is AES when it carries the WinZip AE-x extra field (0x9901; the
strength byte 1/2/3 means 128/192/256 bits), ZipCrypto when only the
encryption flag is set, and unknown for PKWARE strong encryption or an AES
method without its extra field.  An archive with encrypted entries is as
strong as its weakest encrypted file entry, and read-only when every
encrypted file entry is: its clear entries are read (and judged) as clear
content, and do not make the encrypted ones `none` (a ZipCrypto or editable
entry beside a harmless README is judged as if it were alone).  An archive
without encrypted entries is `none`, read-only when every file entry is.
Read-only is a Unix mode (external_attr >> 16) without write bits, or the
DOS read-only attribute.  Directories count for neither.

Opening uses pyzipper (AES and ZipCrypto); a password opens the archive when
the first encrypted member decrypts and passes its CRC or HMAC check.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from typing import Any

import pyzipper

from gateway.extract.archive import (
    extract_members,
    file_entries,
    is_encrypted,
    open_zip,
    read_member,
)
from gateway.extract.base import ExtractContext
from gateway.extract.detect import ZIP
from gateway.inspect.protection import Opened, Protected, weakest
from gateway.model import Encryption

_AES_EXTRA = 0x9901
_STRONG_ENCRYPTION = 0x40
_AES_BITS = {1: Encryption.AES_128, 2: Encryption.AES_192, 3: Encryption.AES_256}
_WRITE_BITS = 0o222
_DOS_READ_ONLY = 0x01
_WRONG_PASSWORD = (
    RuntimeError,
    zipfile.BadZipFile,
    pyzipper.BadZipFile,
    zlib.error,
    ValueError,
    NotImplementedError,
    EOFError,
    OSError,
)


def aes_strength(extra: bytes) -> Encryption | None:
    """The AES key size named by a 0x9901 extra field, None when there is none."""
    offset = 0
    while offset + 4 <= len(extra):
        header_id, size = struct.unpack_from("<HH", extra, offset)
        body = extra[offset + 4 : offset + 4 + size]
        if header_id == _AES_EXTRA:
            if len(body) >= 5 and body[2:4] == b"AE":
                return _AES_BITS.get(body[4], Encryption.UNKNOWN)
            return Encryption.UNKNOWN
        offset += 4 + size
    return None


def entry_encryption(info: zipfile.ZipInfo) -> Encryption:
    if not is_encrypted(info):
        return Encryption.NONE
    aes = aes_strength(info.extra)
    if aes is not None:
        return aes
    if info.flag_bits & _STRONG_ENCRYPTION or info.compress_type == 99:
        return Encryption.UNKNOWN
    return Encryption.ZIPCRYPTO


def entry_read_only(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    if mode and not mode & _WRITE_BITS:
        return True
    return bool(info.external_attr & _DOS_READ_ONLY)


def inspect_zip(data: bytes, ctx: ExtractContext, fmt: str) -> Protected:
    zf = open_zip(data, ctx)
    files = file_entries(zf)
    encrypted_indexes = [
        i for i, info in enumerate(zf.infolist()) if not info.is_dir() and is_encrypted(info)
    ]
    if not encrypted_indexes:
        read_only = bool(files) and all(entry_read_only(info) for info in files)
        return Protected(Encryption.NONE, read_only, entries=len(files), extract_as=fmt)
    # A clear sibling is extracted below as clear text: it neither hides the
    # encrypted entries' cipher or editability nor makes them readable.
    encrypted = [info for info in files if is_encrypted(info)]
    encryption = weakest([entry_encryption(info) for info in encrypted])
    read_only = all(entry_read_only(info) for info in encrypted)

    def open_with(password: str) -> Opened | None:
        archive: Any = pyzipper.AESZipFile(io.BytesIO(data))
        infos = archive.infolist()
        members = [infos[i] for i in encrypted_indexes]
        for pwd in _encodings(password):
            try:
                first = read_member(archive, members[0], ctx, pwd)
            except _WRONG_PASSWORD:
                continue
            texts = ctx.nested(first, members[0].filename)
            texts.extend(extract_members(archive, members[1:], ctx, pwd))
            return Opened(texts)
        return None

    # The archive (names, clear members) is still extracted as a plain ZIP.
    return Protected(encryption, read_only, entries=len(files), opener=open_with, extract_as=ZIP)


def _encodings(password: str) -> list[bytes]:
    """UTF-8 (WinZip AES, modern tools), then Windows-1252 for legacy ZipCrypto tools."""
    utf8 = password.encode("utf-8")
    legacy = password.encode("cp1252", errors="replace")
    return [utf8] if legacy == utf8 else [utf8, legacy]
