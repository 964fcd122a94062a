"""gateway.wire: the line-ending check both ends of the relay make, against
a plain reference (counts) on crafted and random bytes."""

from __future__ import annotations

import random

import pytest

from gateway.wire import (
    DOT_LINE,
    MAX_LINE,
    UNLOCKED_FROM,
    bare_cr,
    fold_long_lines,
    has_long_line,
    line_endings_clean,
    line_endings_clean_unlocked,
)


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


# -- lines longer than SMTP allows ------------------------------------------------


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n")


def test_a_message_within_the_limit_is_the_same_object() -> None:
    data = b"Subject: hi\r\n\r\n" + b"x" * MAX_LINE + b"\r\n"
    assert fold_long_lines(data) is data and not has_long_line(data)


def test_a_long_header_is_folded_at_its_spaces_and_unfolds_to_itself() -> None:
    subject = b"Subject: " + b" ".join(b"word%d" % i for i in range(400))
    folded = fold_long_lines(subject + b"\r\nFrom: a@b.example\r\n\r\nbody\r\n")
    assert max(map(len, _lines(folded))) <= MAX_LINE
    header = folded.split(b"\r\nFrom:")[0]
    assert header.replace(b"\r\n", b"") == subject  # RFC 5322 unfolding
    assert folded.endswith(b"\r\nFrom: a@b.example\r\n\r\nbody\r\n")


def test_an_unbroken_line_is_cut_at_the_limit_and_its_rest_indented() -> None:
    url = b"https://example.org/" + b"a" * 2500
    folded = fold_long_lines(b"Subject: x\r\n\r\n" + url + b"\r\n")
    body = _lines(folded)[2:-1]
    # 998 of the URL, then a space and 997 more, then a space and the rest.
    assert [len(line) for line in body] == [MAX_LINE, MAX_LINE, 1 + 2520 - MAX_LINE - 997]
    assert all(line.startswith(b" ") for line in body[1:])
    assert b"".join(line[1:] if i else line for i, line in enumerate(body)) == url
    assert not any(line.startswith(b".") for line in body)


def test_a_cut_never_splits_a_utf8_character() -> None:
    text = ("é" * 1500).encode()  # two bytes each: the limit falls inside one
    folded = fold_long_lines(text + b"\r\n")
    for line in _lines(folded):
        line.decode("utf-8")  # every piece is whole characters
        assert len(line) <= MAX_LINE
    assert folded.replace(b"\r\n ", b"").rstrip(b"\r\n") == text


def test_long_line_search_matches_a_line_by_line_count() -> None:
    for length in (MAX_LINE - 1, MAX_LINE, MAX_LINE + 1, 5000):
        data = b"a\r\n" + b"x" * length + b"\r\nb\r\n"
        assert has_long_line(data) is (length > MAX_LINE)


def test_a_large_message_is_searched_as_a_small_one_is() -> None:
    for length in (MAX_LINE, MAX_LINE + 1):
        data = (b"y" * 70 + b"\r\n") * 5000 + b"x" * length + b"\r\n"
        assert len(data) > UNLOCKED_FROM
        assert has_long_line(data) is (length > MAX_LINE)
        assert has_long_line(data[-100_000:]) is (length > MAX_LINE)
