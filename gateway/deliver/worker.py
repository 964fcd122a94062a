"""Delivery workers: take claimed messages, send them, record the outcome.

Flow: the receive path hands a freshly queued (already claimed) message to
`Dispatcher.submit`; a poller claims due and orphaned messages from the
store when there is room.  A worker groups the pending recipients by route,
makes one SMTP transaction per route, then records, in one transaction, each
recipient's result, the message's next state, the audit events and any
bounce.  4xx -> deferred with backoff until `max_age`; 5xx or max age -> a
bounce to the sender (not for bounces themselves, nor when NOTIFY says
otherwise).  A route that is not configured defers: never a weaker route.

A message queued with `receipts=True` goes out as one transaction per
recipient: VERP return path, DSN NOTIFY/RET/ENVID and its own
Disposition-Notification-To (gateway/receipts/request.py).  The queued
envelope keeps the original sender, so the gateway's own bounces go to them.

Recipients a smarthost refuses only for their number in one transaction
(`452 4.5.3 too many recipients`) go in another transaction at once, as
Postfix sends them.  A delivery that fails in the gateway itself (an
unexpected exception) is deferred like a temporary failure, its attempt
counted, so retry, `max_age` and `queue bounce` still apply to it.

A delivery may take longer than `[queue] lease` (an end-of-DATA reply
waits up to `data_done_timeout`, a large message crosses a slow link):
the claim of every message this process holds, waiting in the ready queue
or being sent, is renewed while it is held (`_renew`: once a third of the
lease has gone, one UPDATE per claim, none for a delivery shorter than
that), so no other worker claims it and sends it again.  Renewal stops once
the message is sent; the result is then recorded within the lease left.  A
renewal that finds the claim gone (the lease ran out while the database
refused writes, and another worker claimed it) marks it lost: a message
not yet sent is not sent, and a result is not written over the other
worker's claim, which records its own.

A gateway-made email (null sender) that is finished, delivered or failed
for good, is handed to `finished` (ReceiptDesk.email_finished_op) in the
same transaction as its record: an email carrying a held password releases
it once delivered, or holds it again when it failed (its bounce would go
nowhere), never leaving it released with nothing sent.  Recipients of any
message given up on for good (refused, expired at `max_age`, `queue
bounce`) are handed to `undelivered` (PasswordStore.undelivered_op) in that
transaction too: their held passwords are destroyed, as a failure report
destroys one, instead of kept for the ttl.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import structlog

from gateway.audit import AuditEvent, AuditTrail, EventType
from gateway.deliver.bounce import Expiry, build_bounce
from gateway.deliver.failures import why_unreachable
from gateway.deliver.transport import (
    Outbound,
    OutboundRecipient,
    Transport,
    connection_failure,
    too_many_recipients,
)
from gateway.errors import ClaimLost
from gateway.model import Envelope, RecipientResult
from gateway.queue import NewMessage, QueuedMessage, QueueState, QueueStore, next_delay
from gateway.queue.states import RecipientState
from gateway.queue.store import Operation, QueuedRecipient, RecipientOutcome
from gateway.receipts.request import add_header, for_recipient, hop_op
from gateway.receipts.tokens import ReceiptAddressing
from gateway.settings import Settings

log = structlog.get_logger(__name__)

DeliveryObserver = Callable[[str, int], None]
# (the finished message, delivered?, why it failed, the reply code, its code
# and status for a person to read) -> the write to add to its record, if any.
EmailFinished = Callable[[QueuedMessage, bool, str, int | None, str], Operation | None]
# (queue id, recipients given up on for good, when): the write destroying
# their held passwords (PasswordStore.undelivered_op).
Undelivered = Callable[[str, Sequence[str], float], Operation]

# Message content held in the ready queue and in flight, at most (a message
# larger than this alone goes when nothing else is held): the poller claims
# fewer messages when they are big, so a backlog of 25 MB messages is not
# loaded into memory all at once.
CONTENT_BUDGET = 32 * 1024 * 1024
# Messages up to this size are handed over at acceptance (`submit`); larger
# ones are left in the store for the poller, within the budget.
DIRECT_LIMIT = 1024 * 1024
# The failure a bounce reports for a message the administrator gave up on.
# 5.0.0: none of RFC 3463's classes fits a person's decision (X.3.X is the
# state of the receiving system, X.4.X the network, X.7.X a security
# policy), and a specific one would tell the sender something untrue.
GIVEN_UP = "5.0.0 Delivery cancelled by the gateway's administrator"
# A delivery that failed in the gateway itself: a temporary failure of the
# mail system (RFC 3463 4.3.0), retried on the schedule like any other.
CRASHED = "4.3.0 delivery failed in the gateway"
# A result the database refused is tried again after 0.5 s, doubling up to
# 5 s, until this long before the claim's lease runs out (`_record_again`).
RECORD_RETRY_FIRST = 0.5
RECORD_RETRY_MAX = 5.0
RECORD_RETRY_MARGIN = 10.0
# Claims are looked at this many times per lease and renewed once a third
# of their lease has gone: each is renewed with half its lease or more left.
RENEW_CHECKS_PER_LEASE = 6
RENEW_AFTER = 1 / 3


@dataclass(eq=False, slots=True)
class _Claim:
    """This process's claim on a message it holds to deliver.  Not frozen:
    its lease moves on with each renewal, and it is lost when a renewal
    finds another worker's claim in its place."""

    message_id: str
    lease_until: float  # as the claim, or its last renewal, wrote it
    lost: bool = False


