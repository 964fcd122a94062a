"""`gateway serve`, `gateway check-config`, `gateway db upgrade`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import Any

from gateway.cli.common import add_config, settings_or_exit
from gateway.errors import ConfigError


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
    from gateway.operate.logging import configure_logging
    from gateway.operate.memory import tune_malloc

    settings = settings_or_exit(args)
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
    except OSError as exc:
        print(f"error: cannot start: {exc.strerror or exc}", file=sys.stderr)
        return 1
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
    """Checks of later stages (the recipient allow-list) when present."""
    import importlib

    try:
        recipients = importlib.import_module("gateway.policy.recipients")
    except ImportError:
        return []
    problems: list[str] = recipients.check_recipients_file(settings)
    return problems


def _db_upgrade(args: argparse.Namespace) -> int:
    from gateway.db.migrate import upgrade

    settings = settings_or_exit(args)
    try:
        upgrade(settings.database.url)
    except Exception as exc:
        print(f"error: migration failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("database is up to date")
    return 0
