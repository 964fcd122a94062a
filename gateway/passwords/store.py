"""Held passwords in the database: hold, list, release, expire.

Flow: the acceptor runs `hold_op(...)` inside the transaction that queues
the message, so a message is never queued without its password held (nor
the other way round).  Each recipient gets a row of its own, sealed by the
vault with the row id as context.  Later, `PasswordStore.release_in` (on
receipt, or to the sender) opens one row and, in the same transaction as
the queued email that carries it, marks it `queued` (naming that email in
`release_queue_id`), so a recipient's password goes out at most once.  The
ciphertext stays until the delivery worker finishes that email
(`email_finished_in`, in the transaction recording the attempt): delivered
-> released, ciphertext destroyed, `password_released` (the email left, as
for a manual release); refused or expired in the queue -> held again,
`password_release_failed` with why, so a later receipt or `gateway
passwords release` can send it again instead of it being lost unseen.
`expire_due` destroys what is still held, claimed or queued at its TTL
(`password_expired`); `undelivered_op` what is held for a recipient the
delivery worker gave up on (`password_destroyed`, reason delivery_failed,
in the transaction recording the failure).

A manual release sends the email itself, over SMTP, outside any
transaction, so it claims the row first: `claim` (held -> releasing, in
one conditional UPDATE: no other release can take it while the email is on
the wire), then `finish` (-> released, ciphertext destroyed,
`password_released`) once the upstream took the email, or `give_back`
(-> held) when it did not.  A claim left unfinished (the command died
mid-send) is destroyed at its TTL with `release_unfinished` in the
`password_expired` event, so an email that may have left is on the trail.

The plaintext only ever leaves this module as the return value of
`open`/`release` (in a `Released`, whose repr hides it).  Audit details say
which row and recipient, never the password.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit import AuditEvent, AuditTrail, EventType
from gateway.db.prepared import Prepared
from gateway.errors import VaultError
from gateway.passwords.schema import held_passwords
from gateway.passwords.vault import PasswordVault
from gateway.queue.store import new_queue_id
from gateway.queue.writer import Writer

# Collected with the enqueue's other rows in the Writer's batch (gateway.db.prepared).
_HOLD = Prepared(held_passwords.insert())

Operation = Callable[[AsyncConnection], Awaitable[Any]]


class HeldState(StrEnum):
    HELD = "held"
    RELEASING = "releasing"  # claimed by a manual release, its email being sent
    QUEUED = "queued"  # its email in the gateway's queue (release_queue_id), still sealed
    RELEASED = "released"
    EXPIRED = "expired"
    DESTROYED = "destroyed"


@dataclass(frozen=True, slots=True)
class HeldPassword:
    """One held row, without its secret."""

    id: str
    queue_id: str
    audit_id: str | None
    sender: str | None
    recipient: str
    state: HeldState
    key_id: str | None
    created_at: float
    expires_at: float
    released_at: float | None = None
    released_how: str | None = None
    released_to: str | None = None
    sealed: bool = False  # a ciphertext is still stored
    release_queue_id: str | None = None  # the queued email that carries it

    @property
    def record_id(self) -> str:
        """The audit record the row's events belong to."""
        return self.audit_id or self.queue_id


@dataclass(frozen=True, slots=True)
class Released:
    """A released password, to be sent; `password` never shows in a repr."""

    entry: HeldPassword
    password: str = field(repr=False)
    # A claim taken over from a release that never finished: (its address,
    # when it claimed).  Its email may have left; the release says so.
    earlier: tuple[str, float] | None = None


