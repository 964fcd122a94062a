"""A password written with zero-width characters between its own, in a
place that travels in clear (the subject, a file name, a sharing field),
is refused as password_in_message and kept out of the audit record, as
the same password written plainly is; in the body it is held and taken
out of the text that goes."""

from __future__ import annotations

import email
import unicodedata
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from fixtures_content import aes_zip

from gateway.model import Action, Envelope, ReasonCode
from gateway.pipeline import REDACTED, Decision, Pipeline
from gateway.settings import Settings

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@children.example,Duty Team,Duty Social Worker,,Children's Services,01632 960003,\n"
)
ENVELOPE = Envelope("alice@council.example", ("duty.team@children.example",))
PASSWORD = "Vq7mZp2kL9xw"
NOTES = b"Referral notes, NHS number 943 476 5919."
INVISIBLE = {"zero-width-space": "\u200b", "soft-hyphen": "\u00ad", "byte-order-mark": "\ufeff",
             "word-joiner": "\u2060"}


def _visible(text: str) -> str:
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def _pipeline(tmp_path: Path) -> Pipeline:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    settings = Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": "enforce"}})
    return Pipeline(settings)


def _message(
    *, subject: str = "", filename: str = "referral.zip", body: str = "Referral attached.",
    headers: dict[str, str] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = "alice@council.example"
    message["To"] = "duty.team@children.example"
    message["Subject"] = f"Private and Confidential: referral{subject}"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(f"{body}\n\nRegards\nAlice\n")
    zipped = aes_zip(256, {"referral.txt": NOTES}, PASSWORD, read_only=True)
    message.add_attachment(zipped, maintype="application", subtype="zip", filename=filename)
    return message.as_bytes().replace(b"\n", b"\r\n")


def _audit_fields(decision: Decision) -> str:
    """Everything of the message the audit record keeps."""
    return repr((decision.subject, decision.message_id, decision.purpose, decision.consent,
                 decision.authorised_by, [a.filename for a in decision.attachments],
                 [(r.text, r.fix) for r in decision.verdict.reasons]))


@pytest.mark.parametrize("mark", INVISIBLE.values(), ids=INVISIBLE.keys())
@pytest.mark.parametrize("place", ["subject", "filename", "purpose"])
def test_in_a_place_that_travels_in_clear_it_is_refused_and_not_recorded(
    tmp_path: Path, mark: str, place: str
) -> None:
    written = mark.join(PASSWORD)
    if place == "subject":
        raw = _message(subject=f" - password {written}")
    elif place == "filename":
        raw = _message(filename=f"referral - password {written}.zip")
    else:
        raw = _message(headers={"X-Sharing-Purpose": f"Referral; the password is {written}"})
    decision = _pipeline(tmp_path).run(ENVELOPE, raw)
    assert decision.verdict.action == Action.REJECT
    assert [r.code for r in decision.verdict.reasons] == [ReasonCode.PASSWORD_IN_MESSAGE]
    assert decision.password_state == "in_message"
    kept = _audit_fields(decision)
    assert PASSWORD not in _visible(kept)
    assert REDACTED in kept


@pytest.mark.parametrize("mark", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_in_the_body_it_is_held_and_taken_out(tmp_path: Path, mark: str) -> None:
    decision = _pipeline(tmp_path).run(
        ENVELOPE, _message(body=f"Referral attached. Password: {mark.join(PASSWORD)}"))
    assert decision.verdict.action == Action.DELIVER, decision.verdict.reasons
    assert decision.password == PASSWORD and decision.password_state == "held"
    assert "password held for separate delivery" in decision.method
    delivered = email.message_from_bytes(decision.content, policy=default)
    for part in delivered.walk():
        if part.get_content_maintype() == "text":
            assert PASSWORD not in _visible(part.get_content())
