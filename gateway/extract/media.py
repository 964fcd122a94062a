"""Sound, film and pictures the gateway does not walk: their text read as strings.

Recognising a file as audio or video (or as a TIFF, BMP, WebP, HEIC, icon
or metafile) says only what its first few bytes are: "ID3", "OggS" or
"RIFF....WAVE" in front of a CSV makes a file every player refuses and every
spreadsheet opens.  And real media carries text a person writes: ID3 frames
(title, comment), RIFF INFO chunks, an MP4's udta and ilst atoms, a TIFF's
tags.  None of these formats is parsed here, so their text is taken the way
`strings` takes it, over the whole file: runs of printable ASCII and UTF-8
of at least `MIN_RUN` characters, and runs of UTF-16LE text (which also
finds UTF-16BE text ended by its NUL) of at least four.

The runs are stricter than an Office file's strings (`gateway.extract.ole`,
which takes any byte from 0x80 up): a video's or a song's compressed data is
near enough random, and random bytes are printable 8-bit text nine times in
ten, so that would read most of a 20 MB film as "text".  Printable ASCII is
under four bytes in ten, so a run of `MIN_RUN` in random data is about one
in five hundred places: a few hundred kilobytes from a 20 MB film, within
the text budget and cheap to search, while a CSV, a name, a date or an NHS
number is one run.  What is missed is text in a single-byte code page with
letters beyond ASCII (Latin-1 "Zoë" reads as "Zo"): the rest of its line
is still read.

The text goes through the text budget (`max_text_chars`): a media file with
more printable text than that is "too large to check", as any other text
is, rather than passed on what fitted.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    Extractor,
    TextCollector,
    finish,
)
from gateway.extract.detect import AUDIO, VIDEO, content_type_of

try:  # RE2 scans a 20 MB film in a tenth of a second; Python's `re` takes two.
    import re2 as _re2  # type: ignore[import-untyped,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _re2 = None


def _compile(pattern: bytes) -> Any:
    """`pattern` over bytes, as bytes (RE2 in Latin-1 mode when installed)."""
    if _re2 is None:
        return re.compile(pattern)
    options = _re2.Options()
    options.encoding = _re2.Options.Encoding.LATIN1
    return _re2.compile(pattern, options)


# The fewest ASCII or UTF-8 characters a run needs (see the module's docstring).
MIN_RUN = 6
_TEXT_RUN = _compile(
    rb"(?:[\t\n\r\x20-\x7e]|[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}"
    rb"|[\xf0-\xf4][\x80-\xbf]{3})" + b"{%d,}" % MIN_RUN
)
_UTF16_RUN = _compile(rb"(?:[\t\n\r\x20-\x7e\xa0-\xff]\x00){4,}")
# How many runs are taken between two looks at the clock.
_CLOCK_EVERY = 4096


def media_strings(data: bytes, ctx: ExtractContext) -> str:
    """The printable runs in `data`, one a line, within the text budget
    (a truncation is recorded as `too_large`)."""
    collector = TextCollector(ctx.limits.max_text_chars)
    for pattern, codec in ((_TEXT_RUN, "utf-8"), (_UTF16_RUN, "utf-16-le")):
        for count, match in enumerate(pattern.finditer(data)):
            if count % _CLOCK_EVERY == 0:
                ctx.check_time()
            if not collector.add(match.group().decode(codec, "replace") + "\n"):
                return finish(collector, ctx)
    return finish(collector, ctx)


def media_texts(data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
    text = media_strings(data, ctx)
    return [ExtractedText(text)] if text.strip() else []


class AudioExtractor(Extractor):
    """Audio (MP3, AAC, Ogg, FLAC, WAV, M4A): its tags' and any other text, as strings."""

    name = AUDIO
    content_type = content_type_of(AUDIO)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        return media_texts(data, ctx)


class VideoExtractor(Extractor):
    """Video (MP4, MOV, Matroska, WebM, MPEG, AVI): its metadata's and any other text, as strings."""

    name = VIDEO
    content_type = content_type_of(VIDEO)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        return media_texts(data, ctx)
