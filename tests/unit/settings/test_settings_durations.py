"""Durations as people write them, and those too long for any clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from settings_support import problems_of, write

from gateway.settings import parse_duration


@pytest.mark.parametrize("text,expected", [
    ("30s", timedelta(seconds=30)), ("15m", timedelta(minutes=15)), ("5d", timedelta(days=5)),
    ("6y", timedelta(days=6 * 365)), ("250ms", timedelta(milliseconds=250)),
    ("999999999d", timedelta(days=999999999)),
])
def test_durations(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["1000000000000d", "3000000y", 10**20, 1e300, "soon", -1])
def test_a_duration_no_clock_can_hold_is_refused_as_a_value(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_a_config_duration_too_long_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = write(tmp_path, '[passwords]\nttl = "1000000000000d"\n')
    problems = problems_of(path)
    assert any("passwords.ttl" in p and "too long" in p for p in problems), problems


@pytest.mark.parametrize("value", [7, 5, 2.5, 0])
def test_a_number_without_a_unit_is_refused(value: object) -> None:
    """`[passwords] ttl = 7` was read as seven seconds and passed check-config."""
    with pytest.raises(ValueError, match="needs a unit"):
        parse_duration(value)


def test_a_config_duration_without_a_unit_is_a_problem(tmp_path: Path) -> None:
    from gateway.errors import ConfigError
    from gateway.settings import load_settings

    config = tmp_path / "gw.toml"
    config.write_text("[passwords]\nttl = 7\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(config, environ={})
    assert any("passwords.ttl" in p and "needs a unit" in p for p in refused.value.problems)
    with pytest.raises(ConfigError) as refused:
        load_settings(write(tmp_path, ""), environ={"GATEWAY_QUEUE_MAX_AGE": "5"})
    assert any("GATEWAY_QUEUE_MAX_AGE" in p for p in refused.value.problems)
