"""The delivery transport's own body handling (`deliver/transport.py`): the
CRLF check that picks the fast DATA path, and dot-stuffing piece by piece,
each against a plain reference on the whole body."""

from __future__ import annotations

import random

import pytest

from gateway.deliver import transport


def crlf_clean_reference(content: bytes) -> bool:
    crlf = content.count(b"\r\n")
    return content.count(b"\r") == crlf and content.count(b"\n") == crlf


@pytest.mark.parametrize(
    ("content", "clean"),
    [(b"", True), (b"a\r\nb\r\n", True), (b"a\rb\r\n", False), (b"a\nb\r\n", False),
     (b"a\r.\nb", False), (b"\n\r", False), (b"\r\n\r\n", True), (b"x\r", False)],
)
def test_crlf_clean_crafted(content: bytes, clean: bool):
    assert transport._crlf_clean(content) is clean


def test_crlf_clean_matches_reference_on_random_bodies():
    rng = random.Random(11)
    for _ in range(5000):
        content = bytes(rng.choice(b"\r\n\r\n.ab") for _ in range(rng.randint(0, 12)))
        assert transport._crlf_clean(content) is crlf_clean_reference(content), content


def test_pieces_stuffed_equal_the_whole_body_stuffed(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(transport, "_PIECE", 64)
    rng = random.Random(5)
    lines = [(b"." if rng.random() < 0.3 else b"") + b"w" * rng.randint(0, 150)
             for _ in range(300)]
    content = b"\r\n".join(lines) + b"\r\n"
    stuffed = []
    line_start = True
    for piece in transport._pieces(content):
        assert len(piece) <= 64 + 1
        stuffed.append(transport._stuff(piece) if line_start else transport._stuff_inside(piece))
        line_start = piece.endswith(b"\r\n")
    whole = b"\r\n" + content
    assert b"".join(stuffed) == whole.replace(b"\r\n.", b"\r\n..")[2:]
