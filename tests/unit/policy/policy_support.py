"""Builders for policy tests: a compliant message's facts, broken one rule at a time."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gateway.model import (
    AttachmentReport,
    Encryption,
    Envelope,
    Finding,
    InformationType,
    Inspection,
    ParsedMessage,
    PasswordCandidate,
    Problem,
    SegmentSource,
    Verdict,
)
from gateway.policy import decide
from gateway.policy.recipients import RecipientList, parse_recipients
from gateway.settings import Settings

RECIPIENTS = parse_recipients(
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "duty.team@childrens.example.gov.uk,Duty Team,Duty Social Worker,Children's Services,"
    "Example County Council,0161 496 0000,\n"
    "@school.example.sch.uk,School Office,Designated Safeguarding Lead,Pastoral,"
    "Example Academy,0161 496 0001,\n"
    "referrals@health.example.nhs.uk,Referrals Desk,Referrals Coordinator,Community "
    "Paediatrics,Example NHS Trust,0161 496 0002,nhsmail\n",
    route_names={"nhsmail"},
)

ALLOWED = "duty.team@childrens.example.gov.uk"
SUBJECT = "Private and Confidential: referral"


def finding(
    info_type: InformationType = InformationType.UK_NHS_NUMBER,
    source: SegmentSource = SegmentSource.BODY,
    part_path: str = "1",
    start: int = 0,
    end: int = 10,
) -> Finding:
    return Finding(info_type, part_path, source, start, end, 0.9, "test")


def zip_report(
    encryption: Encryption = Encryption.AES_256,
    read_only: bool | None = True,
    part_path: str = "2",
    content_type: str = "application/zip",
    password_opens: bool = True,
) -> AttachmentReport:
    return AttachmentReport(
        part_path=part_path,
        filename="referral.zip",
        content_type=content_type,
        encryption=encryption,
        read_only=read_only,
        password_opens=password_opens,
        entries=1,
    )


def inspection(
    subject: str = SUBJECT,
    attachments: tuple[AttachmentReport, ...] = (),
    problems: tuple[Problem, ...] = (),
    passwords: tuple[PasswordCandidate, ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
) -> Inspection:
    message = ParsedMessage(subject=subject, headers=(("Subject", subject), *headers), parts=())
    return Inspection(
        message=message, segments=(), attachments=attachments, problems=problems,
        passwords=passwords,
    )


def settings(**policy: Any) -> Settings:
    base = Settings()
    hold = policy.pop("hold", None)
    new_policy = base.policy.model_copy(update=policy)
    if hold is not None:
        new_policy = new_policy.model_copy(
            update={"hold": base.policy.hold.model_copy(update=hold)}
        )
    return base.model_copy(update={"policy": new_policy})


class Case:
    """A compliant message with an AES-256 read-only zip; tests break it."""

    def __init__(self) -> None:
        self.rcpts: tuple[str, ...] = (ALLOWED,)
        self.subject = SUBJECT
        self.attachments: tuple[AttachmentReport, ...] = (zip_report(),)
        self.problems: tuple[Problem, ...] = ()
        self.passwords: tuple[PasswordCandidate, ...] = (
            PasswordCandidate("correct horse", "body", "1", True, opens=True),
        )
        self.findings: tuple[Finding, ...] = ()
        self.protected: tuple[Finding, ...] = (
            finding(source=SegmentSource.ATTACHMENT, part_path="2"),
        )
        self.marking: str | None = None
        self.purpose: str | None = "Child protection referral"
        self.recipients: RecipientList | None = RECIPIENTS

    def decide(self, **policy: Any) -> Verdict:
        return decide(
            Envelope(mail_from="sender@council.example.gov.uk", rcpt_tos=self.rcpts),
            inspection(self.subject, self.attachments, self.problems, self.passwords),
            self.findings,
            settings(**policy),
            recipients=self.recipients,
            marking=self.marking,
            purpose=self.purpose,
            protected_findings=self.protected,
        )


def with_attachment(case: Case, **changes: Any) -> None:
    case.attachments = (replace(case.attachments[0], **changes),)
