"""Test support shared by the whole suite (imported as `gwtest`; the fixtures
in `conftest.py` hand out its objects).

- `Sink`: a real aiosmtpd upstream running in its own thread and event loop
  (so it survives a gateway subprocess being killed and can be used from
  synchronous and asynchronous tests alike).  It records every envelope and
  the exact bytes, advertises DSN, SMTPUTF8 and 8BITMIME, and can be told to
  answer 4xx/5xx (at MAIL, RCPT or DATA, per recipient, a number of times),
  to hang, or to drop the connection; `stop()`/`start()` take it down and
  bring it back on the same port.
- `SmtpConn`: a raw asyncio SMTP client for byte-exact conversations
  (smuggling, address tricks); `raw_smtp_sync` does the same over a
  blocking socket.
- `gateway_config` / `write_config`: the settings dict the tests use and a
  small TOML writer for subprocess gateways.
- `GatewayProcess`: `python -m gateway serve --config FILE` in a subprocess,
  waited for until it answers 220, killed with SIGKILL or SIGTERM.
- `make_message`: a synthetic RFC 5322 message with CRLF line endings.
- `full_spool`: the receive stage's spool files on a disk that fills up.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import email.utils
import errno
import io
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, BinaryIO, TypeVar

from aiosmtpd.smtp import SMTP

REPO = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------
# the upstream sink


@dataclass(frozen=True)
class SinkMessage:
    """One message the sink accepted, exactly as it came over the wire."""

    mail_from: str
    mail_options: tuple[str, ...]
    rcpt_tos: tuple[str, ...]
    rcpt_options: tuple[tuple[str, ...], ...]  # per recipient, in order
    content: bytes  # dot-unstuffed DATA, CRLF line endings, no terminator
    smtputf8: bool
    tls: bool = False  # the upstream connection was encrypted

    def header(self, name: str) -> str | None:
        """The first header `name` (unfolded), or None."""
        head = self.content.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        match = re.search(
            rf"^{re.escape(name)}:[ \t]*(.*(?:\r\n[ \t].*)*)", head, re.I | re.M
        )
        return " ".join(match.group(1).split()) if match else None


@dataclass
class _Rule:
    stage: str  # "mail" | "rcpt" | "data"
    action: str  # "reply" | "hang" | "drop" | "delay"
    reply: str = ""
    match: str | None = None  # address substring; None: any
    times: int | None = None  # None: for ever
    seconds: float = 0.0  # "delay": how long before going on normally


class _SinkSMTP(SMTP):  # type: ignore[misc]
    """aiosmtpd with MAIL/RCPT that keep every parameter (aiosmtpd refuses DSN)."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        super().__init__(
            _SinkHandler(sink),
            tls_context=None if sink.implicit_tls else sink.tls_context,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname="sink.example.net",
            ident="test sink",
            data_size_limit=64 * 1024 * 1024,
        )

    def connection_made(self, transport: Any) -> None:
        self._sink._transports.add(transport)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._sink._transports.discard(self.transport)
        super().connection_lost(error)

    async def _apply(self, stage: str, addresses: Iterable[str]) -> str | None:
        """Run a matching rule: its reply, or None to go on normally."""
        rule = self._sink._take_rule(stage, addresses)
        if rule is None:
            return None
        if rule.action == "reply":
            return rule.reply
        if rule.action == "delay":
            with self._sink._cond:
                self._sink.delays_started += 1
                self._sink._cond.notify_all()
            await asyncio.sleep(rule.seconds)
            return None
        if rule.action == "drop" and self.transport is not None:
            self.transport.abort()
        await asyncio.sleep(3600)  # hang (cancelled when the connection goes)
        return "421 4.4.2 unreachable"  # pragma: no cover

    async def _handle_client(self) -> None:
        # Stage "connect": accept the connection, then never greet (hang) or
        # close it at once (drop).
        if await self._apply("connect", []) is None:
            await super()._handle_client()

    async def smtp_MAIL(self, arg: str | None) -> None:
        if await self.check_helo_needed():
            return
        match = re.match(r"(?is)FROM:\s*<([^>]*)>\s*(.*)$", arg or "")
        if match is None:
            await self.push("501 5.5.4 Syntax: MAIL FROM:<address>")
            return
        if self.envelope.mail_from is not None:
            # As aiosmtpd (and any real server): a transaction left open,
            # e.g. after a refused DATA, must be reset before the next MAIL.
            await self.push("503 5.5.1 Error: nested MAIL command")
            return
        address, params = match.group(1), tuple(match.group(2).split())
        # Did the client send its RCPT and DATA without waiting for this
        # reply (RFC 2920 pipelining)?  They are read already.
        self._sink.mail_pipelined.append(b"DATA\r\n" in bytes(self._reader._buffer))
        reply = await self._apply("mail", [address])
        if reply is not None:
            await self.push(reply)
            return
        self.envelope.mail_from = address
        self.envelope.mail_options = list(params)
        self.envelope.smtp_utf8 = any(p.upper() == "SMTPUTF8" for p in params)
        self.envelope.rcpt_params = []
        await self.push("250 2.1.0 OK")

    async def smtp_RCPT(self, arg: str | None) -> None:
        if await self.check_helo_needed():
            return
        if self.envelope.mail_from is None:
            await self.push("503 5.5.1 need MAIL")
            return
        match = re.match(r"(?is)TO:\s*<([^>]*)>\s*(.*)$", arg or "")
        if match is None:
            await self.push("501 5.5.4 Syntax: RCPT TO:<address>")
            return
        address, params = match.group(1), tuple(match.group(2).split())
        reply = await self._apply("rcpt", [address])
        if reply is not None:
            await self.push(reply)
            return
        self.envelope.rcpt_tos.append(address)
        self.envelope.rcpt_params.append(params)
        await self.push("250 2.1.5 OK")


