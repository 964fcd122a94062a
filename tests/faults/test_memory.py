"""Resource bound: a gateway process receiving 20 concurrent 25 MB messages
stays under 300 MB resident (bodies are spooled, not held whole in memory
more than once).  RSS is sampled from /proc/<pid>/status every 50 ms."""

from __future__ import annotations

import base64
import os
import socket
import threading
import time

import pytest
from faults_support import rss_kib
from gwtest import make_message

pytestmark = pytest.mark.faults

CONNECTIONS = 20
MAX_SIZE = 26_214_400
LIMIT_MB = 300


def big_message(size: int) -> bytes:
    """About `size` bytes: base64 text lines (76 chars + CRLF), built fast."""
    chunk = base64.encodebytes(os.urandom(57 * 1024)).replace(b"\n", b"\r\n")  # 1024 lines
    body = chunk * (size // len(chunk) + 1)
    head = make_message(subject="large synthetic attachment", body="")
    return head + body[: size - len(head) - 1024].rsplit(b"\r\n", 1)[0] + b"\r\n"


def _send(port: int, payload: bytes, replies: list[str], lock: threading.Lock) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=300) as sock:
            stream = sock.makefile("rb")

            def reply() -> str:
                while True:
                    line = stream.readline().decode()
                    if len(line) < 4 or line[3] != "-":
                        return line.strip()

            assert reply().startswith("220")
            for command in (b"EHLO big.sender.example", b"MAIL FROM:<alice@sender.example>",
                            b"RCPT TO:<bob@recipient.example>", b"DATA"):
                sock.sendall(command + b"\r\n")
                answer = reply()
                assert answer[:1] in "23", answer
            sock.sendall(payload)
            sock.sendall(b".\r\n")
            answer = reply()
            sock.sendall(b"QUIT\r\n")
    except Exception as exc:
        answer = f"error {type(exc).__name__}: {exc}"
    with lock:
        replies.append(answer)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_rss_under_300mb_with_20_connections_of_25mb(gateway_process, sink, db_url, figures):
    gw = gateway_process(
        {
            # idle_timeout covers the whole DATA phase (see the report): long
            # enough here that the figure is about memory, not the timer.
            "server": {"max_message_size": MAX_SIZE, "inspect_timeout": "300s",
                       "idle_timeout": "600s"},
            "upstream": {"timeout": "120s"},
            "queue": {"lease": "5m"},  # not shorter than the upstream timeout
        }
    )
    assert gw.proc is not None
    pid = gw.proc.pid
    payload = big_message(MAX_SIZE - 64 * 1024)
    assert b"\r\n.\r\n" not in payload and len(payload) <= MAX_SIZE
    idle = rss_kib(pid)

    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        started = time.monotonic()
        while not done.is_set():
            samples.append((time.monotonic() - started, rss_kib(pid)))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    replies: list[str] = []
    lock = threading.Lock()
    senders = [
        threading.Thread(target=_send, args=(gw.port, payload, replies, lock), daemon=True)
        for _ in range(CONNECTIONS)
    ]
    started = time.monotonic()
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(500)
    received_in = time.monotonic() - started
    accepted = sum(1 for r in replies if r.startswith("250"))
    delivered = 0
    if accepted:
        try:
            delivered = len(sink.wait_sync(accepted, timeout=240))
        except AssertionError:
            delivered = len(sink.snapshot())
    time.sleep(1)
    done.set()
    sampler.join(5)

    peak_kib = max(kib for _, kib in samples)
    peak_mb = peak_kib / 1024
    timeline = ", ".join(
        f"{t:.0f}s:{kib // 1024}" for t, kib in samples[:: max(1, len(samples) // 12)]
    )
    figures(
        tried=CONNECTIONS, accepted=accepted, delivered=delivered,
        lost=max(0, accepted - delivered), duplicates=0,
        note=(f"RSS idle {idle // 1024} MB, peak {peak_mb:.0f} MB (limit {LIMIT_MB}); "
              f"received in {received_in:.1f}s; MB over time {timeline}"),
    )
    assert accepted == CONNECTIONS, replies
    assert delivered == accepted
    assert peak_mb < LIMIT_MB, (
        f"gateway RSS peaked at {peak_mb:.0f} MB with {CONNECTIONS} x 25 MB messages "
        f"(limit {LIMIT_MB} MB); samples (s:MB): {timeline}"
    )
