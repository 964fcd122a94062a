"""Shared fixtures for the whole suite.

Databases
    `db_url`  -- parametrised: "sqlite" (a migrated file in tmp_path) and
                 "postgres" (a fresh, migrated database `gw_<random>` per test,
                 dropped afterwards; only when GATEWAY_TEST_POSTGRES_URL is
                 set, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test,
                 otherwise skipped).  Migrations run once per session into a
                 template which each test copies, so a test costs milliseconds.
    `sqlite_url` -- the SQLite variant alone, for tests that need a file.
    `pg_admin` -- run SQL against the PostgreSQL server (CREATE/DROP DATABASE).

Upstream
    `sink`    -- a real aiosmtpd upstream in its own thread (see gwtest.Sink):
                 records envelopes and bytes, advertises DSN/SMTPUTF8/8BITMIME,
                 can answer 4xx/5xx, hang, drop, go down and come back.

Gateway
    `gateway_config` -- builds the settings dict (listen/metrics on port 0,
                 upstream = the sink, the db_url, short retries).
    `gateway_factory` -- `await gateway_factory(overrides)` starts a `Gateway`
                 in the test's event loop; every one is stopped at teardown.
    `gateway` -- one started with the defaults.
    `gateway_process` -- `gateway_process(config_dict)` writes the TOML, runs
                 `python -m gateway serve` in a subprocess and waits for 220;
                 killed at teardown.

Helpers without fixtures (make_message, SmtpConn, to_toml...) live in
`tests/gwtest.py`; import them with `from gwtest import ...`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from gwtest import GatewayProcess, Sink, free_port, run_in_thread, write_config
from gwtest import gateway_config as _gateway_config

T = TypeVar("T")

PG_ENV = "GATEWAY_TEST_POSTGRES_URL"


def migrate(url: str) -> None:
    """`gateway db upgrade` for `url` (Alembic runs its own loop: use a thread)."""
    from gateway.db.migrate import upgrade

    run_in_thread(lambda: upgrade(url))


# --------------------------------------------------------------------------
# PostgreSQL


class PgAdmin:
    """Statements against the server behind GATEWAY_TEST_POSTGRES_URL."""

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        self.url = make_url(url)

    def url_for(self, database: str) -> str:
        return self.url.set(database=database).render_as_string(hide_password=False)

    def execute(self, *statements: str) -> None:
        import asyncpg

        async def run() -> None:
            conn = await asyncpg.connect(
                host=self.url.host or "127.0.0.1",
                port=self.url.port or 5432,
                user=self.url.username or "postgres",
                password=self.url.password,
                database="postgres",
            )
            try:
                for statement in statements:
                    await conn.execute(statement)
            finally:
                await conn.close()

        run_in_thread(run)

    def create(self, name: str, template: str | None = None) -> str:
        suffix = f" TEMPLATE {template}" if template else ""
        self.execute(f"CREATE DATABASE {name}{suffix}")
        return self.url_for(name)

    def drop(self, name: str) -> None:
        self.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
            f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
        )


@pytest.fixture(scope="session")
def pg_admin() -> PgAdmin:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    return PgAdmin(url)


@pytest.fixture(scope="session")
def _pg_template(pg_admin: PgAdmin) -> Iterator[str]:
    name = f"gw_tpl_{secrets.token_hex(4)}"
    url = pg_admin.create(name)
    try:
        migrate(url)
        yield name
    finally:
        pg_admin.drop(name)


@pytest.fixture
def pg_url(pg_admin: PgAdmin, _pg_template: str) -> Iterator[str]:
    """A fresh migrated PostgreSQL database of this test's own."""
    name = f"gw_{secrets.token_hex(6)}"
    url = pg_admin.create(name, template=_pg_template)
    try:
        yield url
    finally:
        pg_admin.drop(name)


# --------------------------------------------------------------------------
# Event loop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The loop `gateway serve` runs on by default (`[server] event_loop`):
    in-process gateways are tested on uvloop; tests/e2e/test_event_loop.py
    runs `gateway serve` on each loop."""
    import uvloop

    return {"uvloop": uvloop.new_event_loop}


# --------------------------------------------------------------------------
# SQLite


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """A migrated SQLite database file of this test's own."""
    folder = tmp_path / "db"
    folder.mkdir(mode=0o700)
    target = folder / "gateway.db"
    shutil.copyfile(_sqlite_template, target)
    target.chmod(0o600)  # as `gateway db upgrade` makes it
    wal = Path(f"{_sqlite_template}-wal")
    if wal.exists():  # normally checkpointed away when the engine closed
        shutil.copyfile(wal, f"{target}-wal")
        Path(f"{target}-wal").chmod(0o600)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Every database test runs on SQLite and (when configured) PostgreSQL."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return str(request.getfixturevalue("sqlite_url"))


