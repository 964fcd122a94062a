"""Pictures: the text a PNG, JPEG or GIF carries as text, and the bytes after its end.

A picture's pixels are not read (no OCR), but a picture can carry text that
any viewer's "properties" or `exiftool` shows, and bytes after its end that
a viewer ignores and `unzip` or a text editor opens.  Each format is walked
structure by structure (chunk, segment, block), by offset over the bytes as
they are (a 5 MB photo is never copied; only the small text pieces and the
trailing bytes are cut out):

* PNG: tEXt (Latin-1), zTXt (zlib), iTXt (UTF-8, maybe zlib) and an eXIf
  chunk; compressed text is inflated within the archive bounds (ratio,
  total, time) and the text budget;
* JPEG: COM segments, and in an APP1 Exif block the text fields a person
  writes (ImageDescription, Artist, Copyright, UserComment, Windows'
  XPTitle/XPComment/XPAuthor/XPKeywords/XPSubject), and an APP1 XMP packet;
  the end of the picture (EOI) is found by walking the segments and the
  entropy-coded data after each SOS, never by searching for FFD9;
* GIF: comment extensions and plain-text extensions (their sub-blocks);
* TIFF: the same Exif text fields of its first directory, and, as its
  strips and tags lie anywhere, all its other text as strings.

Other pictures (BMP, WebP, HEIC, icons, Windows and StarView metafiles) are
not walked: their text is read as strings (`gateway.extract.media`), so a
picture's first bytes in front of a CSV do not hide it.

A picture whose structure is cut short or broken is `malformed_document`,
as a damaged document is: bytes it does not account for are not clean.

What follows a picture's end is a file of its own, given to the registry as
an embedded file is (`ExtractContext.nested`): a zip is opened, CSV and text
are read, a video is recognised and not read, bytes of no known format are
`unsupported_format`.  So that phones' photos still pass:

* padding (bytes of one value, NUL or 0xFF, or white space) is skipped, and
  so are fewer than `_SMALL_TRAILER` bytes of no known format (too few to
  carry a record that is not text; text, however short, is read);
* further JPEGs after a JPEG (the Multi-Picture Format: a phone's HDR gain
  map or depth map, a camera's preview) are walked as the first was;
* an MP4 after a JPEG (Google's and Samsung's motion photos) is video, not
  read;
* Samsung's trailer (`SEFH` directory, `SEFT` at the end) is walked block by
  block: each block's data is read as the file it is, except binary data of
  no known format (Samsung's own depth and edit records), skipped; bytes
  its directory does not account for are a file of their own.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable

from gateway.extract.archive import ZLIB, decompress
from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    ExtractionError,
    ExtractionLimit,
    Extractor,
    TextCollector,
    finish,
)
from gateway.extract.detect import BINARY, IMAGE, content_type_of, detect_format
from gateway.extract.media import media_texts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_START = b"\xff\xd8\xff"
_GIF_SIGNATURES = (b"GIF87a", b"GIF89a")
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*")

AFTER_THE_END = "(after the end of the picture)"
# Fewer bytes than this after a picture's end, of no known format, are
# skipped: stray bytes some editors leave; text is read whatever its size.
_SMALL_TRAILER = 32
_PADDING = b"\x00\xff \t\r\n"

# A marker in JPEG entropy-coded data: 0xFF followed by neither a stuffed
# zero, a restart marker nor another 0xFF (fill).
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_SOS, _EOI, _COM, _APP1 = 0xDA, 0xD9, 0xFE, 0xE1
_EXIF_HEADER = b"Exif\x00\x00"
_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"

# Exif text fields a person writes (TIFF tag -> how its bytes are text).
_ASCII, _UTF16, _COMMENT = 0, 1, 2
_EXIF_TEXT = {
    0x010D: _ASCII,  # DocumentName
    0x010E: _ASCII,  # ImageDescription
    0x013B: _ASCII,  # Artist
    0x8298: _ASCII,  # Copyright
    0x9286: _COMMENT,  # UserComment
    0x9C9B: _UTF16,  # XPTitle
    0x9C9C: _UTF16,  # XPComment
    0x9C9D: _UTF16,  # XPAuthor
    0x9C9E: _UTF16,  # XPKeywords
    0x9C9F: _UTF16,  # XPSubject
}
_EXIF_IFD = 0x8769
_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}


def _malformed(detail: str) -> ExtractionError:
    return ExtractionError("malformed_document", detail)


def _as_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


class PictureExtractor(Extractor):
    """The text in a picture's metadata, and what follows its end."""

    name = IMAGE
    content_type = content_type_of(IMAGE)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        walk: Callable[[bytes, _Picture], int]
        if data.startswith(PNG_SIGNATURE):
            walk = _walk_png
        elif data.startswith(_JPEG_START):
            walk = _walk_jpegs
        elif data.startswith(_GIF_SIGNATURES):
            walk = _walk_gif
        elif data.startswith(_TIFF_SIGNATURES):
            walk = _walk_tiff
        else:
            # BMP, WebP, HEIC, icons, metafiles: not walked, so a picture's
            # first bytes could front anything; their text is read as strings.
            return media_texts(data, ctx)
        picture = _Picture(ctx)
        end = walk(data, picture)
        text = finish(picture.text, ctx)
        results = [ExtractedText(text)] if text.strip() else []
        if walk is _walk_tiff:
            # A TIFF's strips, tiles and tags lie anywhere, and nothing
            # checks that they account for its bytes: its other text too.
            results.extend(media_texts(data, ctx))
        if end < len(data):
            results.extend(_trailer(data, end, ctx))
        return results


