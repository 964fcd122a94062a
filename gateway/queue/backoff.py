"""Retry schedule: the configured delays in order; the last one repeats."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta


def next_delay(schedule: Sequence[timedelta], attempts: int) -> timedelta:
    """Delay before the next attempt after `attempts` failed ones (>= 1)."""
    if not schedule:
        raise ValueError("empty retry schedule")
    index = min(max(attempts, 1), len(schedule)) - 1
    return schedule[index]
