"""The delivery transport's own body handling (`deliver/transport.py`):
dot-stuffing, whole and piece by piece, against a plain reference on the
whole body.  The CRLF check that picks this path is gateway.wire's
(tests/unit/test_wire.py)."""

from __future__ import annotations

import random
import threading

import pytest
from gwtest import Sink, threads_calling

from gateway.deliver import transport
from gateway.deliver.transport import Outbound, OutboundRecipient, SmtpTransport
from gateway.settings import RouteSettings


def test_body_without_dot_lines_is_sent_as_it_is():
    body = b"line one\r\n line. two\r\nthree.\r\n"
    assert transport._stuff(body) is body
    assert transport._stuff_inside(body) is body
    assert transport._stuff(b".a\r\n.b\r\n") == b"..a\r\n..b\r\n"
    assert transport._stuff_inside(b".a\r\n.b\r\n") == b".a\r\n..b\r\n"


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


async def test_large_body_is_checked_in_a_worker_thread_and_sent_as_it_is(
    sink: Sink, monkeypatch: pytest.MonkeyPatch
):
    """Over a piece (1 MiB) the CRLF check runs off the event loop (up to
    that it is cheaper than the hop); a clean body then goes stuffed by the
    transport's own path, byte for byte; one with a bare LF goes through
    aiosmtplib, which mends it."""
    threads = threads_calling(monkeypatch, transport, "line_endings_clean_unlocked")
    route = RouteSettings(host="127.0.0.1", port=sink.port, pool_size=1)
    smtp = SmtpTransport({"upstream": route}, "gw.test.example")
    lines = [(b"." if n % 50 == 0 else b"") + b"x" * (n % 90) for n in range(25000)]
    clean = b"Subject: big\r\n\r\n" + b"\r\n".join(lines) + b"\r\n"
    broken = clean[:5000] + b"bare\nLF" + clean[5000:]
    assert len(clean) > transport._PIECE
    try:
        for body in (clean, broken):
            result = await smtp.send("upstream", Outbound(
                "alice@sender.example", (OutboundRecipient("bob@recipient.example"),), body))
            assert [r.code for r in result.recipients] == [250]
    finally:
        await smtp.close()
    got = await sink.wait(2)
    assert got[0].content == clean
    assert got[1].content == broken.replace(b"bare\nLF", b"bare\r\nLF")
    assert len(threads) == 2 and threading.current_thread().name not in threads


async def test_a_body_up_to_a_piece_is_checked_on_the_loop(
    sink: Sink, monkeypatch: pytest.MonkeyPatch
):
    """200 KB: no thread hop for the CRLF check (it costs the worker far
    more waiting than the check itself)."""
    threads = threads_calling(monkeypatch, transport, "line_endings_clean_unlocked")
    route = RouteSettings(host="127.0.0.1", port=sink.port, pool_size=1)
    smtp = SmtpTransport({"upstream": route}, "gw.test.example")
    body = b"Subject: mid\r\n\r\n" + b"y" * 76 + b"\r\n" * 1 + (b"z" * 76 + b"\r\n") * 2700
    assert 200 * 1024 <= len(body) <= transport._PIECE
    try:
        result = await smtp.send("upstream", Outbound(
            "alice@sender.example", (OutboundRecipient("bob@recipient.example"),), body))
    finally:
        await smtp.close()
    assert [r.code for r in result.recipients] == [250]
    assert (await sink.wait(1))[0].content == body
    assert threads == []
