"""ZIP, gzip, bzip2, xz and tar with zip-bomb checks, shared by the ZIP, OOXML and ODF readers.

Before any member is decompressed, `open_zip` checks the archive's shape:

* entry count (counted from the raw central directory first, so a directory
  of a million entries is refused before `zipfile` builds a million objects);
* every central directory entry against its local header (signature, method,
  encryption flag, name, sizes): two tools reading the two different headers
  would see two different files;
* overlapping entries (Fifield's non-recursive bomb reuses one compressed
  stream for many entries).

`read_member` then streams one member in chunks, checking the declared and
real compression ratio (above a floor, so small repetitive files pass), the
uncompressed total of every archive in the message, and the time budget.
Nested archives go through `ExtractContext.nested`, bounded by
`max_archive_depth` (42.zip stops there, or at the ratio check first).

Gzip is read member after member (RFC 1952: gunzip outputs them all), and
bzip2 and xz stream after stream as their tools do; tar
header after header with the same entry, total, ratio and time bounds; a
tar.gz is a gzip whose content is a tar, one level deeper.  Bytes after the
end of a gzip or tar that another tool might still read are a problem.
"""

from __future__ import annotations

import bz2
import io
import itertools
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import IO, Any, Literal, Protocol

from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    ExtractionError,
    ExtractionLimit,
    Extractor,
    TextCollector,
    finish,
    name_as_words,
)
from gateway.extract.detect import (
    BZIP2,
    GZIP,
    TAR,
    XZ,
    ZIP,
    central_directory,
    content_type_of,
)

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_CHUNK = 65536
RATIO_FLOOR = 1024 * 1024  # below this uncompressed size the ratio is not checked
AES_METHOD = 99


class ZipReader(Protocol):
    """What we use of `zipfile.ZipFile` (and of pyzipper's AESZipFile)."""

    def infolist(self) -> list[zipfile.ZipInfo]: ...

    def open(
        self, name: zipfile.ZipInfo, mode: Literal["r", "w"] = ..., pwd: bytes | None = ...
    ) -> IO[bytes]: ...


def is_encrypted(info: zipfile.ZipInfo) -> bool:
    return bool(info.flag_bits & 0x1) or info.compress_type == AES_METHOD


def file_entries(zf: ZipReader) -> list[zipfile.ZipInfo]:
    return [info for info in zf.infolist() if not info.is_dir()]


def open_zip(data: bytes, ctx: ExtractContext) -> zipfile.ZipFile:
    """A `ZipFile` over `data`, after the structural bomb checks."""
    limit = ctx.limits.max_archive_entries
    if central_directory(data).count(b"PK\x01\x02") > limit:
        raise ExtractionLimit("archive_bomb", f"more than {limit} entries")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise ExtractionError("malformed_archive", type(exc).__name__) from None
    infos = zf.infolist()
    if len(infos) > limit:
        raise ExtractionLimit("archive_bomb", f"more than {limit} entries")
    check_structure(data, infos)
    return zf


def check_structure(data: bytes, infos: list[zipfile.ZipInfo]) -> None:
    """Local headers agree with the central directory; no two entries overlap."""
    spans: list[tuple[int, int, str]] = []
    for info in infos:
        offset = info.header_offset
        if offset < 0 or offset + _LOCAL_HEADER.size > len(data):
            raise ExtractionError("malformed_archive", "entry outside the archive")
        (
            signature,
            _version,
            flags,
            method,
            _time,
            _date,
            _crc,
            csize,
            usize,
            name_len,
            extra_len,
        ) = _LOCAL_HEADER.unpack_from(data, offset)
        if signature != b"PK\x03\x04":
            raise ExtractionError("archive_mismatch", "no local header where the directory points")
        name_start = offset + _LOCAL_HEADER.size
        local_name = data[name_start : name_start + name_len]
        encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
        try:
            directory_name = info.orig_filename.encode(encoding)
        except UnicodeEncodeError:
            directory_name = info.orig_filename.encode("utf-8")
        if (
            method != info.compress_type
            or (flags & 0x1) != (info.flag_bits & 0x1)
            or local_name != directory_name
        ):
            raise ExtractionError(
                "archive_mismatch", "local header differs from the central directory"
            )
        if (
            not flags & 0x8
            and csize != 0xFFFFFFFF
            and usize != 0xFFFFFFFF
            and (csize != info.compress_size or usize != info.file_size)
        ):
            raise ExtractionError(
                "archive_mismatch", "local sizes differ from the central directory"
            )
        end = name_start + name_len + extra_len + info.compress_size
        spans.append((offset, end, info.filename))
    spans.sort()
    for (_, end, _name), (start, _, _other) in itertools.pairwise(spans):
        if start < end:
            raise ExtractionLimit("archive_bomb", "overlapping entries")


