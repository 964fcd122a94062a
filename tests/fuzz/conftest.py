"""The fuzz wrapper is part of the opt-in `faults` run (see tests/faults/conftest.py)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: opt-in fault-injection suite (run with -m faults)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    expr = config.getoption("markexpr", "") or ""
    try:
        from _pytest.mark.expression import Expression

        selected = bool(expr) and bool(
            Expression.compile(expr).evaluate(lambda name, **kw: name == "faults")
        )
    except Exception:
        selected = "faults" in expr and "not faults" not in expr
    if selected:
        return
    skip = pytest.mark.skip(reason="opt-in fault suite: run with `pytest -m faults`")
    for item in items:
        if item.get_closest_marker("faults") is not None:
            item.add_marker(skip)
