"""Step 1's first search made ahead (`first_stops`): the same findings, one search fewer."""

from __future__ import annotations

import random

import pytest
from engine_support import engine
from faker import Faker
from synthetic_ids import mobile_number, nhs_number, nino

from gateway.detect import FirstStop
from gateway.model import SegmentSource, TextSegment

SIGNATURE = "\n\nKind regards\n{name}\nDuty Team Manager\nTel: {phone}\n"


def _texts() -> list[str]:
    """Prose with and without personal data, early, late, in a signature."""
    fake = Faker("en_GB")
    fake.seed_instance(5)
    rng = random.Random(5)
    texts = []
    for n in range(30):
        prose = " ".join(fake.paragraph(nb_sentences=12) for _ in range(1 + n % 5))
        if n % 3 == 0:
            prose = f"Child's NHS number {nhs_number(rng)}. " + prose
        if n % 4 == 1:
            prose += f"\nNI number: {nino(rng)}\n"
        if n % 2 == 0:
            prose += SIGNATURE.format(name=fake.name(), phone=mobile_number(rng))
        texts.append(prose)
    return texts


def _segments(text: str) -> list[TextSegment]:
    return [
        TextSegment("", SegmentSource.SUBJECT, "Referral for review"),
        TextSegment("1", SegmentSource.BODY, text),
        TextSegment("2", SegmentSource.BODY, text.replace("\n", "\r\n")),  # its HTML twin
        TextSegment("3", SegmentSource.ATTACHMENT, text[: len(text) // 2], filename="a.txt"),
    ]


def test_first_stops_give_the_same_findings() -> None:
    detection = engine()
    stopped_somewhere = never_stopped = 0
    for text in _texts():
        segments = _segments(text)
        ahead = detection.first_stops(segments)
        assert 2 not in ahead  # the twin is read elsewhere: not searched ahead
        assert detection.detect(segments, ahead) == detection.detect(segments)
        stopped_somewhere += ahead[1].first >= 0
        never_stopped += ahead[1].first < 0
    assert stopped_somewhere and never_stopped  # both kinds of text were tried


def test_only_segments_from_min_length_are_searched_ahead() -> None:
    segments = _segments(_texts()[1])
    ahead = engine().first_stops(segments, min_length=len(segments[3].text) + 1)
    assert sorted(ahead) == [1]


def test_the_first_search_is_not_made_again(monkeypatch: pytest.MonkeyPatch) -> None:
    detection = engine()
    text = _texts()[1]
    segments = [TextSegment("1", SegmentSource.BODY, text)]
    ahead = detection.first_stops(segments)
    searches: list[int] = []
    scanner = detection._body
    original = scanner.next_start

    def counting(data: bytes, position: int, stop: int, reach: int = 256) -> int:
        searches.append(position)
        return original(data, position, stop, reach)

    monkeypatch.setattr(scanner, "next_start", counting)
    expected = detection.detect(segments)
    assert searches[0] == 0
    searches.clear()
    assert detection.detect(segments, ahead) == expected
    assert 0 not in searches


def test_a_first_stop_for_another_text_is_not_used() -> None:
    detection = engine()
    rng = random.Random(9)
    text = f"NHS number {nhs_number(rng)} for the child."
    segments = [TextSegment("1", SegmentSource.BODY, text)]
    stale = {0: FirstStop("no candidates in here", b"no candidates in here",
                          "no candidates in here", -1)}
    assert detection.detect(segments, stale) == detection.detect(segments)
    assert detection.detect(segments)