class Dispatcher:
    """Owns the in-memory run queue and the worker tasks of this process."""

    def __init__(
        self,
        store: QueueStore,
        transport: Transport,
        settings: Settings,
        audit: AuditTrail,
        observe: DeliveryObserver | None = None,
        receipts: ReceiptAddressing | None = None,
        content_budget: int = CONTENT_BUDGET,
        finished: EmailFinished | None = None,
        undelivered: Undelivered | None = None,
    ) -> None:
        self._store = store
        self._finished = finished
        self._undelivered = undelivered
        self._receipts = receipts
        self._transport = transport
        self._settings = settings
        # Every smarthost by route name, for the timeouts and the log's relay=.
        self._routes = settings.all_routes
        self._audit = audit
        self._observe = observe or (lambda outcome, n: None)
        self._capacity = settings.queue.workers * 4
        # Each with its claim; the claims held (waiting or being sent) are
        # in `_claims`, for `_renew`.
        self._ready: asyncio.Queue[tuple[QueuedMessage, _Claim]] = asyncio.Queue()
        self._claims: set[_Claim] = set()
        self._renewing: asyncio.Future[list[float | None]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._refill = False
        # The poller stopped short of the content budget: what releases
        # content wakes it (see _release).
        self._short_of_bytes = False
        self._stopping = False
        self.in_flight = 0
        self._budget = content_budget
        self.held_bytes = 0  # content in the ready queue and in flight

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        for n in range(self._settings.queue.workers):
            self._tasks.append(asyncio.create_task(self._work(), name=f"deliver-{n}"))
        self._tasks.append(asyncio.create_task(self._poll(), name="deliver-poll"))
        self._tasks.append(asyncio.create_task(self._renew(), name="deliver-renew"))

    async def stop(self, grace: float = 20.0) -> None:
        """Finish deliveries in flight (up to `grace`), then release claims."""
        self._stopping = True
        self._wake.set()
        deadline = time.monotonic() + grace
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        released = await self._store.release_claims()
        log.info("claims_released", count=released)

    def has_room(self, size: int = 0) -> bool:
        """May a just-queued message of `size` bytes be claimed and submitted?
        Large ones are not: the poller loads them within the content budget."""
        return (
            not self._stopping
            and self._ready.qsize() < self._capacity
            and size <= DIRECT_LIMIT
            and self.held_bytes + size <= self._budget
        )

    def submit(self, message: QueuedMessage) -> None:
        self.held_bytes += len(message.content)
        lease = message.lease_until or time.time() + self._store.lease_seconds
        claim = _Claim(message.id, lease)
        self._claims.add(claim)
        self._ready.put_nowait((message, claim))

    def _submit_all(self, messages: list[QueuedMessage]) -> None:
        for message in messages:
            self.submit(message)

    def wake(self) -> None:
        self._wake.set()

    # -- loops ---------------------------------------------------------------

    async def _poll(self) -> None:
        interval = self._settings.queue.poll_interval.total_seconds()
        while not self._stopping:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()
            room = self._capacity - self._ready.qsize()
            room_bytes = self._budget - self.held_bytes
            if self._stopping or room <= 0:
                continue
            if self.held_bytes and room_bytes <= 0:
                self._short_of_bytes = True
                continue
            if room < self._capacity // 4 and self._ready.qsize():
                # The workers have plenty to do.  Each message queued while
                # the ready queue is full wakes the poller, which would claim
                # a few at a time, dozens of times a second; claim once they
                # have made room for a batch instead.
                self._refill = True
                continue
            try:
                claimed = await self._store.claim_due(
                    room, max_bytes=max(0, room_bytes), at_least_one=not self.held_bytes
                )
            except Exception as exc:
                log.error("claim_failed", error=type(exc).__name__)
                continue
            count = len(claimed)
            # Handed over, not kept: held here until the next claim, a
            # message delivered meanwhile would stay in memory after its
            # bytes went back to the budget, beside the next one claimed
            # (two 25 MB contents at once in the memory test).  Submitted
            # by a method, so no loop variable here holds the last one.
            self._submit_all(claimed)
            del claimed
            if count < room and self.held_bytes > self._budget // 2:
                # Fewer than asked for, with half the budget taken: the budget
                # may be what stopped the claim (or nothing more was due, and
                # the wake costs one empty claim).
                self._short_of_bytes = True
            if count >= room:
                # A full claim: more are probably due; claim again as soon as
                # the workers make room rather than after a poll interval.
                self._refill = True

    async def _work(self) -> None:
        # The last message's result, being committed while this worker
        # sends the next one: the commit waits for the writer's group
        # commit, and a worker that waited with it would send at the pace
        # of the database, not of the upstream.  One at a time per worker.
        recording: asyncio.Task[None] | None = None
        while True:
            message, claim = await self._ready.get()
            size = len(message.content)
            if self._refill and self._ready.qsize() <= self._capacity // 2:
                self._refill = False
                self._wake.set()
            if self._stopping:
                self._claims.discard(claim)
                self.held_bytes -= size
                continue  # its claim is released by stop()
            if claim.lost or time.time() >= claim.lease_until:
                # Its lease ran out while it waited (renewals failed):
                # another worker may be sending it; whoever claims it next does.
                self._claims.discard(claim)
                self.held_bytes -= size
                log.warning("delivery_skipped", queue_id=message.id,
                            reason="claim lost" if claim.lost else "lease ran out")
                continue
            self.in_flight += 1
            try:
                results, routes = await self._attempt(message)
            except Exception as exc:
                # No result to go by: every pending recipient is deferred
                # and the attempt counts, so retry, max_age and `queue
                # bounce` apply (left claimed, it would crash at every lease).
                log.error("delivery_crashed", queue_id=message.id, **_failure(exc))
                text = f"{CRASHED} ({type(exc).__name__})"
                results = [RecipientResult(r.address, 451, text, by_gateway=True)
                           for r in message.pending]
                routes = {r.address: r.route for r in message.pending}
            # Sent: no more renewals; the result is recorded within the lease left.
            self._claims.discard(claim)
            if recording is not None:
                # Shielded: a worker cancelled at shutdown (past the grace
                # period) leaves the commit of a sent message's result to
                # finish rather than lose it (and send the message again).
                await asyncio.shield(recording)
            recording = asyncio.create_task(
                self._record_then_release(message, size, results, routes, claim),
                name=f"deliver-record-{message.id}",
            )
            del message

    async def _record_then_release(
        self,
        message: QueuedMessage,
        size: int,
        results: list[RecipientResult],
        routes: dict[str, str],
        claim: _Claim,
    ) -> None:
        try:
            holding = await self._doubtful_lease(claim)
            if claim.lost:
                raise ClaimLost(message.id)
            await self._record(message, results, routes, holding=holding)
        except ClaimLost:
            # Written over the other claim, the result would end it (its
            # worker still sending) or replace the other attempt's.
            log.error("delivery_not_recorded", queue_id=message.id, reason="claim lost",
                      effect="another worker claimed it and records its own attempt")
        except Exception as exc:
            log.error("delivery_record_failed", queue_id=message.id, **_failure(exc))
            await self._record_again(message, results, routes, exc, claim.lease_until)
        self._release(size)

    async def _doubtful_lease(self, claim: _Claim) -> float | None:
        """The claim's lease when it may have run out by now (renewals failed,
        or other workers' clocks run ahead): the result is then written only
        over this claim (`record_attempt`'s `holding`).  None otherwise, the
        usual case: no statement more.  A renewal under way is waited for."""
        lease = self._store.lease_seconds
        if claim.lease_until - time.time() >= lease * RENEW_AFTER:
            return None
        if self._renewing is not None and not self._renewing.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._renewing)
        if claim.lease_until - time.time() >= lease * RENEW_AFTER:
            return None
        return claim.lease_until

    async def _renew(self) -> None:
        """Renew the claims held once a third of their lease has gone.

        One UPDATE per claim renewed (`QueueStore.renew`), in one
        transaction; none while every message held was claimed or renewed
        less than a third of a lease ago.  A renewal refused by the database
        is tried at the next look; a claim another worker has taken is lost."""
        lease = self._store.lease_seconds
        while True:
            await asyncio.sleep(lease / RENEW_CHECKS_PER_LEASE)
            now = time.time()
            due = [claim for claim in self._claims
                   if not claim.lost and claim.lease_until - now <= lease * (1 - RENEW_AFTER)]
            if not due:
                continue
            self._renewing = asyncio.ensure_future(
                self._store.renew([(claim.message_id, claim.lease_until) for claim in due]))
            try:
                renewed = await asyncio.shield(self._renewing)
            except Exception as exc:
                log.error("claim_renewal_failed", count=len(due), **_failure(exc))
                continue
            for claim, until in zip(due, renewed, strict=True):
                if until is not None:
                    claim.lease_until = until
                    continue
                # Not this claim's any more: recorded meanwhile (then this
                # changes nothing), or claimed by another worker.
                claim.lost = True
                if claim in self._claims:
                    log.error("claim_lost", queue_id=claim.message_id,
                              effect="another worker claimed it; not sent again from here")

    async def _record_again(
        self,
        message: QueuedMessage,
        results: list[RecipientResult],
        routes: dict[str, str],
        first: Exception,
        leased_until: float,
    ) -> None:
        """The attempt's result could not be recorded: try again while the
        claim holds (no longer renewed: the message was sent), the result
        as it was, else `_record_deferral`.

        Nothing else knows the message was sent: once the lease runs out it
        is claimed and sent again.  A database refusing writes for a while
        (a full disk, a failover) then sent every message delivered
        meanwhile twice; recorded when the database takes writes again,
        it is sent once.  The worker sends no other message meanwhile (the
        next waits for this record: `_work`), so a database that stays
        down costs one message per worker, not every one it claimed.  Gives
        up, leaving the message to its lease, before the lease runs out or
        when the gateway stops."""
        pause = RECORD_RETRY_FIRST
        exc: Exception = first
        while True:
            with contextlib.suppress(Exception):
                await self._record_deferral(message, results, exc)
                if exc is not first:
                    log.info("delivery_recorded_late", queue_id=message.id)
                return
            if self._stopping or time.time() + pause >= leased_until - RECORD_RETRY_MARGIN:
                log.error("delivery_record_abandoned", queue_id=message.id,
                          effect="sent again once its claim's lease runs out")
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECORD_RETRY_MAX)
            try:
                await self._record(message, results, routes)
            except Exception as again:
                exc = again
            else:
                log.info("delivery_recorded_late", queue_id=message.id)
                return

    async def _record_deferral(
        self, message: QueuedMessage, results: list[RecipientResult], exc: Exception
    ) -> None:
        """The result of an attempt could not be recorded as it was: keep
        the recipients the upstream accepted (sending them again would
        duplicate them) and defer the rest, the attempt counted.  If even
        this fails (the database is down), the claim stays and the lease
        brings the message back."""
        delivered = [RecipientOutcome(r.address, RecipientState.DELIVERED, r.code, r.message)
                     for r in results if r.ok]
        routes = {r.address: r.route for r in message.recipients}
        relayed = [AuditEvent(EventType.RELAYED, datetime.now(UTC),
                              {"recipient": o.address, "route": routes.get(o.address, ""),
                               "code": o.code}) for o in delivered]
        also = ([self._audit.events_op(message.audit_id, relayed)]
                if relayed and message.audit_id else [])
        if delivered and len(delivered) == len(message.pending):
            done = self._email_finished(message, True)
            if done is not None:
                also.append(done)
        delay = next_delay(self._settings.queue.retry, message.attempts + 1)
        at = time.time() + delay.total_seconds()
        error = f"{CRASHED} ({type(exc).__name__})"
        # With its `relayed` events or not at all: a queue change is never
        # written without the trail's record of it.  When this fails too,
        # the lease brings the message back (a recipient may get it twice;
        # the trail stays whole).
        await self._store.record_attempt(message, delivered, QueueState.DEFERRED, at, error,
                                         also)
        log.warning("delivery_attempted", queue_id=message.id, state=QueueState.DEFERRED.value,
                    delivered=len(delivered), failed=0,
                    deferred=len(message.pending) - len(delivered))

    def _release(self, size: int) -> None:
        """A message is done with (recorded, or left to its lease)."""
        self.in_flight -= 1
        self.held_bytes -= size
        if size > DIRECT_LIMIT or (
            self._short_of_bytes and self.held_bytes <= self._budget // 2
        ):
            # Room in the budget: claim what waited for it now, not at the
            # next poll interval or the next message accepted.  Half the
            # budget, so that the claim is a batch rather than a message.
            self._short_of_bytes = False
            self._wake.set()

    # -- one message ---------------------------------------------------------

    async def _attempt(
        self, message: QueuedMessage
    ) -> tuple[list[RecipientResult], dict[str, str]]:
        """Send `message`: each recipient's result and the route it took."""
        if message.receipts and self._receipts is not None:
            return await self._attempt_with_receipts(message, self._receipts)
        env = message.envelope
        by_route: dict[str, list[OutboundRecipient]] = {}
        for r in message.pending:
            by_route.setdefault(r.route, []).append(OutboundRecipient(r.address, r.notify, r.orcpt))
        results: list[RecipientResult] = []
        routes_used: dict[str, str] = {}
        for route, recipients in by_route.items():
            results.extend(await self._send(
                route, env, message.content, recipients,
                checked=message.line_endings_checked,
            ))
            for outbound in recipients:
                routes_used[outbound.address] = route
        return results, routes_used

    async def _attempt_with_receipts(
        self, message: QueuedMessage, addressing: ReceiptAddressing
    ) -> tuple[list[RecipientResult], dict[str, str]]:
        """One transaction per recipient, each asking for its own receipts."""
        env = message.envelope
        results: list[RecipientResult] = []
        routes_used: dict[str, str] = {}
        # The index is the recipient's position in the message: the receipt
        # tokens were made for it, and receipt_requests rows are keyed by it.
        for index, r in enumerate(message.recipients):
            if r.state != RecipientState.PENDING:
                continue
            ask = for_recipient(
                addressing, self._settings.receipts, message.id, index, r.address,
                sender=env.mail_from, sender_notify=r.notify, sender_orcpt=r.orcpt,
                sender_ret=env.dsn_ret, sender_envid=env.dsn_envid,
            )
            outbound = Outbound(
                mail_from=ask.mail_from,
                recipients=(OutboundRecipient(r.address, ask.notify, ask.orcpt),),
                content=add_header(message.content, ask.header),
                ret=ask.ret,
                envid=ask.envid,
                smtputf8=env.smtputf8,
                body_8bit=env.body_8bit,
            )
            results.extend(await self._send(r.route, env, message.content, [], outbound))
            routes_used[r.address] = r.route
        return results, routes_used

    async def _send(
        self,
        route: str,
        env: Envelope,
        content: bytes,
        recipients: list[OutboundRecipient],
        outbound: Outbound | None = None,
        checked: bool = False,
    ) -> tuple[RecipientResult, ...]:
        if outbound is None:
            outbound = Outbound(
                mail_from=env.mail_from,
                recipients=tuple(recipients),
                content=content,
                ret=env.dsn_ret,
                envid=env.dsn_envid,
                smtputf8=env.smtputf8,
                body_8bit=env.body_8bit,
                line_endings_checked=checked,
            )
        recipients = list(outbound.recipients)
        has_route = getattr(self._transport, "has_route", None)
        if has_route is not None and not has_route(route):
            text = f"4.3.5 route {route!r} is not configured; not falling back"
            return tuple(RecipientResult(r.address, 451, text, by_gateway=True)
                         for r in recipients)
        settings = self._routes.get(route, self._settings.upstream)
        # Each reply within the route's timeout, the end of DATA's within
        # data_done_timeout: no transaction takes longer than this.
        timeout = (settings.timeout.total_seconds() * 4
                   + settings.data_done_timeout.total_seconds())
        results: dict[str, RecipientResult] = {}
        while True:
            try:
                result = await asyncio.wait_for(self._transport.send(route, outbound), timeout)
            except Exception as exc:
                log.info("upstream_unavailable", route=route,
                         relay=f"{settings.host}:{settings.port}", **_failure(exc, where=False))
                result = connection_failure(outbound.recipients, exc, route)
            for one in result.recipients:
                results[one.address] = one
            again = tuple(r for r in outbound.recipients
                          if r.address in results and too_many_recipients(results[r.address]))
            # Another transaction at once for those refused only for their
            # number, as long as each one gets somewhere (a server taking
            # none at all would be asked for ever).
            if not again or len(again) == len(outbound.recipients):
                break
            outbound = replace(outbound, recipients=again)
        return tuple(results[r.address] for r in recipients)

    async def give_up(self, message: QueuedMessage) -> None:
        """`gateway queue bounce`: the administrator gives up on a message
        (claimed first, so no worker is sending it): every recipient not yet
        delivered fails as a permanent failure would, so the sender gets the
        same bounce and the trail the same `delivery_failed` events."""
        given_up = (f"{GIVEN_UP} after {message.attempts} "
                    f"attempt{'' if message.attempts == 1 else 's'}")
        results = [RecipientResult(r.address, 550, given_up, by_gateway=True,
                                   last_remote=remote_reply(r))
                   for r in message.pending]
        routes = {r.address: r.route for r in message.pending}
        await self._record(message, results, routes, why="given up by the administrator",
                           tried=False)

    async def _record(
        self,
        message: QueuedMessage,
        results: list[RecipientResult],
        routes: dict[str, str],
        why: str | None = None,
        tried: bool = True,
        holding: float | None = None,
    ) -> None:
        now = time.time()
        at = datetime.now(UTC)
        expired = now - message.created_at >= self._settings.queue.max_age.total_seconds()
        outcomes: list[RecipientOutcome] = []
        events: list[AuditEvent] = []
        failed: list[RecipientResult] = []
        temporary: list[RecipientResult] = []
        queued = {r.address: r for r in message.recipients}
        for result in results:
            # The gateway's own failures (an upstream unreachable, the
            # administrator giving up) carry no reply code: none was given.
            detail = {"recipient": result.address, "route": routes.get(result.address, ""),
                      "code": None if result.by_gateway else result.code}
            if result.ok:
                outcomes.append(RecipientOutcome(result.address, RecipientState.DELIVERED,
                                                 result.code, result.message))
                events.append(AuditEvent(EventType.RELAYED, at, detail))
            elif result.permanent or expired:
                if result.by_gateway and result.last_remote is None and result.address in queued:
                    # Expired on the gateway's own failure (the upstream
                    # unreachable): the bounce quotes what a receiving
                    # system said before, if one ever did.
                    result = replace(result, last_remote=remote_reply(queued[result.address]))
                if result.by_gateway:
                    # Given up by the gateway (the administrator, an expiry
                    # on its own failures): the recipient keeps what a
                    # receiving system last said, if one ever did; the
                    # gateway's words are the message's last_error.
                    previous = queued.get(result.address)
                    outcomes.append(RecipientOutcome(
                        result.address, RecipientState.FAILED,
                        previous.last_code if previous else None,
                        previous.last_reply if previous else None))
                else:
                    outcomes.append(RecipientOutcome(result.address, RecipientState.FAILED,
                                                     result.code, result.message))
                reason = why or ("rejected by upstream" if result.permanent else "expired in queue")
                events.append(AuditEvent(EventType.DELIVERY_FAILED, at, {**detail, "why": reason}))
                failed.append(result)
            else:
                if not result.by_gateway:
                    # A receiving system's temporary reply stays with the
                    # recipient (still pending) for a later bounce to
                    # quote; the gateway's own failures never replace it.
                    outcomes.append(RecipientOutcome(result.address, RecipientState.PENDING,
                                                     result.code, result.message))
                temporary.append(result)
        earlier_failed = any(r.state == RecipientState.FAILED for r in message.recipients)
        if temporary:
            state = QueueState.DEFERRED
            delay = next_delay(self._settings.queue.retry, message.attempts + 1)
            next_at = now + delay.total_seconds()
        else:
            state = QueueState.BOUNCED if failed or earlier_failed else QueueState.DELIVERED
            next_at = now
        also: list[Operation] = []
        if events and message.audit_id:
            also.append(self._audit.events_op(message.audit_id, events))
        if message.receipts:
            also.append(hop_op(
                message.id,
                [o.address for o in outcomes if o.state == RecipientState.DELIVERED],
                [o.address for o in outcomes if o.state == RecipientState.FAILED],
                now,
            ))
        if failed and self._undelivered is not None:
            # Their password would open nothing they hold: destroyed with
            # the failure, as a failure report destroys it, not kept for
            # [passwords] ttl.
            also.append(self._undelivered(message.id, [f.address for f in failed], now))
        expiry = None
        if any(not f.permanent for f in failed):
            # Given up at max_age, not refused: the bounce says after how
            # many attempts over how long.
            expiry = Expiry(message.attempts + (1 if tried else 0), now - message.created_at)
        bounce = self._bounce(message, failed, expiry)
        if bounce is not None:
            insert, _ = self._store.insert_op(bounce)
            also.append(insert)
        notice = self._relayed_notice(message, results, routes)
        if notice is not None:
            insert, _ = self._store.insert_op(notice)
            also.append(insert)
        done = None
        if state is not QueueState.DEFERRED:
            done = self._email_finished(message, state is QueueState.DELIVERED, failed, why)
            if done is not None:
                also.append(done)
        last_error = temporary[0].message if temporary else next(
            (f.message for f in failed if f.by_gateway), None)
        await self._store.record_attempt(message, outcomes, state, next_at, last_error, also,
                                         tried=tried, holding=holding)
        replies: dict[str, set[str]] = {}
        for result in results:
            outcome = "delivered" if result.ok else "failed" if result in failed else "deferred"
            self._observe(outcome, 1)
            replies.setdefault(outcome, set()).add(_reply_status(result))
        relays = sorted({f"{self._routes[name].host}:{self._routes[name].port}"
                         for name in set(routes.values()) if name in self._routes})
        # As Postfix's relay=, delay=, dsn=: where it went, how long after
        # it was queued, and each outcome's reply code and enhanced status
        # (never the reply's text: it may quote addresses).
        log.info(
            "delivery_attempted",
            queue_id=message.id,
            state=state.value,
            delivered=sum(1 for r in results if r.ok),
            failed=len(failed),
            deferred=len(temporary),
            relay=",".join(relays),
            delay=round(now - message.created_at, 2),
            replies={outcome: sorted(codes) for outcome, codes in replies.items()},
        )
        if bounce is not None:
            log.info("bounce_queued", queue_id=message.id, bounce_id=bounce.id)
        if done is not None:
            self._wake.set()  # a notice it may have queued goes now
        if notice is not None:
            log.info("relayed_notice_queued", queue_id=message.id, notice_id=notice.id)

    def _email_finished(
        self,
        message: QueuedMessage,
        delivered: bool,
        failed: Sequence[RecipientResult] = (),
        why: str | None = None,
    ) -> Operation | None:
        """`finished`'s write for a gateway-made email that is finished."""
        if self._finished is None or message.envelope.mail_from not in ("", "<>"):
            return None
        if delivered:
            return self._finished(message, True, "", None, "")
        if not failed:
            return None  # failed at an earlier attempt: finished then
        first = failed[0]
        reason = why or ("rejected by upstream" if first.permanent else "expired in queue")
        if why:
            reply = "cancelled by IT"
        elif first.permanent:
            reply = f"refused: {_reply_status(first)}"
        else:
            reply = "not accepted before the gateway stopped trying"
        code = None if first.by_gateway else first.code
        return self._finished(message, False, reason, code, reply)

    def _relayed_notice(
        self, message: QueuedMessage, results: list[RecipientResult], routes: dict[str, str]
    ) -> NewMessage | None:
        """RFC 3461 5.2.2: recipients whose sender asked for NOTIFY=SUCCESS,
        delivered to a smarthost that does not offer DSN (so no success
        notification can come back): a DSN saying "relayed" to the sender.
        Not for receipts messages: the gateway tracks their receipts itself."""
        env = message.envelope
        offers_dsn = getattr(self._transport, "offers_dsn", None)
        if offers_dsn is None or message.receipts or not env.mail_from or env.mail_from == "<>":
            return None
        notify = {r.address: r.notify for r in message.recipients}
        relayed = [r for r in results
                   if r.ok and "SUCCESS" in notify.get(r.address, ())
                   and offers_dsn(routes.get(r.address, "upstream")) is False]
        if not relayed:
            return None
        return self._report(message, relayed, relayed=True)

    def _bounce(
        self, message: QueuedMessage, failed: list[RecipientResult], expiry: Expiry | None = None
    ) -> NewMessage | None:
        env = message.envelope
        if not failed or not env.mail_from or env.mail_from == "<>":
            return None
        notify = {r.address: r.notify for r in message.recipients}
        wanted = [f for f in failed if not notify.get(f.address) or "FAILURE" in notify[f.address]]
        if not wanted:
            return None
        return self._report(message, wanted, expiry=expiry)

    def _report(
        self,
        message: QueuedMessage,
        wanted: list[RecipientResult],
        expiry: Expiry | None = None,
        relayed: bool = False,
    ) -> NewMessage:
        """A delivery status notification about `wanted` to the sender, from <>."""
        env = message.envelope
        orcpts = {r.address: r.orcpt for r in message.recipients if r.orcpt}
        content = build_bounce(
            reporting_mta=self._settings.server.hostname,
            sender=env.mail_from,
            queue_id=message.id,
            original=message.content,
            failed=wanted,
            envid=env.dsn_envid,
            orcpts=orcpts,
            arrival=datetime.fromtimestamp(message.created_at, UTC),
            ret=env.dsn_ret,
            expiry=expiry,
            relayed=relayed,
        )
        return NewMessage(
            # An internationalised sender is written to with SMTPUTF8; the
            # report is 8-bit when it quotes UTF-8 addresses or headers.
            envelope=Envelope(mail_from="", rcpt_tos=(env.mail_from,),
                              smtputf8=not env.mail_from.isascii(),
                              body_8bit=not content.isascii()),
            content=content,
        )


