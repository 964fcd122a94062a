"""Audio, video and the pictures the gateway does not walk are read as
strings: a few bytes of a media format's magic ("ID3", "OggS",
"RIFF....WAVE", an icon's or a metafile's) in front of a CSV used to pass it
unread, and so did the text in an MP3's ID3 frames, a WAV's INFO chunk and
an MP4's metadata.  A film or a song (random-looking data behind a real
header) still passes, with a few hundred kilobytes of text from 20 MB."""

from __future__ import annotations

import random
import struct

import pytest
from faker import Faker
from fixtures_content import NHS

from gateway.extract import ExtractContext, build_registry, detect_format
from gateway.model import Problem
from gateway.parse import ContentLimits

REGISTRY = build_registry()


def _people() -> str:
    fake = Faker("en_GB")
    fake.seed_instance(14)
    rows = [
        f"{fake.name()},{fake.date_of_birth().strftime('%d/%m/%Y')},{NHS},{fake.postcode()}"
        for _ in range(30)
    ]
    return "name,date_of_birth,nhs_number,postcode\n" + "\n".join(rows) + "\n"


PEOPLE = _people()


def extract(data: bytes, limits: ContentLimits | None = None) -> tuple[str, list[Problem]]:
    ctx = ExtractContext.start(limits or ContentLimits(), REGISTRY, "2")
    texts = REGISTRY.extract(data, ctx)
    return "\n".join(t.text for t in texts), ctx.problems


PREFIXES = [
    ("id3", b"ID3", "audio"),
    ("ogg", b"OggS", "audio"),
    ("flac", b"fLaC", "audio"),
    ("matroska", b"\x1aE\xdf\xa3", "video"),
    ("mpeg-ps", b"\x00\x00\x01\xba", "video"),
    ("mp4", b"\x00\x00\x00\x18ftypisom", "video"),
    ("m4a", b"\x00\x00\x00\x18ftypM4A ", "audio"),
    ("wav", b"RIFF\x00\x00\x00\x00WAVE", "audio"),
    ("avi", b"RIFF\x00\x00\x00\x00AVI ", "video"),
    ("mp3-frame", b"\xff\xfb\x90\x00", "audio"),
    ("ico", b"\x00\x00\x01\x00", "image"),
    ("wmf", b"\xd7\xcd\xc6\x9a", "image"),
    ("svm", b"VCLMTF", "image"),
    ("tiff", b"II*\x00", "image"),
    ("tiff-be", b"MM\x00*", "image"),
    ("webp", b"RIFF\x00\x00\x00\x00WEBP", "image"),
    ("heic", b"\x00\x00\x00\x18ftypheic", "image"),
]


@pytest.mark.parametrize(("prefix", "fmt"), [c[1:] for c in PREFIXES],
                         ids=[c[0] for c in PREFIXES])
def test_a_csv_behind_a_media_formats_magic_is_read(prefix: bytes, fmt: str) -> None:
    data = prefix + PEOPLE.encode()
    assert detect_format(data) == fmt
    text, _ = extract(data)
    for line in PEOPLE.splitlines()[1:]:
        assert line in text


def id3_tag(frames: list[tuple[bytes, bytes]]) -> bytes:
    """An ID3v2.4 tag: each frame's id, size, flags and body (its encoding byte first)."""
    body = b"".join(fid + struct.pack(">I", len(data)) + b"\x00\x00" + data
                    for fid, data in frames)
    size = len(body)
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x04\x00\x00" + syncsafe + body


def mp3(frames: list[tuple[bytes, bytes]], seed: int = 1) -> bytes:
    """A tag, then MPEG audio frames of random-looking sound."""
    rng = random.Random(seed)
    sound = b"".join(b"\xff\xfb\x90\x64" + rng.randbytes(413) for _ in range(200))
    return id3_tag(frames) + sound


def test_an_mp3s_id3_frames_are_read_in_each_encoding() -> None:
    name = "Siân Hughes"
    data = mp3([
        (b"TIT2", b"\x03Interview with " + name.encode()),  # UTF-8
        (b"COMM", b"\x01eng\xff\xfe\x00\x00" + f"NHS {NHS}".encode("utf-16-le")),  # UTF-16
        (b"TPE1", b"\x02" + "Date of birth 03/04/2012".encode("utf-16-be") + b"\x00\x00"),
        (b"TALB", b"\x00Case notes"),  # Latin-1
    ])
    assert detect_format(data) == "audio"
    text, problems = extract(data)
    assert f"Interview with {name}" in text
    assert f"NHS {NHS}" in text
    assert "Date of birth 03/04/2012" in text
    assert "Case notes" in text
    assert problems == []


def test_a_wavs_info_chunk_is_read() -> None:
    rng = random.Random(2)
    info = b"INFO" + b"ICMT" + struct.pack("<I", 24) + f"NHS number {NHS}".encode() + b"\x00" * 4
    sound = b"data" + struct.pack("<I", 8000) + rng.randbytes(8000)
    body = b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
    body += b"LIST" + struct.pack("<I", len(info)) + info + sound
    text, problems = extract(b"RIFF" + struct.pack("<I", len(body)) + body)
    assert f"NHS number {NHS}" in text
    assert problems == []


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4(metadata: bytes, media: bytes) -> bytes:
    ftyp = _box(b"ftyp", b"mp42\x00\x00\x00\x00mp42isom")
    return ftyp + _box(b"mdat", media) + _box(b"moov", _box(b"udta", metadata))


def test_an_mp4s_metadata_at_its_end_is_read() -> None:
    rng = random.Random(3)
    title = _box(b"\xa9nam", _box(b"data", b"\x00\x00\x00\x01\x00\x00\x00\x00"
                                  + f"Visit to Alex Carter, NHS {NHS}".encode()))
    text, problems = extract(mp4(_box(b"meta", b"\x00" * 4 + _box(b"ilst", title)),
                                 rng.randbytes(200_000)))
    assert f"Visit to Alex Carter, NHS {NHS}" in text
    assert problems == []


def test_a_film_passes_with_little_text_taken_from_it() -> None:
    """Random-looking data behind a real header, as a film's compressed
    frames are: a few runs per kilobyte, not the film read as text."""
    rng = random.Random(4)
    size = 4 * 1024 * 1024
    data = mp4(_box(b"meta", b"\x00" * 4), rng.randbytes(size))
    assert detect_format(data) == "video"
    text, problems = extract(data)
    assert problems == []
    assert len(text) < size // 20


def test_a_names_letters_beyond_ascii_stay_in_its_run() -> None:
    text, _ = extract(b"OggS\x00\x02" + "Zoë Müller, NHS ".encode() + NHS.encode() + b"\x00")
    assert f"Zoë Müller, NHS {NHS}" in text


def test_more_text_than_the_budget_is_too_large_to_check() -> None:
    data = b"ID3" + PEOPLE.encode() * 20
    _, problems = extract(data, ContentLimits(max_text_chars=len(PEOPLE)))
    assert "too_large" in {p.code for p in problems}
