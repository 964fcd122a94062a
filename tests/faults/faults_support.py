"""Fault suite support, used by tests/faults/conftest.py and the tests (opt-in: `pytest -m faults tests/faults`).

- The `faults` marker is registered here and every test carrying it is
  skipped unless the `-m` expression selects it, so `make test` stays fast
  and self-contained while `.ci/run` runs the suite on its own.
- `figures`: each case records (cases tried, accepted, delivered, lost,
  duplicates); the table is printed at the end of the run.
- `FaultProxy`: a TCP proxy in front of the sink that can greet then hang,
  reset the connection in the middle of DATA, or drip the upstream's replies
  one byte every 100 ms.
- `LoadClient`: an smtplib client thread that resends any message whose 250
  it did not see (as a real MTA would) and records what got 250.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import smtplib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from gwtest import Sink, make_message

FAULTS_HELP = "faults: opt-in fault-injection suite (run with -m faults)"


def _selects_faults(config: pytest.Config) -> bool:
    expr = config.getoption("markexpr", "") or ""
    if not expr:
        return False
    try:
        from _pytest.mark.expression import Expression

        return bool(Expression.compile(expr).evaluate(lambda name, **kw: name == "faults"))
    except Exception:  # a private API: fall back to a plain reading
        return "faults" in expr and "not faults" not in expr


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", FAULTS_HELP)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _selects_faults(config):
        return
    skip = pytest.mark.skip(reason="opt-in fault suite: run with `pytest -m faults`")
    for item in items:
        if item.get_closest_marker("faults") is not None:
            item.add_marker(skip)


# --------------------------------------------------------------------------
# figures


@dataclass
class Figure:
    case: str
    tried: int = 0
    accepted: int = 0
    delivered: int = 0
    lost: int = 0
    duplicates: int = 0
    note: str = ""

    def line(self) -> str:
        return (
            f"{self.case:<58} tried {self.tried:>5}  accepted {self.accepted:>5}  "
            f"delivered {self.delivered:>5}  lost {self.lost:>3}  dup {self.duplicates:>3}"
            + (f"  ({self.note})" if self.note else "")
        )


_FIGURES: list[Figure] = []


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[..., Figure]:
    """`figures(**counts)` records this case's numbers and prints them."""

    def record(**counts: Any) -> Figure:
        figure = Figure(case=request.node.name, **counts)
        _FIGURES.append(figure)
        print("\n" + figure.line())
        return figure

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("fault suite figures")
    for figure in _FIGURES:
        terminalreporter.write_line(figure.line())
    total = Figure(
        case=f"TOTAL ({len(_FIGURES)} cases)",
        tried=sum(f.tried for f in _FIGURES),
        accepted=sum(f.accepted for f in _FIGURES),
        delivered=sum(f.delivered for f in _FIGURES),
        lost=sum(f.lost for f in _FIGURES),
        duplicates=sum(f.duplicates for f in _FIGURES),
    )
    terminalreporter.write_line(total.line())


# --------------------------------------------------------------------------
# counting what arrived

MESSAGE_ID = re.compile(rb"^Message-ID: <([^>]+)>", re.M | re.I)


def message_ids(sink: Sink, sender: str | None = None) -> collections.Counter[str]:
    """Message-IDs the sink received (optionally only from `sender`), with counts."""
    ids: collections.Counter[str] = collections.Counter()
    for message in sink.snapshot():
        if sender is not None and message.mail_from != sender:
            continue
        match = MESSAGE_ID.search(message.content.split(b"\r\n\r\n", 1)[0])
        if match:
            ids[match.group(1).decode()] += 1
    return ids


def wait_for_ids(
    sink: Sink, wanted: set[str], timeout: float, sender: str | None = None
) -> collections.Counter[str]:
    deadline = time.monotonic() + timeout
    while True:
        got = message_ids(sink, sender)
        if wanted <= set(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


# --------------------------------------------------------------------------
# a client that resends what it did not see accepted


class LoadClient(threading.Thread):
    """Sends `numbers` over smtplib, one connection, to one of `ports`.

    A message counts as accepted only when its 250 was read; any failure
    (4xx, dropped connection) means "in doubt": reconnect (to the next port
    that answers) and send it again, as an MTA would.  5xx is fatal here.
    """

    def __init__(
        self,
        ports: list[int],
        numbers: list[int],
        accepted: dict[str, str],
        lock: threading.Lock,
        prefix: str = "load",
        body: str = "Hello,\r\n\r\nA synthetic test message.\r\n",
        pause: float = 0.0,
        give_up_after: float = 180.0,
    ) -> None:
        super().__init__(daemon=True)
        self.ports = list(ports)
        self.numbers = numbers
        self.accepted = accepted
        self.lock = lock
        self.prefix = prefix
        self.body = body
        self.pause = pause
        self.give_up_after = give_up_after
        self.failures = 0
        self.temp_replies = 0
        self.error: BaseException | None = None
        self._turn = 0

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _connect(self) -> smtplib.SMTP:
        deadline = time.monotonic() + 90
        while True:
            port = self.ports[self._turn % len(self.ports)]
            try:
                client = smtplib.SMTP("127.0.0.1", port, timeout=60)
                client.ehlo("load.sender.example")
                return client
            except (OSError, smtplib.SMTPException):
                self._turn += 1
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _run(self) -> None:
        client = self._connect()
        pending = list(self.numbers)
        deadline = time.monotonic() + self.give_up_after
        while pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(pending)} messages still not accepted")
            number = pending[0]
            message_id = f"{self.prefix}-{number}@sender.example"
            try:
                client.ehlo_or_helo_if_needed()
                code, _ = client.mail("alice@sender.example")
                if code != 250:
                    raise smtplib.SMTPSenderRefused(code, b"", "alice@sender.example")
                code, _ = client.rcpt(f"r{number % 7}@recipient.example")
                if code != 250:
                    raise smtplib.SMTPRecipientsRefused({})
                code, reply = client.data(
                    make_message(
                        subject=f"{self.prefix} {number}",
                        message_id=f"<{message_id}>",
                        body=self.body,
                    )
                )
                if code != 250:
                    if 500 <= code < 600:
                        raise AssertionError(f"{message_id}: permanent {code} {reply!r}")
                    self.temp_replies += 1
                    with contextlib.suppress(smtplib.SMTPException, OSError):
                        client.rset()
                    time.sleep(0.05)
                    continue
            except (OSError, smtplib.SMTPException):
                self.failures += 1
                with contextlib.suppress(Exception):
                    client.close()
                self._turn += 1
                time.sleep(0.05)
                client = self._connect()
                continue
            queue_id = reply.decode(errors="replace").split()[-1]
            with self.lock:
                self.accepted[message_id] = queue_id
            pending.pop(0)
            if self.pause:
                time.sleep(self.pause)
        with contextlib.suppress(Exception):
            client.quit()


