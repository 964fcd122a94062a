"""File names written with underscores for spaces, as scanners, case
systems and staff name files ("William_Jennings_4857773457.zip").

An underscore is a word character: before, no pattern saw a number's or a
name's edge beside one, so a file name that read as a child's name and NHS
number travelled in clear (the attachment's own name, or a member name in an
AES zip, which the zip does not encrypt), and the audit record kept the
number.  A black-box tester found both."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from fixtures_content import aes_zip
from stdnum.gb import nhs

from gateway.model import Action, Envelope, ReasonCode
from gateway.pipeline import REDACTED, Pipeline
from gateway.settings import Settings

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
)
ENVELOPE = Envelope("jo@council.example", ("team@recipient.example",))
CHILD = ("William", "Jennings")
# Synthetic, in the range issued to patients in England, valid check digit.
NHS = next(n for n in (f"48577734{i:02d}" for i in range(100)) if nhs.is_valid(n))
PASSWORD = "Tulip-Harbour-73"


def _pipeline(tmp_path: Path) -> Pipeline:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    return Pipeline(Settings.model_validate({"config_dir": tmp_path}))


def _message(zip_name: str, zipped: bytes) -> bytes:
    message = EmailMessage()
    message["From"] = "jo@council.example"
    message["To"] = "team@recipient.example"
    message["Subject"] = "Private and Confidential: the plan"
    message["Message-ID"] = "<u1@council.example>"
    message.set_content("Hello,\n\nThe plan is attached. I will phone you with the password.\n")
    message.add_attachment(zipped, maintype="application", subtype="zip", filename=zip_name)
    return message.as_bytes().replace(b"\n", b"\r\n")


def _plan(member: str = "plan.csv") -> bytes:
    return aes_zip(256, {member: b"plan,review\nyes,2026-12-01\n"}, PASSWORD, read_only=True)


def test_the_number_is_synthetic_and_valid() -> None:
    assert nhs.is_valid(NHS) and NHS[0] == "4"


def test_an_attachment_named_with_underscores_is_refused_and_kept_redacted(
    tmp_path: Path,
) -> None:
    name = f"{CHILD[0]}_{CHILD[1]}_{NHS}.zip"
    decision = _pipeline(tmp_path).run(ENVELOPE, _message(name, _plan()))
    assert decision.verdict.action == Action.REJECT
    assert ReasonCode.UNENCRYPTED_ATTACHMENT in [r.code for r in decision.verdict.reasons]
    (recorded,) = [a.filename for a in decision.attachments if a.filename]
    # What the audit record keeps of the name: neither the child nor the number.
    assert NHS not in recorded and CHILD[1] not in recorded
    assert recorded == f"{REDACTED}_{REDACTED}.zip"


def test_a_member_named_with_underscores_in_an_aes_zip_is_refused(tmp_path: Path) -> None:
    """The member names of an AES zip are readable without its password."""
    zipped = _plan(f"{CHILD[0]}_{CHILD[1]}_{NHS}.csv")
    decision = _pipeline(tmp_path).run(ENVELOPE, _message("plan.zip", zipped))
    assert decision.verdict.action == Action.REJECT
    reasons = decision.verdict.reasons
    assert [r.code for r in reasons] == [ReasonCode.UNENCRYPTED_ATTACHMENT]
    assert "file names" in reasons[0].text
    assert NHS not in " ".join(r.text for r in reasons)


def test_ordinary_file_names_with_underscores_still_pass(tmp_path: Path) -> None:
    for name in ("minutes_2026_11_27.zip", "Budget_Report_Final_v2.zip",
                 "Team_Meeting_Agenda_Q3.zip", "scan_0001234567.zip"):
        decision = _pipeline(tmp_path).run(ENVELOPE, _message(name, _plan()))
        assert decision.verdict.action == Action.DELIVER, (name, decision.verdict.reasons)
        assert [a.filename for a in decision.attachments if a.filename] == [name]
