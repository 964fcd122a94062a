"""On PostgreSQL verify lets the server hash the rows, and the chain's
functions hash what the writers append: neither may be steered by a
database owner's own `sha256` (or `encode`, `to_char` ...) put earlier in
the search path, and a server that hashes otherwise than Python is itself
reported.

The attack: the owner creates `public.sha256(bytea)` that gives an edited
row's digest back as the original's, and makes `public` come before
`pg_catalog` for every new session (ALTER DATABASE ... SET search_path)."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator

import pytest
from audit_support import make_record
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import verify
from gateway.db import create_engine
from gateway.queue import Writer

walk = importlib.import_module("gateway.audit.verify")  # (the package exports the function)

_SHADOW = (
    "CREATE TABLE public.shadow_digests (real bytea PRIMARY KEY, fake bytea NOT NULL)",
    """CREATE FUNCTION public.sha256(bytea) RETURNS bytea LANGUAGE sql STABLE AS $$
        SELECT coalesce((SELECT fake FROM public.shadow_digests
                          WHERE real = pg_catalog.sha256($1)),
                        pg_catalog.sha256($1)) $$""",
)
# Every digest otherwise: a server whose sha256 is not SHA-256.
_WRONG = """
    CREATE FUNCTION public.sha256(bytea) RETURNS bytea LANGUAGE sql STABLE AS $$
        SELECT pg_catalog.sha256($1 || '\\x00'::bytea) $$
"""


@pytest.fixture
def postgres(engine: AsyncEngine) -> AsyncEngine:
    if engine.dialect.name != "postgresql":
        pytest.skip("the server hashes on PostgreSQL only")
    return engine


async def _public_first(engine: AsyncEngine, *statements: str) -> None:
    """As the owner: run `statements`, then make `public` come before
    pg_catalog in every new session of this database."""
    async with engine.begin() as conn:
        for statement in statements:
            await conn.exec_driver_sql(statement)
        name = (await conn.execute(text("SELECT current_database()"))).scalar()
        await conn.exec_driver_sql(
            f'ALTER DATABASE "{name}" SET search_path = "$user", public, pg_catalog')


@pytest.fixture
async def fresh(db_url: str) -> AsyncIterator[list[AsyncEngine]]:
    """Engines made after the database's settings changed (a session takes
    them when it starts)."""
    made: list[AsyncEngine] = []
    yield made
    for eng in made:
        await eng.dispose()


def _new(db_url: str, fresh: list[AsyncEngine]) -> AsyncEngine:
    eng = create_engine(db_url)
    fresh.append(eng)
    return eng


@pytest.mark.parametrize("workers", [1, 3])
async def test_a_shadowed_sha256_does_not_hide_an_edited_record(
    postgres, db_url, seed, tamper, fresh, monkeypatch, workers
):
    monkeypatch.setattr(walk, "_PAGE", 4)
    records = await seed(3)
    await tamper("UPDATE audit_records SET purpose = 'Marketing' WHERE id = :id",
                 id=records[1].id)
    content = "r.prev_hash || E'\\n' || " + walk._RECORD_CONTENT
    await _public_first(
        postgres, *_SHADOW,
        "INSERT INTO public.shadow_digests SELECT pg_catalog.sha256(convert_to("
        f"{content}, 'UTF8')), decode(r.hash, 'hex') FROM audit_records r "
        f"WHERE r.id = '{records[1].id}'")

    report = await verify(_new(db_url, fresh), workers=workers)

    assert f"record {records[1].id} (seq 6) edited" in report.problems
    assert not report.ok


async def test_a_server_whose_sha256_is_not_sha256_is_reported_and_not_believed(
    postgres, db_url, seed, fresh, monkeypatch
):
    """Fault injection: the session's search path left as the database
    says (as if pinning it had not held), with a sha256 that is not."""

    async def unpinned(conn, schema) -> None:
        return None

    monkeypatch.setattr(walk, "_pin_search_path", unpinned)
    await seed(3)
    await _public_first(postgres, _WRONG)

    report = await verify(_new(db_url, fresh))

    assert not report.ok
    assert report.problems[0].startswith("the database's hash functions do not compute "
                                         "SHA-256")
    # The rows are checked in Python instead: none is called edited.
    assert report.problems == report.problems[:1]
    assert report.records == 3


async def test_the_chain_functions_hash_with_pg_catalog_s_sha256(
    postgres, db_url, trail, fresh
):
    """audit_chain_link hashes each row the writers append: a shadowed
    sha256 must not decide what the chain stores."""
    await _public_first(postgres, _WRONG)
    appending = _new(db_url, fresh)
    writer = Writer(appending)
    writer.start()
    try:
        for _ in range(2):
            await writer.submit(trail.record_op(make_record()))
    finally:
        await writer.stop()
    async with postgres.begin() as conn:  # the shadow gone: verify as before the attack
        await conn.exec_driver_sql("DROP FUNCTION public.sha256(bytea)")
        name = (await conn.execute(text("SELECT current_database()"))).scalar()
        await conn.exec_driver_sql(f'ALTER DATABASE "{name}" RESET search_path')

    report = await verify(_new(db_url, fresh))

    assert report.ok, report.problems
    assert report.records == 2