# --------------------------------------------------------------------------
# upstream and gateway


@pytest.fixture
def sink() -> Iterator[Sink]:
    upstream = Sink()
    upstream.start()
    try:
        yield upstream
    finally:
        upstream.close()


@pytest.fixture
def gateway_config(
    tmp_path: Path, db_url: str, sink: Sink
) -> Callable[..., dict[str, Any]]:
    """`gateway_config(overrides=None, **kw)` -> the settings dict for this test."""

    def build(overrides: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return _gateway_config(tmp_path, db_url, sink.port, overrides, **kw)

    return build


@pytest.fixture
async def gateway_factory(
    tmp_path: Path, gateway_config: Callable[..., dict[str, Any]]
) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """`await gateway_factory(overrides=None, worker_id=None, transport=None)`:
    a started in-process Gateway (stopped at teardown)."""
    from gateway.app import Gateway
    from gateway.settings import Settings

    started: list[Any] = []

    async def make(
        overrides: dict[str, Any] | None = None,
        worker_id: str | None = None,
        transport: Any = None,
    ) -> Any:
        data = gateway_config(overrides)
        data["config_dir"] = tmp_path
        settings = Settings.model_validate(data)
        gw = Gateway(settings, transport=transport, worker_id=worker_id)
        await gw.start()
        started.append(gw)
        return gw

    yield make
    for gw in reversed(started):
        await gw.stop(grace=5)


@pytest.fixture
async def gateway(gateway_factory: Callable[..., Awaitable[Any]]) -> Any:
    return await gateway_factory()


@pytest.fixture
def gateway_process(
    tmp_path: Path, gateway_config: Callable[..., dict[str, Any]]
) -> Iterator[Callable[..., GatewayProcess]]:
    """`gateway_process(overrides=None, name="gw", start=True)`: a `gateway
    serve` subprocess on a free port (same port on restart: `proc.start()`)."""
    procs: list[GatewayProcess] = []

    def make(
        overrides: dict[str, Any] | None = None, name: str = "gw", start: bool = True
    ) -> GatewayProcess:
        port = free_port()
        data = gateway_config(overrides, listen=f"127.0.0.1:{port}", metrics="")
        config = write_config(tmp_path / f"{name}.toml", data)
        proc = GatewayProcess(config=config, port=port, log_path=tmp_path / f"{name}.log")
        procs.append(proc)
        if start:
            proc.start()
        return proc

    yield make
    for proc in procs:
        proc.ensure_stopped()


# --------------------------------------------------------------------------
# TLS


class TlsFiles:
    """A trustme CA and a server certificate for gw.test.example / 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        import trustme

        self.ca = trustme.CA()
        cert = self.ca.issue_cert("gw.test.example", "127.0.0.1", "localhost")
        self.ca_file = folder / "ca.pem"
        self.cert_file = folder / "server.pem"
        self.key_file = folder / "server.key"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        cert.cert_chain_pems[0].write_to_path(str(self.cert_file))
        for extra in cert.cert_chain_pems[1:]:
            extra.write_to_path(str(self.cert_file), append=True)
        cert.private_key_pem.write_to_path(str(self.key_file))

    @property
    def server_settings(self) -> dict[str, str]:
        return {"tls_cert": str(self.cert_file), "tls_key": str(self.key_file)}


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    folder = tmp_path / "tls"
    folder.mkdir()
    return TlsFiles(folder)


@pytest.fixture
def counted_searches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of each all-words keyword search made (gateway.parse.keywords),
    with no answer remembered from before the test."""
    from gateway.parse import keywords

    if keywords._re2 is None:
        pytest.skip("google-re2 is not installed")
    calls: list[int] = []
    first = keywords._MENTIONS.first

    def counting(data: bytes) -> tuple[int, int]:
        calls.append(len(data))
        return first(data)

    monkeypatch.setattr(keywords._MENTIONS, "first", counting)
    monkeypatch.setattr(keywords._MENTIONS, "memo", None)
    return calls
