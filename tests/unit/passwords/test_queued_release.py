"""A released password whose email is still queued (state `queued`,
migration 0019): sealed, re-keyed with the rest, kept by the purge, and
made what the older code would have made of it by a downgrade."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from alembic import command
from sqlalchemy import select

from gateway.db import create_engine
from gateway.db.migrate import alembic_config
from gateway.passwords import HeldState, PasswordStore, PasswordVault, held_passwords, hold_op

PASSWORD = "Synthetic-Queued-7"


async def held_one(store: PasswordStore, queue_id: str) -> str:
    vault = store.vault
    assert vault is not None
    op = hold_op(vault, queue_id, ["duty@recipient.example"], PASSWORD, timedelta(hours=1))
    (held_id,) = await store.writer.submit(op)
    return str(held_id)


async def queue_it(store: PasswordStore, held_id: str, email: str) -> None:
    async def write(conn):  # type: ignore[no-untyped-def]
        return await store.release_in(conn, held_id, how="on-receipt", email=email)

    released = await store.writer.submit(write)
    assert released.password == PASSWORD and released.entry.state is HeldState.QUEUED


async def test_a_queued_password_is_rekeyed_and_kept_sealed(
    store: PasswordStore, new_key: bytes, old_key: bytes
) -> None:
    held_id = await held_one(store, "Q1")
    await queue_it(store, held_id, "EMAIL1")
    store.vault = PasswordVault([new_key, old_key])
    assert await store.rekey() == 1
    store.vault = PasswordVault([new_key])

    async def finish(conn):  # type: ignore[no-untyped-def]
        return await store.email_finished_in(conn, "EMAIL1", False, 0.0, why="x", code=550)

    (again,) = await store.writer.submit(finish)
    assert again.id == held_id
    assert (await store.open(held_id)).password == PASSWORD


async def test_the_downgrade_makes_a_queued_row_released(db_url: str, store: PasswordStore) -> None:
    held_id = await held_one(store, "Q2")
    await queue_it(store, held_id, "EMAIL2")
    await store.writer.stop()
    await store.engine.dispose()
    config = alembic_config(db_url)
    await asyncio.to_thread(command.downgrade, config, "0018")
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(select(
                held_passwords.c.state, held_passwords.c.ciphertext))).one()
        assert row.state == "released" and row.ciphertext is None
    finally:
        await engine.dispose()
        await asyncio.to_thread(command.upgrade, config, "head")
    store.writer.start()
