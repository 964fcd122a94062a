"""The Purpose / Consent / Authorised-by lines staff write as the README
asks are taken out of the message before it leaves (and kept, redacted, in
the record), so what they say is not personal data in the body: an
authoriser's name beside "child protection plan" refused the message in
enforce mode and wrapped it in a second zip in protect mode."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest
from fixtures_content import aes_zip

from gateway.model import Action, Envelope
from gateway.pipeline import Pipeline
from gateway.settings import Settings

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@school.example,Safeguarding Lead,Designated Safeguarding Lead,,Hill School,"
    "01632 960002,\n"
)
ENVELOPE = Envelope("jo@council.example", ("lead@school.example",))
TWO_LINES = "Purpose: Safeguarding - child protection plan\nAuthorised by: Helen Ward, Team Manager\n"
STATEMENTS = ("Purpose: Safeguarding - child protection plan\n"
              "Consent: not sought (risk of significant harm)\n"
              "Authorised by: Helen Ward, Team Manager\n")
PASSWORD = "Kestrel-4471!"


def _pipeline(tmp_path: Path, mode: str) -> Pipeline:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    return Pipeline(Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": mode}}))


def _message(body: str, zipped: bytes | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = "jo@council.example"
    message["To"] = "lead@school.example"
    message["Subject"] = "Private and Confidential: notes"
    message.set_content(body)
    if zipped is not None:
        message.add_attachment(zipped, maintype="application", subtype="zip",
                               filename="notes.zip")
    return message.as_bytes().replace(b"\n", b"\r\n")


@pytest.mark.parametrize("statements", [
    STATEMENTS,
    TWO_LINES,
])
def test_statement_lines_alone_are_not_personal_data(tmp_path: Path, statements: str) -> None:
    raw = _message(f"Hello Priya,\n\nThe notes are attached.\n\n{statements}\nJo\n")
    decision = _pipeline(tmp_path, "enforce").run(ENVELOPE, raw)
    assert decision.verdict.action == Action.DELIVER, decision.verdict.reasons
    assert not decision.verdict.information_types
    assert decision.purpose == "Safeguarding - child protection plan"
    assert b"Helen Ward" not in decision.content  # stripped, as before


def test_protect_mode_does_not_wrap_a_compliant_message_for_its_statements(
    tmp_path: Path
) -> None:
    zipped = aes_zip(256, {"notes.txt": b"NHS number 104 332 1810"}, PASSWORD, read_only=True)
    raw = _message(f"Hello Priya,\n\n{TWO_LINES}\nPassword: {PASSWORD}\n\nJo\n", zipped)
    decision = _pipeline(tmp_path, "protect").run(ENVELOPE, raw)
    assert decision.verdict.action == Action.DELIVER, decision.verdict.reasons
    assert decision.password == PASSWORD
    assert b"protected-content.zip" not in decision.content


@pytest.mark.parametrize("mode", ["enforce", "protect"])
def test_personal_data_written_into_a_statement_never_leaves(tmp_path: Path, mode: str) -> None:
    raw = _message("Hello,\nPurpose: referral for Jack Jones, NHS number 104 332 1810\nJo\n")
    decision = _pipeline(tmp_path, mode).run(ENVELOPE, raw)
    assert b"104 332 1810" not in decision.content
    assert decision.purpose is not None and "104 332 1810" not in decision.purpose
    # ... and the rest of the text is still read.
    raw = _message("Hello,\nPurpose: referral\nHis NHS number is 104 332 1810.\nJo\n")
    decision = _pipeline(tmp_path, mode).run(ENVELOPE, raw)
    assert decision.verdict.action != Action.DELIVER
