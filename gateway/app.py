"""Composition root: settings -> logging -> database -> queue -> delivery ->
content pipeline -> SMTP listener -> health/metrics, and orderly shutdown.

`Gateway.accept` is the receive stage's acceptor: it runs the content
pipeline (bounded by `inspect_timeout`), then commits the message, its
recipients and its audit record in one durable transaction before answering
250.  A refused message commits its audit record before the 550.  Any failure
answers 451 4.3.0: nothing is lost, nothing is accepted unrecorded.

SIGTERM: stop accepting (421 4.3.2), let transactions in flight finish,
finish or give back deliveries, release claims, exit 0.  SIGHUP: read the
allow-list again at once (it is also re-read within seconds of a change).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import ssl
import time
import weakref
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import Argon2Error
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit import (
    AuditAttachment,
    AuditEvent,
    AuditReason,
    AuditRecipient,
    AuditRecord,
    AuditTrail,
    EventType,
)
from gateway.audit.trail import read_head
from gateway.db import create_engine
from gateway.db.schema_check import required_unknown, schema_problem
from gateway.deliver import Dispatcher, SmtpTransport, Transport
from gateway.errors import ConfigError, VaultError
from gateway.inspect import Reading
from gateway.model import (
    Action,
    AttachmentReport,
    Envelope,
    Reason,
    ReasonCode,
    RecipientEntry,
    Verdict,
)
from gateway.operate.clock import CHECK_INTERVAL, ClockCheck
from gateway.operate.memory import tune_gc
from gateway.operate.metrics import INTERNAL_ERROR, HealthServer, Metrics
from gateway.operate.readiness import UpstreamCheck, spool_folder_problem
from gateway.passwords import PasswordStore, PasswordVault, hold_op
from gateway.pipeline import Ahead, Decision, NotForTheLoop, Pipeline, received_header
from gateway.policy import match_recipients
from gateway.policy.notify import build_hold_notice, build_notification, smtp_summary
from gateway.policy.words import REFUSED_ON_ARRIVAL_WORDS
from gateway.queue import NewMessage, QueueState, QueueStore, Writer
from gateway.queue.store import Operation, new_queue_id
from gateway.receipts.desk import ReceiptDesk
from gateway.receipts.keys import receipt_addressing
from gateway.receipts.parse import parse_receipt
from gateway.receipts.request import MDN_HEADER, take_header
from gateway.receipts.tokens import ReceiptAddressing
from gateway.receive import replies
from gateway.receive.data import SPOOL_THRESHOLD, MessageContent, SpooledBody, received_count
from gateway.receive.server import (
    ClientConnections,
    GatewaySMTP,
    ListenerConfig,
    sender_pattern,
    start_listener,
)
from gateway.settings import Settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from gateway.web import WebConsole

log = structlog.get_logger(__name__)

# Finished messages removed per transaction (the Writer's batches stay short).
FORGET_BATCH = 1000

# Above this size the content stages run in a thread so that one large
# message does not stall every other connection: read ahead in the receive
# stage's thread and concluded on the loop when it is kept in memory (up to
# `_AHEAD_UP_TO`), or wholly in a thread of its own.
_THREAD_THRESHOLD = 256 * 1024
_AHEAD_UP_TO = SPOOL_THRESHOLD


class _Turn:
    """One of `large_message_concurrency` turns, given back once the message
    is handled and the thread inspecting it has ended: a thread past
    `inspect_timeout` (answered 451) still holds the memory it reads, so
    the next message's turn waits for it."""

    __slots__ = ("_slots", "_thread")

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots = slots
        self._thread: asyncio.Future[Decision] | None = None

    def held_by(self, thread: asyncio.Future[Decision]) -> None:
        self._thread = thread

    def give_back(self) -> None:
        if self._thread is None or self._thread.done():
            self._slots.release()
        else:
            self._thread.add_done_callback(lambda _: self._slots.release())


def _result_taken(thread: asyncio.Future[Decision]) -> None:
    """A thread nobody waits for any more (past the timeout): its outcome
    is let go without asyncio's 'never retrieved' complaint."""
    if not thread.cancelled():
        thread.exception()


@dataclass(frozen=True, slots=True)
class _ReadAhead:
    """The pipeline's first steps on one message's content (`Gateway._read_ahead`)."""

    content: bytes  # the very object read: used only for it
    reading: Reading
    ahead: Ahead | None


