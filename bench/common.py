"""Pieces of the relay benchmark that run in their own processes, and helpers.

    python bench/common.py sink SMTP_PORT CONTROL_PORT
    python bench/common.py client SPEC.json RESULT.json

The sink is an aiosmtpd server that accepts everything and counts it.  It
reads DATA in blocks up to the terminator (stock aiosmtpd reads it line by
line, which at 200 KB costs more CPU than the relays being measured; on a
2-core machine every CPU cycle the sink spends is taken from them).  A
connection to CONTROL_PORT gets one line back: "<messages> <bytes>".

The client is a deliberately cheap SMTP load generator (raw asyncio streams,
pre-built bytes, persistent connections, MAIL/RCPT/DATA pipelined when the
server offers PIPELINING).  It waits until the wall-clock time `start`,
sends until `end`, and writes per-message results to RESULT.json: the
number of 250s, end-of-data -> reply latencies of the replies that arrived
inside the measured window [`measure_from`, `end`), and errors by reply.
As fast as the relay answers by default; with `mean_gap` (relay.py's
`--rate`) each connection sends at random times, a Poisson process of that
mean gap (the sum over connections is one too, mail as staff send it), and
a reply that comes late delays only its own connection's next message.

Helpers for the orchestrator: free ports, child processes in their own
process group (killed as a group), CPU accounting per session from /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

LOOPBACK = "127.0.0.1"
SENDER = "bench@sender.example.org"
# On the example allow-list (config/recipients.csv), so a policy that checks
# recipients delivers it.
RECIPIENT = "duty.team@childrens.example.gov.uk"

_CLK_TCK = os.sysconf("SC_CLK_TCK")

# --------------------------------------------------------------------------
# messages


_TEXT = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua ut enim ad minim veniam quis nostrud "
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat duis aute irure "
    "in reprehenderit in voluptate velit esse cillum fugiat nulla pariatur excepteur sint "
    "occaecat cupidatat non proident sunt in culpa qui officia deserunt mollit anim id est"
)
_WORDS = _TEXT.split()


def build_message(size: int, serial: int = 0) -> bytes:
    """An RFC 5322 text message of about `size` bytes, CRLF, 76-column lines,
    free of personal data (so a content policy has nothing to object to)."""
    head = (
        f"From: Bench Sender <{SENDER}>\r\n"
        f"To: Duty Team <{RECIPIENT}>\r\n"
        f"Subject: Relay benchmark message {size // 1024} KB\r\n"
        "Date: Tue, 25 Nov 2025 12:00:00 +0000\r\n"
        f"Message-ID: <bench-{size}-{serial}@sender.example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "Content-Transfer-Encoding: 7bit\r\n"
        "\r\n"
    ).encode()
    lines: list[bytes] = []
    total = len(head)
    n = 0
    while total < size:
        words: list[str] = []
        width = 0
        while width < 70:
            word = _WORDS[n % len(_WORDS)]
            n += 7
            words.append(word)
            width += len(word) + 1
        line = (" ".join(words)[:76] + "\r\n").encode()
        lines.append(line)
        total += len(line)
    return head + b"".join(lines)


def data_bytes(message: bytes) -> bytes:
    """`message` as sent after 354: dot-stuffed, with the terminator."""
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


# --------------------------------------------------------------------------
# PostgreSQL


def pg_database(base: str, stack: contextlib.ExitStack, prefix: str = "bench") -> str:
    """A new database on the server of `base` (a SQLAlchemy asyncpg URL),
    dropped when `stack` closes; its URL.  Raises what asyncpg raises when
    the server cannot be reached."""
    import asyncpg

    admin = "postgresql://" + base.split("://", 1)[1]
    name = f"{prefix}_{secrets.token_hex(4)}"

    async def run(statement: str) -> None:
        conn = await asyncio.wait_for(asyncpg.connect(admin), 10)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run("SELECT 1"))
    asyncio.run(run(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        try:
            asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except Exception as exc:
            print(f"  warning: could not drop database {name}: {exc}", file=sys.stderr)

    stack.callback(drop)
    return str(urlunsplit(urlsplit(base)._replace(path=f"/{name}")))


# --------------------------------------------------------------------------
# processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class Child:
    """A subprocess in a session (and process group) of its own, output to a file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send_signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def stop(self, grace: float = 25.0, sig: int = signal.SIGTERM) -> int | None:
        """`sig` to the group, wait up to `grace`, then SIGKILL. Returns the exit code."""
        if self.alive():
            self.send_signal(sig)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.send_signal(signal.SIGKILL)
                self.proc.wait(5)
        # Anything the child left behind in its group goes too.
        self.send_signal(signal.SIGKILL)
        self._log.close()
        return self.proc.returncode

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


