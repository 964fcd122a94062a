"""Detection under a deadline: it looks at it as it goes and stops past it.

A few kilobytes of zip can expand to megabytes of digits, every group of
them a candidate; detection read them for minutes, holding the event loop
or a thread after its timeout.  Past a `Deadline` it raises
`LimitExceeded` (the pipeline refuses the message as not checked).
"""

from __future__ import annotations

import time

import pytest
from engine_support import engine

from gateway.errors import LimitExceeded
from gateway.model import SegmentSource, TextSegment
from gateway.parse.limits import Deadline

DIGITS = "0123456789 " * 5_000  # 55,000 characters, 5,000 candidates


class CountedDeadline(Deadline):
    """Never reached; counts how often detection looked at it."""

    def __init__(self) -> None:
        super().__init__(float("inf"))
        self.looks = 0

    def check(self) -> None:
        self.looks += 1
        super().check()


def body(text: str) -> TextSegment:
    return TextSegment("1", SegmentSource.BODY, text)


def test_a_passed_deadline_stops_detection() -> None:
    with pytest.raises(LimitExceeded):
        engine().detect([body(DIGITS)], deadline=Deadline(time.monotonic() - 1))


def test_detection_looks_at_the_deadline_within_a_long_text() -> None:
    """Not only between segments: one segment of many candidates is where
    the time goes."""
    deadline = CountedDeadline()
    engine().detect([TextSegment("", SegmentSource.SUBJECT, DIGITS), body(DIGITS)],
                  deadline=deadline)
    assert deadline.looks > 2 * 5_000 // 512  # many times in each segment, not once


def test_a_deadline_not_reached_changes_nothing() -> None:
    text = "Jo Bloggs, born 03/04/2012, lives at 1 High Street, LS1 4AB. Tel 0113 496 0000."
    segments = [body(text), body(DIGITS[:2200])]
    assert engine().detect(segments, deadline=Deadline.after(600)) == engine().detect(segments)


def test_tick_reads_the_clock_once_in_every_so_many() -> None:
    deadline = Deadline(time.monotonic() - 1, every=3)
    deadline.tick()
    deadline.tick()
    with pytest.raises(LimitExceeded):
        deadline.tick()
