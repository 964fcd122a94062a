"""Fixtures for the vault and held-password tests.

`db_url` comes from tests/conftest.py (a migrated SQLite file, and a fresh
PostgreSQL database per test when GATEWAY_TEST_POSTGRES_URL is set); here it
gets an engine, a running Writer, and a PasswordStore over them.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from gateway.db import create_engine
from gateway.passwords import PasswordStore, PasswordVault
from gateway.queue import Writer


@pytest.fixture
def old_key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def new_key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def vault(old_key: bytes) -> PasswordVault:
    return PasswordVault([old_key])


@pytest.fixture
async def store(db_url: str, vault: PasswordVault) -> AsyncIterator[PasswordStore]:
    engine = create_engine(db_url)
    writer = Writer(engine)
    writer.start()
    try:
        yield PasswordStore(engine, writer, vault)
    finally:
        await writer.stop()
        await engine.dispose()
