"""A password written in the text that opens none of the encrypted
attachments: most often the real one mistyped, a character or two from it.
It cannot be what the gateway holds and sends separately, and left in the
text it would travel beside the attachment, so the message is refused with
advice; a line that only arranges how the password will come is no
password at all."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest
from fixtures_content import aes_zip

from gateway.model import Action, Envelope, ReasonCode
from gateway.pipeline import Pipeline
from gateway.settings import Settings

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@school.example,Safeguarding Lead,Designated Safeguarding Lead,,Hill School,"
    "01632 960002,\n"
)
ENVELOPE = Envelope("jo@council.example", ("lead@school.example",))
REAL = "Kestrel-4471!"
NOTES = b"Referral notes. NHS number 104 332 1810, date of birth 18/03/2014."


def _pipeline(tmp_path: Path, mode: str) -> Pipeline:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    return Pipeline(Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": mode}}))


def _message(password_line: str) -> bytes:
    message = EmailMessage()
    message["From"] = "jo@council.example"
    message["To"] = "lead@school.example"
    message["Subject"] = "Private and Confidential: referral"
    message["Message-ID"] = "<pw1@council.example>"
    message.set_content("Dear colleague,\n\nThe referral is attached.\n"
                        "Purpose: safeguarding referral\nAuthorised by: Team Manager\n\n"
                        f"{password_line}\n\nRegards\nJo\n")
    zipped = aes_zip(256, {"notes.txt": NOTES}, REAL, read_only=True)
    message.add_attachment(zipped, maintype="application", subtype="zip",
                           filename="referral.zip")
    return message.as_bytes().replace(b"\n", b"\r\n")


@pytest.mark.parametrize("mode", ["enforce", "protect"])
def test_a_mistyped_password_is_refused_not_sent_beside_the_attachment(
    tmp_path: Path, mode: str
) -> None:
    decision = _pipeline(tmp_path, mode).run(ENVELOPE, _message("Password: Kestrel-4417!"))
    assert decision.verdict.action == Action.REJECT
    (reason,) = decision.verdict.reasons
    assert reason.code == ReasonCode.PASSWORD_IN_MESSAGE
    assert "does not open attachment 1 (a zip archive)" in reason.text
    assert "Check the password" in reason.fix
    assert "Kestrel" not in reason.text + reason.fix


@pytest.mark.parametrize("mode", ["enforce", "protect"])
def test_the_right_password_is_taken_out_and_held(tmp_path: Path, mode: str) -> None:
    decision = _pipeline(tmp_path, mode).run(ENVELOPE, _message(f"Password: {REAL}"))
    assert decision.verdict.action == Action.DELIVER
    assert decision.password == REAL
    assert REAL.encode() not in decision.content


@pytest.mark.parametrize("line", ["Password: phone me", "Password: to follow",
                                  "Password: TBC", "The password will be sent separately.",
                                  "I will ring you with the password."])
def test_a_line_arranging_the_password_is_no_password(tmp_path: Path, line: str) -> None:
    decision = _pipeline(tmp_path, "enforce").run(ENVELOPE, _message(line))
    assert decision.verdict.action == Action.DELIVER, decision.verdict.reasons
    assert decision.password is None


@pytest.mark.parametrize("mode", ["enforce", "protect"])
def test_a_name_inside_the_opened_zip_does_not_make_its_file_names_personal(
    tmp_path: Path, mode: str
) -> None:
    """The compliant share: a read-only AES zip whose member names show
    nothing, the password on its own line.  The child's name inside it is
    protected; it must not be echoed onto the archive's own file names
    ("report.zip", "a.txt"), which share the attachment's place."""
    message = EmailMessage()
    message["From"] = "jo@council.example"
    message["To"] = "lead@school.example"
    message["Subject"] = "Private and Confidential: report"
    message.set_content(f"Report attached.\nPurpose: referral\n\nPassword: {REAL}\n")
    zipped = aes_zip(256, {"a.txt": b"Jack Jones NHS number 485 777 3457"}, REAL,
                     read_only=True)
    message.add_attachment(zipped, maintype="application", subtype="zip",
                           filename="report.zip")
    raw = message.as_bytes().replace(b"\n", b"\r\n")
    decision = _pipeline(tmp_path, mode).run(ENVELOPE, raw)
    assert decision.verdict.action == Action.DELIVER, decision.verdict.reasons
    assert decision.password == REAL