def _reply_status(result: RecipientResult) -> str:
    """`result`'s reply code and enhanced status, e.g. "250 2.0.0": the
    gateway's own failures say "gateway" where a server would give a code."""
    first = result.message.split(" ", 1)[0]
    status = first if first.count(".") == 2 and first[:1] in "245" else "-"
    return f"{'gateway' if result.by_gateway else result.code} {status}"


def remote_reply(recipient: QueuedRecipient) -> str | None:
    """The last temporary reply a receiving system gave for `recipient`,
    with its code, or None: only those are stored while it is pending."""
    if recipient.last_code is None or not recipient.last_reply:
        return None
    return f"{recipient.last_code} {recipient.last_reply}"


Sleeper = Callable[[float], Awaitable[None]]


def _failure(exc: BaseException, where: bool = True) -> dict[str, str]:
    """What a log line may say of `exc`: its class, why in a mail
    administrator's words when something says more than the class
    ("Connection refused", "certificate has expired", "STARTTLS not
    offered": gateway.deliver.failures), and with `where` the gateway's
    line it came from.  Never the exception's text: a server's reply in it
    may carry addresses."""
    fields = {"error": type(exc).__name__}
    reason = why_unreachable(exc)
    if reason != fields["error"]:
        fields["reason"] = reason
    if where:
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if "/gateway/" in f.filename]
        if ours:
            frame = ours[-1]
            fields["where"] = f"gateway/{frame.filename.rsplit('/gateway/', 1)[1]}:{frame.lineno}"
    return fields