class _Picture:
    """What one picture's walk collects."""

    __slots__ = ("ctx", "text")

    def __init__(self, ctx: ExtractContext) -> None:
        self.ctx = ctx
        self.text = TextCollector(ctx.limits.max_text_chars)

    def add(self, text: str, label: str = "") -> None:
        text = text.replace("\x00", " ").strip()
        if text:
            self.text.add(f"{label}: {text}\n" if label else text + "\n")


# -- what follows the end ------------------------------------------------------------------


def _trailer(data: bytes, end: int, ctx: ExtractContext) -> list[ExtractedText]:
    """The bytes after the picture's end, read as a file of their own."""
    if data.endswith(b"SEFT"):
        samsung = _samsung_trailer(data, end, ctx)
        if samsung is not None:
            return samsung
    return _piece(data[end:], ctx)


def _is_padding(piece: bytes) -> bool:
    """Bytes of padding alone (its first few tell most pieces apart uncopied)."""
    return not piece[:64].strip(_PADDING) and not piece.strip(_PADDING)


def _piece(piece: bytes, ctx: ExtractContext) -> list[ExtractedText]:
    if _is_padding(piece):
        return []
    if len(piece) < _SMALL_TRAILER and detect_format(piece) == BINARY:
        return []
    return ctx.nested(piece, AFTER_THE_END)


def _samsung_trailer(data: bytes, start: int, ctx: ExtractContext) -> list[ExtractedText] | None:
    """Samsung's trailer from `start` to the end, block by block; None when
    it is not one (then it is read as any other trailing bytes)."""
    if len(data) - start < 8 + 12:
        return None
    (size,) = struct.unpack_from("<I", data, len(data) - 8)
    directory = len(data) - 8 - size
    if size < 12 or directory < start or data[directory : directory + 4] != b"SEFH":
        return None
    (count,) = struct.unpack_from("<I", data, directory + 8)
    if 12 + 12 * count > size:
        return None
    blocks: list[tuple[int, int]] = []
    for index in range(count):
        _, _kind, back, length = struct.unpack_from("<HHII", data, directory + 12 + 12 * index)
        at = directory - back
        if at < start or length < 8 or at + length > directory:
            return None
        blocks.append((at, length))
    results: list[ExtractedText] = []
    covered = start
    for at, length in sorted(blocks):
        if at > covered:
            results.extend(_piece(data[covered:at], ctx))
        covered = max(covered, at + length)
        (name_length,) = struct.unpack_from("<I", data, at + 4)
        if 8 + name_length > length:
            return None
        content = data[at + 8 + name_length : at + length]
        if not _is_padding(content) and detect_format(content) != BINARY:
            results.extend(ctx.nested(content, AFTER_THE_END))
    if directory > covered:
        results.extend(_piece(data[covered:directory], ctx))
    return results


# -- PNG -----------------------------------------------------------------------------------

_CHUNK_HEAD = struct.Struct(">I4s")


