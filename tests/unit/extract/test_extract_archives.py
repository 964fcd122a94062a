"""ZIP bomb and structure checks: each one stops extraction with a named problem."""

from __future__ import annotations

import pytest
from fixtures_content import (
    Entry,
    build_zip,
    mismatched_zip,
    nested_bomb,
    overlapping_zip,
    ratio_bomb,
)

from gateway.extract import ExtractContext, build_registry
from gateway.parse import ContentLimits

REGISTRY = build_registry()


def problems(data: bytes, limits: ContentLimits | None = None) -> set[str]:
    ctx = ExtractContext.start(limits or ContentLimits(), REGISTRY, "2")
    REGISTRY.extract(data, ctx)
    return {p.code for p in ctx.problems}


@pytest.mark.parametrize(
    ("data", "limits", "code"),
    [
        (ratio_bomb(), ContentLimits(), "archive_bomb"),
        (
            build_zip([Entry(f"f{i}.txt", b"x") for i in range(60)]),
            ContentLimits(max_archive_entries=50),
            "archive_bomb",
        ),
        (overlapping_zip(), ContentLimits(), "archive_bomb"),
        (mismatched_zip(), ContentLimits(), "archive_mismatch"),
        (nested_bomb(), ContentLimits(), "too_deep"),
        (nested_bomb(levels=3, width=4), ContentLimits(max_archive_total=20_000), "archive_bomb"),
    ],
    ids=["ratio", "entries", "overlap", "local-vs-central", "nested-depth", "nested-total"],
)
def test_bombs_are_refused(data: bytes, limits: ContentLimits, code: str) -> None:
    assert code in problems(data, limits)


def test_small_repetitive_members_are_not_bombs() -> None:
    # 50 KB of spaces compresses far beyond 100:1 but is far below the floor.
    assert problems(build_zip([Entry("blank.txt", b" " * 50_000)])) == set()


def test_nesting_within_the_limit_is_read() -> None:
    assert problems(nested_bomb(levels=3, width=2)) == set()