def _row(row: Row[Any]) -> HeldPassword:
    m = row._mapping
    return HeldPassword(
        id=m["id"],
        queue_id=m["queue_id"],
        audit_id=m["audit_id"],
        sender=m["sender"],
        recipient=m["recipient"],
        state=HeldState(m["state"]),
        key_id=m["key_id"],
        created_at=float(m["created_at"]),
        expires_at=float(m["expires_at"]),
        released_at=None if m["released_at"] is None else float(m["released_at"]),
        released_how=m["released_how"],
        released_to=m["released_to"],
        sealed=m["ciphertext"] is not None,
        release_queue_id=m["release_queue_id"],
    )


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _unique(addresses: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for address in addresses:
        key = address.strip().lower()
        if key and key not in seen:
            seen.add(key)
            out.append(address.strip())
    return out


def hold_op(
    vault: PasswordVault,
    queue_id: str,
    recipients: Sequence[str],
    password: str,
    ttl: timedelta,
    *,
    audit_id: str | None = None,
    sender: str | None = None,
    trail: AuditTrail | None = None,
    now: float | None = None,
) -> Operation:
    """The write that holds `password` for each recipient of a queued message.

    Sealing happens here, before the transaction, so the transaction itself
    only inserts.  The operation returns the new rows' ids.
    """
    if not password:
        raise VaultError("an empty password cannot be held")
    created = time.time() if now is None else now
    expires = created + ttl.total_seconds()
    rows: list[dict[str, Any]] = []
    for recipient in _unique(recipients):
        row_id = new_queue_id()
        rows.append(
            {
                "id": row_id,
                "queue_id": queue_id,
                "audit_id": audit_id,
                "sender": sender,
                "recipient": recipient,
                "ciphertext": vault.seal(password, context=row_id),
                "key_id": vault.key_id,
                "created_at": created,
                "expires_at": expires,
                "state": HeldState.HELD.value,
            }
        )
    if not rows:
        raise VaultError("a password cannot be held without a recipient")
    event = AuditEvent(
        EventType.PASSWORD_HELD,
        _at(created),
        {"recipients": len(rows), "expires_at": _at(expires).isoformat()},
    )
    events = (trail or AuditTrail()).events_op(audit_id or queue_id, [event])

    async def write(conn: AsyncConnection) -> tuple[str, ...]:
        await _HOLD.run_later(conn, rows)
        await events(conn)
        return tuple(r["id"] for r in rows)

    return write


class PasswordStore:
    """Reads and state changes of held passwords.  Writes go through the Writer.

    `vault` may be None for read-only use (`gateway passwords list` needs no
    key); opening, releasing and re-keying then raise VaultError.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        writer: Writer,
        vault: PasswordVault | None = None,
        trail: AuditTrail | None = None,
    ) -> None:
        self.engine = engine
        self.writer = writer
        self.vault = vault
        self.trail = trail or AuditTrail()

    def _vault(self) -> PasswordVault:
        if self.vault is None:
            raise VaultError("no password key configured")
        return self.vault

    # -- reading -----------------------------------------------------------------

    async def list(
        self,
        states: Sequence[HeldState] = (),
        limit: int = 100,
        queue_id: str | None = None,
    ) -> builtins.list[HeldPassword]:
        query = select(held_passwords).order_by(held_passwords.c.created_at.desc()).limit(limit)
        if states:
            query = query.where(held_passwords.c.state.in_([s.value for s in states]))
        if queue_id is not None:
            query = query.where(held_passwords.c.queue_id == queue_id)
        async with self.engine.connect() as conn:
            return [_row(r) for r in await conn.execute(query)]

    async def get(self, held_id: str) -> HeldPassword | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(held_passwords).where(held_passwords.c.id == held_id))
            ).first()
        return None if row is None else _row(row)

    async def find(self, queue_id: str, recipient: str) -> HeldPassword | None:
        """The row of one recipient of one message (address case-insensitive)."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(held_passwords)
                    .where(
                        held_passwords.c.queue_id == queue_id,
                        func.lower(held_passwords.c.recipient) == recipient.strip().lower(),
                    )
                    .order_by(held_passwords.c.created_at.desc())
                    .limit(1)
                )
            ).first()
        return None if row is None else _row(row)

    async def open(self, held_id: str, now: float | None = None) -> Released:
        """The plaintext of a row that may still be released; nothing changes.

        Only a look: a release that sends its own email claims the row
        first (`claim`), so that nothing else releases it meanwhile.
        """
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(held_passwords).where(held_passwords.c.id == held_id))
            ).first()
        entry, sealed = self._releasable(row, held_id, time.time() if now is None else now)
        return Released(entry, self._vault().open(sealed, context=entry.id))

    def _releasable(
        self, row: Row[Any] | None, held_id: str, now: float,
        unfinished_after: float | None = None,
    ) -> tuple[HeldPassword, bytes]:
        """The row and its ciphertext if it may be released now, else
        VaultError saying why.  With `unfinished_after`, a claim older than
        that many seconds (its release was stopped mid-send) may be too."""
        if row is None:
            raise VaultError(f"no held password {held_id}")
        entry = _row(row)
        if entry.state is HeldState.RELEASED:
            when = _at(entry.released_at or 0).strftime("%Y-%m-%d %H:%M UTC")
            raise VaultError(
                f"password {held_id} was already released ({entry.released_how or 'released'} "
                f"to {entry.released_to or entry.recipient}, {when})"
            )
        claimed_at = entry.released_at or 0
        stale = unfinished_after is not None and claimed_at <= now - unfinished_after
        if entry.state is HeldState.RELEASING and not stale:
            since = _at(claimed_at).strftime("%Y-%m-%d %H:%M:%S UTC")
            if unfinished_after is None:
                hint = "; if that release was stopped before it finished, run again with --again"
            else:  # asked with --again, too soon: the release may still be sending
                after = _at(claimed_at + unfinished_after).strftime("%H:%M:%S UTC")
                hint = f"; --again takes it over from {after}"
            raise VaultError(
                f"password {held_id} is being released ({entry.released_how or 'manual'} "
                f"to {entry.released_to or entry.recipient}, since {since}){hint}"
            )
        if entry.state is HeldState.QUEUED:
            since = _at(entry.released_at or 0).strftime("%Y-%m-%d %H:%M:%S UTC")
            raise VaultError(
                f"password {held_id} is on its way ({entry.released_how or 'released'} to "
                f"{entry.released_to or entry.recipient}, queued {since} as "
                f"{entry.release_queue_id}); it is held again if that email fails for good"
            )
        if entry.state not in (HeldState.HELD, HeldState.RELEASING):
            raise VaultError(f"password {held_id} is {entry.state.value}: nothing to release")
        sealed = row._mapping["ciphertext"]
        if entry.expires_at <= now or sealed is None:
            raise VaultError(f"password {held_id} has expired")
        return entry, bytes(sealed)

    # -- state changes ---------------------------------------------------------------

    async def release(
        self,
        held_id: str,
        to: str | None = None,
        how: str = "manual",
        now: float | None = None,
    ) -> Released:
        """Mark one row released, destroy its ciphertext, audit it, return the password.

        Refused (VaultError) when the row is unknown, already released,
        expired or destroyed, or when it cannot be opened; nothing changes
        then.  `to` is where the password is sent (default: the recipient).
        """
        at = time.time() if now is None else now
        self._vault()  # no key: refuse before queuing the write

        async def write(conn: AsyncConnection) -> Released:
            return await self.release_in(conn, held_id, to=to, how=how, at=at)

        result: Released = await self.writer.submit(write)
        return result

    async def claim(
        self,
        held_id: str,
        to: str | None = None,
        how: str = "manual",
        now: float | None = None,
        unfinished_after: float | None = None,
    ) -> Released:
        """Take one held row for a release that sends its own email: held ->
        releasing, refused (VaultError) when it is not held, expired or
        cannot be opened.  While claimed no other release can take it; the
        ciphertext stays until `finish`, so `give_back` loses nothing.

        With `unfinished_after` (seconds), a claim at least that old is
        taken over: its release was stopped mid-send (killed, the machine
        lost), which `give_back` never heard of.  Its email may have left;
        `finish` records that beside the new release (`earlier_unfinished`)."""
        self._vault()  # no key: refused before anything is read
        at = time.time() if now is None else now

        async def write(conn: AsyncConnection) -> Released:
            entry, password = await self._opened(conn, held_id, at, unfinished_after)
            target = to or entry.recipient
            values = {"state": HeldState.RELEASING.value, "released_at": at,
                      "released_how": how, "released_to": target}
            earlier = None
            if entry.state is HeldState.RELEASING:
                earlier = (entry.released_to or entry.recipient, entry.released_at or 0.0)
                await self._take_over(conn, entry, values)
            else:
                await self._leave_held(conn, held_id, **values)
            claimed = replace(entry, state=HeldState.RELEASING, released_at=at,
                              released_how=how, released_to=target)
            return Released(claimed, password, earlier)

        result: Released = await self.writer.submit(write)
        return result

    async def finish(
        self, claimed: Released, now: float | None = None, account: str | None = None,
        undelivered: str | None = None,
    ) -> HeldPassword:
        """The claimed row's email has left: released, ciphertext destroyed,
        `password_released`.  The event is written even when the row is no
        longer claimed (expired meanwhile): the email went all the same.
        `account`: who released it by hand (the operating-system user), in
        the event beside where it went; `undelivered`: where the message
        stood for the recipient when it was released before reaching them
        (`passwords release --force`)."""
        entry = claimed.entry
        at = time.time() if now is None else now
        target = entry.released_to or entry.recipient
        how = entry.released_how or "manual"

        async def write(conn: AsyncConnection) -> None:
            await conn.execute(
                update(held_passwords)
                .where(
                    held_passwords.c.id == entry.id,
                    held_passwords.c.state == HeldState.RELEASING.value,
                )
                .values(state=HeldState.RELEASED.value, ciphertext=None, released_at=at)
            )
            detail: dict[str, Any] = {"held_id": entry.id, "recipient": entry.recipient,
                                      "how": how, "to": target}
            if account:
                detail["account"] = account
            if undelivered:
                detail["undelivered"] = undelivered
            if claimed.earlier is not None:
                # The release this one took over: its email may have left.
                to_before, claimed_at = claimed.earlier
                detail["earlier_unfinished"] = {"to": to_before,
                                                "claimed_at": _at(claimed_at).isoformat()}
            await self.trail.append_events(
                conn, entry.record_id,
                [AuditEvent(EventType.PASSWORD_RELEASED, _at(at), detail)],
            )

        await self.writer.submit(write)
        return replace(entry, state=HeldState.RELEASED, released_at=at, sealed=False)

    async def give_back(self, claimed: Released) -> bool:
        """The claimed row's email did not leave: held again, to be released later."""

        async def write(conn: AsyncConnection) -> bool:
            result = await conn.execute(
                update(held_passwords)
                .where(
                    held_passwords.c.id == claimed.entry.id,
                    held_passwords.c.state == HeldState.RELEASING.value,
                )
                .values(state=HeldState.HELD.value, released_at=None, released_how=None,
                        released_to=None)
            )
            return bool(result.rowcount)

        given: bool = await self.writer.submit(write)
        return given

    async def check_in(self, conn: AsyncConnection, held_id: str, at: float) -> None:
        """VaultError unless `release_in` would release `held_id` now (held,
        not expired, and it opens), in the caller's transaction, writing
        nothing; on PostgreSQL the row stays locked to its end.  A caller
        releasing several rows together checks them all first, so a refusal
        never leaves some released and the rest not."""
        await self._opened(conn, held_id, at)

    async def _opened(
        self, conn: AsyncConnection, held_id: str, at: float,
        unfinished_after: float | None = None,
    ) -> tuple[HeldPassword, str]:
        """The row and its password, VaultError unless it may be released
        now; on PostgreSQL the row stays locked to the transaction's end."""
        query = select(held_passwords).where(held_passwords.c.id == held_id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        entry, sealed = self._releasable(
            (await conn.execute(query)).first(), held_id, at, unfinished_after)
        return entry, self._vault().open(sealed, context=entry.id)

    @staticmethod
    async def _take_over(conn: AsyncConnection, entry: HeldPassword, values: dict[str, Any]) -> None:
        """An unfinished claim -> this one, unless another took it over first
        (its claim time changed)."""
        result = await conn.execute(
            update(held_passwords)
            .where(held_passwords.c.id == entry.id,
                   held_passwords.c.state == HeldState.RELEASING.value,
                   held_passwords.c.released_at == entry.released_at)
            .values(**values)
        )
        if result.rowcount != 1:
            raise VaultError(f"password {entry.id} was taken over by another release")

    @staticmethod
    async def _leave_held(conn: AsyncConnection, held_id: str, **values: Any) -> None:
        """held -> `values`, or VaultError when another release took it first."""
        result = await conn.execute(
            update(held_passwords)
            .where(held_passwords.c.id == held_id, held_passwords.c.state == HeldState.HELD.value)
            .values(**values)
        )
        if result.rowcount != 1:  # another process released it in between
            raise VaultError(f"password {held_id} was already released")

    async def release_in(
        self,
        conn: AsyncConnection,
        held_id: str,
        to: str | None = None,
        how: str = "manual",
        at: float | None = None,
        email: str | None = None,
    ) -> Released:
        """`release` as part of a caller's transaction (e.g. with the receipt
        that triggered it and the queued email that carries the password).
        VaultError is raised before anything is written.

        With `email`, the queue id of that email: the row is only `queued`,
        its ciphertext kept, until the delivery worker finishes the email
        (`email_finished_in`), which writes `password_released` then."""
        at = time.time() if at is None else at
        entry, password = await self._opened(conn, held_id, at)
        target = to or entry.recipient
        values = {"released_at": at, "released_how": how, "released_to": target}
        if email is not None:
            await self._leave_held(conn, held_id, state=HeldState.QUEUED.value,
                                   release_queue_id=email, **values)
            queued = replace(entry, state=HeldState.QUEUED, release_queue_id=email,
                             released_at=at, released_how=how, released_to=target)
            return Released(queued, password)
        await self._leave_held(conn, held_id, state=HeldState.RELEASED.value, ciphertext=None,
                               **values)
        detail = {"held_id": held_id, "recipient": entry.recipient, "how": how, "to": target}
        await self.trail.append_events(
            conn, entry.record_id, [AuditEvent(EventType.PASSWORD_RELEASED, _at(at), detail)]
        )
        released = replace(
            entry,
            state=HeldState.RELEASED,
            released_at=at,
            released_how=how,
            released_to=target,
            sealed=False,
        )
        return Released(released, password)

    async def email_finished_in(
        self,
        conn: AsyncConnection,
        email: str,
        delivered: bool,
        at: float,
        why: str = "",
        code: int | None = None,
    ) -> builtins.list[HeldPassword]:
        """The queued email `email` is finished, in the caller's transaction
        (the delivery worker's record of it): the rows it carries become
        released (`password_released`, ciphertext destroyed) when it was
        delivered, or held again (`password_release_failed` with `why` and
        the reply `code`) when it failed for good; the rows held again, as
        they were while queued (how, to whom).
        A row that expired at its ttl while its email waited is audited all
        the same (the email went, or did not) and stays expired.  Nothing
        when `email` carries no password (most gateway-made mail)."""
        hp = held_passwords.c
        query = select(held_passwords).where(
            hp.release_queue_id == email,
            hp.state.in_([HeldState.QUEUED.value, HeldState.EXPIRED.value]),
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        entries = [_row(r) for r in (await conn.execute(query)).all()]
        if not entries:
            return []
        queued = [e.id for e in entries if e.state is HeldState.QUEUED]
        expired = [e.id for e in entries if e.state is HeldState.EXPIRED]
        if queued and delivered:
            await conn.execute(
                update(held_passwords).where(hp.id.in_(queued))
                .values(state=HeldState.RELEASED.value, ciphertext=None, released_at=at))
        elif queued:
            # Held again as it was before the release; `release_queue_id`
            # stays, naming the email that failed (a sender's release is not
            # queued again by itself: ReceiptDesk._approved_op).
            await conn.execute(
                update(held_passwords).where(hp.id.in_(queued))
                .values(state=HeldState.HELD.value, released_at=None, released_how=None,
                        released_to=None))
        if expired:
            # Audited once: the link goes (the expiry's event names the email).
            await conn.execute(
                update(held_passwords).where(hp.id.in_(expired)).values(release_queue_id=None))
        by_record: dict[str, builtins.list[AuditEvent]] = {}
        for e in entries:
            detail: dict[str, Any] = {"held_id": e.id, "recipient": e.recipient,
                                      "how": e.released_how or "on-receipt",
                                      "to": e.released_to or e.recipient, "email": email}
            if e.state is HeldState.EXPIRED:
                detail["expired_before"] = True  # destroyed at its ttl meanwhile
            if delivered:
                kind = EventType.PASSWORD_RELEASED
            else:
                kind = EventType.PASSWORD_RELEASE_FAILED
                detail.update({"why": why, "code": code,
                               "held_again": e.state is HeldState.QUEUED})
            by_record.setdefault(e.record_id, []).append(AuditEvent(kind, _at(at), detail))
        for record_id, events in by_record.items():
            await self.trail.append_events(conn, record_id, events)
        if delivered:
            return []
        return [e for e in entries if e.state is HeldState.QUEUED]

    async def expire_due(self, now: float | None = None) -> int:
        """Destroy every held password past its TTL; audited `password_expired`."""
        at = time.time() if now is None else now
        due = (
            held_passwords.c.state.in_(
                [HeldState.HELD.value, HeldState.RELEASING.value, HeldState.QUEUED.value]),
            held_passwords.c.expires_at <= at,
        )
        return await self._destroy(due, HeldState.EXPIRED, at, {"reason": "ttl"})

    async def destroy(self, held_id: str, reason: str = "destroyed") -> int:
        """Destroy one held password now (e.g. its message bounced);
        audited `password_destroyed`."""
        at = time.time()
        where = held_passwords.c.id == held_id, held_passwords.c.state == HeldState.HELD.value
        return await self._destroy(where, HeldState.DESTROYED, at, {"reason": reason})

    async def destroy_for_queue(self, queue_id: str, reason: str = "destroyed") -> int:
        """Destroy every held password of one message; audited `password_destroyed`."""
        at = time.time()
        where = (
            held_passwords.c.queue_id == queue_id,
            held_passwords.c.state == HeldState.HELD.value,
        )
        return await self._destroy(where, HeldState.DESTROYED, at, {"reason": reason})

    async def destroy_for_recipient_in(
        self, conn: AsyncConnection, queue_id: str, recipient: str, reason: str, at: float
    ) -> int:
        """Destroy one recipient's held password of a message as part of a
        caller's transaction (the receipt that says it never arrived);
        audited `password_destroyed`."""
        where = (
            held_passwords.c.queue_id == queue_id,
            func.lower(held_passwords.c.recipient) == recipient.lower(),
            held_passwords.c.state == HeldState.HELD.value,
        )
        return await self._destroy_in(conn, where, HeldState.DESTROYED, at, {"reason": reason})

    def undelivered_op(
        self, queue_id: str, recipients: Sequence[str], at: float
    ) -> Operation:
        """The delivery worker's write when it gives up on these recipients
        of a message for good (refused, expired in the queue, bounced by
        IT), in the transaction recording that: each one's held password is
        destroyed (`password_destroyed`, reason delivery_failed), as a
        failure report destroys it; what it opens never left."""
        wanted = sorted({r.strip().lower() for r in recipients if r.strip()})
        where = (
            held_passwords.c.queue_id == queue_id,
            func.lower(held_passwords.c.recipient).in_(wanted),
            held_passwords.c.state == HeldState.HELD.value,
        )

        async def write(conn: AsyncConnection) -> int:
            if not wanted:
                return 0
            return await self._destroy_in(conn, where, HeldState.DESTROYED, at,
                                          {"reason": "delivery_failed"})

        return write

    async def _destroy(
        self, where: tuple[Any, ...], state: HeldState, at: float, detail: dict[str, Any]
    ) -> int:
        async def write(conn: AsyncConnection) -> int:
            return await self._destroy_in(conn, where, state, at, detail)

        count: int = await self.writer.submit(write)
        return count

    async def _destroy_in(
        self, conn: AsyncConnection, where: tuple[Any, ...], state: HeldState, at: float,
        detail: dict[str, Any],
    ) -> int:
        query = select(
            held_passwords.c.id,
            held_passwords.c.queue_id,
            held_passwords.c.audit_id,
            held_passwords.c.recipient,
            held_passwords.c.state,
            held_passwords.c.released_to,
            held_passwords.c.release_queue_id,
        ).where(*where)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = (await conn.execute(query)).all()
        if not rows:
            return 0
        await conn.execute(
            update(held_passwords)
            .where(held_passwords.c.id.in_([r.id for r in rows]))
            .values(state=state.value, ciphertext=None)
        )
        by_record: dict[str, list[AuditEvent]] = {}
        for r in rows:
            by_record.setdefault(r.audit_id or r.queue_id, []).append(
                AuditEvent(
                    EventType.PASSWORD_EXPIRED if state is HeldState.EXPIRED
                    else EventType.PASSWORD_DESTROYED,
                    _at(at),
                    {"held_id": r.id, "recipient": r.recipient, **detail,
                     # A manual release that never finished: its email
                     # may have left, to this address.
                     **({"release_unfinished": True, "to": r.released_to}
                        if r.state == HeldState.RELEASING.value else {}),
                     # Its email still in the queue: it may yet go.
                     **({"release_queued": r.release_queue_id, "to": r.released_to}
                        if r.state == HeldState.QUEUED.value else {})},
                )
            )
        for record_id, events in by_record.items():
            await self.trail.append_events(conn, record_id, events)
        return len(rows)

    async def rekey(self, now: float | None = None) -> int:
        """Re-seal every held password under the newest key, so old keys can go."""
        vault = self._vault()
        at = time.time() if now is None else now

        async def write(conn: AsyncConnection) -> int:
            rows = (
                await conn.execute(
                    select(held_passwords.c.id, held_passwords.c.ciphertext).where(
                        held_passwords.c.state.in_([HeldState.HELD.value,
                                                    HeldState.RELEASING.value,
                                                    HeldState.QUEUED.value]),
                        held_passwords.c.expires_at > at,
                        held_passwords.c.ciphertext.is_not(None),
                        held_passwords.c.key_id != vault.key_id,
                    )
                )
            ).all()
            for r in rows:
                clear = vault.open(bytes(r.ciphertext), context=r.id)
                await conn.execute(
                    update(held_passwords)
                    .where(held_passwords.c.id == r.id)
                    .values(ciphertext=vault.seal(clear, context=r.id), key_id=vault.key_id)
                )
            return len(rows)

        count: int = await self.writer.submit(write)
        return count
