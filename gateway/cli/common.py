"""What every command shares: --config, loading settings, error printing."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gateway.errors import ConfigError, GatewayError
from gateway.settings import Settings, load_settings

T = TypeVar("T")


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="configuration file (default: $GATEWAY_CONFIG, else config/gateway.toml)",
    )


def settings_or_exit(args: argparse.Namespace) -> Settings:
    try:
        return load_settings(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(1) from None


def run_async(func: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(func())  # type: ignore[arg-type]
    except GatewayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