class Gateway:
    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine | None = None,
        transport: Transport | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self._worker_id = worker_id
        self.engine = engine or create_engine(settings.database.url, settings.database.pool_size)
        self.metrics = Metrics()
        self.writer = Writer(self.engine)
        self.store = QueueStore(
            self.engine,
            self.writer,
            worker_id=worker_id or settings.queue.worker_id or None,
            lease_seconds=settings.queue.lease.total_seconds(),
        )
        self.audit = AuditTrail.from_settings(settings)
        routes = settings.all_routes
        self.transport = transport or SmtpTransport(
            routes, settings.server.hostname, str(settings.config_dir)
        )
        # Receipt addresses need a key (derived from the password key unless
        # one is configured); without one, mail is relayed without receipts.
        self.receipts: ReceiptAddressing | None
        try:
            self.receipts = receipt_addressing(settings)
        except VaultError as exc:
            self.receipts = None
            log.warning("receipts_key_missing", error=str(exc))
        self.dispatcher = Dispatcher(
            self.store, self.transport, settings, self.audit,
            observe=lambda outcome, n: self.metrics.deliveries.labels(outcome).inc(n),
            receipts=self.receipts,
            # A password's email, finished: the desk releases or holds it again.
            finished=lambda *finished: self.desk.email_finished_op(*finished),
            # Recipients given up on for good: their held passwords go with it.
            undelivered=lambda *failed: self.passwords.undelivered_op(*failed),
        )
        self.pipeline = Pipeline(settings)
        # Spooled (large) messages are read back, inspected and queued this
        # many at a time: each is held a few times over meanwhile.
        self._large_slots = asyncio.Semaphore(settings.server.large_message_concurrency)
        # Without a key the gateway still relays, but a message whose
        # password must be held is answered 451 (never sent without it held):
        # an error, and /readyz fails ("passwords: no key") until one is set.
        self.vault: PasswordVault | None
        try:
            self.vault = PasswordVault.from_settings(settings)
        except VaultError as exc:
            self.vault = None
            log.error("password_key_missing", error=str(exc),
                      effect="every message whose password must be held is answered 451 4.3.0")
        self.passwords = PasswordStore(self.engine, self.writer, self.vault, self.audit)
        self.desk = ReceiptDesk(settings, self.receipts, self.store, self.audit, self.passwords,
                                wake=self.dispatcher.wake,
                                allow_list=self.pipeline.recipients.current)
        self._housekeeping: asyncio.Task[None] | None = None
        self._anchoring: asyncio.Task[None] | None = None
        self._anchored: tuple[int, str] | None = None  # the last audit_anchor logged
        self._forgetting: asyncio.Task[None] | None = None
        # Leases are judged by each process's clock: on PostgreSQL it is
        # measured against the database's (gateway.operate.clock).
        self._clock_check = ClockCheck(self.engine, settings.queue.lease.total_seconds())
        self._clocking: asyncio.Task[None] | None = None
        self._server: asyncio.Server | None = None
        self._health = HealthServer(self.metrics, self.readiness, self.refresh_gauges)
        self._upstream_check = UpstreamCheck(settings.upstream, settings.server.hostname,
                                             settings.config_dir)
        server = settings.server
        self._spool_dir = str(settings.resolve(server.spool_dir)) if server.spool_dir else ""
        self._shutting_down = False
        # The SMTP sessions open now: told 421 when the gateway stops.
        self._sessions: weakref.WeakSet[GatewaySMTP] = weakref.WeakSet()
        self._accepting = 0
        self._hasher = PasswordHasher()
        self._users = {u.name: u.password_hash for u in settings.users}
        self.port: int = 0
        self.metrics_port: int = 0
        self.web: WebConsole | None = None  # [web] listen: the auditors' console
        self.web_port: int = 0

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        problem = await schema_problem(self.engine)
        if problem is not None:
            raise ConfigError(problem)
        await self._clock_check.measure()
        problem = self._clock_check.start_problem()
        if problem is not None:
            await self.engine.dispose()
            raise ConfigError(problem)
        self.writer.start()
        server = self.settings.server
        config = ListenerConfig(
            hostname=server.hostname,
            trusted_networks=server.networks(),
            max_message_size=server.max_message_size,
            max_recipients=server.max_recipients,
            max_auth_failures=server.max_auth_failures,
            max_connections_per_client=server.max_connections_per_client,
            postmaster=server.postmaster_address,
            senders={user.name: pattern for user in self.settings.users
                     if (pattern := sender_pattern(user.senders)) is not None},
            idle_timeout=server.idle_timeout.total_seconds(),
            data_timeout=server.data_timeout.total_seconds(),
            inspect_timeout=server.inspect_timeout.total_seconds(),
            require_auth=server.require_auth,
            tls_context=self._tls_context(),
            open_domains=frozenset({self.settings.receipts.domain.lower()}) - {""},
            spool_dir=self._spool_dir,
            read_ahead=self._read_ahead,
        )
        authenticator = self._check_password if self._users else None
        connections = ClientConnections()

        def session() -> GatewaySMTP:
            smtp = GatewaySMTP(config, self.accept, lambda: self._shutting_down, authenticator,
                               refusals=self.record_refusal, connections=connections,
                               failed=self._count_failure)
            self._sessions.add(smtp)
            return smtp

        try:
            await self._listen(session)
        except BaseException:
            # Nothing was accepted yet: leave no listener, task or
            # connection behind the error `serve` reports.
            await self._unlisten()
            raise
        if not (self._worker_id or self.settings.queue.worker_id):
            self.store.worker_id = f"{socket.gethostname()}:{self.port}"
        # Messages this process had claimed before a crash come back at once.
        reclaimed = await self.store.release_claims()
        if reclaimed:
            log.info("claims_recovered", count=reclaimed)
        self.dispatcher.start()
        self.dispatcher.wake()
        # Password expiry and receipt timeouts, every [receipts] check_interval.
        self._housekeeping = asyncio.create_task(self.desk.run(), name="receipts-housekeeping")
        if self.settings.audit.anchor_interval.total_seconds() > 0:
            self._anchoring = asyncio.create_task(self._log_anchors(), name="audit-anchors")
        self._forgetting = asyncio.create_task(self._forget_finished(), name="queue-forget")
        if self._clock_check.applies:
            self._clocking = asyncio.create_task(self._watch_clock(), name="clock-check")
        loop = type(asyncio.get_running_loop()).__module__.partition(".")[0]
        for warning in self.settings.warnings():
            log.warning("config_warning", warning=warning)
        log.info("gateway_started", smtp_port=self.port, metrics_port=self.metrics_port,
                 event_loop=loop)

    async def _listen(self, session: Callable[[], GatewaySMTP]) -> None:
        """Open the metrics, console and SMTP listeners, the SMTP one last:
        an address that cannot be had stops the start before any mail is
        taken, and the error names the key that gave it."""
        if self.settings.metrics.listen:
            host, _, port = self.settings.metrics.listen.rpartition(":")
            async with _listening("metrics", self.settings.metrics.listen):
                self.metrics_port = await self._health.start(host.strip("[]"), int(port))
        if self.settings.web.listen:
            # Imported here: the console's web stack is only loaded when used.
            from gateway.web import WebConsole

            self.web = WebConsole(self.settings, self.engine, self.writer, self.store,
                                  on_release=self.dispatcher.wake)
            async with _listening("web", self.settings.web.listen):
                self.web_port = await self.web.start()
        server = self.settings.server
        async with _listening("server", server.listen):
            self._server = await start_listener(server.host, server.port, session)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _unlisten(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self.web is not None:
            await self.web.stop()
        await self._health.stop()
        await self.writer.stop()
        await self.engine.dispose()

    async def stop(self, grace: float = 20.0) -> None:
        self._shutting_down = True
        if self._server is not None:
            self._server.close()
        # Open sessions are told 421 and closed, but for those with a
        # message on its way: they finish (within `grace`), then are told.
        for smtp in list(self._sessions):
            smtp.shut_down()
        if self.web is not None:  # no decisions or sign-ins once shutdown began
            await self.web.stop()
        deadline = time.monotonic() + grace
        while (self._accepting or any(smtp.in_data for smtp in self._sessions)) and (
            time.monotonic() < deadline
        ):
            await asyncio.sleep(0.02)
        for smtp in list(self._sessions):
            smtp.shut_down()
        for task in (self._housekeeping, self._anchoring, self._forgetting, self._clocking):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._housekeeping = self._anchoring = self._forgetting = self._clocking = None
        await self.dispatcher.stop(grace=max(0.0, deadline - time.monotonic()))
        await self.transport.close()
        await self._health.stop()
        await self.writer.stop()
        if self.settings.audit.anchor_interval.total_seconds() > 0:
            await self._log_anchor()  # the trail as this process leaves it
        await self.engine.dispose()
        log.info("gateway_stopped")

    async def serve_forever(self) -> None:
        await self.start()
        tune_gc()  # what start-up built is kept out of every collection from here on
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # What an administrator sends to reload (`systemctl reload`,
        # `kill -HUP`): the allow-list is read again at once.  Without a
        # handler it would end the process with none of the stop above.
        loop.add_signal_handler(signal.SIGHUP, self._reload)
        await stop.wait()
        log.info("shutdown_requested")
        await self.stop()

    def _reload(self) -> None:
        """SIGHUP: read the allow-list now rather than at its next check.
        Nothing else is reloaded: the configuration is read at start."""
        changed = self.pipeline.recipients.reload()
        log.info("reload_requested", recipients_changed=changed)

    def _tls_context(self) -> ssl.SSLContext | None:
        server = self.settings.server
        if not server.tls_cert:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(
            str(self.settings.resolve(server.tls_cert)), str(self.settings.resolve(server.tls_key))
        )
        return context

    def _check_password(self, login: str, password: str) -> bool:
        stored = self._users.get(login)
        if stored is None:
            return False
        try:
            return bool(self._hasher.verify(stored, password))
        except Argon2Error:
            return False

    # -- health --------------------------------------------------------------

    async def readiness(self) -> dict[str, bool | str]:
        checks: dict[str, bool | str] = {"database": False, "upstream": False}
        with contextlib.suppress(Exception):
            async with self.engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), 5)
                # Upgraded under this replica past a migration that removed
                # what its code uses (schema_check): every message would get
                # 451, and this replica should get none.
                unknown = await asyncio.wait_for(required_unknown(conn), 5)
            checks["database"] = (True if not unknown else
                                  f"needs a newer gateway (schema requires revision "
                                  f"{', '.join(unknown)})")
        # Reads answer while writes fail (a full disk, a read-only file):
        # then every message gets 451, and this replica should get none.
        failing = self.writer.write_failure()
        if failing is not None and checks["database"] is True:
            checks["database"] = f"writes failing ({failing})"
        # As far as a delivery goes: with a verified-TLS route, the
        # handshake and the certificate (gateway.operate.readiness).
        checks["upstream"] = await self._upstream_check()
        if self.vault is None:
            checks["passwords"] = "no key"
        # A clock off the database's by a quarter of the lease or more:
        # this replica's claims and the others' cannot be told apart in time.
        clock = self._clock_check.problem()
        if clock is not None:
            checks["clock"] = clock
        # `serve` refused to start without it; deleted since, every message
        # over 1 MiB would get 451 while the probe said ready.
        spool = spool_folder_problem(self._spool_dir)
        if spool is not None:
            checks["spool"] = spool
        return checks

    async def _log_anchors(self) -> None:
        """Log the audit chain's committed head every [audit] anchor_interval,
        when it moved, as `audit_anchor` (and once more as the gateway stops).  Shipped off the machine with the
        logs, each is a position the trail must still hold (`gateway audit
        verify --anchor SEQ:HASH`): it shows a tail cut off together with the
        checkpoints after it, which nothing in the database can."""
        interval = self.settings.audit.anchor_interval.total_seconds()
        while True:
            await self._log_anchor()
            await asyncio.sleep(interval)

    async def _log_anchor(self) -> None:
        try:
            async with self.engine.connect() as conn:
                head = await read_head(conn)
            if head.seq and (head.seq, head.hash) != self._anchored:
                log.info("audit_anchor", seq=head.seq, hash=head.hash,
                         anchor=f"{head.seq}:{head.hash}")
                self._anchored = (head.seq, head.hash)
        except Exception as exc:  # the next round tries again
            log.error("audit_anchor_failed", error=type(exc).__name__)

    async def _watch_clock(self) -> None:
        """Measure the clock against the database's once a minute (one
        query); a failure to measure is the database's check's to report."""
        while True:
            await asyncio.sleep(CHECK_INTERVAL)
            with contextlib.suppress(Exception):
                await self._clock_check.measure()

    async def _forget_finished(self) -> None:
        """Remove finished messages' queue rows once [queue] keep_finished has
        passed; their audit records stay.  The queue's tables then hold what
        is in flight and the recent past, not years of envelopes (which the
        queue-depth gauge would count at every scrape)."""
        keep = self.settings.queue.keep_finished.total_seconds()
        # A row outlives keep_finished by a tenth of it at most (ten minutes
        # at most), and the sweeps are a second apart at least.
        interval = max(1.0, min(keep / 10, 600.0))
        while True:
            try:
                removed = FORGET_BATCH
                while removed == FORGET_BATCH:
                    removed = await self.store.forget_finished(time.time() - keep, FORGET_BATCH)
                    if removed:
                        log.info("finished_messages_removed", count=removed)
            except Exception as exc:  # the next round tries again
                log.error("finished_messages_not_removed", error=type(exc).__name__)
            await asyncio.sleep(interval)

    async def refresh_gauges(self) -> None:
        self.metrics.count_commits(self.writer.batches, self.writer.operations)
        depth = await self.store.depth_by_state()
        for state in QueueState:
            self.metrics.queue_depth.labels(state.value).set(depth.get(state.value, 0))

    # -- the acceptor --------------------------------------------------------

    async def accept(
        self, envelope: Envelope, content: MessageContent, ahead: object = None
    ) -> str:
        """Decide, commit durably, answer.  Called once per DATA.

        A spooled (large) message waits for one of `large_message_concurrency`
        turns (at most `inspect_timeout`, then 451), is read back into memory
        in a thread and handled like any other; the SMTP layer deletes the
        spool file once this returns.  `ahead` is what `_read_ahead` made of
        the content in the receive stage's worker thread, if it ran.
        """
        if self._shutting_down:
            return replies.S421_SHUTTING_DOWN
        self._accepting += 1
        started = time.perf_counter()
        self.metrics.received.inc()
        try:
            if isinstance(content, SpooledBody):
                return await self._accept_spooled(envelope, content)
            return await self._accept(envelope, content, ahead)
        except Exception as exc:
            log.error("message_not_accepted", error=type(exc).__name__)
            self._count_failure()
            return replies.S451_INTERNAL
        finally:
            self._accepting -= 1
            self.metrics.data_latency.observe(time.perf_counter() - started)

    async def _accept_spooled(self, envelope: Envelope, body: SpooledBody) -> str:
        async with asyncio.timeout(self.settings.server.inspect_timeout.total_seconds()):
            await self._large_slots.acquire()
        turn = _Turn(self._large_slots)
        try:
            # Read straight into the call: no frame here keeps the content
            # alive once `_accept` lets it go.
            return await self._accept(envelope, await asyncio.to_thread(body.read), turn=turn)
        finally:
            turn.give_back()

    def _count_failure(self) -> None:
        """A message answered 451 (the gateway's failure; the client tries
        again): here, or by the receive stage itself (content it could not
        spool, a refusal it could not record)."""
        self.metrics.rejected.labels(INTERNAL_ERROR).inc()
        self.metrics.refused.labels("error").inc()

    async def record_refusal(self, envelope: Envelope, reason: ReasonCode, size: int) -> None:
        """The receive stage refused this message's content as it arrived
        (`RefusalRecorder`): its audit record, durable before the 550 or 552
        goes out, as any other rejection's.  Nothing of the content was kept,
        so the record has the envelope, the allow-list's recipient details
        and the reason only.  A failure propagates: the client gets 451."""
        if self.desk.route(envelope) == "receipt":
            return  # inbound receipts get no record of their own, taken or refused
        audit_id = new_queue_id()
        received_at = datetime.now(UTC)
        verdict = Verdict(Action.REJECT, (Reason(reason, REFUSED_ON_ARRIVAL_WORDS[reason]),))
        record = _audit_record(
            audit_id, envelope, received_at, verdict=verdict, routes=(), message_id=None,
            subject="", purpose=None, consent=None, authorised_by=None, attachments=(),
            entries=match_recipients(envelope, self.pipeline.recipients.current()), method="",
        )
        events = [
            AuditEvent(EventType.RECEIVED, received_at, _arrival(envelope, size)),
            AuditEvent(EventType.REJECTED, datetime.now(UTC), {"reasons": [reason.value]}),
        ]
        await self.writer.submit(self.audit.record_op(record, events))
        self.metrics.rejected.labels(reason.value).inc()
        self.metrics.refused.labels("arrival").inc()
        log.info("message_rejected", audit_id=audit_id, reasons=[reason.value],
                 **_sent_by(envelope))

    def _read_ahead(self, content: bytes) -> _ReadAhead | None:
        """The pipeline's first steps on a large message kept in memory, run
        in the receive stage's worker thread (`ListenerConfig.read_ahead`,
        from `wire.UNLOCKED_FROM`): its reading and the long searches over
        its large texts, which let go of the interpreter lock.  A thread hop
        costs a busy event loop a few of its turns in latency, so this rides
        on the one the receive stage makes anyway."""
        if len(content) > _AHEAD_UP_TO:
            return None  # the whole pipeline runs in a thread (`_decide`)
        reading = self.pipeline.read(content)
        ahead = None
        if self.pipeline.worth_searching_ahead(reading):
            ahead = self.pipeline.search_ahead(reading)
        return _ReadAhead(content, reading, ahead)

    async def _decide(
        self,
        envelope: Envelope,
        content: bytes,
        timeout: float,
        early: object = None,
        turn: _Turn | None = None,
    ) -> Decision:
        """The pipeline's decision: concluded on the loop from what
        `_read_ahead` did when it ran; otherwise in a worker thread for large
        messages, on the loop for the others.  On the loop, within its small
        bounds (`Pipeline.run`'s `on_loop`): a small message that expands to
        much text is decided in a thread, so every other session is served
        meanwhile."""
        pipeline = self.pipeline
        if isinstance(early, _ReadAhead) and early.content is content:
            try:
                return pipeline.conclude(envelope, content, early.reading, early.ahead,
                                         on_loop=True)
            except NotForTheLoop:
                return await self._in_thread(
                    partial(pipeline.conclude, envelope, content, early.reading, early.ahead),
                    timeout, turn)
        if len(content) <= _THREAD_THRESHOLD:
            try:
                return pipeline.run(envelope, content, on_loop=True)
            except NotForTheLoop:
                pass
        return await self._in_thread(partial(pipeline.run, envelope, content), timeout, turn)

    @staticmethod
    async def _in_thread(
        inspect: Callable[[], Decision], timeout: float, turn: _Turn | None
    ) -> Decision:
        """`inspect()` in a worker thread, waited for up to `timeout`.

        The pipeline's own deadline ends the inspection well before (a
        definite refusal); the timeout is a backstop, answered 451.  A
        thread cannot be stopped: the message's turn (`turn`) is held
        until it ends."""
        thread = asyncio.ensure_future(asyncio.to_thread(inspect))
        thread.add_done_callback(_result_taken)
        if turn is not None:
            turn.held_by(thread)
        return await asyncio.wait_for(asyncio.shield(thread), timeout)

    async def _accept(
        self, envelope: Envelope, content: bytes, ahead: object = None, turn: _Turn | None = None
    ) -> str:
        # Mail for the receipts domain is an inbound receipt: never relayed.
        route = self.desk.route(envelope)
        if route == "receipt":
            for_postmaster = self._for_postmaster(envelope, content)
            if for_postmaster is None:
                return await self.desk.accept(envelope, content)
            envelope = for_postmaster
        if route == "mixed":
            # Refused, as any other message received, with its record first.
            await self.record_refusal(envelope, ReasonCode.RECEIPT_ADDRESS_MIXED, len(content))
            return replies.S550_RECEIPTS_MIXED
        limit = self.settings.server.max_hops
        hops = received_count(content)
        if hops > limit:
            # A mail loop: each turn would be a record and a delivery until
            # the message outgrew max_message_size (a hundred thousand turns).
            log.warning("mail_loop", hops=hops, limit=limit, client=envelope.peer)
            await self.record_refusal(envelope, ReasonCode.TOO_MANY_HOPS, len(content))
            return replies.S554_TOO_MANY_HOPS.format(limit=limit)
        queue_id = new_queue_id()
        received_at = datetime.now(UTC)
        timeout = self.settings.server.inspect_timeout.total_seconds()
        decision = await self._decide(envelope, content, timeout, ahead, turn)
        verdict = decision.verdict
        record = self._audit_record(queue_id, envelope, decision, received_at)
        events = [AuditEvent(EventType.RECEIVED, received_at, _arrival(envelope, len(content)))]

        if verdict.action == Action.REJECT:
            events.append(AuditEvent(EventType.REJECTED, datetime.now(UTC),
                                     {"reasons": [r.code.value for r in verdict.reasons]}))
            ops = [self.audit.record_op(record, events)]
            notification = self._notification(queue_id, envelope, decision)
            if notification is not None:
                # The sender's explanation is queued in the same transaction as
                # the audit record: both are durable before the 550.
                ops.append(self.store.insert_op(notification)[0])
            await self.writer.submit(_together(ops))
            if notification is not None:
                self.dispatcher.wake()
            for reason in verdict.reasons:
                self.metrics.rejected.labels(reason.code.value).inc()
            self.metrics.refused.labels("policy").inc()
            log.info("message_rejected", audit_id=queue_id,
                     reasons=[r.code.value for r in verdict.reasons], **_sent_by(envelope))
            return replies.S550_POLICY.format(
                summary=_one_line(smtp_summary(verdict, self.settings.policy.mode)))

        held = verdict.action == Action.HOLD
        detail: dict[str, object] = {"queue_id": queue_id}
        if verdict.would_action is not None:
            detail["would_action"] = verdict.would_action.value  # monitor mode
            detail["reasons"] = [r.code.value for r in verdict.reasons]
        events.append(AuditEvent(EventType.HELD if held else EventType.QUEUED, datetime.now(UTC),
                                 detail))
        receipts = self.desk.wants_receipts(decision)
        body, sender_mdn = decision.content, False
        if receipts and self.settings.receipts.request_mdn:
            # The gateway asks for read receipts itself (to its own address)
            # and forwards a copy when the sender had asked for one.
            body, asked = take_header(body, MDN_HEADER)
            sender_mdn = bool(asked)
        outbound = received_header(envelope, self.settings.server.hostname, queue_id,
                                   received_at, tls=envelope.tls) + body
        message = NewMessage(
            envelope=envelope,
            content=outbound,
            routes=decision.routes,
            state=QueueState.HELD if held else QueueState.QUEUED,
            audit_id=queue_id,
            id=queue_id,
            receipts=receipts,
            # The received bytes as the receive stage checked them, behind
            # the gateway's own header: the transport need not look again.
            # Content the gateway rebuilt (protected, a header taken out) is.
            line_endings_checked=body is content,
        )
        also = [self.audit.record_op(record, events)]
        to_sender = (decision.password is not None and not held
                     and self.settings.passwords.release == "sender")
        if decision.password is not None:
            if self.vault is None:
                raise VaultError("a password must be held but no password key is configured")
            # After the record op: the password_held event follows `queued`.
            also.append(hold_op(
                self.vault, queue_id, envelope.rcpt_tos, decision.password,
                self.settings.passwords.ttl, audit_id=queue_id, sender=envelope.mail_from,
                trail=self.audit,
            ))
            # A message held for authorisation releases nothing: the sender
            # gets the password once it is approved (ReceiptDesk.tick), and
            # a rejection destroys it (gateway.queue.held).
            if to_sender:
                also.append(self.desk.sender_release_op(queue_id, envelope, decision))
        if receipts:
            also.append(self.desk.request_op(queue_id, envelope, decision, sender_mdn))
        notice = self._hold_notice(queue_id, envelope, decision) if held else None
        if notice is not None:
            # A 250 reads "sent" in the sender's mail client: they are told
            # it waits, in the transaction that holds it.
            also.append(self.store.insert_op(notice)[0])
        # From here on only `outbound` is needed: while the Writer copies it
        # into the database, a large message's received and rebuilt copies
        # are let go (25 MB each at the size limit).
        del content, body, decision, ahead
        size = len(outbound)

        async def queue_and_hand_over() -> None:
            queued = await self.store.enqueue(
                message, also=also, claim=self.dispatcher.has_room(size)
            )
            self.metrics.accepted.labels(verdict.action.value).inc()
            log.info("message_queued", queue_id=queue_id, verdict=verdict.action.value,
                     recipients=len(envelope.rcpt_tos), size=size, **_sent_by(envelope))
            if queued.state == QueueState.ACTIVE:
                self.dispatcher.submit(queued)
            else:
                self.dispatcher.wake()
            if to_sender or notice is not None:
                self.dispatcher.wake()  # the sender's password email or notice was queued too

        # Shielded: a client that hangs up while the commit runs cancels
        # this task, and the message, committed and claimed for the
        # dispatcher, would then wait for its lease (minutes) to go out.
        await asyncio.shield(queue_and_hand_over())
        template = replies.S250_HELD if held else replies.S250_QUEUED
        return template.format(queue_id=queue_id)

    def _for_postmaster(self, envelope: Envelope, content: bytes) -> Envelope | None:
        """Mail for postmaster@ the receipts domain that is no receipt: the
        envelope that relays it to `[server] postmaster`, as any MX takes
        postmaster for its domain (RFC 5321 4.5.1).  None for a receipt
        (a report to postmaster@ is the receipt desk's, correlated as any
        other) and for mail to the domain's other addresses."""
        indexes = [i for i, r in enumerate(envelope.rcpt_tos)
                   if r.rpartition("@")[0].lower() == "postmaster"]
        if not indexes or parse_receipt(content) is not None:
            return None
        dsn = envelope.rcpt_dsn[indexes[0]: indexes[0] + 1]
        return replace(envelope, rcpt_tos=(self.settings.server.postmaster_address,),
                       rcpt_dsn=dsn)

    def _audit_record(
        self, queue_id: str, envelope: Envelope, decision: Decision, received_at: datetime
    ) -> Callable[[], AuditRecord]:
        """What builds the message's audit record, called with the rest of
        the Writer's batch (gateway.audit.trail).  It holds the decision's
        small fields only: holding the decision until the batch was done
        held a large message's content with it (the 25 MB memory test's
        peak rose by 10-25 MB)."""
        return partial(
            _audit_record, queue_id, envelope, received_at,
            verdict=decision.verdict, routes=decision.routes, message_id=decision.message_id,
            subject=decision.subject, purpose=decision.purpose, consent=decision.consent,
            authorised_by=decision.authorised_by, attachments=decision.attachments,
            entries=decision.recipients, method=decision.method,
        )

    def _notification(
        self, queue_id: str, envelope: Envelope, decision: Decision
    ) -> NewMessage | None:
        """The sender's explanation of a refusal, from the null sender."""
        if not envelope.mail_from:
            return None  # a bounce or notification itself: never answer one
        hostname = self.settings.server.hostname
        content = build_notification(
            hostname=hostname,
            sender=envelope.mail_from,
            reference=queue_id,
            recipients=envelope.rcpt_tos,
            verdict=decision.verdict,
            subject=None if decision.subject_has_personal_data else decision.subject,
            message_id=decision.message_id,
            when=datetime.now(UTC),
            mode=self.settings.policy.mode,
        )
        return self._to_sender(envelope, content)

    def _to_sender(self, envelope: Envelope, content: bytes) -> NewMessage:
        """A notice for the sender, from the null sender (it never bounces).
        No audit_id: its delivery events must not look like the message's."""
        return NewMessage(
            envelope=Envelope(mail_from="", rcpt_tos=(envelope.mail_from,), peer="local",
                              helo=self.settings.server.hostname,
                              smtputf8=not envelope.mail_from.isascii()),
            content=content,
        )

    def _hold_notice(
        self, queue_id: str, envelope: Envelope, decision: Decision
    ) -> NewMessage | None:
        """The sender's word that their message waits for authorisation."""
        if not envelope.mail_from:
            return None
        hostname = self.settings.server.hostname
        content = build_hold_notice(
            hostname=hostname,
            sender=envelope.mail_from,
            reference=queue_id,
            recipients=envelope.rcpt_tos,
            subject=None if decision.subject_has_personal_data else decision.subject,
            message_id=decision.message_id,
            when=datetime.now(UTC),
        )
        return self._to_sender(envelope, content)