def read_member(
    zf: ZipReader, info: zipfile.ZipInfo, ctx: ExtractContext, pwd: bytes | None = None
) -> bytes:
    """The uncompressed bytes of one member, within ratio, size and time bounds."""
    limits = ctx.limits
    ratio_limit = limits.max_archive_ratio
    if info.file_size > RATIO_FLOOR and info.file_size > max(info.compress_size, 1) * ratio_limit:
        raise ExtractionLimit("archive_bomb", f"compression ratio over {ratio_limit}")
    if ctx.budget.archive_bytes + info.file_size > limits.max_archive_total:
        raise ExtractionLimit(
            "archive_bomb", f"archives expand to more than {limits.max_archive_total} bytes"
        )
    out = bytearray()
    with zf.open(info, "r", pwd) as handle:
        while True:
            ctx.check_time()
            chunk = handle.read(_CHUNK)
            if not chunk:
                break
            out += chunk
            ctx.budget.archive_bytes += len(chunk)
            if ctx.budget.archive_bytes > limits.max_archive_total:
                raise ExtractionLimit("archive_bomb", "archives expand beyond the total limit")
            if len(out) > RATIO_FLOOR and len(out) > max(info.compress_size, 1) * ratio_limit:
                raise ExtractionLimit("archive_bomb", f"compression ratio over {ratio_limit}")
    return bytes(out)


def read_member_safely(
    zf: ZipReader, info: zipfile.ZipInfo, ctx: ExtractContext, pwd: bytes | None = None
) -> bytes | None:
    """`read_member`, with a member-level failure recorded as a problem (None)."""
    try:
        return read_member(zf, info, ctx, pwd)
    except ExtractionLimit:
        raise
    except NotImplementedError:
        ctx.child(info.filename).problem("unsupported_format", "compression method not supported")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        ctx.child(info.filename).problem("malformed_archive", type(exc).__name__)
    return None


def extract_members(
    zf: ZipReader, infos: list[zipfile.ZipInfo], ctx: ExtractContext, pwd: bytes | None = None
) -> list[ExtractedText]:
    """Each member's text, recursively (one level deeper per archive)."""
    results: list[ExtractedText] = []
    for info in infos:
        data = read_member_safely(zf, info, ctx, pwd)
        if data is not None:
            results.extend(ctx.nested(data, info.filename))
    return results


class ZipExtractor(Extractor):
    """Member names (clear even in encrypted archives) and every readable member."""

    name = ZIP
    content_type = content_type_of(ZIP)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        zf = open_zip(data, ctx)
        entries = zf.infolist()
        names = TextCollector(ctx.limits.max_text_chars)
        for info in entries:
            names.add(name_as_words(info.filename) + "\n")
            if info.comment:
                names.add(info.comment.decode("cp1252", errors="replace") + "\n")
        if zf.comment:
            names.add(zf.comment.decode("cp1252", errors="replace") + "\n")
        results = [ExtractedText(finish(names, ctx))]
        clear = [info for info in entries if not info.is_dir() and not is_encrypted(info)]
        if any(is_encrypted(info) for info in entries):
            ctx.hidden("encrypted archive members")
        results.extend(extract_members(zf, clear, ctx))
        return results


