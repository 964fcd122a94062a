"""The header block's fast split reads what the stdlib feed parser reads.

`_header_block` splits a clean CRLF header block itself and hands anything
else to the feed parser; either way the result must be the feed parser's:
the same fields (names and raw values, in order), defects, envelope line
and empty body.  Random blocks are built from the pieces where readers
disagree: folded lines, a leading continuation, "From " lines, a line that
is no field, an empty field name, 8-bit and NUL bytes, and bare CR or LF.
"""

from __future__ import annotations

import random
import tracemalloc
from email.message import Message
from email.parser import BytesFeedParser
from email.policy import compat32

import pytest

import gateway.parse.parser as parser_module
from gateway.parse.parser import _header_block, parse_message

PIECES = [
    b"Subject: hello", b"To: a@example.org", b"to:b@example.org", b"X-Empty:",
    b"Content-Type: text/plain; charset=us-ascii", b"Content-Type: multipart/mixed; boundary=b",
    b"Content-Transfer-Encoding: base64", b" folded part", b"\tfolded tab", b" ",
    b"From sender@example.org Tue Nov 25 12:00:00 2025", b"From: c@example.org",
    b":no name", b"Not a field", b"Na me: v", b"X-Eight: caf\xc3\xa9", b"X-Nul: a\x00b",
    b"X-Colon:: double", b"Received: from a\r\n by b", b"X-Long: " + b"w" * 300,
]
ENDINGS = [b"\r\n"] * 8 + [b"\n", b"\r"]


def feed_parsed(block: bytes) -> Message:
    parser = BytesFeedParser(policy=compat32)
    parser.feed(block)
    return parser.close()


def shape(message: Message) -> tuple[object, ...]:
    fields = (list(message.raw_items()), message.get_unixfrom(), message.get_content_type())
    if message.get_content_maintype() in ("multipart", "message"):
        # The feed parser goes on to read such a body (here: none, so it
        # notes a missing boundary); the caller parses those messages whole.
        return fields
    return (*fields, [type(d).__name__ for d in message.defects], message.get_payload())


def random_block(rng: random.Random) -> bytes:
    lines = [rng.choice(PIECES) + rng.choice(ENDINGS) for _ in range(rng.randint(0, 8))]
    return b"".join(lines) + rng.choice([b"\r\n", b"\r\n", b"\n"])


CRAFTED = [
    b"\r\n",
    b"Subject: s\r\n\r\n",
    b"Subject: s\r\n folded\r\n\tagain\r\nTo: t\r\n\r\n",
    b" leading continuation\r\nSubject: s\r\n\r\n",
    b"From someone\r\nSubject: s\r\n\r\n",
    b"Subject: s\r\nFrom someone\r\n\r\n",
    b"Subject: s\r\nno colon here\r\n\r\n",
    b":\r\n\r\n",
    b"Subject: s\nTo: t\n\n",
    b"Subject: s\rTo: t\r\n\r\n",
    b"X: caf\xc3\xa9\r\nY: \x00\r\n\r\n",
]


@pytest.mark.parametrize("block", CRAFTED)
def test_crafted_blocks_read_as_the_feed_parser_reads_them(block: bytes):
    assert shape(_header_block(block)) == shape(feed_parsed(block))


def test_random_blocks_read_as_the_feed_parser_reads_them():
    rng = random.Random(20261126)
    for _ in range(3000):
        block = random_block(rng)
        assert shape(_header_block(block)) == shape(feed_parsed(block)), block


def test_clean_block_is_split_without_the_feed_parser(monkeypatch: pytest.MonkeyPatch):
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the feed parser was used")

    monkeypatch.setattr(parser_module, "BytesFeedParser", refuse)
    raw = (b"From: a@example.org\r\nSubject: hello\r\n there\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\nbody line\r\n")
    parsed = parse_message(raw)
    assert not parsed.problems
    assert parsed.subject == "hello there"
    (part,) = parsed.parts
    assert part.payload == b"body line\r\n" and part.charset == "utf-8"


@pytest.mark.parametrize("cte", ["", "7bit", "8BIT ", "binary", "base64", "quoted-printable"])
def test_single_part_body_decodes_as_the_feed_parser_decodes_it(cte: str):
    header = f"Content-Transfer-Encoding: {cte}\r\n" if cte else ""
    body = {"base64": b"aGVsbG8gw6k=\r\n", "quoted-printable": b"caf=C3=A9 \xe9=\r\nx\r\n"}.get(
        cte.strip(), b"caf\xc3\xa9 \xe9 \x00 line\r\n.dot\r\n")
    raw = (b"Subject: s\r\nContent-Type: text/plain; charset=utf-8\r\n"
           + header.encode() + b"\r\n" + body)
    whole = feed_parsed(raw)
    (part,) = parse_message(raw).parts
    assert part.payload == whole.get_payload(decode=True)


def test_a_charset_with_a_nul_and_8bit_text_left_after_the_headers_is_parsed_whole():
    # Found by the coverage-guided fuzzer.  A bare CR ends the header block
    # for the feed parser before the CRLF blank line the fast path found, so
    # 8-bit text is left in the block's payload; the stdlib decodes it by the
    # declared charset to tell whether anything was left, and a NUL in that
    # name raises ValueError.  The message is read by the feed parser instead.
    raw = (b'From: a@example.org\r\nContent-Type: text/plain; charset="u\x00"\r\n'
           b"\r\xd5\nleft over\r\n\r\nbody\r\n")
    parsed = parse_message(raw)
    (part,) = parsed.parts
    assert part.payload == feed_parsed(raw).get_payload(decode=True)
    assert b"left over" in part.payload and b"body" in part.payload


@pytest.mark.parametrize("cte", ["8bit", "7bit", "binary"])
def test_a_large_single_part_body_is_held_once_not_as_a_str_too(cte: str):
    # A 25 MB message was held three times over while it was parsed: as the
    # bytes received, as the str `set_payload` made of them, and as the
    # bytes `get_payload(decode=True)` encoded back (after a full encode of
    # its own to look for surrogates).  Kept as bytes, the part's payload is
    # the body itself: what parsing allocates is that one copy of the body.
    body = (b"caf\xc3\xa9 line of synthetic text\r\n" * 40_000)[: 1 << 20]
    raw = (b"Subject: s\r\nContent-Type: text/plain; charset=utf-8\r\n"
           + f"Content-Transfer-Encoding: {cte}\r\n\r\n".encode() + body)
    tracemalloc.start()
    try:
        (part,) = parse_message(raw).parts
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert part.payload == body
    assert peak < 1.5 * len(body), f"parsing a {len(body)} byte body allocated {peak} at peak"
