"""DATA read in chunks: terminator, dot-unstuffing and line-ending checks
across chunk boundaries, size limit, spooling, what follows the terminator.

Three levels:
- `read_data` and its `DataCollector` given every possible split of each
  stream (crafted and random), against a reference that works on the whole
  stream at once;
- a bare `GatewaySMTP` listener on a real socket with a capturing acceptor
  and a tiny chunk size, the client pausing between pieces so each piece is
  a chunk of its own;
- the whole gateway (`gateway_factory`, `sink`): a multi-megabyte message
  with dot lines is spooled, queued, delivered byte for byte, and its spool
  file is gone.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from gwtest import SmtpConn, dot_stuff, make_message, strip_received, threads_calling
from receive_listener import Listener

import gateway.receive.data as data_module
from gateway.receive import replies
from gateway.receive.data import DataCollector, SpooledBody, read_data

pytestmark = pytest.mark.timeout(60)


# -- the reader and the collector, every split ---------------------------------


def reference(stream: bytes) -> tuple[bytes, bool, bytes]:
    """(unstuffed content, bare line ending?, what follows the terminator) of
    a DATA stream taken whole: the content starts on a line and ends at the
    first CRLF "." CRLF."""
    lined = b"\r\n" + stream
    end = lined.index(b"\r\n.\r\n")
    raw = lined[:end + 2]
    crlf = raw.count(b"\r\n")
    bare = b"\x00" in raw or raw.count(b"\r") != crlf or raw.count(b"\n") != crlf
    return raw.replace(b"\r\n.", b"\r\n")[2:], bare, lined[end + 5:]


SAMPLES = [
    b"a\r\n",
    b"",
    b"..\r\n",
    b"...x\r\n.y\r\n..\r\n",
    b"line\r\n.dot\r\n..two\r\nend\r\n",
    b"a\r\n..\r\n..\r\nb\r\n",
    b"x\r\r\n",  # bare CR before a CRLF
    b"x\ny\r\n",  # bare LF
    b"x\ry\r\n",  # bare CR
    b"x\x00y\r\n",  # NUL
    b"\r\n\r\n",  # empty lines first
    b"\r\n..x\r\n",
    b".\r\r\n",  # a dot line, a bare CR, then CRLF "." CRLF
    b".\r.\r\n",
    b"x\n.\r\nRSET\r\n",  # bare LF "." CRLF: not the end
    b"x\r.\r\n",  # bare CR "." CRLF: not the end
    b"ab\r\n..\r\n",
]


async def read_split(stream: bytes, cuts: tuple[int, ...], chunk: int = 8,
                     threshold: int = 1 << 20) -> tuple[DataCollector, bytes]:
    """`read_data` on a StreamReader given `stream` in the pieces `cuts`
    make, each reaching the reader alone; (collector, what is left unread)."""
    reader = asyncio.StreamReader(limit=chunk)
    collector = DataCollector(max_size=1 << 20, spool_threshold=threshold)
    progress: list[None] = []
    task = asyncio.create_task(
        read_data(reader, collector, chunk, lambda: progress.append(None)))
    start = 0
    for cut in (*cuts, len(stream)):
        reader.feed_data(stream[start:cut])
        start = cut
        for _ in range(4):
            await asyncio.sleep(0)
    reader.feed_eof()
    await asyncio.wait_for(task, 5)
    return collector, await reader.read()


def content_of(collector: DataCollector) -> bytes:
    result = collector.result()
    if isinstance(result, SpooledBody):
        try:
            return result.read()
        finally:
            result.close()
    return result


def splits_of(stream: bytes) -> list[tuple[int, ...]]:
    splits: list[tuple[int, ...]] = [()]
    splits += [(i,) for i in range(1, len(stream))]
    splits += [(i, j) for i in range(1, len(stream)) for j in range(i + 1, len(stream))]
    return splits


async def check_every_split(stream: bytes, threshold: int) -> None:
    expected, bare, rest = reference(stream)
    for cuts in splits_of(stream):
        collector, left = await read_split(stream, cuts, threshold=threshold)
        assert left == rest, (stream, cuts)
        assert collector.bare_line_ending is bare, (stream, cuts)
        assert collector.size == len(expected), (stream, cuts)
        assert content_of(collector) == expected, (stream, cuts)
        collector.close()


@pytest.mark.parametrize("raw", SAMPLES)
@pytest.mark.parametrize("threshold", [1 << 20, 2])
async def test_reader_matches_whole_message_reference_at_every_split(raw: bytes, threshold: int):
    await check_every_split(raw + b".\r\nNOOP\r\n", threshold)


async def test_reader_matches_reference_on_random_streams():
    """Streams of CR, LF, dots, NUL and letters, each ended by a terminator
    (which an earlier one may precede): every split of each."""
    rng = random.Random(2026)
    for _ in range(150):
        body = bytes(rng.choice(b"\r\n\r\n..a\x00") for _ in range(rng.randint(0, 9)))
        await check_every_split(body + b"\r\n.\r\nQ", threshold=1 << 20)


def large_stream(defect: bytes, where: str) -> bytes:
    """About 300 KB of CRLF lines (some dot-stuffed) with `defect` at `where`."""
    lines = [(b".." if n % 97 == 0 else b"") + b"w" * (n % 70) for n in range(8400)]
    body = b"\r\n".join(lines) + b"\r\n"
    at = {"start": 0, "middle": len(body) // 2 + 3, "end": len(body) - 2}[where]
    return body[:at] + defect + body[at:] + b".\r\nNOOP\r\n"


@pytest.mark.parametrize("defect", [b"", b"\n", b"\r", b"\x00", b"\r\r\n", b"x\n"])
@pytest.mark.parametrize("where", ["start", "middle", "end"])
async def test_large_message_in_memory_is_checked_whole_in_a_worker_thread(
    defect: bytes, where: str, monkeypatch: pytest.MonkeyPatch
):
    """From UNLOCKED_FROM bytes a message kept in memory is checked once, by
    the search that lets go of the GIL, and finds what the chunked check finds."""
    threads = threads_calling(monkeypatch, data_module, "line_endings_clean_unlocked")
    stream = large_stream(defect, where)
    expected, bare, rest = reference(stream)
    assert len(expected) >= data_module.UNLOCKED_FROM
    collector, left = await read_split(stream, (5000, 40_000, 70_001), chunk=16 * 1024)
    assert (left, collector.bare_line_ending, content_of(collector)) == (rest, bare, expected)
    assert bare is (defect not in (b"", b"x"))
    assert len(threads) == 1 and threads[0] != threading.current_thread().name
    # Spooled from the start, the same stream is checked chunk by chunk instead.
    spooled, _ = await read_split(stream, (5000, 40_000, 70_001), chunk=16 * 1024,
                                  threshold=1000)
    assert spooled.bare_line_ending is bare and len(threads) == 1
    spooled.close()


async def test_reader_calls_progress_once_a_chunk():
    """Each 100-byte piece arriving alone is one read of more than a chunk
    (64): one call each.  A trickle of smaller pieces would make none."""
    stream = b"".join(b"%05d\r\n" % n for n in range(100)) + b".\r\n"
    pieces = [stream[i:i + 100] for i in range(0, len(stream), 100)]
    reader = asyncio.StreamReader(limit=64)
    collector = DataCollector(max_size=1 << 20, spool_threshold=1 << 20)
    calls: list[None] = []
    task = asyncio.create_task(read_data(reader, collector, 64, lambda: calls.append(None)))
    for piece in pieces:
        reader.feed_data(piece)
        for _ in range(4):
            await asyncio.sleep(0)
    await asyncio.wait_for(task, 5)
    assert len(calls) == len(stream) // 100 == 7  # the last piece is 3 bytes
    assert content_of(collector) == stream[:-3]

    trickle = asyncio.StreamReader(limit=64)
    collector = DataCollector(max_size=1 << 20, spool_threshold=1 << 20)
    calls.clear()
    task = asyncio.create_task(read_data(trickle, collector, 64, lambda: calls.append(None)))
    for piece in [b"x" * 30 + b"\r\n", b"y" * 20 + b"\r\n", b".\r\n"]:
        trickle.feed_data(piece)
        for _ in range(4):
            await asyncio.sleep(0)
    await asyncio.wait_for(task, 5)
    assert calls == []


def test_collector_crlf_across_chunks_is_one_line_ending():
    collector = DataCollector(max_size=1 << 20, spool_threshold=1 << 20)
    collector.feed(b"abc\r")
    collector.feed(b"\ndef\r\n")
    assert not collector.bare_line_ending
    assert content_of(collector) == b"abc\r\ndef\r\n"


@pytest.mark.parametrize(
    "pieces",
    [(b"abc\r", b"def\r\n"), (b"abc\r",), (b"abc", b"\ndef\r\n"), (b"a\r", b"\r\n"),
     (b"a\x00\r\n",), (b"\n\r",), (b"a\r\n\r", b"\r\n")],
)
def test_collector_finds_a_bare_line_ending_at_a_chunk_edge(pieces: tuple[bytes, ...]):
    collector = DataCollector(max_size=1 << 20, spool_threshold=1 << 20)
    for piece in pieces:
        collector.feed(piece)
    assert collector.bare_line_ending
    collector.close()


def test_collector_over_the_limit_drops_content_but_counts_on():
    collector = DataCollector(max_size=10, spool_threshold=4)
    collector.feed(b"0123456789\r")
    assert collector.oversize
    collector.feed(b"\n")
    assert collector.size == 12 and collector.oversize
    assert collector.result() == b""
    collector.close()


def test_collector_spools_above_threshold_and_close_removes_it(tmp_path: Path):
    collector = DataCollector(max_size=1 << 20, spool_threshold=10, spool_dir=str(tmp_path))
    collector.feed(b"0123456789\r\n")
    result = collector.result()
    assert isinstance(result, SpooledBody)
    assert result.size == 12 and result.read() == b"0123456789\r\n"
    assert os.listdir(tmp_path) == []  # anonymous: never visible, even while open
    result.close()
    assert result.file.closed


def test_collector_spool_failure_is_reported_not_raised(tmp_path: Path):
    collector = DataCollector(
        max_size=1 << 20, spool_threshold=1, spool_dir=str(tmp_path / "missing")
    )
    collector.feed(b"ab\r\n")
    assert isinstance(collector.error, OSError)
    collector.feed(b"cd\r\n")  # the rest is still followed, not kept
    assert collector.size == 8 and not collector.bare_line_ending
    collector.close()


# -- a bare listener over a real socket ---------------------------------------


async def open_data(port: int) -> SmtpConn:
    conn = await SmtpConn.open(port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
    assert (await conn.cmd("RCPT TO:<bob@recipient.example>"))[0] == 250
    assert (await conn.cmd("DATA"))[0] == 354
    return conn


async def send_pieces(conn: SmtpConn, *pieces: bytes, pause: float = 0.05) -> None:
    """Each piece in its own write, a pause between: each reaches the server
    (and so its reader's buffer) alone."""
    for piece in pieces:
        await conn.send(piece)
        await asyncio.sleep(pause)


BODY = b"From: a@x.example\r\nSubject: s\r\n\r\n" + b"0123456789" * 3 + b"\r\n"


@pytest.mark.parametrize("threshold", [1 << 20, 40])
async def test_terminator_split_across_chunks(listener: Listener, threshold: int):
    port, captured = await listener(spool_threshold=threshold)
    conn = await open_data(port)
    # The first piece ends inside the terminator: "\r\n." | "\r\n".
    await send_pieces(conn, BODY + b".", b"\r\n")
    assert (await conn.reply())[0] == 250
    (_, content, spooled), = captured.messages
    assert content == BODY and spooled is (len(BODY) > threshold)
    assert captured.spooled_open in ([], [True])  # open while the acceptor runs
    await conn.close()


@pytest.mark.parametrize("cut", [1, 2, 3])
async def test_terminator_split_at_each_byte(listener: Listener, cut: int):
    port, captured = await listener()
    conn = await open_data(port)
    ending = b"\r\n.\r\n"
    await send_pieces(conn, BODY[:-2] + ending[:cut], ending[cut:])
    assert (await conn.reply())[0] == 250
    assert captured.messages[0][1] == BODY
    await conn.close()


@pytest.mark.parametrize("cut", [1, 2])
async def test_dot_unstuffing_across_chunks(listener: Listener, cut: int):
    port, captured = await listener(spool_threshold=30)
    conn = await open_data(port)
    lines = b"A" * 40 + b"\r\n..leading dot\r\n...two\r\n..\r\nend\r\n"
    at = lines.index(b"\r\n..") + cut  # "\r" | "\n.." or "\r\n" | ".."
    await send_pieces(conn, lines[:at], lines[at:] + b".\r\n")
    assert (await conn.reply())[0] == 250
    assert captured.messages[0][1] == (
        b"A" * 40 + b"\r\n.leading dot\r\n..two\r\n.\r\nend\r\n"
    )
    await conn.close()


async def test_crlf_across_chunks_is_accepted(listener: Listener):
    port, captured = await listener()
    conn = await open_data(port)
    first = b"Subject: split line ending\r\n\r\n" + b"x" * 30 + b"\r"
    await send_pieces(conn, first, b"\nmore\r\n.\r\n")
    assert (await conn.reply())[0] == 250
    assert captured.messages[0][1].endswith(b"x" * 30 + b"\r\nmore\r\n")
    await conn.close()


@pytest.mark.parametrize(
    ("pieces", "why"),
    [
        ((b"Subject: s\r\n\r\n" + b"x" * 30 + b"\r", b"y\r\n.\r\n"), "bare CR at a chunk edge"),
        ((b"Subject: s\r\n\r\n" + b"x" * 30, b"\ny\r\n.\r\n"), "bare LF at a chunk edge"),
        ((b"Subject: s\r\n\r\n" + b"x" * 30 + b"\x00", b"y\r\n.\r\n"), "NUL"),
    ],
)
async def test_bare_line_endings_and_nul_are_refused(
    listener: Listener, pieces: tuple[bytes, ...], why: str
):
    port, captured = await listener()
    conn = await open_data(port)
    await send_pieces(conn, *pieces)
    assert await conn.reply() == (550, replies.S550_BARE_LINE_ENDING[4:]), why
    assert captured.messages == []
    assert (await conn.cmd("NOOP"))[0] == 250  # the session goes on
    await conn.close()


async def test_fake_terminator_after_chunks_is_refused_and_drained(listener: Listener):
    port, captured = await listener()
    conn = await open_data(port)
    smuggled = b"MAIL FROM:<ceo@x.example>\r\nRCPT TO:<v@y.example>\r\nDATA\r\nbad\r\n"
    # A bare LF "." CRLF, its LF alone at the start of a chunk.
    await send_pieces(conn, b"Subject: s\r\n\r\n" + b"x" * 30, b"\n.\r\n" + smuggled, b".\r\n")
    assert (await conn.reply())[0] == 550
    assert (await conn.cmd("NOOP"))[0] == 250  # nothing smuggled was a command
    assert captured.messages == []
    await conn.close()


async def test_oversize_is_drained_then_552_and_session_continues(listener: Listener):
    port, captured = await listener(max_message_size=100, spool_threshold=40)
    conn = await open_data(port)
    await send_pieces(conn, *[b"y" * 60 + b"\r\n" for _ in range(5)], b".\r\n")
    assert (await conn.reply())[0] == 552
    assert (await conn.cmd("RSET"))[0] == 250
    assert captured.messages == []
    await conn.close()


async def test_pipelined_commands_after_the_terminator_stay_in_the_stream(listener: Listener):
    port, captured = await listener(spool_threshold=40)
    conn = await open_data(port)
    second = make_message(subject="second")
    await conn.send(
        BODY + b".\r\n"
        + b"MAIL FROM:<alice@sender.example>\r\nRCPT TO:<carol@recipient.example>\r\nDATA\r\n"
    )
    assert (await conn.reply())[0] == 250  # the first message
    assert (await conn.reply())[0] == 250  # MAIL
    assert (await conn.reply())[0] == 250  # RCPT
    assert (await conn.reply())[0] == 354  # DATA
    await conn.send(dot_stuff(second) + b".\r\n")
    assert (await conn.reply())[0] == 250
    assert [m[1] for m in captured.messages] == [BODY, second]
    assert captured.messages[1][0].rcpt_tos == ("carol@recipient.example",)
    await conn.close()


async def test_empty_message_and_dot_only_first_line(listener: Listener):
    port, captured = await listener()
    conn = await open_data(port)
    await conn.send(b".\r\n")
    assert (await conn.reply())[0] == 250
    assert captured.messages[0][1] == b""
    await conn.close()


async def test_steady_upload_outlasts_idle_timeout_but_dribble_does_not(listener: Listener):
    port, captured = await listener(chunk=64, idle_timeout=0.6, data_timeout=20.0)
    conn = await open_data(port)
    started = time.monotonic()
    # A chunk every 0.3 s for about 1.5 s: each restarts the idle timer.
    for _ in range(5):
        await send_pieces(conn, b"z" * 100 + b"\r\n", pause=0.3)
    await conn.send(b".\r\n")
    assert (await conn.reply())[0] == 250
    assert time.monotonic() - started > 1.2
    await conn.close()

    conn = await open_data(port)
    started = time.monotonic()
    with pytest.raises((ConnectionError, OSError, asyncio.IncompleteReadError)):
        for _ in range(20):  # a byte every 0.2 s never fills a chunk
            await send_pieces(conn, b"d", pause=0.2)
        await conn.reply(timeout=5)
    assert time.monotonic() - started < 3
    assert len(captured.messages) == 1


async def test_data_timeout_caps_the_whole_transfer(listener: Listener):
    port, captured = await listener(chunk=64, idle_timeout=5.0, data_timeout=1.0)
    conn = await open_data(port)
    started = time.monotonic()
    with pytest.raises((ConnectionError, OSError, asyncio.IncompleteReadError)):
        for _ in range(40):  # steady chunks, but longer than data_timeout
            await send_pieces(conn, b"w" * 100 + b"\r\n", pause=0.1)
        await conn.reply(timeout=5)
    assert time.monotonic() - started < 3
    assert captured.messages == []


# -- the whole gateway ----------------------------------------------------------


def open_spool_files(spool: Path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(spool)):
            found.append(target)
    return found


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_large_message_is_spooled_queued_and_relayed_byte_for_byte(
    gateway_factory: Any, sink: Any, tmp_path: Path
):
    spool = tmp_path / "spool"
    spool.mkdir()
    gw = await gateway_factory(
        {"server": {"max_message_size": 8_000_000, "spool_dir": str(spool)}}
    )
    # About 3 MB: lines starting with a dot every few lines, so dots fall on
    # the boundaries of the receive chunks, the transport's pieces and the
    # database's blob pieces.
    lines = [
        (b"." if n % 7 == 0 else b"") + b"%07d " % n + b"q" * 70 for n in range(40_000)
    ]
    message = make_message(subject="large", body="") + b"\r\n".join(lines) + b"\r\n"
    conn = await SmtpConn.open(gw.port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
    assert (await conn.cmd("RCPT TO:<bob@recipient.example>"))[0] == 250
    assert (await conn.cmd("DATA"))[0] == 354
    await conn.send(dot_stuff(message) + b".\r\n")
    code, text = await conn.reply(timeout=60)
    assert code == 250, text
    assert open_spool_files(spool) == []  # closed, so gone, once answered
    (relayed,) = await sink.wait(1, timeout=60)
    assert strip_received(relayed.content)[1] == message
    await conn.close()


async def read_ahead_split(
    stream: bytes, read_ahead: Any
) -> tuple[DataCollector, bytes]:
    reader = asyncio.StreamReader(limit=16 * 1024)
    collector = DataCollector(max_size=1 << 20, spool_threshold=1 << 20, read_ahead=read_ahead)
    task = asyncio.create_task(read_data(reader, collector, 16 * 1024, lambda: None))
    reader.feed_data(stream)
    reader.feed_eof()
    await asyncio.wait_for(task, 5)
    return collector, await reader.read()


@pytest.mark.parametrize("defect", [b"", b"\n", b"\x00"])
async def test_read_ahead_runs_on_clean_large_content_in_the_checking_thread(defect: bytes):
    seen: list[tuple[str, bytes]] = []

    def read_ahead(content: bytes) -> str:
        seen.append((threading.current_thread().name, content))
        return "read"

    stream = large_stream(defect, "middle")
    expected, bare, _ = reference(stream)
    collector, _ = await read_ahead_split(stream, read_ahead)
    assert collector.bare_line_ending is bare
    if bare:
        assert seen == [] and collector.ahead is None
        return
    content = content_of(collector)
    assert content == expected and collector.ahead == "read"
    ((thread, given),) = seen
    assert given is content and thread != threading.current_thread().name


async def test_read_ahead_is_not_run_on_small_content():
    seen: list[bytes] = []
    collector, _ = await read_ahead_split(b"Subject: x\r\n\r\nhello\r\n.\r\n", seen.append)
    assert content_of(collector) == b"Subject: x\r\n\r\nhello\r\n"
    assert seen == [] and collector.ahead is None


async def test_a_200_kb_message_is_checked_on_the_loop(monkeypatch: pytest.MonkeyPatch):
    """Under UNLOCKED_FROM no thread hop: checking 200 KB costs the loop less
    than the hop's latency.  Nor is anything read ahead."""
    threads = threads_calling(monkeypatch, data_module, "line_endings_clean_unlocked")
    seen: list[bytes] = []
    body = (b"u" * 70 + b"\r\n") * 2900
    assert 200 * 1024 <= len(body) < data_module.UNLOCKED_FROM
    collector, _ = await read_ahead_split(body + b".\r\n", seen.append)
    assert content_of(collector) == body and not collector.bare_line_ending
    assert threads == [] and seen == [] and collector.ahead is None


async def test_a_failing_read_ahead_leaves_the_content_as_it_is():
    def read_ahead(content: bytes) -> None:
        raise RuntimeError("no head start")

    stream = large_stream(b"", "end")
    expected, _, _ = reference(stream)
    collector, _ = await read_ahead_split(stream, read_ahead)
    assert not collector.bare_line_ending and collector.ahead is None
    assert content_of(collector) == expected


async def test_acceptor_is_given_what_read_ahead_made(listener: Listener):
    port, captured = await listener(chunk=16 * 1024, max_message_size=1 << 20,
                                    read_ahead=lambda content: ("ahead", len(content)))
    small = make_message(body="short\r\n")
    large = make_message(body=("v" * 70 + "\r\n") * 4000)
    conn = await SmtpConn.open(port)
    await conn.cmd("EHLO client.example")
    for raw in (small, large):
        await conn.cmd("MAIL FROM:<alice@sender.example>")
        await conn.cmd("RCPT TO:<bob@recipient.example>")
        await conn.cmd("DATA")
        assert (await conn.cmd(dot_stuff(raw) + b"."))[0] == 250
    await conn.close()
    assert captured.aheads == [None, ("ahead", len(large))]