class _SinkHandler:
    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        extra = ["250-DSN", "250-ENHANCEDSTATUSCODES"]
        if self._sink.pipelining:
            extra.append("250-PIPELINING")
        return [*responses[:-1], *extra, responses[-1]]

    async def handle_DATA(self, server: _SinkSMTP, session: Any, envelope: Any) -> str:
        reply = await server._apply("data", envelope.rcpt_tos)
        if reply is not None:
            return reply
        message = SinkMessage(
            mail_from=envelope.mail_from,
            mail_options=tuple(envelope.mail_options),
            rcpt_tos=tuple(envelope.rcpt_tos),
            rcpt_options=tuple(getattr(envelope, "rcpt_params", [])),
            content=bytes(envelope.original_content),
            smtputf8=bool(envelope.smtp_utf8),
            tls=server._tls_protocol is not None or server.transport.get_extra_info("sslcontext")
            is not None,
        )
        with self._sink._cond:
            self._sink.messages.append(message)
            self._sink._cond.notify_all()
        return "250 2.0.0 OK stored"


class Sink:
    """A real aiosmtpd upstream in a thread of its own.

    `messages` is what it accepted, in order.  Behaviour:
    `fail(stage, reply, match=None, times=None)` answers `reply` at
    "mail" | "rcpt" | "data" (for recipients containing `match`, the first
    `times` times); `hang(stage)` accepts the command and never answers;
    `drop(stage)` closes the connection there (both also at "connect": the
    TCP connection is accepted, then no banner / closed at once);
    `delay(stage, seconds)` answers normally after a pause (a slow upstream;
    `delays_started` counts the pauses begun); `clear_rules()`;
    `stop()` / `start()`: the upstream is down / back on the same port.
    `tls_context` offers STARTTLS, or with `implicit_tls` speaks TLS at once.
    `pipelining=False`: PIPELINING is not advertised.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_context: Any = None,
        implicit_tls: bool = False,
        pipelining: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        # PIPELINING advertised (RFC 2920): the gateway then sends MAIL,
        # RCPT and DATA in one write; without it, one command at a time.
        self.pipelining = pipelining
        self.mail_pipelined: list[bool] = []  # per MAIL: RCPT and DATA came with it
        # With a context: STARTTLS is offered, or (implicit_tls) TLS from the start.
        self.tls_context = tls_context
        self.implicit_tls = implicit_tls
        self.messages: list[SinkMessage] = []
        self._rules: list[_Rule] = []
        self.delays_started = 0
        self._cond = threading.Condition()
        self._transports: set[Any] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sink", daemon=True)
        self._server: asyncio.Server | None = None
        self._thread.start()

    # -- control (any thread) ------------------------------------------------

    def _call(self, coro_factory: Callable[[], Any], timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro_factory(), self._loop).result(timeout)

    def start(self) -> None:
        async def start() -> None:
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(
                lambda: _SinkSMTP(self), self.host, self.port, reuse_address=True,
                ssl=self.tls_context if self.implicit_tls else None,
            )
            self.port = self._server.sockets[0].getsockname()[1]

        self._call(start)

    def stop(self) -> None:
        """Upstream down: stop listening and cut every open connection."""

        async def stop() -> None:
            if self._server is not None:
                self._server.close()
                self._server = None
            for transport in list(self._transports):
                transport.abort()
            await asyncio.sleep(0.05)

        self._call(stop)

    @property
    def running(self) -> bool:
        return self._server is not None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self._call(cancel_all)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    # -- behaviour -----------------------------------------------------------

    def fail(self, stage: str, reply: str, match: str | None = None, times: int | None = None) -> None:
        assert stage in ("mail", "rcpt", "data")  # a reply at "connect" would be a banner
        with self._cond:
            self._rules.append(_Rule(stage, "reply", reply, match, times))

    def hang(self, stage: str, match: str | None = None, times: int | None = None) -> None:
        with self._cond:
            self._rules.append(_Rule(stage, "hang", "", match, times))

    def drop(self, stage: str, match: str | None = None, times: int | None = None) -> None:
        with self._cond:
            self._rules.append(_Rule(stage, "drop", "", match, times))

    def delay(self, stage: str, seconds: float, match: str | None = None,
              times: int | None = None) -> None:
        with self._cond:
            self._rules.append(_Rule(stage, "delay", "", match, times, seconds))

    def clear_rules(self) -> None:
        with self._cond:
            self._rules.clear()

    def _take_rule(self, stage: str, addresses: Iterable[str]) -> _Rule | None:
        addresses = list(addresses)
        with self._cond:
            for rule in self._rules:
                if rule.stage != stage:
                    continue
                if rule.match is not None and not any(rule.match in a for a in addresses):
                    continue
                if rule.times is not None:
                    if rule.times <= 0:
                        continue
                    rule.times -= 1
                return rule
        return None

    # -- waiting -------------------------------------------------------------

    def snapshot(self) -> list[SinkMessage]:
        with self._cond:
            return list(self.messages)

    def wait_sync(self, count: int = 1, timeout: float = 20) -> list[SinkMessage]:
        """Block until at least `count` messages arrived; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"sink got {len(self.messages)} message(s), expected {count}"
                    )
                self._cond.wait(left)
            return list(self.messages)

    async def wait(self, count: int = 1, timeout: float = 20) -> list[SinkMessage]:
        """`wait_sync` for async tests (the gateway may run in this loop)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.snapshot()
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"sink got {len(got)} message(s), expected {count}")
            await asyncio.sleep(0.02)

    async def stays_empty(self, seconds: float = 1.0, after: int = 0) -> bool:
        """True when nothing arrives for `seconds` (for "nothing relayed"),
        or nothing more than the `after` messages already received."""
        await asyncio.sleep(seconds)
        return len(self.snapshot()) <= after


# --------------------------------------------------------------------------
# messages and raw SMTP


def make_message(
    sender: str = "alice@sender.example",
    to: str = "bob@recipient.example",
    subject: str = "Test message",
    body: str = "Hello,\r\n\r\nA synthetic test message.\r\n",
    message_id: str | None = None,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """A small RFC 5322 message, CRLF line endings, ending in CRLF."""
    message_id = message_id or f"<{uuid.uuid4().hex}@sender.example>"
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {email.utils.formatdate(localtime=False)}",
        f"Message-ID: {message_id}",
        *(f"{k}: {v}" for k, v in extra_headers),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    text = "\r\n".join(lines) + "\r\n\r\n" + body.replace("\r\n", "\n").replace("\n", "\r\n")
    if not text.endswith("\r\n"):
        text += "\r\n"
    return text.encode("utf-8")


def strip_received(content: bytes) -> tuple[bytes, bytes]:
    """Split the one `Received:` header the gateway prepends from the rest."""
    assert content.startswith(b"Received: "), content[:80]
    end = 0
    lines = content.split(b"\r\n")
    end = 1
    while end < len(lines) and lines[end][:1] in (b" ", b"\t"):
        end += 1
    head = b"\r\n".join(lines[:end]) + b"\r\n"
    return head, content[len(head):]


def dot_stuff(content: bytes) -> bytes:
    return re.sub(rb"(?m)^\.", b"..", content)


class SmtpConn:
    """A raw SMTP client over asyncio streams: byte-exact, for nasty input."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.banner: tuple[int, str] = (0, "")

    @classmethod
    async def open(cls, port: int, host: str = "127.0.0.1") -> SmtpConn:
        reader, writer = await asyncio.open_connection(host, port)
        conn = cls(reader, writer)
        conn.banner = await conn.reply()
        return conn

    async def reply(self, timeout: float = 15) -> tuple[int, str]:
        """One (possibly multi-line) reply: (code, text with lines joined by \\n)."""
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), timeout)
            if not line:
                raise ConnectionError("connection closed")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(text[4:])
            if len(text) < 4 or text[3] != "-":
                return int(text[:3]), "\n".join(lines)

    async def send(self, data: bytes) -> None:
        # The server may have closed the connection already: asyncio's own
        # streams then fail the drain with ConnectionResetError, uvloop's the
        # write itself with RuntimeError.  Both mean the same here.
        if self.writer.is_closing():
            raise ConnectionResetError("the server closed the connection")
        self.writer.write(data)
        await self.writer.drain()

    async def cmd(self, line: str | bytes) -> tuple[int, str]:
        data = line if isinstance(line, bytes) else line.encode("utf-8")
        await self.send(data + b"\r\n")
        return await self.reply()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.write(b"QUIT\r\n")
            await self.writer.drain()
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


