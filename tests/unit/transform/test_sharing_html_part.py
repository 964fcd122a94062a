"""Purpose, consent and authoriser written only in the HTML part are recorded.

Outlook and web mail send the same letter twice (text/plain and text/html);
an add-in or a signature template may put a `Purpose:` line in the HTML
alone.  The transform strips the statements from every body part, so every
body part's statements are recorded, the first body part's first.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from transform_support import aes_zip, message, texts

from gateway.inspect import inspect_message
from gateway.model import Action, Envelope
from gateway.pipeline import Pipeline
from gateway.settings import Settings
from gateway.transform import SharingFacts, sharing_facts

NHS = "943 476 5919"  # synthetic, valid check digit
PLAIN = f"Hello,\n\nNotes for NHS number {NHS} attached.\n\nThanks, Jo\n"


def _alternative(html_lines: str, plain: str = PLAIN, subject: str = "Notes") -> bytes:
    return message(body=plain, subject=subject, html=f"<html><body><p>Hello,</p>{html_lines}"
                                    f"<p>Notes for NHS number {NHS}.</p></body></html>")


@pytest.mark.parametrize(
    ("html_lines", "expected"),
    [
        ("<p>Purpose: core group meeting</p>", SharingFacts("core group meeting", None, None)),
        ("<p><b>Purpose:</b> core group meeting</p><p>Consent: parents agreed</p>"
         "<div>Authorised by: <i>J Manager</i></div>",
         SharingFacts("core group meeting", "parents agreed", "J Manager")),
        ("<p>Purpose of sharing:&nbsp;review &amp; plan</p>",
         SharingFacts("review & plan", None, None)),
        ("<p>Hello again <b>Limits to consent:</b> GP only</p>",
         SharingFacts(None, "GP only", None)),
    ],
)
def test_statements_only_in_the_html_part_are_captured(html_lines: str,
                                                      expected: SharingFacts) -> None:
    assert sharing_facts(inspect_message(_alternative(html_lines))) == expected


def test_the_text_part_comes_first_and_the_html_part_fills_the_rest() -> None:
    plain = "Hello,\nPurpose: from the text part\n"
    raw = _alternative("<p>Purpose: from the html part</p><p>Consent: GP only</p>", plain)
    assert sharing_facts(inspect_message(raw)) == SharingFacts(
        "from the text part", "GP only", None)


def test_a_second_text_part_of_the_letter_counts_too() -> None:
    msg = EmailMessage()
    msg["From"] = "alice@council.example"
    msg["To"] = "dr.jones@nhs.example"
    msg["Subject"] = "Notes"
    msg.set_content("Hello,\n")
    msg.add_attachment(b"\x89PNG\r\n\x1a\n", maintype="image", subtype="png",
                       disposition="inline")
    msg.add_attachment("Purpose: core group meeting\nThanks\n", disposition="inline")
    raw = msg.as_bytes(policy=policy.SMTP)
    assert sharing_facts(inspect_message(raw)).purpose == "core group meeting"


def test_a_forwarded_message_shown_inline_is_not_the_senders_statement() -> None:
    inner = EmailMessage()
    inner["From"] = "someone@else.example"
    inner["Subject"] = "old"
    inner.set_content("Purpose: someone else's purpose\n")
    msg = EmailMessage()
    msg["From"] = "alice@council.example"
    msg["To"] = "dr.jones@nhs.example"
    msg["Subject"] = "Fwd"
    msg.set_content("See below.\n")
    msg.add_attachment(inner, disposition="inline")
    raw = msg.as_bytes(policy=policy.SMTP)
    assert sharing_facts(inspect_message(raw)).purpose is None


RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,nhsmail\n"
)


def test_the_pipeline_records_and_tells_the_purpose_from_the_html_part(tmp_path: Path) -> None:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    settings = Settings.model_validate({
        "config_dir": tmp_path,
        "routes": {"nhsmail": {"host": "relay.example.net", "tls": "starttls-verify"}},
    })
    # Compliant sharing: the notes in an AES zip, its password for the
    # gateway to deliver separately, the purpose written in the HTML only.
    notes = aes_zip({"notes.txt": f"NHS number {NHS}".encode()}, "Tulip-Harbour-73")
    raw = message(
        body="Hello,\n\nThe notes are attached.\n\nThanks, Jo\n",
        subject="Private and Confidential",
        html="<p>Hello,</p><p>Purpose: core group meeting</p><p>The notes are attached.</p>",
        attachments=[("notes.zip", "application/zip", notes)],
        headers=[("X-Attachment-Password", "Tulip-Harbour-73")],
    )
    decision = Pipeline(settings).run(
        Envelope("alice@council.example", ("team@recipient.example",)), raw)
    assert decision.verdict.action is Action.DELIVER
    assert decision.purpose == "core group meeting"
    parts = texts(decision.content)
    for part in ("text/plain", "text/html"):
        assert "core group meeting" in parts[part]  # the handling notice says it
        assert "not stated" not in parts[part]
    assert "Purpose:" not in parts["text/html"]