def _walk_png(data: bytes, picture: _Picture) -> int:
    """Chunk by chunk to IEND; the offset after it."""
    at = len(PNG_SIGNATURE)
    first = True
    while True:
        picture.ctx.check_time()
        if at + 12 > len(data):
            raise _malformed("PNG cut short (no IEND chunk)")
        head: tuple[int, bytes] = _CHUNK_HEAD.unpack_from(data, at)
        length, kind = head
        body = at + 8
        if length > 0x7FFFFFFF or not kind.isalpha() or body + length + 4 > len(data):
            raise _malformed("PNG chunk broken or cut short")
        if first and kind not in (b"IHDR", b"CgBI"):  # CgBI: Apple's, before IHDR
            raise _malformed("PNG without IHDR first")
        first = False
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            _png_text(kind, data[body : body + length], picture)
        elif kind == b"eXIf":
            _exif(data[body : body + length], picture)
        at = body + length + 4
        if kind == b"IEND":
            return at


def _png_text(kind: bytes, chunk: bytes, picture: _Picture) -> None:
    keyword, _, rest = chunk.partition(b"\x00")
    label = keyword.decode("latin-1")
    if kind == b"tEXt":
        picture.add(rest.decode("latin-1"), label)
        return
    if kind == b"zTXt":
        inflated = _inflate(rest[1:], picture.ctx)
        if inflated is not None:
            picture.add(inflated.decode("latin-1"), label)
        return
    # iTXt: compression flag, method, language tag\0, translated keyword\0, text
    if len(rest) < 2:
        raise _malformed("PNG iTXt chunk cut short")
    compressed = rest[0] == 1
    _language, _, rest = rest[2:].partition(b"\x00")
    translated, _, text = rest.partition(b"\x00")
    if compressed:
        inflated = _inflate(text, picture.ctx)
        if inflated is None:
            return
        text = inflated
    picture.add(translated.decode("utf-8", errors="replace"), label)
    picture.add(text.decode("utf-8", errors="replace"), label)


def _inflate(compressed: bytes, ctx: ExtractContext) -> bytes | None:
    """zlib data within the archive bounds; a failure is a problem (None)."""
    try:
        return decompress(compressed, ctx, ZLIB)
    except ExtractionLimit:
        raise
    except ExtractionError:
        ctx.problem("malformed_document", "PNG compressed text does not decompress")
    except zlib.error:
        ctx.problem("malformed_document", "PNG compressed text does not decompress")
    return None


# -- JPEG ----------------------------------------------------------------------------------


def _walk_jpegs(data: bytes, picture: _Picture) -> int:
    """The JPEG at the start and any JPEGs straight after it (a
    multi-picture file: gain map, depth map, preview); the end of the last."""
    end = _walk_jpeg(data, 0, picture)
    while data.startswith(_JPEG_START, end):
        end = _walk_jpeg(data, end, picture)
    return end


def _walk_jpeg(data: bytes, start: int, picture: _Picture) -> int:
    """Segment by segment from SOI at `start` to EOI; the offset after it."""
    at = start + 2
    size = len(data)
    # Past the first scan a file that simply ends is a photo cut short in
    # its pixels (cameras and transfers leave such files; viewers show
    # them): nothing of it is unread text, so it is not "damaged".
    scanned = False
    while True:
        picture.ctx.check_time()
        if at + 2 > size:
            if scanned:
                return size
            raise _malformed("JPEG cut short (no end of image)")
        if data[at] != 0xFF:
            # Bytes between segments, which decoders skip ("extraneous
            # bytes before marker"): read as text, as any text the picture
            # carries, rather than refusing the photo for them.  (An APPn
            # segment could hold anything unread all the same.)
            following = data.find(b"\xff", at)
            stop = size if following < 0 else following
            picture.add(_as_text(data[at:stop]))
            at = stop
            continue
        while at + 1 < size and data[at + 1] == 0xFF:
            at += 1  # fill bytes
        if at + 2 > size:
            if scanned:
                return size
            raise _malformed("JPEG cut short (no end of image)")
        marker = data[at + 1]
        at += 2
        if marker == _EOI:
            return at
        if marker in _JPEG_STANDALONE:
            continue
        if at + 2 > size:
            raise _malformed("JPEG cut short (no end of image)")
        length = int.from_bytes(data[at : at + 2], "big")
        if length < 2 or at + length > size:
            raise _malformed("JPEG segment broken or cut short")
        if marker == _COM:
            picture.add(_as_text(data[at + 2 : at + length]))
        elif marker == _APP1:
            _jpeg_app1(data[at + 2 : at + length], picture)
        at += length
        if marker == _SOS:
            scanned = True
            found = _JPEG_MARKER.search(data, at)
            if found is None:
                return size  # cut short in its pixels (see `scanned`)
            at = int(found.start())


