"""The sender's notification and the 550 summary line."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.policy import default

from policy_support import Case, finding

from gateway.model import Action, InformationType, SegmentSource, Verdict
from gateway.policy.notify import NOTIFICATION_SUBJECT, build_notification, smtp_summary


def _rejected() -> Verdict:
    case = Case()
    case.findings = (finding(InformationType.UK_NHS_NUMBER, SegmentSource.BODY),)
    case.rcpts = ("someone@elsewhere.example",)
    case.subject = "Referral"
    verdict = case.decide()
    assert verdict.action == Action.REJECT and len(verdict.reasons) == 3
    return verdict


def _build(subject: str | None) -> email.message.EmailMessage:
    raw = build_notification(
        hostname="gw.test.example",
        sender="alice@council.example",
        reference="0ABCDEF123456789",
        recipients=["someone@elsewhere.example"],
        verdict=_rejected(),
        subject=subject,
        message_id="<m1@council.example>",
        when=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    message = email.message_from_bytes(raw, policy=default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_notification_lists_every_reason_with_fix() -> None:
    message = _build("Referral")
    assert message["From"].addresses[0].addr_spec == "postmaster@gw.test.example"
    assert message["To"] == "alice@council.example"
    assert message["Subject"] == NOTIFICATION_SUBJECT
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["In-Reply-To"] == "<m1@council.example>"
    body = message.get_content()
    for reason in _rejected().reasons:
        assert " ".join(reason.text.split()) in " ".join(body.split())
        assert " ".join(reason.fix.split()) in " ".join(body.split())
    assert "Reference: 0ABCDEF123456789" in body
    assert "someone@elsewhere.example" in body
    assert "Subject: Referral" in body
    assert body.count("How to fix it:") == 3


def test_subject_left_out_when_not_safe() -> None:
    body = _build(None).get_content()
    assert "Subject:" not in body


def test_summary_fits_one_line() -> None:
    summary = smtp_summary(_rejected())
    assert "\n" not in summary and len(summary) <= 400
    assert "details emailed" in summary


def test_summary_when_too_long() -> None:
    case = Case()
    case.findings = (finding(InformationType.UK_NHS_NUMBER, SegmentSource.BODY),)
    case.rcpts = tuple(f"person{i}@elsewhere.example" for i in range(10))
    case.subject = "x"
    summary = smtp_summary(case.decide())
    assert len(summary) <= 400
    assert "more problem" in summary


def test_summary_joins_the_reasons_without_stray_stops() -> None:
    """Each reason ends in a full stop; joined, they read `... encrypted;
    bob@... is not ...`, not `... encrypted.; bob@...`."""
    verdict = _rejected()
    assert all(r.text.rstrip().endswith(".") for r in verdict.reasons)
    summary = smtp_summary(verdict)
    assert ".;" not in summary and summary.count("; ") == len(verdict.reasons) - 1
    assert summary.endswith(" (details emailed to you)")


def test_a_gzip_and_a_tar_are_not_called_zip_archives() -> None:
    from gateway.policy.words import kind_of

    assert kind_of("application/gzip") == "a gzip file"
    assert kind_of("application/x-gzip") == "a gzip file"
    assert kind_of("application/x-tar") == "a tar archive"
    assert kind_of("application/zip") == "a zip archive"


def test_protect_mode_asks_the_sender_only_for_what_the_gateway_cannot_fix() -> None:
    """Refused in protect mode for a recipient not on the allow-list, the
    message also had personal data in clear and no marking: the gateway
    would have fixed those, so the sender is not told to make a zip and
    mark the subject.  The verdict (and so the record) keeps every reason."""
    case = Case()
    case.findings = (finding(InformationType.UK_NHS_NUMBER, SegmentSource.BODY),)
    case.rcpts = ("someone@elsewhere.example",)
    case.subject = "Referral"
    verdict = case.decide(mode="protect")
    assert verdict.action == Action.REJECT and len(verdict.reasons) == 3
    summary = smtp_summary(verdict, "protect")
    assert "not on the list" in summary and "encrypt" not in summary
    assert "marked" not in summary
    raw = build_notification(
        hostname="gw.test.example", sender="alice@council.example", reference="0ABCDEF123456789",
        recipients=["someone@elsewhere.example"], verdict=verdict, subject="Referral",
        message_id=None, when=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), mode="protect",
    )
    body = " ".join(email.message_from_bytes(raw, policy=default).get_content().split())
    assert body.count("How to fix it:") == 1
    assert "not on the list of recipients" in body
    assert "Save the attachment read-only and encrypt it" not in body
    assert "You need not encrypt it or mark its subject yourself" in body
    # What it found, by kind only: a false alarm is then visible to the sender.
    assert ("What the gateway found that looks like personal data: NHS number. If there is "
            "none in your message") in body
    # Enforce mode still asks for all of it.
    assert smtp_summary(verdict).count(";") == 2


def test_an_enforce_refusal_for_personal_data_says_where_a_false_alarm_goes() -> None:
    """The protect-mode notice told a sender sure there was no personal data
    to tell IT; the enforce notice did not (a black-box tester's finding)."""
    body = " ".join(_build("Referral").get_content().split())
    assert ("If what the gateway took for personal data is not (for example, it is your "
            "organisation's own number or a colleague's work details), tell IT, quoting the "
            "reference above.") in body


def test_no_false_alarm_line_when_no_personal_data_was_found() -> None:
    case = Case()
    case.rcpts = ("someone@elsewhere.example",)
    verdict = case.decide()
    assert verdict.action == Action.REJECT
    raw = build_notification(
        hostname="gw.test.example", sender="alice@council.example", reference="0ABC",
        recipients=["someone@elsewhere.example"], verdict=verdict, subject=None,
        message_id=None, when=datetime(2025, 1, 2, tzinfo=UTC))
    assert b"took for personal data" not in raw
