"""The protected file: an AES-256 zip whose entries are read-only.

The guidance: "include the personal information in a document to be
attached to the email, save it as 'Read Only' and use encryption".  The zip
is WinZip AES (AE-2, 256-bit) from pyzipper, which 7-Zip, WinZip and Info-ZIP
builds with AES support open.  Every entry carries the Unix mode
`-r--r--r--` (external attributes, high 16 bits) and the DOS read-only bit,
so whatever extracts it, the files come out read-only.

The password is generated here: 24 lower-case letters and digits without
look-alikes (no 0/o, 1/l), 120 bits, in four groups of six so that it can
be read out over the telephone without saying which case.
"""

from __future__ import annotations

import io
import mimetypes
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass, field

import pyzipper

from gateway.errors import ContentError

ZIP_NAME = "protected-content.zip"
READ_ONLY_ATTR = (0o100444 << 16) | 0x01  # regular file r--r--r--, DOS read-only

# Read out over the telephone (release = "sender", the timeout notice):
# one case, so nobody has to say "capital"; no 0/o, 1/l.  32 symbols,
# 5 bits each: 24 characters are 120 bits, beyond any guessing of the
# zip's AES key derivation.
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
_GROUPS, _GROUP_LEN = 4, 6
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_MAX_NAME = 120


def generate_password() -> str:
    groups = (
        "".join(secrets.choice(_ALPHABET) for _ in range(_GROUP_LEN)) for _ in range(_GROUPS)
    )
    return "-".join(groups)


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    data: bytes = field(repr=False)


def safe_name(name: str | None, content_type: str, fallback: str) -> str:
    """A file name that extracts where it is meant to (no folders, no
    device names, no control characters) on Windows, macOS and Linux."""
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = _UNSAFE.sub("_", text).strip(" .")
    if not text:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        text = f"{fallback}{extension}"
    if len(text) > _MAX_NAME:
        stem, dot, extension = text.rpartition(".")
        if dot and len(extension) <= 10:
            text = stem[: _MAX_NAME - len(extension) - 1] + "." + extension
        else:
            text = text[:_MAX_NAME]
    stem = text.split(".", 1)[0].upper()
    if stem in {"CON", "PRN", "AUX", "NUL"} or re.fullmatch(r"(COM|LPT)[1-9]", stem):
        text = "_" + text
    return text


def neutral_name(name: str | None, fallback: str) -> str:
    """`fallback` with the extension of `name`: for a file whose name shows
    personal data.  An entry's name in the zip, and a kept attachment's,
    can be read without the password."""
    extension = re.fullmatch(r".*(\.[A-Za-z0-9]{1,10})", name or "", re.DOTALL)
    return fallback + (extension.group(1).lower() if extension else "")


def unique_names(entries: list[Entry]) -> list[Entry]:
    """Entries renamed `name (2).ext` where names repeat (case-insensitively)."""
    taken: set[str] = set()
    out: list[Entry] = []
    for entry in entries:
        name = entry.name
        stem, dot, extension = name.rpartition(".")
        if not dot:
            stem, extension = name, ""
        number = 1
        while name.casefold() in taken:
            number += 1
            name = f"{stem} ({number}){dot}{extension}"
        taken.add(name.casefold())
        out.append(Entry(name, entry.data))
    return out


def build_zip(entries: list[Entry], password: str) -> bytes:
    """The AES-256 zip of `entries`, checked by reading it back."""
    if not entries:
        raise ContentError("nothing to put in the protected file")
    entries = unique_names(entries)
    buffer = io.BytesIO()
    stamp = time.gmtime()[:6]
    try:
        with pyzipper.AESZipFile(
            buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
        ) as archive:
            archive.setpassword(password.encode("utf-8"))
            archive.setencryption(pyzipper.WZ_AES, nbits=256)
            for entry in entries:
                info = archive.zipinfo_cls(entry.name, date_time=stamp)
                info.create_system = 3  # Unix, so extractors honour the mode bits
                info.external_attr = READ_ONLY_ATTR
                info.compress_type = pyzipper.ZIP_DEFLATED
                archive.writestr(info, entry.data)
    except Exception as exc:  # pyzipper raises plain RuntimeError/ValueError
        raise ContentError(f"protected file cannot be built ({type(exc).__name__})") from exc
    data = buffer.getvalue()
    verify_zip(data, password, entries)
    return data


def verify_zip(data: bytes, password: str, entries: list[Entry]) -> None:
    """Read the zip back: same names and bytes, AES, read-only; else ContentError."""
    try:
        with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
            archive.setpassword(password.encode("utf-8"))
            infos = archive.infolist()
            if [i.filename for i in infos] != [e.name for e in entries]:
                raise ContentError("protected file lists other entries than were written")
            for info, entry in zip(infos, entries, strict=True):
                # strength 3 = 256-bit key (WinZip AE-x extra field).
                if not info.flag_bits & 0x1 or getattr(info, "wz_aes_strength", None) != 3:
                    raise ContentError("protected file entry is not AES-256 encrypted")
                if info.external_attr != READ_ONLY_ATTR:
                    raise ContentError("protected file entry is not read-only")
                if archive.read(info.filename) != entry.data:
                    raise ContentError("protected file does not read back as written")
    except ContentError:
        raise
    except Exception as exc:
        raise ContentError(f"protected file does not read back ({type(exc).__name__})") from exc
