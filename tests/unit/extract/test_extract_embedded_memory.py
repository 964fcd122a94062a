"""A huge text body of base64 lines is read for files written out in it
without copies of itself.

A 25 MB plain-text body of base64 lines was copied whole, up to the text
limit, four times over while `EmbeddedFiles.in_text` read it: cut at the
limit, the block cut out of that, its base64 characters taken out of the
block (with a list of its lines as strings on the way), and that made
bytes again to decode it.  Now the lines stop at the limit in the text
itself and the block is decoded as it is: what remains is the block cut
out once and the bytes it decodes to.  What is found is unchanged: the
lines, a block cut at the limit and a marker past it read as in the text
cut at the limit.
"""

from __future__ import annotations

import base64
import random
import tracemalloc

import pytest

from gateway.extract import ExtractContext, ExtractedText, build_registry
from gateway.extract.embedded import EmbeddedFiles, _Lines
from gateway.model import Problem
from gateway.parse import ContentLimits

REGISTRY = build_registry()
LIMIT = 10_000_000  # the default `max_text_chars`, fixed here: the bounds below depend on it
MB = 1_000_000


def _base64_lines(data: bytes) -> str:
    """`data` in base64 as a mail body carries it: lines of 76 and CRLF."""
    return base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")


def _in_text(text: str, limit: int) -> tuple[list[ExtractedText], list[Problem]]:
    """What `in_text` finds in `text` read up to `limit`, and its problems."""
    ctx = ExtractContext.start(ContentLimits(max_text_chars=limit), REGISTRY, "1")
    return EmbeddedFiles(ctx).in_text(text), ctx.problems


def _peak_in_text(text: str) -> tuple[list[ExtractedText], list[Problem], int]:
    """`_in_text` at the default limit, and the peak of what it allocated
    above what was held when it started."""
    ctx = ExtractContext.start(ContentLimits(max_text_chars=LIMIT), REGISTRY, "1")
    files = EmbeddedFiles(ctx)
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        found = files.in_text(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return found, ctx.problems, peak - start


def test_a_25_mb_body_of_base64_cut_at_the_limit_is_read_without_copies_of_it() -> None:
    # 25.7 MB of lines: read up to the 10 MB limit, which cuts a line short,
    # so the block is not in whole groups of four.  Random bytes are no
    # format: nothing is handed over, and the peak is the reading's own.
    # Measured: 41.3 MB before (the text cut at the limit, the block, the
    # block's base64 taken out with its lines as strings, that as bytes),
    # 19.6 MB now (the block's line offsets, the block, its bytes).
    text = _base64_lines(random.Random(25).randbytes(18_750_000))
    assert len(text) > 2.5 * LIMIT
    found, problems, peak = _peak_in_text(text)
    assert (found, problems) == ([], [])
    assert peak < 28 * MB, f"reading a {len(text)} character body allocated {peak} at peak"


def test_a_padded_block_within_the_limit_is_decoded_as_it_is() -> None:
    # 9.5 MB of lines, in whole groups of four (`=` padding at the end): the
    # block is decoded as it is, line breaks and all.
    # Measured: 38.8 MB before (the block, its base64 taken out with its
    # lines as strings, that stripped of `=`, padded again, and as bytes),
    # 18.5 MB now (the block's line offsets, the block, its bytes).
    text = _base64_lines(random.Random(9).randbytes(6_900_001))
    assert text.rstrip().endswith("=") and len(text) < LIMIT
    found, problems, peak = _peak_in_text(text)
    assert (found, problems) == ([], [])
    assert peak < 27 * MB, f"reading a {len(text)} character block allocated {peak} at peak"


@pytest.mark.parametrize(
    "text", ["a\nb", "a\r\nb\r\n", "x\r\ny\rz\x85w\u2028", "\r\n\r\n", "q\x0bw\x1ce", "abc"]
)
def test_lines_up_to_an_end_are_the_lines_of_the_text_cut_there(text: str) -> None:
    """`_Lines(text, end)` is `text[:end].splitlines()`, a CRLF cut between
    its CR and LF included, without cutting the text."""
    for end in range(len(text) + 2):
        assert list(_Lines(text, end)) == text[:end].splitlines(), end


RECORD = b"Referral for the patient, seen at clinic last week; notes follow.\n" * 40


@pytest.mark.parametrize("quote", ["", "> "])
def test_a_block_cut_at_the_limit_reads_as_in_the_text_cut_there(quote: str) -> None:
    """Wherever the limit cuts a block (padded or not, in a line or at its
    end), what is found is what the text cut there holds."""
    lines = base64.encodebytes(RECORD + b"!").decode("ascii").splitlines()
    text = "Hello,\r\n\r\n" + "".join(f"{quote}{line}\r\n" for line in lines) + "Bye\r\n"
    cuts = range(len(text) - 400, len(text) + 1)
    assert any(_in_text(text, limit)[0] for limit in cuts)
    for limit in cuts:
        assert _in_text(text, limit) == _in_text(text[:limit], len(text)), limit


def test_a_block_past_the_limit_is_not_read() -> None:
    block = _base64_lines(RECORD)
    text = "Hello,\r\nplain words\r\n" + block
    assert _in_text(text, len(text))[0]
    assert _in_text(text, len(text) - len(block)) == ([], [])
    # Its first line alone is too short a block to be taken for a file.
    assert _in_text(text, len(text) - len(block) + 78) == ([], [])
