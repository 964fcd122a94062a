"""An email forwarded as an attachment (message/rfc822) is read as its
reader sees it: senders, recipients, subject, date and the free-text
headers, not its Message-ID, Received or DKIM lines, whose machine
identifiers (`<CAJ+...@mail.gmail.com>`) read as personal email addresses.
Personal data in what the reader sees is still found."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.extract.eml import header_text
from gateway.model import Action, Envelope
from gateway.pipeline import Pipeline
from gateway.settings import Settings

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
)
ENVELOPE = Envelope("jo@council.example", ("team@recipient.example",))
NHS = "104 332 1810"  # valid check digit, synthetic
MACHINE_IDS = [
    "<CAJ+k3Lz9Qx7@mail.gmail.com>",
    "<AM0PR01MB6115C2F9E0B1A@AM0PR01MB6115.eurprd01.prod.exchangelabs.com>",
    "<5F3A2B1C.4080905@school.example.sch.uk>",
]


def _forward(inner_message_id: str, inner_body: str, inner_subject: str) -> bytes:
    inner = "\r\n".join([
        "Received: from mail.school.example.sch.uk (10.0.0.9) by mx.council.example",
        "Return-Path: <k.baker@school.example.sch.uk>",
        "DKIM-Signature: v=1; a=rsa-sha256; d=school.example.sch.uk; s=sel; b=AbC+dEf=",
        "From: Karen Baker <k.baker@school.example.sch.uk>",
        "To: Jo Smith <jo@council.example>",
        f"Subject: {inner_subject}",
        "Date: Mon, 23 Nov 2026 09:14:00 +0000",
        f"Message-ID: {inner_message_id}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        inner_body,
    ])
    return "\r\n".join([
        "From: jo@council.example",
        "To: team@recipient.example",
        "Subject: FW: note from the school",
        "Message-ID: <fw1@council.example>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b1"',
        "",
        "--b1",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "See below.",
        "--b1",
        'Content-Type: message/rfc822; name="Concern about a pupil.eml"',
        'Content-Disposition: attachment; filename="Concern about a pupil.eml"',
        "",
        inner,
        "--b1--",
        "",
    ]).encode("utf-8")


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    return Pipeline(Settings.model_validate({"config_dir": tmp_path,
                                             "policy": {"mode": "enforce"}}))


@pytest.mark.parametrize("message_id", MACHINE_IDS)
def test_a_forwarded_email_without_personal_data_is_delivered(pipeline, message_id):
    decision = pipeline.run(ENVELOPE, _forward(
        message_id, "The fire drill is moved to Thursday at 10am.", "Concern about a pupil"))
    assert decision.verdict.action == Action.DELIVER, decision.verdict.reasons


def test_personal_data_in_a_forwarded_email_is_still_found(pipeline):
    decision = pipeline.run(ENVELOPE, _forward(
        MACHINE_IDS[0], f"Jack Wilson, NHS number {NHS}, was absent again today.",
        "Concern about a pupil"))
    assert decision.verdict.action == Action.REJECT
    assert "uk_nhs_number" in decision.verdict.information_types


def test_only_the_headers_a_reader_sees_are_read() -> None:
    raw = (b"Received: from a.example\r\n by b.example\r\nMessage-ID: <x@gmail.com>\r\n"
           b"Subject: =?utf-8?q?Caf=C3=A9?=\r\nX-Case-Note: call back\r\n"
           b"From: A <a@example.org>\r\nReferences: <y@gmail.com>\r\n")
    assert header_text(raw).splitlines() == [
        "Subject: Café", "X-Case-Note: call back", "From: A <a@example.org>"]