# --------------------------------------------------------------------------
# a misbehaving upstream in front of the sink


@dataclass
class _Plan:
    mode: str
    times: int | None


@dataclass
class FaultProxy:
    """Listens on `port`; each new connection takes the next planned mode
    (`then(mode, times)`), else "pass" (forward to the sink unchanged).

    Modes: "pass"; "greet_hang" (220, then never another byte);
    "reset_data" (forward, then reset both sides with RST after the first
    block of message content); "drip" (upstream replies delivered one byte
    every `drip_interval` seconds).
    """

    target_port: int
    drip_interval: float = 0.1
    port: int = 0
    connections: collections.Counter[str] = field(default_factory=collections.Counter)
    _plans: list[_Plan] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="proxy", daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def then(self, mode: str, times: int | None = None) -> FaultProxy:
        assert mode in ("pass", "greet_hang", "reset_data", "drip")
        with self._lock:
            self._plans.append(_Plan(mode, times))
        return self

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()

    def _next_mode(self) -> str:
        with self._lock:
            for plan in self._plans:
                if plan.times is None:
                    return plan.mode
                if plan.times > 0:
                    plan.times -= 1
                    return plan.mode
        return "pass"

    def start(self) -> FaultProxy:
        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]

        asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        return self

    def close(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        mode = self._next_mode()
        with self._lock:
            self.connections[mode] += 1
        up_writer: asyncio.StreamWriter | None = None
        inner: list[asyncio.Task[None]] = []
        try:
            if mode == "greet_hang":
                writer.write(b"220 hang.example ESMTP then nothing\r\n")
                await writer.drain()
                while await reader.read(65536):
                    pass
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            downstream = asyncio.create_task(self._down(up_reader, writer, mode == "drip"))
            upstream = asyncio.create_task(self._up(reader, up_writer, writer, mode))
            inner = [downstream, upstream]
            await asyncio.wait(inner, return_when=asyncio.FIRST_COMPLETED)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for t in inner:
                t.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*inner, return_exceptions=True)
            for w in (writer, up_writer):
                if w is not None:
                    with contextlib.suppress(Exception):
                        w.close()
            self._tasks.discard(task)

    async def _down(
        self, up_reader: asyncio.StreamReader, writer: asyncio.StreamWriter, drip: bool
    ) -> None:
        while data := await up_reader.read(65536):
            if drip:
                for n in range(len(data)):
                    writer.write(data[n : n + 1])
                    await writer.drain()
                    await asyncio.sleep(self.drip_interval)
            else:
                writer.write(data)
                await writer.drain()

    async def _up(
        self,
        reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
        writer: asyncio.StreamWriter,
        mode: str,
    ) -> None:
        in_data = False
        seen = b""
        while data := await reader.read(65536):
            if mode == "reset_data" and in_data:
                up_writer.write(data[: max(1, len(data) // 2)])
                await up_writer.drain()
                _reset(writer)
                _reset(up_writer)
                return
            up_writer.write(data)
            await up_writer.drain()
            seen = (seen + data)[-64:]
            if re.search(rb"(^|\r\n)DATA\r\n$", seen, re.I):
                in_data = True


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), not FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@pytest.fixture
def fault_proxy(sink: Sink) -> Iterator[FaultProxy]:
    proxy = FaultProxy(target_port=sink.port).start()
    try:
        yield proxy
    finally:
        proxy.close()


# --------------------------------------------------------------------------
# processes


def rss_kib(pid: int) -> int:
    """VmRSS of `pid` in KiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def database_name(url: str) -> str:
    from sqlalchemy.engine import make_url

    return str(make_url(url).database)
