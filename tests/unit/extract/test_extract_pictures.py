"""Pictures pass unread, but not the text they carry as text, nor the bytes
after their end: PNG text chunks (tEXt, zTXt, iTXt, eXIf), JPEG comments,
Exif text fields and XMP, GIF comment and plain-text extensions, TIFF's
description, and a file appended after IEND, EOI or the GIF trailer.  A
camera's or phone's picture (Exif make and model, a thumbnail, padding, a
motion photo's video, Samsung's trailer, a second picture) still passes."""

from __future__ import annotations

import os
import random
import struct
import zlib

import pytest
from fixtures_content import (
    NHS,
    Entry,
    build_zip,
    exif,
    gif,
    gif_extension,
    jpeg,
    jpeg_segment,
    png,
    png_chunk,
)

from gateway.extract import ExtractContext, build_registry, detect_format
from gateway.model import Problem
from gateway.parse import ContentLimits

REGISTRY = build_registry()
RECORD = f"name,nhs_number\nAlex Carter,{NHS}\n"
NOTE = f"Alex Carter NHS {NHS}"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(2000)


def extract(data: bytes, limits: ContentLimits | None = None) -> tuple[str, list[Problem]]:
    ctx = ExtractContext.start(limits or ContentLimits(), REGISTRY, "2")
    texts = REGISTRY.extract(data, ctx)
    return "\n".join(t.text for t in texts), ctx.problems


def codes(problems: list[Problem]) -> set[str]:
    return {p.code for p in problems}


def itxt(text: str, *, compressed: bool = False, keyword: bytes = b"Description") -> bytes:
    body = zlib.compress(text.encode()) if compressed else text.encode()
    return png_chunk(b"iTXt", keyword + b"\x00" + bytes([compressed, 0]) + b"en-GB\x00\x00" + body)


def app1_exif(tiff: bytes, thumbnail: bytes = b"") -> bytes:
    return jpeg_segment(0xE1, b"Exif\x00\x00" + tiff + thumbnail)


def ascii_tag(tag: int, text: str) -> tuple[int, int, bytes]:
    return (tag, 2, text.encode() + b"\x00")


def samsung_trailer(blocks: list[tuple[int, bytes, bytes]], gap: bytes = b"") -> bytes:
    """Samsung's trailer: blocks (type, name, data), `gap` before the
    directory, the SEFH directory, its length and "SEFT"."""
    out = b""
    places: list[tuple[int, int, int]] = []
    for kind, name, data in blocks:
        block = struct.pack("<HHI", 0, kind, len(name)) + name + data
        places.append((kind, len(out), len(block)))
        out += block
    out += gap
    directory_at = len(out)
    directory = b"SEFH" + struct.pack("<II", 106, len(blocks)) + b"".join(
        struct.pack("<HHII", 0, kind, directory_at - at, size) for kind, at, size in places
    )
    return out + directory + struct.pack("<I", len(directory)) + b"SEFT"


CAMERA = exif(
    [ascii_tag(0x010F, "Canon"), ascii_tag(0x0110, "Canon EOS 80D"),
     ascii_tag(0x0132, "2024:05:01 10:11:12"), (0x0112, 3, b"\x01\x00")],
    [ascii_tag(0x9003, "2024:05:01 10:11:12"), (0x829A, 5, struct.pack("<II", 1, 200))],
)
THUMBNAIL = jpeg()  # an Exif thumbnail: FFD8 ... FFD9 inside APP1


