"""The pipeline in three steps (read, search ahead, conclude) decides what `run` decides."""

from __future__ import annotations

import random
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from faker import Faker

from gateway import pipeline as pipeline_module
from gateway.model import Envelope
from gateway.parse import keywords
from gateway.pipeline import Decision, Pipeline
from gateway.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "detect"))
from synthetic_ids import nhs_number, nino

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
)
ENVELOPE = Envelope("a@council.example", ("team@recipient.example",))


def _pipeline(tmp_path: Path, mode: str) -> Pipeline:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    settings = Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": mode}})
    return Pipeline(settings)


def _messages() -> list[bytes]:
    """Long bodies: clean prose, personal data early or late, passwords, sharing lines."""
    fake = Faker("en_GB")
    fake.seed_instance(21)
    rng = random.Random(21)
    out = []
    for n in range(16):
        body = "\r\n".join(fake.paragraph(nb_sentences=10) for _ in range(100 + 10 * n))
        if n % 4 == 1:
            body = f"NHS number {nhs_number(rng)}\r\n" + body
        if n % 4 == 2:
            body += f"\r\nNational Insurance number {nino(rng)}\r\n"
        if n % 5 == 3:
            body = "Purpose: school transfer\r\nAuthorised by: the head teacher\r\n" + body
        if n % 6 == 4:
            body += "\r\nThe password is Blue-Otter-42\r\n"
        subject = "Private and Confidential" if n % 2 else "Notes"
        out.append(
            (f"From: a@council.example\r\nTo: team@recipient.example\r\nSubject: {subject}\r\n"
             f"Message-ID: <x{n}@council.example>\r\n\r\n{body}\r\n").encode()
        )
    return out


def _comparable(decision: Decision) -> Decision:
    # A protected message's zip and password are random each time.
    if decision.password is not None:
        return replace(decision, content=b"", password="")
    return decision


@pytest.mark.parametrize("mode", ["enforce", "protect", "monitor"])
def test_three_steps_decide_what_run_decides(tmp_path: Path, mode: str) -> None:
    pipeline = _pipeline(tmp_path, mode)
    searched = 0
    for raw in _messages():
        reading = pipeline.read(raw)
        assert pipeline.worth_searching_ahead(reading)
        ahead = pipeline.search_ahead(reading)
        searched += len(ahead.first_stops) + len(ahead.mentions)
        stepped = pipeline.conclude(ENVELOPE, raw, reading, ahead)
        assert _comparable(stepped) == _comparable(pipeline.run(ENVELOPE, raw))
    assert searched >= 2 * len(_messages())


def test_short_texts_are_not_searched_ahead(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path, "enforce")
    raw = b"From: a@council.example\r\nSubject: Lunch\r\n\r\nSee you at one.\r\n"
    reading = pipeline.read(raw)
    assert not pipeline.worth_searching_ahead(reading)
    assert pipeline.search_ahead(reading) == pipeline_module.Ahead()


def test_concluding_does_not_search_the_large_text_again(
    tmp_path: Path, counted_searches: list[int]
) -> None:
    searched = counted_searches
    pipeline = _pipeline(tmp_path, "enforce")
    raw = _messages()[0]
    reading = pipeline.read(raw)
    ahead = pipeline.search_ahead(reading)
    searched.clear()
    keywords._MENTIONS.memo = None
    pipeline.conclude(ENVELOPE, raw, reading, ahead)
    assert searched and max(searched) < pipeline_module.SEARCH_AHEAD_FROM  # the subject only
    searched.clear()
    pipeline.run(ENVELOPE, raw)
    assert max(searched) >= pipeline_module.SEARCH_AHEAD_FROM
