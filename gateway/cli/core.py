"""`gateway serve`, `gateway check-config`, `gateway db upgrade`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from gateway.cli.common import (
    EXIT_DATABASE_UNAVAILABLE,
    add_config,
    check_database_file,
    database_failure,
    database_unavailable,
    settings_or_exit,
)
from gateway.errors import ConfigError, DatabaseMissing, StoreError, VaultError
from gateway.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="run the SMTP relay, workers and health endpoint")
    add_config(serve)
    serve.add_argument("--log-format", choices=["json", "console"], default="json")
    serve.set_defaults(handler=_serve)

    check = commands.add_parser("check-config", help="validate the configuration; exit 1 on problems")
    add_config(check)
    check.set_defaults(handler=_check_config)

    db = commands.add_parser("db", help="database administration")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser("upgrade", help="apply migrations (Alembic)")
    add_config(upgrade)
    upgrade.set_defaults(handler=_db_upgrade)


def _serve(args: argparse.Namespace) -> int:
    from gateway.app import Gateway
    from gateway.db.engine import database_failed
    from gateway.operate.logging import configure_logging
    from gateway.operate.memory import tune_malloc

    settings = settings_or_exit(args)
    # A malformed key refuses the start: run on, the gateway would answer
    # 451 to every message whose password must be held.
    problems = key_problems(settings)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    try:
        check_database_file(settings)  # else SQLite makes an empty file at a mistyped path
    except DatabaseMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATABASE_UNAVAILABLE
    configure_logging(json=args.log_format == "json")
    tune_malloc()  # large message buffers go back to the system when freed
    try:
        gateway = Gateway(settings)
        with asyncio.Runner(loop_factory=_loop_factory(settings.server.event_loop)) as runner:
            runner.run(gateway.serve_forever())
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    except (StoreError, SQLAlchemyError, OSError) as exc:
        # The queue's writer reports the database's failure as StoreError,
        # the driver's own error behind it.
        cause = exc.__cause__ if isinstance(exc, StoreError) and exc.__cause__ else exc
        if isinstance(exc, StoreError) or database_failed(cause):
            print(database_unavailable(cause), file=sys.stderr)
            return EXIT_DATABASE_UNAVAILABLE
        if isinstance(exc, OSError):
            print(f"error: cannot start: {exc.strerror or exc}", file=sys.stderr)
            return 1
        raise
    return 0


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """`[server] event_loop`: uvloop's loop, or None for asyncio's own."""
    if name != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:  # a platform without uvloop: the standard loop does the same work
        import structlog

        structlog.get_logger("gateway").warning("event_loop_unavailable", wanted="uvloop")
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _check_config(args: argparse.Namespace) -> int:
    from gateway.settings import load_settings

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    problems = _extra_checks(settings)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    for warning in settings.warnings():
        print(f"warning: {warning}", file=sys.stderr)
    print("ok")
    return 0


def _extra_checks(settings: Any) -> list[str]:
    """Checks of later stages (the recipient allow-list) when present, and
    the keys, read as `serve` reads them."""
    import importlib

    problems = key_problems(settings)
    try:
        recipients = importlib.import_module("gateway.policy.recipients")
    except ImportError:
        return problems
    found: list[str] = recipients.check_recipients_file(settings)
    return found + problems


def key_problems(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every configured key that does not parse, as `serve` would find it.

    A key that is not configured at all is no problem here: without a
    password key the gateway relays but answers 451 to a message whose
    password must be held, and without a receipts key it asks for no
    receipts (both logged at start).  One that is configured but malformed
    is the administrator's mistake, to be said before any mail arrives."""
    from gateway.audit.chain import AuditKeys
    from gateway.passwords.vault import ENV_KEY as PASSWORD_ENV_KEY
    from gateway.passwords.vault import PasswordVault
    from gateway.receipts.keys import ENV_KEY as RECEIPTS_ENV_KEY
    from gateway.receipts.keys import receipt_keys

    env = os.environ if environ is None else environ
    problems: list[str] = []
    try:
        AuditKeys.from_settings(settings)
    except ConfigError as exc:
        problems += exc.problems
    if env.get(PASSWORD_ENV_KEY, "").strip() or settings.passwords.key_file:
        try:
            PasswordVault.from_settings(settings, env)
        except VaultError as exc:
            problems.append(str(exc))
    # A receipts key of its own; one derived from the password key fails
    # with it, and is said once, above.
    receipts = settings.receipts
    if receipts.key.strip() or env.get(RECEIPTS_ENV_KEY, "").strip() or receipts.key_file:
        try:
            receipt_keys(settings, env)
        except VaultError as exc:
            problems.append(str(exc))
    return problems


def _db_upgrade(args: argparse.Namespace) -> int:
    from gateway.db.engine import database_failed
    from gateway.db.migrate import upgrade

    settings = settings_or_exit(args)
    try:
        before, after = upgrade(settings.database.url)
    except Exception as exc:
        if database_failed(exc):
            # A server down or a database not made yet: a migration Job or
            # a deploy script can tell "try again later" (75) from a failure.
            print(f"error: migration failed: the database could not be used "
                  f"({database_failure(exc)}): check [database] url in the configuration "
                  "and that the database server is running", file=sys.stderr)
            return EXIT_DATABASE_UNAVAILABLE
        print(f"error: migration failed: {database_failure(exc)}", file=sys.stderr)
        return 1
    if before == after:
        print(f"database is up to date: schema revision {after} (nothing to do)")
    elif before is None:
        print(f"database is up to date: schema created at revision {after}")
    else:
        print(f"database is up to date: schema upgraded from revision {before} to {after}")
    return 0
