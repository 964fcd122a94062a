"""The identifier headers (Message-ID, In-Reply-To, References): read for
the attachment's password and for certain personal data, never as text a
mail program's random identifier could be taken for."""

from __future__ import annotations

import email.utils
import uuid
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path

import pytest
from fixtures_content import aes_zip

from gateway.detect import build_engine
from gateway.model import Action, Envelope, ReasonCode
from gateway.pipeline import Pipeline, identifier_findings
from gateway.settings import Settings

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
)
ENVELOPE = Envelope("jo@council.example", ("team@recipient.example",))
PASSWORD = "Lantern-Quay-58"


def _pipeline(tmp_path: Path, mode: str = "enforce") -> Pipeline:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    return Pipeline(Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": mode}}))


def _message(headers: dict[str, str], attachment: bool = True) -> bytes:
    message = EmailMessage()
    message["From"] = "jo@council.example"
    message["To"] = "team@recipient.example"
    message["Subject"] = "Private and Confidential: referral"
    for name, value in headers.items():
        message[name] = value
    message.set_content("Please see the attached referral.\n")
    if attachment:
        zipped = aes_zip(256, {"referral.txt": b"NHS 943 476 5919"}, PASSWORD, read_only=True)
        message.add_attachment(zipped, maintype="application", subtype="zip",
                               filename="referral.zip")
    return message.as_bytes().replace(b"\n", b"\r\n")


@pytest.mark.parametrize("header", ["In-Reply-To", "References"])
def test_a_password_in_an_earlier_messages_identifier_is_refused(
    tmp_path: Path, header: str
) -> None:
    raw = _message({"Message-ID": "<a1b2@council.example>",
                    header: f"<r1@council.example> <{PASSWORD}.7@council.example>"})
    decision = _pipeline(tmp_path).run(ENVELOPE, raw)
    assert decision.verdict.action == Action.REJECT
    (reason,) = decision.verdict.reasons
    assert reason.code == ReasonCode.PASSWORD_IN_MESSAGE
    assert f"the {header} header" in reason.text
    assert decision.message_id == "<a1b2@council.example>"  # it holds nothing


def test_protect_mode_takes_out_a_message_id_naming_a_child(tmp_path: Path) -> None:
    message_id = "<Amelia.Price.date-of-birth.02-11-2015@council.example>"
    decision = _pipeline(tmp_path, "protect").run(
        ENVELOPE, _message({"Message-ID": message_id}, attachment=False))
    assert decision.verdict.action == Action.PROTECT
    assert "Message-ID" not in message_from_bytes(decision.content)
    assert b"Amelia" not in decision.content
    assert decision.message_id == "<[redacted]@council.example>"


def test_mail_programs_identifiers_are_no_personal_data() -> None:
    engine = build_engine()
    identifiers = [
        value
        for n in range(300)
        for value in (
            email.utils.make_msgid(domain="nhs.example"),
            f"<{uuid.uuid4()}@council.example>",
            f"<{1_700_000_000 + n * 7919}.{4_000_000_000 + n * 104_729}@patient.nhs.example>",
            f"<CAJ6q+Sarah.Jones{n}@mail.gmail.com>",
        )
    ]
    assert [v for v in identifiers if identifier_findings(engine, [("References", v)])] == []