# --------------------------------------------------------------------------
# configuration


def deep_merge(base: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


RECIPIENTS_CSV = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
)


def gateway_config(
    tmp_path: Path,
    db_url: str,
    upstream_port: int,
    overrides: dict[str, Any] | None = None,
    listen: str = "127.0.0.1:0",
    metrics: str = "127.0.0.1:0",
) -> dict[str, Any]:
    """The settings the tests run with (short retries and timeouts)."""
    recipients = tmp_path / "recipients.csv"
    if not recipients.exists():
        recipients.write_text(RECIPIENTS_CSV, encoding="utf-8")
    base: dict[str, Any] = {
        "server": {
            "listen": listen,
            "hostname": "gw.test.example",
            "trusted_networks": ["127.0.0.0/8", "::1/128"],
            "max_message_size": 1_000_000,
            "max_recipients": 10,
            "idle_timeout": "60s",
            "inspect_timeout": "20s",
        },
        "upstream": {
            "host": "127.0.0.1",
            "port": upstream_port,
            "tls": "none",
            "timeout": "5s",
            "pool_size": 4,
        },
        "queue": {
            "retry": ["500ms"],
            "max_age": "1h",
            "lease": "30s",
            "workers": 4,
            "poll_interval": "200ms",
        },
        "database": {"url": db_url},
        "policy": {"mode": "monitor", "recipients_file": str(recipients)},
        "metrics": {"listen": metrics},
    }
    return deep_merge(base, overrides)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def to_toml(data: dict[str, Any]) -> str:
    """Enough TOML for gateway configs: tables, arrays of tables, scalars, lists."""
    out: list[str] = []

    def table(prefix: str, body: dict[str, Any], header: str | None) -> None:
        scalars = {k: v for k, v in body.items() if not isinstance(v, dict) and not _is_aot(v)}
        if header is not None:
            out.append(header)
        for key, value in scalars.items():
            out.append(f"{key} = {_toml_value(value)}")
        out.append("")
        for key, value in body.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                table(name, value, f"[{name}]")
            elif _is_aot(value):
                for item in value:
                    table(name, item, f"[[{name}]]")

    table("", data, None)
    return "\n".join(out) + "\n"


