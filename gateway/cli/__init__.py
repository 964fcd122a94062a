"""The `gateway` command: one module per command group.

Every command takes `--config FILE` after its command words; it defaults to
$GATEWAY_CONFIG, else config/gateway.toml.  Exit codes: 0 success, 1 a
problem found (bad config, failed verification), 2 bad arguments, 75 the
database could not be used (common.EXIT_DATABASE_UNAVAILABLE), 141 the
reader of the output went (EXIT_BROKEN_PIPE).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any, NoReturn

from gateway.cli import core, queue
from gateway.operate.logging import configure_logging

__all__ = ["main"]

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

_GROUPS: tuple[Register, ...] = (core.register, queue.register)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway",
        description="Secure-sharing gateway: an outbound SMTP relay that enforces "
        "the secure-sharing rules for personal data.",
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in _GROUPS:
        register(commands)
    for extra in _optional_groups():
        extra(commands)
    return parser


# The installed distribution (pyproject.toml's [project] name).
DISTRIBUTION = "secure-sharing-gateway"


class _Version(argparse.Action):
    """`gateway --version`: read from the installed distribution only when
    asked, so other commands do not pay for the metadata lookup."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> NoReturn:
        try:
            version = metadata.version(DISTRIBUTION)
        except metadata.PackageNotFoundError:
            version = "unknown (not installed: run from a source tree)"
        print(f"{parser.prog} {version}")
        parser.exit()


def _optional_groups() -> list[Register]:
    """Command groups of later stages, registered when their package is present."""
    groups: list[Register] = []
    for name in ("scan", "audit", "passwords", "held"):
        try:
            module = __import__(f"gateway.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"gateway.cli.{name}":
                raise
            continue
        groups.append(module.register)
    return groups


# 128 + SIGPIPE: what a shell reports for a command that SIGPIPE ended.
EXIT_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    if argv is None and args.command != "serve":
        # A command's own output is what it prints; the work it shares with
        # the service (a delivery, a release) logs its progress for the
        # service's log, which would only clutter a terminal.  Warnings and
        # errors still show, on stderr.  `serve` sets up its own logging,
        # and a caller passing `argv` (in-process) keeps the process's.
        configure_logging(level="WARNING", json=False)
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went (`gateway audit export | head`): stop quietly,
        # as a command killed by SIGPIPE does, and keep Python from
        # complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