@pytest.mark.parametrize(
    "data",
    [
        png(png_chunk(b"tEXt", b"Comment\x00" + NOTE.encode("latin-1"))),
        png(png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(NOTE.encode()))),
        png(itxt(NOTE)),
        png(itxt(NOTE, compressed=True)),
        png(png_chunk(b"eXIf", exif([ascii_tag(0x010E, NOTE)]))),
        png(trailer=RECORD.encode()),
        png(trailer=build_zip([Entry("caseload.csv", RECORD.encode())])),
        jpeg(jpeg_segment(0xFE, NOTE.encode())),
        jpeg(app1_exif(exif([ascii_tag(0x010E, NOTE)]))),
        jpeg(app1_exif(exif([ascii_tag(0x013B, NOTE)]))),
        jpeg(app1_exif(exif([(0x9C9C, 1, NOTE.encode("utf-16-le") + b"\x00\x00")]))),
        jpeg(app1_exif(exif([], [(0x9286, 7, b"ASCII\x00\x00\x00" + NOTE.encode())]))),
        jpeg(app1_exif(exif([], [(0x9286, 7, b"UNICODE\x00" + NOTE.encode("utf-16-le"))]))),
        jpeg(jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><dc:description>"
                                + NOTE.encode() + b"</dc:description></x:xmpmeta>")),
        jpeg(trailer=RECORD.encode()),
        jpeg(jpeg_segment(0xFE, b"cover \xff\xd9 photo"), trailer=RECORD.encode()),
        jpeg(trailer=build_zip([Entry("caseload.csv", RECORD.encode())])),
        jpeg(trailer=jpeg(jpeg_segment(0xFE, NOTE.encode()))),
        jpeg(trailer=jpeg() + RECORD.encode()),
        jpeg(trailer=samsung_trailer([(0x0A01, b"Image_UTC_Data", b"1714554672000"),
                                      (0x0B00, b"Notes", RECORD.encode())])),
        jpeg(trailer=samsung_trailer([(0x0A01, b"Image_UTC_Data", b"1714554672000")],
                                     gap=RECORD.encode())),
        gif(gif_extension(0xFE, NOTE.encode())),
        gif(gif_extension(0xFE, ((NOTE + " ") * 30).encode())),  # over several sub-blocks
        gif(gif_extension(0x01, bytes(12) + NOTE.encode())),
        gif(trailer=RECORD.encode()),
        exif([ascii_tag(0x010E, NOTE)]),  # a TIFF's description
    ],
    ids=["png-text", "png-ztxt", "png-itxt", "png-itxt-compressed", "png-exif",
         "png-after-iend-csv", "png-after-iend-zip", "jpeg-comment", "jpeg-description",
         "jpeg-artist", "jpeg-xpcomment", "jpeg-usercomment", "jpeg-usercomment-unicode",
         "jpeg-xmp", "jpeg-after-eoi-csv", "jpeg-ffd9-in-comment", "jpeg-after-eoi-zip",
         "second-jpeg-comment", "after-second-jpeg", "samsung-block", "samsung-gap",
         "gif-comment", "gif-long-comment", "gif-plain-text", "gif-after-trailer", "tiff"],
)
def test_text_a_picture_carries_is_read(data: bytes) -> None:
    assert detect_format(data) == "image"
    text, problems = extract(data)
    assert NHS in text
    assert problems == []


@pytest.mark.parametrize(
    "data",
    [
        png(),
        jpeg(),
        gif(),
        jpeg(app1_exif(CAMERA, THUMBNAIL)),
        png(png_chunk(b"tEXt", b"Software\x00Adobe ImageReady")),
        png(trailer=bytes(300)),
        jpeg(trailer=b"\xff" * 300),
        jpeg(trailer=b"\r\n"),
        jpeg(trailer=b"\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00"),
        jpeg(trailer=MP4),
        jpeg(app1_exif(CAMERA), trailer=jpeg() + MP4),
        jpeg(app1_exif(CAMERA), trailer=samsung_trailer([
            (0x0A01, b"Image_UTC_Data", b"1714554672000"),
            (0x0A30, b"MotionPhoto_Data", MP4),
            (0x0B41, b"DualShot_DepthMap_1", os.urandom(800)),
        ])),
        gif(gif_extension(0xF9, b"\x04\x00\x00\x00")),  # graphic control
        exif([ascii_tag(0x010F, "Canon")]),
    ],
    ids=["png", "jpeg", "gif", "camera-exif-thumbnail", "png-software", "png-zero-padding",
         "jpeg-ff-padding", "jpeg-newline", "few-stray-bytes", "motion-photo",
         "gain-map-and-motion-photo", "samsung-trailer", "gif-graphic-control", "tiff"],
)
def test_a_picture_with_nothing_written_in_it_passes(data: bytes) -> None:
    text, problems = extract(data)
    assert problems == []
    assert NHS not in text
    assert "Canon" not in text  # make and model are not read


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (png(trailer=os.urandom(600)), "unsupported_format"),
        (jpeg(trailer=b"MZ\x90\x00" + os.urandom(600)), "unsupported_format"),
        (gif(trailer=os.urandom(600)), "unsupported_format"),
        (jpeg(trailer=samsung_trailer([(0x0A01, b"Image_UTC_Data", b"1714554672000")],
                                      gap=os.urandom(300))), "unsupported_format"),
        (png(trailer=build_zip([Entry("a.csv", RECORD.encode(), password=b"pw")])),
         "encrypted_content"),
        (png()[:-20], "malformed_document"),
        (png()[:40], "malformed_document"),
        (b"\x89PNG\r\n\x1a\n" + RECORD.encode(), "malformed_document"),
        (jpeg()[:30], "malformed_document"),
        (b"\xff\xd8\xff\xfe\x00\x10" + RECORD.encode(), "malformed_document"),
        (gif()[:-1], "malformed_document"),
        (b"GIF89a" + RECORD.encode(), "malformed_document"),
        (png(png_chunk(b"zTXt", b"Comment\x00\x00" + b"not zlib at all")),
         "malformed_document"),
    ],
    ids=["png-random-after", "jpeg-exe-after", "gif-random-after", "samsung-random-gap",
         "png-encrypted-zip-after", "png-no-iend", "png-cut", "png-signature-then-csv",
         "jpeg-cut", "jpeg-comment-cut",
         "gif-no-trailer", "gif-signature-then-csv", "png-ztxt-broken"],
)
def test_what_cannot_be_read_is_a_problem(data: bytes, code: str) -> None:
    _, problems = extract(data)
    assert code in codes(problems)


