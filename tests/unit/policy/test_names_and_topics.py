"""Personal data where mail programs and staff put it besides the subject
and the text: Outlook's Thread-Topic (the conversation's first subject),
Keywords and Comments; and the name of the person a message is about,
written again without context in the subject or a file name."""

from __future__ import annotations

import io
import zipfile
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from fixtures_content import aes_zip

from gateway.model import Action, Envelope, ReasonCode
from gateway.pipeline import REDACTED, Pipeline
from gateway.settings import Settings

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
)
NHS = "104 332 1810"  # valid check digit, synthetic
CHILD = "William Jennings"
ENVELOPE = Envelope("jo@council.example", ("team@recipient.example",))
ABOUT_THE_CHILD = f"Child: {CHILD}, date of birth 18/03/2014, NHS number {NHS}."


def _pipeline(tmp_path: Path, mode: str = "enforce") -> Pipeline:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    return Pipeline(Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": mode}}))


def _message(subject: str, body: str, headers: dict[str, str] | None = None,
             attachment: tuple[str, bytes] | None = None, subtype: str = "csv") -> bytes:
    message = EmailMessage()
    message["From"] = "jo@council.example"
    message["To"] = "team@recipient.example"
    message["Subject"] = subject
    message["Message-ID"] = "<t1@council.example>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if attachment is not None:
        name, data = attachment
        maintype = "application" if subtype == "zip" else "text"
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes().replace(b"\n", b"\r\n")


@pytest.mark.parametrize("header", ["Thread-Topic", "Keywords", "Comments"])
def test_a_topic_header_with_personal_data_is_refused(tmp_path: Path, header: str) -> None:
    raw = _message("Private and Confidential: meeting notes",
                   "Hello,\n\nI will phone you with the password.\n\nJo\n",
                   {header: f"{CHILD} NHS {NHS} DOB 18/03/2014"})
    decision = _pipeline(tmp_path).run(ENVELOPE, raw)
    assert decision.verdict.action == Action.REJECT
    (reason,) = [r for r in decision.verdict.reasons
                 if r.code == ReasonCode.PERSONAL_DATA_IN_BODY]
    assert f"is in the {header} header, which is not encrypted" in reason.text
    assert NHS not in reason.text and CHILD not in reason.text
    # The subject itself held nothing: it is kept for the record and the notice.
    assert decision.subject == "Private and Confidential: meeting notes"
    assert not decision.subject_has_personal_data


def test_a_clean_topic_header_changes_nothing(tmp_path: Path) -> None:
    raw = _message("Lunch", "See you at one.", {"Thread-Topic": "Lunch"})
    decision = _pipeline(tmp_path).run(ENVELOPE, raw)
    assert decision.verdict.action == Action.DELIVER
    assert decision.content == raw


def test_protect_mode_takes_the_topic_header_out(tmp_path: Path) -> None:
    raw = _message("Private and Confidential: meeting notes", "Hello, see you Monday.",
                   {"Thread-Topic": f"{CHILD} NHS {NHS}", "Keywords": "minutes"})
    decision = _pipeline(tmp_path, "protect").run(ENVELOPE, raw)
    assert decision.verdict.action != Action.REJECT
    delivered = message_from_bytes(decision.content, policy=default)
    assert delivered["Thread-Topic"] is None
    assert delivered["Keywords"] == "minutes"  # nothing found in it
    assert NHS.encode() not in decision.content and CHILD.encode() not in decision.content
    # The subject held no personal data: protect mode keeps the sender's words.
    assert "meeting notes" in str(delivered["Subject"])


def test_the_childs_name_in_the_subject_is_theirs(tmp_path: Path) -> None:
    raw = _message(f"Private and Confidential: {CHILD} - s47 referral",
                   f"Hello,\n\n{ABOUT_THE_CHILD}\n\nJo\n")
    decision = _pipeline(tmp_path).run(ENVELOPE, raw)
    assert decision.verdict.action == Action.REJECT
    (reason,) = [r for r in decision.verdict.reasons
                 if r.code == ReasonCode.PERSONAL_DATA_IN_BODY]
    assert "the subject line and the message text" in reason.text
    # The audit record and the sender's notice quote the subject: not the name.
    assert decision.subject_has_personal_data
    assert CHILD not in decision.subject
    assert decision.subject == f"Private and Confidential: {REDACTED} - s47 referral"


def test_protect_mode_does_not_let_the_name_travel_in_the_subject(tmp_path: Path) -> None:
    raw = _message(f"Private and Confidential: {CHILD} - s47 referral",
                   f"Hello,\n\n{ABOUT_THE_CHILD}\n")
    decision = _pipeline(tmp_path, "protect").run(ENVELOPE, raw)
    assert decision.verdict.action != Action.REJECT
    delivered = message_from_bytes(decision.content, policy=default)
    assert CHILD not in str(delivered["Subject"])
    assert CHILD.encode() not in decision.content


def test_a_file_name_showing_the_name_is_neutral_in_the_protected_zip(tmp_path: Path) -> None:
    raw = _message("Private and Confidential: referral", f"Hello,\n\n{ABOUT_THE_CHILD}\n",
                   attachment=(f"{CHILD} referral.csv", b"school,year\nExample Primary,4\n"))
    decision = _pipeline(tmp_path, "protect").run(ENVELOPE, raw)
    assert decision.verdict.action != Action.REJECT
    assert all(CHILD not in (a.filename or "") for a in decision.attachments)
    delivered = message_from_bytes(decision.content, policy=default)
    (zipped,) = [p for p in delivered.iter_attachments() if p.get_content_type()
                 == "application/zip"]
    names = zipfile.ZipFile(io.BytesIO(zipped.get_content())).namelist()  # readable without it
    assert names and not any("William" in n or "Jennings" in n for n in names)
    assert CHILD.encode() not in decision.content


def test_file_names_in_the_record_do_not_keep_the_name(tmp_path: Path) -> None:
    raw = _message("Private and Confidential: referral", f"Hello,\n\n{ABOUT_THE_CHILD}\n",
                   attachment=(f"{CHILD.replace(' ', '_')}_plan.csv", b"a,b\n1,2\n"))
    decision = _pipeline(tmp_path).run(ENVELOPE, raw)
    (report,) = decision.attachments
    assert report.filename == f"{REDACTED}_plan.csv"


def test_a_name_is_not_echoed_without_the_text_naming_a_person(tmp_path: Path) -> None:
    raw = _message(f"{CHILD} referral", "See you at one.")
    decision = _pipeline(tmp_path).run(ENVELOPE, raw)
    assert decision.verdict.action == Action.DELIVER
    assert decision.subject == f"{CHILD} referral"


def test_a_first_name_alone_is_not_echoed(tmp_path: Path) -> None:
    """One word ("William") is also an ordinary word or a colleague's name:
    only names of two words or more are looked for elsewhere."""
    raw = _message("Private and Confidential: William will call",
                   f"Hello,\n\n{ABOUT_THE_CHILD}\n")
    decision = _pipeline(tmp_path).run(ENVELOPE, raw)
    assert not decision.subject_has_personal_data
    assert decision.subject == "Private and Confidential: William will call"


def test_protect_mode_wraps_a_senders_zip_whose_member_names_show_data(tmp_path: Path) -> None:
    """An AES zip's member names are not encrypted: kept as the sender sent
    it (renamed or not), the child's name and date of birth travel in clear."""
    inner = f"{CHILD} - child protection plan - DOB 18-03-2014.csv"
    sent = aes_zip(256, {inner: b"plan,review\nyes,2026-12-01\n"}, "Tulip-Harbour-73",
                   read_only=True)
    raw = _message("Private and Confidential: plan", f"Hello,\n\n{ABOUT_THE_CHILD}\n",
                   attachment=("plan.zip", sent), subtype="zip")
    decision = _pipeline(tmp_path, "protect").run(ENVELOPE, raw)
    assert decision.verdict.action != Action.REJECT
    assert CHILD.encode() not in decision.content and b"18-03-2014" not in decision.content
    delivered = message_from_bytes(decision.content, policy=default)
    (zipped,) = list(delivered.iter_attachments())  # the sender's zip went inside
    names = zipfile.ZipFile(io.BytesIO(zipped.get_content())).namelist()
    assert len(names) == 2 and names[1].endswith(".zip")  # message.txt, the sender's zip


def test_protect_mode_keeps_a_senders_zip_that_shows_nothing(tmp_path: Path) -> None:
    sent = aes_zip(256, {"plan.csv": b"plan,review\nyes,2026-12-01\n"}, "Tulip-Harbour-73",
                   read_only=True)
    raw = _message("Private and Confidential: plan", f"Hello,\n\n{ABOUT_THE_CHILD}\n",
                   attachment=("plan.zip", sent), subtype="zip")
    decision = _pipeline(tmp_path, "protect").run(ENVELOPE, raw)
    delivered = message_from_bytes(decision.content, policy=default)
    kept = [p for p in delivered.iter_attachments() if p.get_filename() == "plan.zip"]
    assert len(kept) == 1 and kept[0].get_content() == sent


def test_an_attached_message_is_not_named_after_its_subject_in_the_zip(tmp_path: Path) -> None:
    """A forwarded message attached as a file is named after its subject
    ("RE William Jennings NHS ....eml"): a name anyone can read in the zip."""
    inner = EmailMessage()
    inner["From"] = "gp@practice.example"
    inner["Subject"] = f"RE {CHILD}"
    inner.set_content(ABOUT_THE_CHILD)
    outer = EmailMessage()
    outer["From"] = "jo@council.example"
    outer["To"] = "team@recipient.example"
    outer["Subject"] = "Private and Confidential: forwarded"
    outer.set_content("See the attached message.")
    outer.add_attachment(inner, filename=f"RE {CHILD} NHS {NHS.replace(' ', '')}.eml")
    raw = outer.as_bytes().replace(b"\n", b"\r\n")
    decision = _pipeline(tmp_path, "protect").run(ENVELOPE, raw)
    assert decision.verdict.action != Action.REJECT
    delivered = message_from_bytes(decision.content, policy=default)
    (zipped,) = list(delivered.iter_attachments())
    names = zipfile.ZipFile(io.BytesIO(zipped.get_content())).namelist()
    assert names == ["message.txt", "message-2.eml"]
