"""The combined pass: one walk over the text, the same on RE2 and on `re`."""

from __future__ import annotations

import pytest

from gateway.detect import _regex
from gateway.detect._regex import MultiPattern, fold

PATTERNS = [
    r"\b[0-9]{3}[ -][0-9]{3}[ -][0-9]{4}\b",
    r"\b[0-9]{10}\b",
    r"\b[0-9]{2}[- ][0-9]{2}[- ][0-9]{2}\b",
    r"\b[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{2,4}\b",
    r"\b(?i:name)[ \t]*:[ \t]*(?P<value>[A-Z][a-z]+)\b",
    r"(?m:^)(?i:[ \t>]*(?:kind regards|thanks))",
]
TEXT = (
    "Name: Oliver\nKind regards,\n> thanks\nDOB 12-03-15 or 12-03-2015, "
    "NHS 943 476 5919 and 9434765919, X9434765919, call 0113 496 0000\n"
)


def _walk(scanner: MultiPattern, data: bytes) -> list[tuple[int, int, int, int]]:
    found = []
    position = 0
    while (at := scanner.next_start(data, position, len(data))) >= 0:
        found += [(at, index, *match.span()) for index, match in scanner.matches_at(data, at)]
        position = scanner.token_end(data, at)
    return found


def test_every_pattern_matching_at_a_start_is_reported() -> None:
    data = fold(TEXT)[0]
    found = _walk(MultiPattern(PATTERNS), data)
    date = data.index(b"12-03-15")
    # A date and a sort code claim the same characters: both are candidates.
    assert [(index, start, end) for at, index, start, end in found if at == date] == [
        (2, date, date + 8),
        (3, date, date + 8),
    ]
    # The line-start pattern matches at line starts only.
    assert [at for at, index, _, _ in found if index == 5] == [
        data.index(b"Kind"),
        data.index(b"> thanks"),
    ]
    assert [(index, start, end) for _, index, start, end in found] == [
        (index, match.start(), match.end())
        for index, match in MultiPattern(PATTERNS).candidates(data)
    ]


def test_next_start_only_reports_starts_before_stop() -> None:
    scanner = MultiPattern(PATTERNS)
    data = fold(TEXT)[0]
    nhs = data.index(b"943 476")
    assert scanner.next_start(data, nhs - 3, len(data)) == nhs
    assert scanner.next_start(data, nhs - 3, nhs) == -1
    assert scanner.next_start(data, len(data), len(data)) == -1


def test_token_end_skips_the_rest_of_a_token() -> None:
    data = b"abc123 (0113"
    assert MultiPattern.token_end(data, 0) == 6
    assert MultiPattern.token_end(data, 7) == 8  # "(" is no token: one step


def test_python_re_gives_the_same_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    data = fold(TEXT)[0]
    on_re2 = _walk(MultiPattern(PATTERNS), data)
    monkeypatch.setattr(_regex, "_re2", None)
    on_re = _walk(MultiPattern(PATTERNS), data)
    assert on_re == on_re2


@pytest.mark.parametrize("re2", [True, False], ids=["re2", "python"])
def test_a_match_may_run_past_stop_and_the_search_ends_near_it(
    re2: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not re2:
        monkeypatch.setattr(_regex, "_re2", None)
    scanner = MultiPattern(PATTERNS)
    data = fold(TEXT)[0]
    nhs = data.index(b"943 476")
    assert scanner.next_start(data, nhs - 3, nhs + 1) == nhs  # starts before stop
    # Only the longest match's length past `stop` is read: a digit run that
    # looks like a number only when cut there is no candidate where it starts.
    long_run = b"x " + b"1" * 600 + b" y"
    at = scanner.next_start(long_run, 0, 2)
    assert at in (-1, 2)
    assert at == -1 or scanner.matches_at(long_run, at) == []


@pytest.mark.parametrize("re2", [True, False], ids=["re2", "python"])
def test_a_walk_that_stops_at_a_line_end_reads_no_further(
    re2: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not re2:
        monkeypatch.setattr(_regex, "_re2", None)
    scanner = MultiPattern(PATTERNS)
    data = b"Kind regards,\nNHS 943 476 5919\n9434765919 after the block\n"
    line_end = data.index(b"\n9434765919")
    nhs = data.index(b"943 476")
    assert scanner.next_start(data, 0, line_end, reach=0) in (0, nhs)  # a sign-off or the number
    assert scanner.next_start(data, nhs, line_end, reach=0) == nhs
    assert scanner.next_start(data, nhs + 12, line_end, reach=0) == -1