def _is_aot(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(to_toml(data), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------
# a gateway in a subprocess


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: no GATEWAY_* from the test runner."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


@dataclass
class GatewayProcess:
    """`python -m gateway serve --config FILE`; stderr goes to a log file."""

    config: Path
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=clean_env)
    _starts_logged: int = 0

    def start(self, timeout: float = 30) -> GatewayProcess:
        self._starts_logged = self._count_started()
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(self.config)],
            cwd=str(self.config.parent),
            stdout=log,
            stderr=log,
            env=self.env,
        )
        log.close()
        self.wait_ready(timeout)
        return self

    def _count_started(self) -> int:
        try:
            return self.log_path.read_text(errors="replace").count('"gateway_started"')
        except OSError:
            return 0

    def wait_ready(self, timeout: float = 30) -> None:
        """Until this process has logged gateway_started (its signal handlers
        follow at once) and its port answers 220.  Checking the log, not only
        the port, means a stranger on a reused port cannot pass for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"gateway exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            if self._count_started() > self._starts_logged:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                        sock.settimeout(5)
                        if sock.recv(512).startswith(b"220"):
                            time.sleep(0.05)  # serve_forever installs its handlers
                            return
                except OSError:
                    pass
            time.sleep(0.05)
        raise AssertionError(f"gateway did not answer within {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no clean-up at all (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def ensure_stopped(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            with contextlib.suppress(Exception):
                self.proc.wait(10)


def run_cli(*args: str, config: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m gateway ARGS... [--config FILE]` in a subprocess."""
    command = [sys.executable, "-m", "gateway", *args]
    if config is not None:
        command += ["--config", str(config)]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout,
        env=env or clean_env(), cwd=str(config.parent if config else REPO),
    )


