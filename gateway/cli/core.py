"""`gateway serve`, `gateway check-config`, `gateway db upgrade`."""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import sys
import tempfile
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from gateway.cli.common import (
    EXIT_DATABASE_UNAVAILABLE,
    add_config,
    check_database_file,
    database_failure,
    database_unavailable,
    settings_or_exit,
)
from gateway.errors import (
    ConfigError,
    DatabaseMissing,
    DatabaseUnsupported,
    StoreError,
    VaultError,
)
from gateway.settings import Settings, sqlite_path

if TYPE_CHECKING:
    from gateway.db.migrate import MigrationFailed


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
    # A certificate or key that is not one stops the start either way: said
    # here, it names the file (OpenSSL's "[SSL] PEM lib" names neither).
    tls = tls_problem(settings)
    if tls is not None:
        print(f"error: {tls}", file=sys.stderr)
        return 1
    # Else every message over 1 MiB would be answered 451, for ever.
    spool = spool_problem(settings)
    if spool is not None:
        print(f"error: {spool}", file=sys.stderr)
        return 1
    try:
        check_database_file(settings)  # else SQLite makes an empty file at a mistyped path
    except DatabaseMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATABASE_UNAVAILABLE
    except DatabaseUnsupported as exc:
        # Not 75: no retry helps until the installation changes.
        print(f"error: {exc}", file=sys.stderr)
        return 1
    configure_logging(json=args.log_format == "json")
    unusable = asyncio.run(_database_unusable(settings))
    if unusable is not None:
        # The database cannot be used as it is: 75, as for the other
        # commands (README's exit statuses), not 1, a configuration's.
        print(unusable, file=sys.stderr)
        return EXIT_DATABASE_UNAVAILABLE
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


async def _database_unusable(settings: Settings) -> str | None:
    """The error line for a database `serve` cannot use: unreachable, no
    gateway schema or an older one (`gateway.db.schema_check`); None when
    it can.  Asked before the start (which checks the schema again), so the
    answer has an exit status of its own."""
    from gateway.db.engine import create_engine, database_failed
    from gateway.db.schema_check import schema_problem

    engine = create_engine(settings.database.url, pool_size=1)
    try:
        try:
            async with engine.connect():
                pass
        except (SQLAlchemyError, OSError) as exc:
            # Anything else is the start's to report, as it always was.
            return database_unavailable(exc) if database_failed(exc) else None
        problem = await schema_problem(engine)
        return None if problem is None else f"error: {problem}"
    finally:
        await engine.dispose()


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
    missing, unsafe = missing_keys(settings)
    problems += missing
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    for warning in settings.warnings() + unsafe:
        print(f"warning: {warning}", file=sys.stderr)
    print("ok")
    return 0


def _extra_checks(settings: Any) -> list[str]:
    """Checks of later stages (the recipient allow-list) when present, and
    the keys, read as `serve` reads them."""
    import importlib

    from gateway.db.engine import sqlite_unsupported

    problems = key_problems(settings)
    tls = tls_problem(settings)
    if tls is not None:
        problems.append(tls)
    spool = spool_problem(settings)
    if spool is not None:
        problems.append(spool)
    if sqlite_path(settings.database.url) is not None:
        unsupported = sqlite_unsupported()
        if unsupported is not None:
            problems.append(f"database.url: {unsupported}")
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
    receipts (both logged at start; `missing_keys` says it for check-config).
    One that is configured but malformed is the administrator's mistake, to
    be said before any mail arrives."""
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


def missing_keys(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> tuple[list[str], list[str]]:
    """(errors, warnings): keys not configured at all that the mail needs.

    `serve` holds a password whenever the outbound message leaves one out:
    the password of every file protect mode makes, and in any mode a
    sender's password the gateway takes out of the text to send separately
    (every `[passwords] release` mode holds it first).  Without a password
    key each such message is answered 451 4.3.0 for ever.  In protect mode
    that is most mail with personal data: an error; in the other modes only
    mail that states an attachment's password: a warning.  The receipts key
    is derived from the password key unless it has its own; with neither,
    no receipts are asked for, so `on-receipt` never releases by receipt."""
    from gateway.passwords.vault import ENV_KEY as PASSWORD_ENV_KEY
    from gateway.receipts.keys import ENV_KEY as RECEIPTS_ENV_KEY

    env = os.environ if environ is None else environ
    if env.get(PASSWORD_ENV_KEY, "").strip() or settings.passwords.key_file:
        return [], []
    receipts = settings.receipts
    has_receipts_key = bool(receipts.key.strip() or env.get(RECEIPTS_ENV_KEY, "").strip()
                            or receipts.key_file)
    what = (f"no password key ({PASSWORD_ENV_KEY} or [passwords] key_file; "
            "`gateway passwords keygen` makes one)")
    also = "" if has_receipts_key else (
        f"; and with no receipts key either ({RECEIPTS_ENV_KEY}, [receipts] key_file, or "
        "derived from the password key) no receipts are asked for")
    if settings.policy.mode == "protect":
        return [f"{what}: in protect mode the password of every message the gateway "
                f"protects is held, and each such message would be answered 451 4.3.0 "
                f"for ever{also}"], []
    return [], [f"{what}: a message whose attachment's password the gateway takes out to "
                f"send separately would be answered 451 4.3.0 for ever{also}"]


class _EncryptedKey(Exception):
    """The key file asks for a passphrase (never prompted for)."""


def _no_passphrase() -> str:
    raise _EncryptedKey


def tls_problem(settings: Settings) -> str | None:
    """[server] tls_cert and tls_key loaded as `serve` loads them
    (`SSLContext.load_cert_chain`), or one line naming the file that is
    wrong: OpenSSL's own words ("[SSL] PEM lib") name neither."""
    server = settings.server
    if not server.tls_cert:
        return None
    cert = settings.resolve(server.tls_cert)
    key = settings.resolve(server.tls_key)
    try:
        # Certificates only: a private key, a CSV or anything else fails here.
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_verify_locations(cafile=cert)
    except OSError as exc:
        return f"server.tls_cert: {cert} holds no PEM certificate ({_tls_reason(exc)})"
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key, password=_no_passphrase)
    except _EncryptedKey:
        return f"server.tls_key: {key} is encrypted: the gateway needs a key without a passphrase"
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            return f"server.tls_key: {key} is not the key of the certificate in {cert}"
        return f"server.tls_key: {key} holds no PEM private key ({_tls_reason(exc)})"
    except OSError as exc:
        return f"server.tls_cert/tls_key: cannot read {cert} or {key} ({_tls_reason(exc)})"
    return None