class _Inflater(Protocol):
    """What we use of a bz2 or lzma decompressor (zlib's through `_Zlib`)."""

    @property
    def eof(self) -> bool: ...

    @property
    def needs_input(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...


class _Zlib:
    """A gzip member's inflater with bz2's and lzma's interface: zlib hands
    back the input it has not read yet, the others keep it themselves."""

    def __init__(self) -> None:
        self._inflater: Any = zlib.decompressobj(wbits=47)
        self._tail = b""

    @property
    def eof(self) -> bool:
        return bool(self._inflater.eof)

    @property
    def needs_input(self) -> bool:
        return not self._tail

    @property
    def unused_data(self) -> bytes:
        return bytes(self._inflater.unused_data)

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        if data:
            self._tail = data
        chunk: bytes = self._inflater.decompress(self._tail, max(max_length, 0))
        self._tail = self._inflater.unconsumed_tail
        return chunk


@dataclass(frozen=True, slots=True)
class _Compression:
    """A single-file compression whose streams follow one another, as
    gzip's members (RFC 1952), bzip2's and xz's streams do: the command-line
    tools write the content of every one."""

    name: str  # as the problem's text says it
    magic: bytes
    inflater: Callable[[], _Inflater]
    errors: tuple[type[Exception], ...]


_GZIP = _Compression("gzip", b"\x1f\x8b", _Zlib, (zlib.error,))
_BZIP2 = _Compression("bzip2", b"BZh", bz2.BZ2Decompressor, (OSError, ValueError))
_XZ = _Compression("xz", b"\xfd7zXZ\x00", partial(lzma.LZMADecompressor, lzma.FORMAT_XZ),
                   (lzma.LZMAError, ValueError))
# A zlib stream (a PNG's compressed text): `_Zlib`'s inflater takes zlib's
# header as it takes gzip's.
ZLIB = _Compression("zlib", b"\x78", _Zlib, (zlib.error,))


class _DecompressingExtractor(Extractor):
    """Every stream of a compressed file, decompressed within the archive
    bounds, then extracted as the file it holds (a tar, a CSV, ...)."""

    compression: _Compression

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        return ctx.nested(decompress(data, ctx, self.compression),
                          f"(un{self.compression.name})")


class GzipExtractor(_DecompressingExtractor):
    """Every member's content, and the original file name and comment its
    header keeps (RFC 1952 FNAME, FCOMMENT): `gunzip -N` and 7-Zip restore
    the name, `gzip -l` shows it; Python's gzip module skips both."""

    name = GZIP
    content_type = content_type_of(GZIP)
    compression = _GZIP

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        names = TextCollector(ctx.limits.max_text_chars)
        content = decompress(
            data, ctx, self.compression, on_stream=lambda member: _gzip_names(member, names)
        )
        results = ctx.nested(content, "(ungzip)")
        header = finish(names, ctx)
        return [ExtractedText(header), *results] if header.strip() else results


_FEXTRA, _FNAME, _FCOMMENT = 4, 8, 16


def _gzip_names(member: bytes, names: TextCollector) -> None:
    """The file name and comment of the gzip member `member` starts with,
    one a line.  Each is NUL-terminated (found by `bytes.find`, bounded by
    the file); ISO 8859-1 by the RFC, UTF-8 as gzip on Linux writes it."""
    if len(member) < 10 or not member.startswith(b"\x1f\x8b"):
        return
    flags = member[3]
    at = 10
    if flags & _FEXTRA:
        if len(member) < at + 2:
            return
        at += 2 + int.from_bytes(member[at : at + 2], "little")
    for flag in (_FNAME, _FCOMMENT):
        if not flags & flag:
            continue
        end = member.find(b"\x00", at)
        if end < 0:
            return  # cut short: the inflater reports the damaged member
        raw = member[at:end]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        names.add(name_as_words(text) + "\n")
        at = end + 1


class Bzip2Extractor(_DecompressingExtractor):
    name = BZIP2
    content_type = content_type_of(BZIP2)
    compression = _BZIP2


class XzExtractor(_DecompressingExtractor):
    name = XZ
    content_type = content_type_of(XZ)
    compression = _XZ


def gunzip(data: bytes, ctx: ExtractContext) -> bytes:
    """All the members of a gzip file, as gunzip writes them, within the bounds."""
    return decompress(data, ctx, _GZIP)


def decompress(
    data: bytes,
    ctx: ExtractContext,
    compression: _Compression,
    *,
    on_stream: Callable[[bytes], None] | None = None,
) -> bytes:
    """Every stream of `data`, one after the other, within the bounds.
    `on_stream` is given the bytes from each stream's start (its header)."""
    limits = ctx.limits
    name = compression.name
    out = bytearray()
    pending = data
    try:
        while True:
            if on_stream is not None:
                on_stream(pending)
            inflater = compression.inflater()
            feed = pending
            while not inflater.eof:
                ctx.check_time()
                chunk = inflater.decompress(feed, _CHUNK)
                feed = b""
                if not chunk and inflater.needs_input and not inflater.eof:
                    ctx.problem("malformed_archive", f"{name} stream cut short")
                    return bytes(out)
                out += chunk
                ctx.budget.archive_bytes += len(chunk)
                if ctx.budget.archive_bytes > limits.max_archive_total:
                    raise ExtractionLimit("archive_bomb", "archives expand beyond the total limit")
                if len(out) > RATIO_FLOOR and len(out) > len(data) * limits.max_archive_ratio:
                    raise ExtractionLimit(
                        "archive_bomb", f"compression ratio over {limits.max_archive_ratio}"
                    )
            pending = inflater.unused_data
            if not pending.strip(b"\x00"):
                return bytes(out)  # the end, or zero padding (tape blocks)
            if not pending.startswith(compression.magic):
                raise ExtractionError("malformed_archive", f"data after the end of the {name} stream")
    except compression.errors as exc:
        raise ExtractionError("malformed_archive", f"{name}: {exc}") from None


class TarExtractor(Extractor):
    """Member names and every regular member of a tar, header by header, bounded."""

    name = TAR
    content_type = content_type_of(TAR)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        limits = ctx.limits
        names = TextCollector(limits.max_text_chars)
        members: list[ExtractedText] = []
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
                count = 0
                while (member := archive.next()) is not None:
                    ctx.check_time()
                    count += 1
                    if count > limits.max_archive_entries:
                        raise ExtractionLimit(
                            "archive_bomb", f"more than {limits.max_archive_entries} entries"
                        )
                    names.add(name_as_words(member.name) + "\n")
                    if member.isfile():
                        content = _read_tar_member(archive, member, len(data), ctx)
                        members.extend(ctx.nested(content, member.name))
                end = archive.offset
        except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeError) as exc:
            raise ExtractionError("malformed_archive", type(exc).__name__) from None
        if data[end:].strip(b"\x00"):
            # tarfile stops at the first header it cannot read; what follows
            # (another archive, hidden text) would pass unread.
            ctx.problem("malformed_archive", "data after the end of the tar archive")
        return [ExtractedText(finish(names, ctx)), *members]


def _read_tar_member(
    archive: tarfile.TarFile, member: tarfile.TarInfo, packed: int, ctx: ExtractContext
) -> bytes:
    """One member's bytes within the total and ratio bounds (sparse members expand)."""
    limits = ctx.limits
    if ctx.budget.archive_bytes + member.size > limits.max_archive_total:
        raise ExtractionLimit(
            "archive_bomb", f"archives expand to more than {limits.max_archive_total} bytes"
        )
    handle = archive.extractfile(member)
    if handle is None:
        return b""
    out = bytearray()
    with handle:
        while chunk := handle.read(_CHUNK):
            ctx.check_time()
            out += chunk
            ctx.budget.archive_bytes += len(chunk)
            if ctx.budget.archive_bytes > limits.max_archive_total:
                raise ExtractionLimit("archive_bomb", "archives expand beyond the total limit")
            if len(out) > RATIO_FLOOR and len(out) > packed * limits.max_archive_ratio:
                raise ExtractionLimit(
                    "archive_bomb", f"compression ratio over {limits.max_archive_ratio}"
                )
    return bytes(out)
