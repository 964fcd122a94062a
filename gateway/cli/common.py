"""What every command shares: --config, loading settings, error printing."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import visible
from gateway.db.engine import create_engine, database_failed, sqlite_unsupported
from gateway.errors import (
    ConfigError,
    DatabaseMissing,
    DatabaseUnsupported,
    GatewayError,
    SchemaMismatch,
)
from gateway.settings import Settings, load_settings, sqlite_path

T = TypeVar("T")


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="configuration file (default: $GATEWAY_CONFIG, else config/gateway.toml)",
    )


def os_account() -> str:
    """The operating-system user running the command, as the trail records
    who decided or released something from the command line (its `--by` is
    a name typed in; this is the account that typed it)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's)
        return f"uid {os.getuid()}"


def at_least_one(value: str) -> int:
    """An argument that counts something (`--limit`, `--top`): 1 or more.
    0 or a negative number is refused: SQLite reads LIMIT -1 as no limit
    at all, PostgreSQL refuses it."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {number}")
    return number


def settings_or_exit(args: argparse.Namespace) -> Settings:
    try:
        return load_settings(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(1) from None


# The exit status of a command that could not use its database (sysexits'
# EX_TEMPFAIL, as Postfix's commands): told apart from 1, which `audit
# verify` gives for a trail that does not verify.  A cron job that watches
# verify can page for tampering and retry an outage.
EXIT_DATABASE_UNAVAILABLE = 75


def run_async(func: Callable[[], Awaitable[T]]) -> T:
    """Run a command's work; its failures as one line on stderr, not a
    traceback.  A command's own errors (GatewayError) exit 1.  The
    database's (SQLAlchemy's, or the socket's under it: the commands' other
    network use, sending a password, reports its own) exit
    EXIT_DATABASE_UNAVAILABLE."""
    try:
        return asyncio.run(func())  # type: ignore[arg-type]
    except (DatabaseMissing, SchemaMismatch) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_DATABASE_UNAVAILABLE) from None
    except GatewayError as exc:
        # Its words may quote what mail said (a recipient's address): shown,
        # not obeyed; its own line breaks stay.
        lines = str(exc).split("\n")
        print("error: " + "\n".join(visible(line) for line in lines), file=sys.stderr)
        raise SystemExit(1) from None
    except (SQLAlchemyError, OSError) as exc:
        if not database_failed(exc):
            raise
        if permission_denied(exc):
            # The database answered and refused this role: no outage to
            # retry (75), the configuration's choice of role (1).
            print(f"error: the database refused this command to its role "
                  f"({database_failure(exc)}): the queue, held messages and passwords "
                  "need the role the gateway runs as (gateway_app) or the owner that ran "
                  "`gateway db upgrade`; gateway_auditor only reads the audit trail",
                  file=sys.stderr)
            raise SystemExit(1) from None
        print(database_unavailable(exc), file=sys.stderr)
        raise SystemExit(EXIT_DATABASE_UNAVAILABLE) from None


def permission_denied(exc: BaseException) -> bool:
    """Did PostgreSQL refuse the statement to the role (SQLSTATE 42501)?"""
    error = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return getattr(error, "sqlstate", None) == "42501" or "permission denied" in str(error)


def database_unavailable(exc: BaseException) -> str:
    """The one line a command (or `serve`) prints when its database failed."""
    failure = database_failure(exc)
    if "unable to open database file" in failure:
        # SQLite in WAL mode writes its -wal and -shm files beside the
        # database even to read it: a copy on read-only media (an evidence
        # snapshot) fails so, and says nothing of why.
        return (f"error: the database could not be used ({failure}): check [database] url "
                "in the configuration, and that the file and its folder may be written "
                "(SQLite writes its -wal and -shm files beside the database even to read "
                "it: copy a read-only snapshot to a writable folder first)")
    return (f"error: the database could not be used ({failure}): check "
            "[database] url in the configuration, that the database server is running, "
            "and that `gateway db upgrade` has been run")


def open_database(settings: Settings) -> AsyncEngine:
    """The engine a command reads and writes with.

    SQLite creates a database file that does not exist, so a command
    pointed at a mistyped path, or at a relative one from another folder
    (SQLAlchemy reads it against the working folder), would leave an empty
    database there and then fail for want of its tables.  Only `gateway db
    upgrade` creates the file; a command names the path it looked for.

    Its first connection checks the schema as `gateway serve` does
    (SchemaMismatch, exit 75): a command on a database not yet migrated
    failed on a missing column, or wrote rows into the old schema."""
    check_database_file(settings)
    engine = create_engine(settings.database.url)
    dialect = engine.dialect.name

    def check_schema(dbapi_connection: Any, _record: Any) -> None:
        from gateway.db.schema_check import check_on_connect

        problem = check_on_connect(dbapi_connection, dialect)
        if problem is not None:
            raise SchemaMismatch(problem)

    event.listen(engine.sync_engine, "first_connect", check_schema)
    return engine


def check_database_file(settings: Settings) -> None:
    """DatabaseMissing when the configured SQLite file does not exist (see
    `open_database`; `gateway serve` checks it too), DatabaseUnsupported
    when this Python's SQLite library is too old for it; nothing for
    PostgreSQL."""
    path = sqlite_path(settings.database.url)
    if path is not None:
        unsupported = sqlite_unsupported()
        if unsupported is not None:
            raise DatabaseUnsupported(unsupported)
    if path is not None and not path.exists():
        raise DatabaseMissing(
            f"the database file {path.absolute()} does not exist: check [database] url "
            "in the configuration (a relative path is read from the folder the command "
            "runs in), or create the database with `gateway db upgrade`"
        )
    if path is not None and not _reads_as_sqlite(path):
        # SQLite's own words ("file is not a database") name no file.
        raise DatabaseMissing(
            f"the database file {path.absolute()} is not an SQLite database (another kind "
            "of file, or damaged): check [database] url in the configuration, or restore "
            "the file from a backup"
        )


_SQLITE_HEADER = b"SQLite format 3\x00"


def _reads_as_sqlite(path: Path) -> bool:
    """Whether `path` starts as an SQLite database does, or is empty (a new
    one).  A file that cannot be read is left to SQLite to report."""
    try:
        with path.open("rb") as file:
            start = file.read(len(_SQLITE_HEADER))
    except OSError:
        return True
    return not start or start == _SQLITE_HEADER


def database_failure(exc: BaseException) -> str:
    """What went wrong, in one line: the driver's error and its first line.
    Never SQLAlchemy's own rendering, which adds the statement and its
    parameters (a search's terms, a note's text)."""
    error = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    if isinstance(error, SQLAlchemyError):
        return type(error).__name__
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