def _audit_record(
    queue_id: str,
    envelope: Envelope,
    received_at: datetime,
    *,
    verdict: Verdict,
    routes: tuple[str, ...],
    message_id: str | None,
    subject: str,
    purpose: str | None,
    consent: str | None,
    authorised_by: str | None,
    attachments: tuple[AttachmentReport, ...],
    entries: tuple[RecipientEntry | None, ...],
    method: str,
) -> AuditRecord:
    """The message's audit record, from the decision's fields (never its content)."""
    entries = entries or tuple(None for _ in envelope.rcpt_tos)
    recipients = tuple(
        AuditRecipient(address=address) if entry is None else AuditRecipient(
            address=address,
            name=entry.name,
            job_title=entry.job_title,
            department=entry.department,
            organisation=entry.organisation,
            telephone=entry.telephone,
            listed_as=entry.address,
        )
        for address, entry in zip(envelope.rcpt_tos, entries, strict=True)
    )
    secure = sorted({r for r in routes if r != "upstream"})
    if method and secure:
        method += f", secure route {', '.join(secure)}"
    return AuditRecord(
        id=queue_id,
        message_id=message_id,
        received_at=received_at,
        sender=envelope.mail_from,
        recipients=recipients,
        subject=subject,
        verdict=verdict.action.value,
        reasons=tuple(AuditReason(r.code.value, r.text) for r in verdict.reasons),
        purpose=purpose,
        consent=consent,
        authorised_by=authorised_by,
        information_types=tuple(t.value for t in verdict.information_types),
        marking=verdict.marking,
        method=method,
        attachments=tuple(
            AuditAttachment(a.filename, a.content_type, a.encryption.value, a.read_only)
            for a in attachments
        ),
        queue_id=queue_id,
    )