def _jpeg_app1(segment: bytes, picture: _Picture) -> None:
    if segment.startswith(_EXIF_HEADER):
        _exif(segment[len(_EXIF_HEADER) :], picture)
    elif segment.startswith(_XMP_HEADER):
        picture.add(_as_text(segment[len(_XMP_HEADER) :]))


# -- Exif (TIFF directories) ----------------------------------------------------------------


def _walk_tiff(data: bytes, picture: _Picture) -> int:
    _exif(data, picture)
    return len(data)  # strips and tiles lie anywhere: nothing is "after the end"


def _exif(tiff: bytes, picture: _Picture) -> None:
    """The text fields of a TIFF structure's first directory and its Exif
    directory.  What does not parse is left: a reader shows nothing there."""
    if tiff[:4] == b"II*\x00":
        order = "<"
    elif tiff[:4] == b"MM\x00*":
        order = ">"
    else:
        return
    if len(tiff) < 8:
        return
    (first,) = struct.unpack_from(order + "I", tiff, 4)
    pending = [first]
    seen: set[int] = set()
    while pending and len(seen) < 4:
        ifd = pending.pop()
        if ifd in seen or ifd + 2 > len(tiff):
            continue
        seen.add(ifd)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for index in range(count):
            entry = ifd + 2 + 12 * index
            if entry + 12 > len(tiff):
                break
            tag, kind, number = struct.unpack_from(order + "HHI", tiff, entry)
            if tag == _EXIF_IFD and kind in (4, 13) and number == 1:
                pending.append(struct.unpack_from(order + "I", tiff, entry + 8)[0])
                continue
            how = _EXIF_TEXT.get(tag)
            unit = _TIFF_TYPE_SIZES.get(kind)
            if how is None or unit is None:
                continue
            length = unit * number
            if length <= 4:
                where = entry + 8
            else:
                (where,) = struct.unpack_from(order + "I", tiff, entry + 8)
            if where + length > len(tiff):
                continue
            picture.add(_exif_value(tiff[where : where + length], how, order))


def _exif_value(raw: bytes, how: int, order: str) -> str:
    if how == _UTF16:
        return raw.decode("utf-16-le", errors="replace")
    if how == _COMMENT:
        code, raw = raw[:8], raw[8:]
        if code.startswith(b"UNICODE"):
            return raw.decode("utf-16-le" if order == "<" else "utf-16-be", errors="replace")
        if code.startswith(b"JIS"):
            return raw.decode("shift_jis", errors="replace")
    return _as_text(raw.rstrip(b"\x00 "))


# -- GIF -----------------------------------------------------------------------------------


def _walk_gif(data: bytes, picture: _Picture) -> int:
    """Block by block to the trailer (0x3B); the offset after it."""
    if len(data) < 13:
        raise _malformed("GIF cut short")
    packed = data[10]
    at = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    while True:
        picture.ctx.check_time()
        if at >= len(data):
            raise _malformed("GIF cut short (no trailer)")
        block = data[at]
        if block == 0x3B:
            return at + 1
        if block == 0x21:  # extension: label, then sub-blocks
            if at + 2 > len(data):
                raise _malformed("GIF cut short (no trailer)")
            label = data[at + 1]
            at, content = _sub_blocks(data, at + 2, label in (0xFE, 0x01))
            if label == 0xFE:
                picture.add(_as_text(content))
            elif label == 0x01 and len(content) > 12:
                picture.add(_as_text(content[12:]))  # the header block's 12 bytes first
        elif block == 0x2C:  # image: descriptor, colour table, LZW size, sub-blocks
            if at + 10 > len(data):
                raise _malformed("GIF cut short (no trailer)")
            flags = data[at + 9]
            at += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
            at, _ = _sub_blocks(data, at + 1, False)
        else:
            raise _malformed("GIF block of no known kind")


def _sub_blocks(data: bytes, at: int, keep: bool) -> tuple[int, bytes]:
    """Sub-blocks from `at` to the empty one: the offset after it and, if
    `keep`, their bytes."""
    pieces: list[bytes] = []
    size = len(data)
    while True:
        if at >= size:
            raise _malformed("GIF cut short (no trailer)")
        length = data[at]
        at += 1
        if length == 0:
            return at, b"".join(pieces)
        if at + length > size:
            raise _malformed("GIF cut short (no trailer)")
        if keep:
            pieces.append(data[at : at + length])
        at += length
