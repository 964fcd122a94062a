"""The composed pipeline without a socket: routes, redaction, audit facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.model import Action, Envelope, ReasonCode
from gateway.pipeline import REDACTED, Pipeline
from gateway.settings import Settings

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
    "referrals@health.example.nhs.uk,Referrals,Coordinator,Paediatrics,Example NHS Trust,"
    "0161 496 0002,nhsmail\n"
)
NHS = "943 476 5919"


def _pipeline(tmp_path: Path, mode: str = "enforce") -> Pipeline:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    settings = Settings.model_validate(
        {
            "config_dir": tmp_path,
            "policy": {"mode": mode},
            "routes": {"nhsmail": {"host": "relay.example.net", "tls": "starttls-verify"}},
        }
    )
    return Pipeline(settings)


def _message(subject: str, body: str, to: str = "team@recipient.example") -> bytes:
    return (
        f"From: a@council.example\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <x1@council.example>\r\n\r\n{body}\r\n"
    ).encode()


def test_secure_route_per_recipient(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    envelope = Envelope("a@council.example",
                        ("team@recipient.example", "referrals@health.example.nhs.uk"))
    decision = pipeline.run(envelope, _message("Lunch", "See you at one."))
    assert decision.routes == ("upstream", "nhsmail")
    assert decision.recipients[1] is not None
    assert decision.recipients[1].organisation == "Example NHS Trust"


def test_clean_mail_passes_untouched(tmp_path: Path) -> None:
    raw = _message("Lunch", "See you at one.", "stranger@elsewhere.example")
    decision = _pipeline(tmp_path).run(Envelope("a@council.example",
                                                ("stranger@elsewhere.example",)), raw)
    assert decision.verdict.action == Action.DELIVER
    assert decision.content == raw
    assert decision.password is None and decision.password_state == "none"
    assert decision.recipients == (None,)


def test_subject_with_personal_data_is_redacted_for_the_audit(tmp_path: Path) -> None:
    decision = _pipeline(tmp_path).run(
        Envelope("a@council.example", ("team@recipient.example",)),
        _message(f"Private and Confidential: NHS number {NHS}", "Details to follow."),
    )
    assert decision.verdict.action == Action.REJECT
    assert decision.subject_has_personal_data
    assert NHS not in decision.subject and REDACTED in decision.subject
    assert decision.subject.startswith("Private and Confidential: NHS number")
    assert decision.content == b""
    assert decision.message_id == "<x1@council.example>"


def test_sharing_facts_are_captured(tmp_path: Path) -> None:
    body = "Purpose: school transfer\nConsent: parents agreed, not for other agencies\nHi"
    decision = _pipeline(tmp_path, "monitor").run(
        Envelope("a@council.example", ("team@recipient.example",)), _message("Lunch", body)
    )
    assert decision.purpose == "school transfer"
    assert decision.consent == "parents agreed, not for other agencies"
    assert b"Purpose:" not in decision.content  # stripped before delivery


@pytest.mark.parametrize("mode", ["enforce", "protect", "monitor"])
def test_modes_on_body_leak(tmp_path: Path, mode: str) -> None:
    decision = _pipeline(tmp_path, mode).run(
        Envelope("a@council.example", ("team@recipient.example",)),
        _message("Private and Confidential", f"Patient NHS number {NHS}."),
    )
    verdict = decision.verdict
    assert [r.code for r in verdict.reasons] == [ReasonCode.PERSONAL_DATA_IN_BODY]
    expected = {"enforce": Action.REJECT, "protect": Action.PROTECT, "monitor": Action.DELIVER}
    assert verdict.action == expected[mode]
    if mode == "protect":
        assert NHS.encode() not in decision.content
        assert decision.password is not None and decision.password_state == "held"
        assert "AES-256" in decision.method
    if mode == "monitor":
        assert verdict.would_action == Action.REJECT
        assert NHS.encode() in decision.content
