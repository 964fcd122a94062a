"""Held passwords in the database: hold inside the enqueue transaction,
list, release once, expire to NULL, rotate keys.  On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from gateway.audit import AuditRecipient, AuditRecord, AuditTrail, verify
from gateway.db import audit_events
from gateway.errors import VaultError
from gateway.passwords import (
    HeldState,
    PasswordStore,
    PasswordVault,
    held_passwords,
    hold_op,
)

PASSWORD = "Mi7AA-Fpfeg-iFgs6-EEjab"
RECIPIENTS = ["dr.jones@nhs.example", "Case.Team@council.example", "DR.JONES@nhs.example"]
TTL = timedelta(days=7)


def record(queue_id: str) -> AuditRecord:
    return AuditRecord(
        id=queue_id, message_id="<m1@council.example>", received_at=datetime.now(UTC),
        sender="alice@council.example",
        recipients=tuple(AuditRecipient(a) for a in RECIPIENTS[:2]),
        subject="Private and Confidential: referral", verdict="protect",
    )


async def hold(store: PasswordStore, queue_id: str = "Q1", now: float | None = None,
               vault: PasswordVault | None = None) -> tuple[str, ...]:
    trail = AuditTrail()
    op = hold_op(vault or store.vault, queue_id, RECIPIENTS, PASSWORD, TTL,  # type: ignore[arg-type]
                 audit_id=queue_id, sender="alice@council.example", now=now)
    record_op = trail.record_op(record(queue_id))

    async def both(conn):  # type: ignore[no-untyped-def]
        await record_op(conn)
        return await op(conn)

    ids: tuple[str, ...] = await store.writer.submit(both)
    return ids


async def raw_rows(store: PasswordStore) -> list[dict[str, object]]:
    async with store.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(select(held_passwords))]


async def events(store: PasswordStore, type_: str) -> list[dict[str, object]]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            select(audit_events.c.record_id, audit_events.c.detail).where(
                audit_events.c.type == type_))
        return [{"record_id": r.record_id, **json.loads(r.detail)} for r in rows]


async def test_one_row_per_recipient_not_readable_without_the_key(
    store: PasswordStore,
) -> None:
    ids = await hold(store)
    assert len(ids) == 2  # the repeated address (other case) is one recipient
    rows = await raw_rows(store)
    assert {r["recipient"] for r in rows} == {"dr.jones@nhs.example", "Case.Team@council.example"}
    for row in rows:
        sealed = bytes(row["ciphertext"])  # type: ignore[arg-type]
        assert sealed != PASSWORD.encode()
        assert PASSWORD.encode() not in sealed
        for piece in ("Mi7AA", "Fpfeg", "EEjab"):
            assert piece.encode() not in sealed
        assert row["state"] == "held" and row["key_id"] == store.vault.key_id  # type: ignore[union-attr]
    # Nothing in the whole database holds the password in clear.
    async with store.engine.connect() as conn:
        for table in ("held_passwords", "audit_events", "audit_records"):
            for row in await conn.execute(text(f"SELECT * FROM {table}")):
                assert PASSWORD not in repr(tuple(row))
    (held_event,) = await events(store, "password_held")
    assert held_event["record_id"] == "Q1" and held_event["recipients"] == 2


async def test_list_never_holds_the_password(store: PasswordStore) -> None:
    await hold(store)
    listed = await store.list()
    assert len(listed) == 2 and all(e.state is HeldState.HELD and e.sealed for e in listed)
    assert PASSWORD not in repr(listed)
    assert await store.list([HeldState.RELEASED]) == []
    found = await store.find("Q1", "DR.Jones@NHS.example")
    assert found is not None and found.recipient == "dr.jones@nhs.example"


async def test_release_once_destroys_and_audits(store: PasswordStore) -> None:
    first, second = await hold(store)
    released = await store.release(first, to="duty.desk@nhs.example")
    assert released.password == PASSWORD and PASSWORD not in repr(released)
    entry = await store.get(first)
    assert entry is not None and entry.state is HeldState.RELEASED
    assert entry.released_to == "duty.desk@nhs.example" and entry.released_how == "manual"
    assert entry.released_at is not None and not entry.sealed
    with pytest.raises(VaultError, match="already released"):
        await store.release(first)
    with pytest.raises(VaultError, match="already released"):
        await store.open(first)
    # The other recipient's password is still held.
    assert (await store.open(second)).password == PASSWORD
    (event,) = await events(store, "password_released")
    assert event == {"record_id": "Q1", "held_id": first, "recipient": entry.recipient,
                     "how": "manual", "to": "duty.desk@nhs.example"}
    report = await verify(store.engine)
    assert report.ok, report.problems


async def test_ttl_expiry_leaves_null_ciphertext(store: PasswordStore) -> None:
    now = datetime.now(UTC).timestamp()
    ids = await hold(store, now=now - TTL.total_seconds() - 10)
    fresh = await hold(store, queue_id="Q2", now=now)
    with pytest.raises(VaultError, match="expired"):
        await store.release(ids[0], now=now)
    assert await store.expire_due(now=now) == 2
    assert await store.expire_due(now=now) == 0
    rows = {r["id"]: r for r in await raw_rows(store)}
    for held_id in ids:
        assert rows[held_id]["ciphertext"] is None and rows[held_id]["state"] == "expired"
    for held_id in fresh:
        assert rows[held_id]["ciphertext"] is not None and rows[held_id]["state"] == "held"
    expired = await events(store, "password_expired")
    assert sorted(e["held_id"] for e in expired) == sorted(ids)  # type: ignore[type-var]
    with pytest.raises(VaultError, match="expired"):
        await store.release(ids[0])


async def test_destroy_for_queue(store: PasswordStore) -> None:
    await hold(store)
    assert await store.destroy_for_queue("Q1", reason="bounced") == 2
    assert all(r["ciphertext"] is None and r["state"] == "destroyed"
               for r in await raw_rows(store))


async def test_rotation_and_rekey(store: PasswordStore, old_key: bytes, new_key: bytes) -> None:
    first, second = await hold(store)
    rotated = PasswordVault([new_key, old_key])
    store.vault = rotated
    assert (await store.open(first)).password == PASSWORD  # sealed with the old key
    assert await store.rekey() == 2
    assert {r["key_id"] for r in await raw_rows(store)} == {rotated.key_id}
    store.vault = PasswordVault([new_key])  # the old key is gone now
    assert (await store.release(second)).password == PASSWORD


async def test_wrong_key_releases_nothing(store: PasswordStore, new_key: bytes) -> None:
    (first, _) = await hold(store)
    store.vault = PasswordVault([new_key])
    with pytest.raises(VaultError):
        await store.release(first)
    entry = await store.get(first)
    assert entry is not None and entry.state is HeldState.HELD and entry.sealed


async def test_a_claimed_password_cannot_be_released_by_anyone_else(
    store: PasswordStore,
) -> None:
    """A manual release claims the row before its email goes: a receipt's
    release (release_in) or a second admin meanwhile is refused."""
    first, second = await hold(store)
    claimed = await store.claim(first, to="dr.jones@nhs.example")
    assert claimed.password == PASSWORD
    assert (await store.get(first)).state is HeldState.RELEASING  # type: ignore[union-attr]
    with pytest.raises(VaultError, match="being released"):
        await store.release(first, how="on-receipt")
    with pytest.raises(VaultError, match="being released"):
        await store.claim(first)
    done = await store.finish(claimed)
    assert done.state is HeldState.RELEASED
    (event,) = await events(store, "password_released")
    assert event["held_id"] == first and event["how"] == "manual"
    assert event["to"] == "dr.jones@nhs.example"
    rows = {r["id"]: r for r in await raw_rows(store)}
    assert rows[first]["ciphertext"] is None and rows[first]["state"] == "released"
    assert rows[second]["state"] == "held"


async def test_a_claim_given_back_is_held_again(store: PasswordStore) -> None:
    first, _ = await hold(store)
    claimed = await store.claim(first)
    assert await store.give_back(claimed)
    entry = await store.get(first)
    assert entry is not None and entry.state is HeldState.HELD and entry.released_to is None
    assert await events(store, "password_released") == []
    assert (await store.release(first)).password == PASSWORD


async def test_an_unfinished_claim_is_on_the_trail_when_it_expires(
    store: PasswordStore,
) -> None:
    now = datetime.now(UTC).timestamp()
    first, _ = await hold(store, now=now)
    await store.claim(first, to="dr.jones@nhs.example", now=now)
    assert await store.expire_due(now + TTL.total_seconds() + 1) == 2
    expired = {e["held_id"]: e for e in await events(store, "password_expired")}
    assert expired[first]["release_unfinished"] is True
    assert expired[first]["to"] == "dr.jones@nhs.example"
    assert all("release_unfinished" not in e for k, e in expired.items() if k != first)


async def test_an_unfinished_claim_is_taken_over_only_when_stale_and_only_once(
    store: PasswordStore,
) -> None:
    """`release --again`: a claim at least `unfinished_after` old is taken
    over, once; a receipt's release never takes one over."""
    now = datetime.now(UTC).timestamp()
    first, _ = await hold(store, now=now)
    await store.claim(first, to="dr.jones@nhs.example", now=now)  # then the command died
    with pytest.raises(VaultError, match="run again with --again"):
        await store.claim(first, now=now + 5)
    with pytest.raises(VaultError, match="takes it over from"):
        await store.claim(first, now=now + 5, unfinished_after=300)
    with pytest.raises(VaultError, match="being released"):
        await store.release(first, how="on-receipt", now=now + 400)
    taken = await store.claim(first, now=now + 400, unfinished_after=300)
    assert taken.earlier == ("dr.jones@nhs.example", now)
    with pytest.raises(VaultError, match="being released"):  # the new claim is fresh
        await store.claim(first, now=now + 401, unfinished_after=300)
    await store.finish(taken, now=now + 402)
    (event,) = await events(store, "password_released")
    assert event["earlier_unfinished"] == {
        "to": "dr.jones@nhs.example",
        "claimed_at": datetime.fromtimestamp(now, UTC).isoformat()}
    assert PASSWORD not in json.dumps(event)
