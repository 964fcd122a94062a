"""An encrypted attachment whose password is in the same email without the
word "password" ("Key: ...", "Code: ...", alone on a line, in the subject,
in a header, in a second attachment).  The guidance: the password never
travels in the same email.  Under a label on a line of the text, it is
taken out and held like "Password: ..."; anywhere it cannot be taken out,
the message is refused (password_in_message), never delivered and audited
as a compliant encrypted share."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from fixtures_content import READ_ONLY_PERMISSIONS, aes_zip, encrypted_pdf

from gateway.model import Action, Envelope, ReasonCode
from gateway.pipeline import Pipeline
from gateway.settings import Settings

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@children.example,Duty Team,Duty Social Worker,,Children's Services,01632 960003,\n"
)
ENVELOPE = Envelope("alice@council.example", ("duty.team@children.example",))
REAL = "Kettle-Harbour-93"
NOTES = b"Jack Jones NHS number 485 777 3457 date of birth 14/03/2015"


def _texts(content: bytes | None) -> str:
    """Every text part of the delivered message, decoded."""
    assert content is not None
    parsed = message_from_bytes(content, policy=default)
    return "".join(str(part.get_content()) for part in parsed.walk()
                   if part.get_content_maintype() == "text")


def _pipeline(tmp_path: Path, mode: str = "enforce") -> Pipeline:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    return Pipeline(Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": mode}}))


def _message(
    line: str,
    *,
    subject: str = "Private and Confidential: report",
    headers: dict[str, str] | None = None,
    note: str | None = None,
    pdf: bool = False,
) -> bytes:
    message = EmailMessage()
    message["From"] = "alice@council.example"
    message["To"] = "duty.team@children.example"
    message["Subject"] = subject
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(f"Report attached.\nPurpose: referral\n\n{line}\n\nRegards\nAlice\n")
    if pdf:
        document = encrypted_pdf(NOTES.decode(), "AES-256", user_password=REAL,
                                 permissions=READ_ONLY_PERMISSIONS)
        message.add_attachment(document, maintype="application", subtype="pdf",
                               filename="report.pdf")
    else:
        zipped = aes_zip(256, {"report.txt": NOTES}, REAL, read_only=True)
        message.add_attachment(zipped, maintype="application", subtype="zip",
                               filename="report.zip")
    if note is not None:
        message.add_attachment(note.encode(), maintype="text", subtype="plain",
                               filename="pw.txt")
    return message.as_bytes().replace(b"\n", b"\r\n")


@pytest.mark.parametrize("mode", ["enforce", "protect"])
@pytest.mark.parametrize(
    ("line", "pdf"),
    [
        (f"Key: {REAL}", False),
        (f"Code to open it: {REAL}", False),
        (f"PASSWORD {REAL}", False),
        (f"Passwort: {REAL}", False),
        (f"Code: {REAL}", True),
    ],
)
def test_a_labelled_password_is_taken_out_and_held(
    tmp_path: Path, mode: str, line: str, pdf: bool
) -> None:
    decision = _pipeline(tmp_path, mode).run(ENVELOPE, _message(line, pdf=pdf))
    assert decision.verdict.action == Action.DELIVER, decision.verdict.reasons
    assert decision.password == REAL
    texts = _texts(decision.content)
    assert REAL not in texts and "password removed by the mail gateway" in texts


@pytest.mark.parametrize(
    ("kwargs", "place"),
    [
        ({"line": REAL}, "the message text"),
        ({"line": f"Open it with {REAL} as usual."}, "the message text"),
        ({"line": "", "subject": f"Private and Confidential: report ({REAL})"},
         "the subject line"),
        ({"line": "", "headers": {"X-Password": REAL}}, "a header of the message"),
        ({"line": "", "note": f"{REAL}\n"}, "another attachment"),
        ({"line": f"Password: {REAL}", "note": f"{REAL}\n"}, "another attachment"),
    ],
    ids=["alone", "mid-sentence", "subject", "x-header", "second-attachment",
         "stated-and-in-second-attachment"],
)
@pytest.mark.parametrize("mode", ["enforce", "protect"])
def test_a_password_that_cannot_be_taken_out_is_refused(
    tmp_path: Path, mode: str, kwargs: dict[str, object], place: str
) -> None:
    decision = _pipeline(tmp_path, mode).run(ENVELOPE, _message(**kwargs))  # type: ignore[arg-type]
    assert decision.verdict.action == Action.REJECT
    codes = [r.code for r in decision.verdict.reasons]
    assert codes == [ReasonCode.PASSWORD_IN_MESSAGE], decision.verdict.reasons
    (reason,) = decision.verdict.reasons
    assert place in reason.text
    assert REAL not in reason.text + reason.fix


def test_an_unrelated_code_beside_a_telephoned_password_is_delivered(tmp_path: Path) -> None:
    # Nothing in the message opens the attachment: as before, the encrypted
    # share goes, and a "Code:" that opens nothing is not a mistyped password.
    line = "Case code: ABCD-1234. I will ring you with the password."
    decision = _pipeline(tmp_path).run(ENVELOPE, _message(line))
    assert decision.verdict.action == Action.DELIVER, decision.verdict.reasons
    assert decision.password is None


def test_a_mistyped_stated_password_is_still_refused(tmp_path: Path) -> None:
    decision = _pipeline(tmp_path).run(ENVELOPE, _message("Password: Kettle-Harbour-39"))
    assert decision.verdict.action == Action.REJECT
    (reason,) = decision.verdict.reasons
    assert reason.code == ReasonCode.PASSWORD_IN_MESSAGE
    assert "does not open attachment 1" in reason.text


@pytest.mark.parametrize(
    "html",
    [
        f"<p>Report attached.</p><p>Key: <b>{REAL}</b></p>",
        f"<table><tr><td>PASSWORD</td><td>{REAL}</td></tr></table>",
        f"<p>Code to open it:<br>{REAL}</p>",
    ],
    ids=["bold", "table-cells", "line-break"],
)
def test_a_labelled_password_in_html_is_taken_out_of_what_the_reader_sees(
    tmp_path: Path, html: str
) -> None:
    message = EmailMessage()
    message["From"] = "alice@council.example"
    message["To"] = "duty.team@children.example"
    message["Subject"] = "Private and Confidential: report"
    message.set_content(f"<p>Purpose: referral</p>{html}", subtype="html")
    zipped = aes_zip(256, {"report.txt": NOTES}, REAL, read_only=True)
    message.add_attachment(zipped, maintype="application", subtype="zip", filename="report.zip")
    raw = message.as_bytes().replace(b"\n", b"\r\n")
    decision = _pipeline(tmp_path).run(ENVELOPE, raw)
    assert decision.verdict.action == Action.DELIVER, decision.verdict.reasons
    assert decision.password == REAL
    assert REAL not in _texts(decision.content)
