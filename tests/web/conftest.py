"""The `console` fixture (see console_support.py): a seeded database on each
of SQLite and PostgreSQL, and TestClients on the console app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from console_support import Console, make_console


@pytest.fixture
def console(db_url: str, tmp_path: Path) -> Iterator[Console]:
    yield from make_console(db_url, tmp_path)
