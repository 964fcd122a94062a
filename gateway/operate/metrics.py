"""Prometheus metrics, in a registry of the app's own (several apps can run
in one test process), and the tiny HTTP endpoint serving /healthz, /readyz
and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway.model import Action, ReasonCode

log = structlog.get_logger(__name__)


# The label values beside the model's own (Action, ReasonCode).
INTERNAL_ERROR = "internal_error"  # a 451: counted under `rejected` as a reason
REFUSAL_STAGES = ("policy", "arrival", "error")
DELIVERY_OUTCOMES = ("delivered", "deferred", "failed")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.received = Counter(
            "gateway_messages_received", "Messages whose DATA was read", registry=self.registry
        )
        self.accepted = Counter(
            "gateway_messages_accepted", "Messages queued (250)", ["verdict"], registry=self.registry
        )
        # One per reason a message was refused for: a message refused for
        # three reasons counts three times.  Kept for what it tells (which
        # rules refuse); messages are counted in `refused`.
        self.rejected = Counter(
            "gateway_messages_rejected", "Reasons messages were refused for, one per reason",
            ["reason"], registry=self.registry,
        )
        # One per message refused, by the stage that refused it: "policy"
        # (550 after inspection), "arrival" (refused before inspection: too
        # big, bare line endings, receipt addresses mixed with others),
        # "error" (451: the gateway could not decide or commit; the client
        # tries again).
        self.refused = Counter(
            "gateway_messages_refused", "Messages refused, one per message, by stage",
            ["stage"], registry=self.registry,
        )
        self.deliveries = Counter(
            "gateway_delivery_results", "Per-recipient delivery results", ["outcome"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "gateway_queue_depth", "Messages in the queue by state", ["state"],
            registry=self.registry,
        )
        self.data_latency = Histogram(
            "gateway_data_reply_seconds", "End of DATA to reply",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )

        # Group commit at a glance: operations per commit is the ratio of
        # their rates (Postfix's qmgr has no such thing; a database-backed
        # queue needs it).  Brought up to date from the Writer at each scrape.
        self.commits = Counter(
            "gateway_db_commits", "Transactions the database writer committed (one fsync each)",
            registry=self.registry,
        )
        self.committed_operations = Counter(
            "gateway_db_committed_operations",
            "Writes (a message queued, a delivery recorded, ...) in those transactions",
            registry=self.registry,
        )
        self._counted = (0, 0)
        self._zero_known_series()

    def _zero_known_series(self) -> None:
        """Every label value the gateway can count, at 0 from the start.

        A labelled series exists only once something was counted in it, so
        after a restart `rate(gateway_messages_refused_total{stage="error"})`
        is "no data" rather than 0 until the first 451, and an alert written
        on it cannot fire, or tell quiet from missing, until then.
        """
        for action in Action:
            if action is not Action.REJECT:  # a refused message is not accepted
                self.accepted.labels(action.value)
        for code in (*(c.value for c in ReasonCode), INTERNAL_ERROR):
            self.rejected.labels(code)
        for stage in REFUSAL_STAGES:
            self.refused.labels(stage)
        for outcome in DELIVERY_OUTCOMES:
            self.deliveries.labels(outcome)

    def count_commits(self, commits: int, operations: int) -> None:
        """Bring the commit counters up to the Writer's running totals."""
        seen_commits, seen_operations = self._counted
        self.commits.inc(commits - seen_commits)  # the Writer's totals only grow
        self.committed_operations.inc(operations - seen_operations)
        self._counted = (commits, operations)

    def render(self) -> bytes:
        return generate_latest(self.registry)


# Each dependency: True (ok), False (failing), or the words of why it fails
# ("passwords: no key"), which a probe's reader can act on.
Check = Callable[[], Awaitable[Mapping[str, bool | str]]]


def _state(value: bool | str) -> str:
    if isinstance(value, str):
        return value
    return "ok" if value else "failing"


class HealthServer:
    """GET (or HEAD) /healthz (the process runs), /readyz (its dependencies
    answer), /metrics."""

    def __init__(self, metrics: Metrics, readiness: Check, refresh: Callable[[], Awaitable[None]]):
        self._metrics = metrics
        self._readiness = readiness
        self._refresh = refresh
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._handle, host, port, reuse_address=True)
        sock = self._server.sockets[0]
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            method, path, *_ = request.split(b"\r\n", 1)[0].decode("ascii", "replace").split()
            status, ctype, body = await self._route(method, path)
        except Exception:
            method, (status, ctype, body) = "GET", ("400 Bad Request", "text/plain",
                                                    b"bad request\n")
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        # HEAD (`curl -I`, some load balancers' probes): the same answer, no body.
        writer.write(head.encode() + (b"" if method == "HEAD" else body))
        with contextlib.suppress(Exception):
            await writer.drain()
            writer.close()

    async def _route(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"GET or HEAD only\n"
        if path == "/healthz":
            return "200 OK", "text/plain", b"ok\n"
        if path == "/readyz":
            checks = await self._readiness()
            lines = "".join(f"{name}: {_state(value)}\n" for name, value in checks.items())
            ready = all(value is True for value in checks.values())
            return ("200 OK" if ready else "503 Service Unavailable"), "text/plain", lines.encode()
        if path == "/metrics":
            with contextlib.suppress(Exception):
                await self._refresh()
            return "200 OK", CONTENT_TYPE_LATEST, self._metrics.render()
        return "404 Not Found", "text/plain", b"not found\n"