@contextlib.asynccontextmanager
async def _listening(section: str, listen: str) -> AsyncIterator[None]:
    """An address that cannot be listened on (in use, not this machine's,
    a privileged port) as the configuration problem it is, naming the key."""
    try:
        yield
    except OSError as exc:
        raise ConfigError(
            f"[{section}] listen = {listen!r}: cannot listen there ({exc.strerror or exc})"
        ) from None


def _arrival(envelope: Envelope, size: int) -> dict[str, object]:
    """The `received` event's detail: the size, the client's address and,
    when it authenticated, the user it authenticated as.  A user may send as
    any MAIL FROM (unless `[[users]] senders` says otherwise), so the record
    of who sent keeps the account, not only the address it wrote."""
    detail: dict[str, object] = {"size": size, "client": envelope.peer}
    if envelope.auth_user is not None:
        detail["auth_user"] = envelope.auth_user
    return detail


def _sent_by(envelope: Envelope) -> dict[str, str]:
    """The client and the authenticated user for a log line, as Postfix's
    `client=host[ip], sasl_username=...`: operational data, not the mail's."""
    fields = {"client": envelope.peer}
    if envelope.auth_user is not None:
        fields["auth_user"] = envelope.auth_user
    return fields


def _together(ops: list[Operation]) -> Operation:
    """Several writes as one operation: one transaction, one commit."""

    async def write(conn: AsyncConnection) -> None:
        for op in ops:
            await op(conn)

    return write


def _one_line(text_value: str) -> str:
    return " ".join(text_value.split())[:400]
