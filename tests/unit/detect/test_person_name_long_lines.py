"""A name deep in one long line is not looked for a greeting from the
line's start: the greeting search tried every position between, so a
300 KB line of names (a pasted list, a spreadsheet saved without line
breaks) took 24 s to read, a cost that grew with the square of the line.
The work is counted here (no timing in unit tests; bench/scan.py measures
speed): each search of the greeting pattern spans a bounded stretch."""

from __future__ import annotations

import re
from typing import Any

import pytest
from engine_support import found

from gateway.detect.recognizers import person_name
from gateway.model import InformationType

NAMES = "Sarah Jones, Mark Hill, Leo Fletcher, Kelly Fletcher, "


class _CountingPattern:
    """The greeting pattern, noting how far each search reaches."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.spans: list[int] = []

    def search(self, text: str, pos: int = 0, endpos: int | None = None) -> Any:
        end = len(text) if endpos is None else endpos
        self.spans.append(end - pos)
        return self.pattern.search(text, pos, end)


@pytest.fixture
def greeting(monkeypatch: pytest.MonkeyPatch) -> _CountingPattern:
    counting = _CountingPattern(person_name._GREETING)
    monkeypatch.setattr(person_name, "_GREETING", counting)
    return counting


def test_the_greeting_search_stays_short_on_a_long_line(greeting: _CountingPattern) -> None:
    text = "Team Manager " + NAMES * 400  # ~22 KB, one line, staff posts named
    found(text, InformationType.PERSON_NAME)
    assert greeting.spans  # the greeting was looked for
    # A greeting and its titles are a few words: never the whole line.
    assert max(greeting.spans) < 1000 < len(text)


def test_a_greeted_name_is_still_the_correspondent(greeting: _CountingPattern) -> None:
    assert found("Dear Mrs Thompson,\nThe report is attached.",
                 InformationType.PERSON_NAME) == []
    assert found("Good afternoon Mr and Mrs Okonkwo,\nThe report is attached.",
                 InformationType.PERSON_NAME) == []