def spool_problem(settings: Settings) -> str | None:
    """[server] spool_dir ($TMPDIR when empty) tried as the receive stage
    uses it, with an anonymous temporary file, or one line naming the
    folder: one missing, a file or not writable would answer every message
    over 1 MiB 451.  Nothing is written (a disk full now may not be at the
    next message).  `serve` and `check-config` only: the other commands do
    not spool, and may run as a user that cannot write there."""
    folder = settings.server.spool_dir
    try:
        path = str(settings.resolve(folder)) if folder else tempfile.gettempdir()
    except OSError as exc:  # no usable folder among $TMPDIR, /tmp, ...
        return f"server.spool_dir: empty ($TMPDIR), and {exc.strerror}"
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        named = path if folder else f"{path} ($TMPDIR)"
        return f"server.spool_dir: cannot make a temporary file in {named} ({exc.strerror})"
    return None


def _tls_reason(exc: OSError) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return str(exc.strerror or exc)


def _warn_of_breaking(before: str | None) -> None:
    """Warn, before the migrations run, when they cross one after which the
    older gateways still running on the database stop working
    (schema_check.BREAKS_OLDER_CODE): they answer every message 451."""
    from gateway.db.schema_check import HEAD, breaking_crossed

    crossed = breaking_crossed(before, HEAD)
    if crossed is not None:
        print(f"warning: this upgrade applies migration {crossed}: older gateways (before "
              f"schema revision {crossed}) stop working on this database: stop them before "
              "upgrading (any still running answer every message 451 until replaced)",
              file=sys.stderr)


def _migration_failed(url: str, failed: MigrationFailed, cause: BaseException) -> str:
    """The line for a migration that failed: which one, what the database
    said, and where the database was left (each migration is one
    transaction: at the revision before it)."""
    from gateway.db.engine import database_reason
    from gateway.db.migrate import megabytes, space_needed

    reason = database_reason(cause) or database_failure(cause)
    left = (f"the database is still at revision {failed.at}" if failed.at
            else "the database has no gateway schema yet")
    again = "then run `gateway db upgrade` again"
    if _disk_full(reason):
        needed = space_needed(url, failed.at)
        need = (f"; migration {failed.revision} needs about {megabytes(needed[1])} MB free"
                if needed is not None and needed[0] == failed.revision else "")
        return (f"error: migration {failed.revision} failed: the disk holding the database "
                f"is full{need} ({left}): make room, {again}")
    return (f"error: migration {failed.revision} failed: {reason} ({left}): "
            f"put right what it says, {again}")


def _disk_full(reason: str) -> bool:
    """SQLite's "database or disk is full", PostgreSQL's DiskFullError
    (SQLSTATE 53100), the system's ENOSPC."""
    return ("disk is full" in reason or "53100" in reason
            or "No space left on device" in reason)


def _db_upgrade(args: argparse.Namespace) -> int:
    from gateway.db.engine import database_failed, sqlite_unsupported
    from gateway.db.migrate import MigrationFailed, NotEnoughSpace, upgrade

    settings = settings_or_exit(args)
    unsupported = sqlite_unsupported() if sqlite_path(settings.database.url) else None
    if unsupported is not None:
        # Said before anything is created: on an old SQLite a migration
        # would fail half-way, leaving its first statements applied.
        print(f"error: {unsupported}", file=sys.stderr)
        return 1
    try:
        before, after = upgrade(settings.database.url, starting=_warn_of_breaking)
    except NotEnoughSpace as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATABASE_UNAVAILABLE
    except MigrationFailed as exc:
        cause = exc.__cause__ or exc
        print(_migration_failed(settings.database.url, exc, cause), file=sys.stderr)
        return EXIT_DATABASE_UNAVAILABLE if database_failed(cause) else 1
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