def wait_for_smtp(port: int, timeout: float, child: Child | None = None) -> None:
    """Until a 220 greeting comes from 127.0.0.1:`port` (or raise)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if child is not None and not child.alive():
            raise RuntimeError(f"{child.name} exited early:\n{child.tail()}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
                greeting = sock.recv(512)
                if greeting.startswith(b"220"):
                    with contextlib.suppress(OSError):
                        sock.sendall(b"QUIT\r\n")
                        sock.recv(512)
                    return
                last = RuntimeError(f"unexpected greeting {greeting[:80]!r}")
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    where = f"\n{child.tail()}" if child is not None else ""
    raise RuntimeError(f"no SMTP greeting on port {port} after {timeout:.0f}s ({last}){where}")


def thread_cpu_seconds(pid: int) -> float:
    """User+system CPU seconds of the main thread of process `pid` (its
    event loop, for the gateway); 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/task/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return 0.0
    fields = raw[raw.rfind(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def session_cpu_seconds(sid: int) -> float:
    """User+system CPU seconds of the live processes of session `sid`."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        # Fields after the command name (which may contain spaces and parens).
        fields = raw[raw.rfind(b")") + 2 :].split()
        if int(fields[3]) == sid:  # field 6: session
            total += int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
    return total / _CLK_TCK


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # without guest time, already in user
    return (total - idle) / _CLK_TCK, total / _CLK_TCK


def sink_counts(control_port: int) -> tuple[int, int]:
    """(messages, bytes) the sink behind `control_port` has accepted so far."""
    with socket.create_connection((LOOPBACK, control_port), timeout=5) as sock:
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(64)
            if not chunk:
                break
            data += chunk
    messages, size = data.split()
    return int(messages), int(size)


# --------------------------------------------------------------------------
# the sink


def _sink_protocol_class() -> Any:
    from aiosmtpd.smtp import SMTP

    class BlockSink(SMTP):
        """aiosmtpd that reads DATA in blocks up to CRLF "." CRLF."""

        counts: ClassVar[list[int]] = [0, 0]

        async def smtp_DATA(self, arg: str | None) -> None:
            if await self.check_helo_needed():
                return
            if self.envelope is None or not self.envelope.rcpt_tos:
                await self.push("503 5.5.1 Error: need RCPT command")
                return
            if arg:
                await self.push("501 5.5.4 Syntax: DATA")
                return
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            reader = self._reader
            # The stream's limit is aiosmtpd's line limit: lift it for the block.
            saved = getattr(reader, "_limit")  # noqa: B009
            setattr(reader, "_limit", 1 << 28)  # noqa: B010
            try:
                # Up to the first CR, then up to LF "." CRLF: the terminator's
                # CRLF is never consumed by the first read.
                first = await reader.readuntil(b"\r")
                if first == b".\r":
                    await reader.readexactly(1)
                    content = b""
                else:
                    content = (first + await reader.readuntil(b"\n.\r\n"))[:-3]
            finally:
                setattr(reader, "_limit", saved)  # noqa: B010
            content = content.replace(b"\r\n..", b"\r\n.")
            if content.startswith(b".."):
                content = content[1:]
            self.counts[0] += 1
            self.counts[1] += len(content)
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            await self.push("250 2.0.0 OK")

    return BlockSink


class _SinkHooks:
    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", "250-ENHANCEDSTATUSCODES", responses[-1]]


async def _sink_serve(port: int, control_port: int) -> None:
    protocol = _sink_protocol_class()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: protocol(
            _SinkHooks(), hostname="sink.bench", ident="bench sink", enable_SMTPUTF8=True,
            data_size_limit=64 * 1024 * 1024,
        ),
        LOOPBACK,
        port,
        reuse_address=True,
    )

    async def report(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"{protocol.counts[0]} {protocol.counts[1]}\n".encode())
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()

    control = await asyncio.start_server(report, LOOPBACK, control_port, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"sink: listening on {LOOPBACK}:{port}, counts on {control_port}", flush=True)
    async with server, control:
        await stop.wait()


# --------------------------------------------------------------------------
# the client


@dataclass
class ClientSpec:
    ports: list[int]  # connection i goes to ports[i % len(ports)]
    connections: int
    size: int
    start: float  # wall-clock times (time.time())
    measure_from: float
    end: float
    per_connection: int = 100  # messages before QUIT and a new connection
    timeout: float = 60.0  # per reply
    # With size 0: a JSON list of messages (latin-1 text of their bytes) to
    # send in turn instead of build_message's (relay.py's "typical" size).
    messages: str = ""
    # Paced (relay.py's --rate): each connection's mean seconds between
    # sends, drawn at random (Poisson arrivals); 0: each sends as soon as
    # its last reply came.
    mean_gap: float = 0.0
    seed: int = 0  # of the pacing's random gaps: the same times every run


@dataclass
class ClientResult:
    accepted: int = 0  # every 250 to DATA, window or not
    # With `messages` (relay.py's `--sizes typical`), every policy refusal
    # (550 5.7.1) to DATA: a decision like a 250 (its record written, the
    # sender sent a notice), not an error.  Without, a refusal is an error.
    refused: int = 0
    in_window: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, in window, 250 or 550 5.7.1
    errors: dict[str, int] = field(default_factory=dict)  # first reply line -> count
    cpu_seconds: float = 0.0  # the client's own, over the window
    connects: int = 0
    # Paced: messages sent more than a second after their time (a
    # connection still waiting for its last reply): the offered rate was
    # not kept.
    late: int = 0


class _Pace:
    """One connection's send times: exponential gaps of `mean_gap` from
    `start` (a Poisson process), from a seeded generator."""

    def __init__(self, start: float, mean_gap: float, seed: int) -> None:
        self._random = random.Random(seed)
        self._rate = 1.0 / mean_gap
        self.due = start + self._random.expovariate(self._rate)

    async def wait(self) -> bool:
        """Sleep until the next send's time; whether it is late."""
        late = time.time() - self.due > 1.0
        await asyncio.sleep(max(0.0, self.due - time.time()))
        self.due += self._random.expovariate(self._rate)
        return late


class _Reply(Exception):
    def __init__(self, line: bytes) -> None:
        super().__init__(line.decode("ascii", "replace").strip())
        self.line = line


async def _read_reply(reader: asyncio.StreamReader) -> bytes:
    """One (possibly multi-line) reply; returns its last line."""
    while True:
        line = await reader.readuntil(b"\n")
        if len(line) < 4 or line[3:4] != b"-":
            return line


class _Load:
    def __init__(self, spec: ClientSpec) -> None:
        self.spec = spec
        self.result = ClientResult()
        self.errors: Counter[str] = Counter()
        if spec.messages:
            texts = json.loads(Path(spec.messages).read_text())
            contents = [data_bytes(text.encode("latin-1")) for text in texts]
        else:
            contents = [data_bytes(build_message(spec.size))]
        # Each message's MAIL command (its SIZE) and DATA, taken in turn.
        self.messages = [
            (f"MAIL FROM:<{SENDER}> SIZE={len(data)}\r\n".encode(), data) for data in contents
        ]
        self.sent = 0
        self.rcpt = f"RCPT TO:<{RECIPIENT}>\r\n".encode()
        self.cpu_marks: list[float] = []

    def error(self, text: str) -> None:
        self.errors[text[:60]] += 1

    async def connection(self, index: int) -> None:
        spec = self.spec
        port = spec.ports[index % len(spec.ports)]
        pace = _Pace(spec.start, spec.mean_gap, spec.seed * 100_003 + index) if spec.mean_gap \
            else None
        first = True
        while time.time() < spec.end:
            try:
                await asyncio.wait_for(self._session(port, first, pace),
                                       spec.end - time.time() + 120)
            except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
                self.error(f"connection: {type(exc).__name__}")
                await asyncio.sleep(0.2)
            except _Reply as exc:
                self.error(str(exc))
                await asyncio.sleep(0.2)
            first = False

    async def _session(self, port: int, wait_for_start: bool, pace: _Pace | None) -> None:
        spec = self.spec
        timeout = spec.timeout
        reader, writer = await asyncio.open_connection(LOOPBACK, port, limit=1 << 20)
        self.result.connects += 1
        # drain() returns only once everything is handed to the kernel, so
        # the clock starts when the last byte of DATA has been sent.
        writer.transport.set_write_buffer_limits(high=0)
        try:
            greeting = await asyncio.wait_for(_read_reply(reader), timeout)
            if not greeting.startswith(b"220"):
                raise _Reply(greeting)
            writer.write(b"EHLO client.bench\r\n")
            ehlo = b""
            while True:
                line = await asyncio.wait_for(reader.readuntil(b"\n"), timeout)
                ehlo += line
                if line[3:4] != b"-":
                    break
            if not line.startswith(b"250"):
                raise _Reply(line)
            pipelining = b"PIPELINING" in ehlo.upper()
            if wait_for_start:
                await asyncio.sleep(max(0.0, spec.start - time.time()))
            for _ in range(spec.per_connection):
                if pace is not None and await pace.wait():
                    self.result.late += 1
                if time.time() >= spec.end:
                    break
                await self._message(reader, writer, pipelining)
            writer.write(b"QUIT\r\n")
            with contextlib.suppress(Exception):
                await writer.drain()
                await asyncio.wait_for(_read_reply(reader), 5)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _message(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pipelining: bool
    ) -> None:
        timeout = self.spec.timeout
        mail, data = self.messages[self.sent % len(self.messages)]
        self.sent += 1
        replies: list[bytes] = []
        if pipelining:
            writer.write(mail + self.rcpt + b"DATA\r\n")
            for _ in range(3):
                replies.append(await asyncio.wait_for(_read_reply(reader), timeout))
        else:
            for command in (mail, self.rcpt, b"DATA\r\n"):
                writer.write(command)
                reply = await asyncio.wait_for(_read_reply(reader), timeout)
                replies.append(reply)
                if not reply.startswith(b"2"):
                    break
        if len(replies) < 3 or not replies[2].startswith(b"354"):
            bad = next((r for r in replies if not r.startswith((b"250", b"354"))), replies[-1])
            self.error(bad.decode("ascii", "replace").strip())
            if len(replies) == 3 and replies[2].startswith(b"354"):
                writer.write(b".\r\n")  # pragma: no cover - only after a refused RCPT
                await asyncio.wait_for(_read_reply(reader), timeout)
            writer.write(b"RSET\r\n")
            await asyncio.wait_for(_read_reply(reader), timeout)
            return
        writer.write(data)
        await writer.drain()
        sent = time.perf_counter()
        reply = await asyncio.wait_for(_read_reply(reader), timeout)
        done_wall = time.time()
        latency = time.perf_counter() - sent
        if self.spec.messages and reply.startswith(b"550 5.7.1"):
            # Staff mail a policy refuses: a decision.  Lorem mail refused
            # stays an error (nothing in it should be).
            self.result.refused += 1
        elif reply.startswith(b"250"):
            self.result.accepted += 1
        else:
            self.error(reply.decode("ascii", "replace").strip())
            return
        if self.spec.measure_from <= done_wall < self.spec.end:
            self.result.in_window += 1
            self.result.latencies.append(latency)

    async def _cpu_marks(self) -> None:
        spec = self.spec
        await asyncio.sleep(max(0.0, spec.measure_from - time.time()))
        self.cpu_marks.append(time.process_time())
        await asyncio.sleep(max(0.0, spec.end - time.time()))
        self.cpu_marks.append(time.process_time())

    async def run(self) -> ClientResult:
        marks = asyncio.create_task(self._cpu_marks())
        await asyncio.gather(*(self.connection(i) for i in range(self.spec.connections)))
        await marks
        self.result.errors = dict(self.errors)
        self.result.cpu_seconds = self.cpu_marks[1] - self.cpu_marks[0]
        return self.result


def _client_main(spec_path: str, result_path: str) -> None:
    spec = ClientSpec(**json.loads(Path(spec_path).read_text()))
    result = asyncio.run(_Load(spec).run())
    Path(result_path).write_text(json.dumps(asdict(result)))


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "sink":
        asyncio.run(_sink_serve(int(argv[1]), int(argv[2])))
        return 0
    if len(argv) == 3 and argv[0] == "client":
        _client_main(argv[1], argv[2])
        return 0
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