def test_compressed_text_is_bounded() -> None:
    bomb = png(png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"a" * 5_000_000)))
    _, problems = extract(bomb, ContentLimits(max_archive_ratio=100))
    assert "archive_bomb" in codes(problems)
    _, problems = extract(bomb, ContentLimits(max_archive_total=1_000_000))
    assert "archive_bomb" in codes(problems)


def test_a_picture_cut_anywhere_never_fails_unexpectedly() -> None:
    rng = random.Random(7)
    pictures = [
        png(png_chunk(b"tEXt", b"Comment\x00" + NOTE.encode()), itxt(NOTE, compressed=True)),
        jpeg(jpeg_segment(0xFE, NOTE.encode()), app1_exif(CAMERA, THUMBNAIL)),
        gif(gif_extension(0xFE, NOTE.encode())),
        exif([ascii_tag(0x010E, NOTE)], [(0x9286, 7, b"ASCII\x00\x00\x00" + NOTE.encode())]),
    ]
    for picture in pictures:
        for cut in range(len(picture)):
            _, problems = extract(picture[:cut])
            assert not codes(problems) & {"extract_failed", "too_deep"}, (picture[:8], cut)
        for _ in range(200):
            damaged = bytearray(picture)
            damaged[rng.randrange(8, len(damaged))] = rng.randrange(256)
            _, problems = extract(bytes(damaged))
            assert "extract_failed" not in codes(problems)


def test_a_large_photo_is_walked_to_its_trailer() -> None:
    # 5 MB of entropy-coded data with a stuffed 0xFF every 256 bytes or so.
    scan = bytes(random.Random(3).randbytes(5_000_000)).replace(b"\xff", b"\xff\x00")
    small = jpeg(app1_exif(CAMERA, THUMBNAIL))
    end = small.rfind(b"\xff\xd9")
    photo = small[:end] + scan + small[end:] + RECORD.encode()
    text, problems = extract(photo)
    assert NHS in text
    assert problems == []


def test_jpegs_a_viewer_shows_are_not_called_damaged() -> None:
    """A photo cut short in its pixels (no end-of-image marker) and one with
    stray bytes between segments, which decoders skip: neither hides text
    unread (the stray bytes are read as text), so neither is refused."""
    cut = jpeg()[:-2]
    assert extract(cut) == extract(jpeg())
    stray = jpeg().replace(b"\xff\xc4", b"\x00\x00\xff\xc4", 1)
    text, problems = extract(stray)
    assert problems == []
    hidden = jpeg().replace(b"\xff\xc4", RECORD.encode() + b"\xff\xc4", 1)
    text, problems = extract(hidden)
    assert NHS in text and problems == []