async def wait_state(gw: Any, queue_id: str, *states: str, timeout: float = 30) -> Any:
    """Wait until the queued message is in one of `states`; return it."""
    deadline = time.monotonic() + timeout
    while True:
        message = await gw.store.get(queue_id)
        if message is not None and message.state in states:
            return message
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{queue_id} is {message.state if message else 'missing'}, wanted {states}"
            )
        await asyncio.sleep(0.05)


async def event_types(gw: Any, queue_id: str) -> list[str]:
    """The audit event types of one message's record, in order."""
    return [type_ for type_, _ in await audit_events_of(gw, queue_id)]


async def audit_events_of(gw: Any, queue_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(type, detail) of one message's audit events, in order: those kept in
    the record's row, then the later ones (the events of an id without a
    record, such as the console's, are rows only)."""
    import json

    from sqlalchemy import select

    from gateway.audit import AuditQuery
    from gateway.db import audit_events

    document = await AuditQuery(gw.engine).get(queue_id)
    if document is not None:
        return [(str(e["type"]), e["detail"]) for e in document["events"]]
    async with gw.engine.connect() as db:
        rows = await db.execute(
            select(audit_events.c.type, audit_events.c.detail)
            .where(audit_events.c.record_id == queue_id)
            .order_by(audit_events.c.seq)
        )
        return [(r[0], json.loads(r[1])) for r in rows]


def threads_calling(monkeypatch: Any, module: Any, name: str) -> list[str]:
    """Wrap `module.name` so each call records the name of the thread it ran
    in; the list returned fills as it is called."""
    threads: list[str] = []
    original = getattr(module, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return threads


class _FullDisk(io.FileIO):
    """A spool file's raw file on a disk with `room` bytes free."""

    room = 0

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def full_spool(monkeypatch: Any, room: int) -> list[BinaryIO]:
    """The receive stage's spool files, from now on, on a disk with `room`
    bytes free: real buffered files in the folder asked for, whose raw
    writes fail with ENOSPC past it, so, as on a full disk, a write that
    fills the buffer fails, and so does the close that flushes what is left
    in it.  The files made are listed as they are."""
    import gateway.receive.data as data_module

    made: list[BinaryIO] = []

    def temporary_file(dir: str | None = None) -> BinaryIO:
        fd, path = tempfile.mkstemp(dir=dir)
        os.unlink(path)
        raw = _FullDisk(fd, "r+b")
        raw.room = room
        file = io.BufferedRandom(raw)
        made.append(file)
        return file

    monkeypatch.setattr(data_module, "tempfile", SimpleNamespace(TemporaryFile=temporary_file))
    return made


class SqliteSteps:
    """Counts the steps of SQLite's virtual machine on a sqlite3 connection
    while in use (`with SqliteSteps(raw) as steps: ...; steps.count`): a
    statement that reads every row of a table takes several per row, one
    that probes an index a few hundred at most, whatever the table holds."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.count = 0

    def _step(self) -> int:
        self.count += 1
        return 0  # go on

    def __enter__(self) -> SqliteSteps:
        self.raw.set_progress_handler(self._step, 1)
        return self

    def __exit__(self, *exc: object) -> None:
        self.raw.set_progress_handler(None, 1)


T = TypeVar("T")


def run_in_thread(func: Callable[[], Awaitable[T]] | Callable[[], T]) -> T:
    """Run `func` (sync, or returning a coroutine run with asyncio.run) in a
    fresh thread: safe whether or not an event loop runs in this one (and
    the way a test plays another process working on the same database)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            result = func()
            if asyncio.iscoroutine(result):
                result = asyncio.run(result)
            box["result"] = result
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]  # type: ignore[no-any-return]
