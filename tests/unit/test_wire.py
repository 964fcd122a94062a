"""gateway.wire: the line-ending check both ends of the relay make, against
a plain reference (counts) on crafted and random bytes."""

from __future__ import annotations

import random

import pytest

from gateway.wire import DOT_LINE, bare_cr, line_endings_clean, line_endings_clean_unlocked


def clean_reference(content: bytes) -> bool:
    crlf = content.count(b"\r\n")
    return content.count(b"\r") == crlf == content.count(b"\n") and b"\x00" not in content


@pytest.mark.parametrize(
    ("content", "clean"),
    [(b"", True), (b"a\r\nb\r\n", True), (b"a\rb\r\n", False), (b"a\nb\r\n", False),
     (b"a\r.\nb", False), (b"\n\r", False), (b"\r\n\r\n", True), (b"x\r", False),
     (b"\r\r\n\n", False), (b"a\x00\r\n", False), (b"\r\n\x00", False)],
)
def test_crafted(content: bytes, clean: bool):
    assert line_endings_clean(content) is clean
    assert line_endings_clean_unlocked(content) is clean


def test_matches_reference_on_random_bytes():
    # "\r x \n" picked out by translate looks like a pair: only the bare-CR
    # search tells them apart, so CR, LF, NUL and letters are mixed densely.
    rng = random.Random(11)
    for _ in range(20000):
        content = bytes(rng.choice(b"\r\n\r\n\x00.ab") for _ in range(rng.randint(0, 14)))
        expected = clean_reference(content)
        assert line_endings_clean(content) is expected, content
        assert line_endings_clean_unlocked(content) is expected, content


def test_bare_cr():
    assert bare_cr(b"ab\rc") and bare_cr(b"\r\r\n") and bare_cr(bytearray(b"x\ry"))
    assert not bare_cr(b"ab\r\n") and not bare_cr(b"ab\r")  # a last CR: see line_endings
    assert not bare_cr(b"\rxab", 2)


def test_dot_line_search_finds_only_line_starts():
    assert DOT_LINE.search(b"a.b\r\nc.\r\n") is None
    found = DOT_LINE.search(bytearray(b"a\r\n.b"))
    assert found is not None and found.start() == 1
