"""Personal data in the headers a reader sees besides the subject: the
display names of the address headers (`"<child's details>" <duty@...>`,
typed or taken from an address book), Organization, X- headers a form or
add-in writes, and a part's Content-Description.  They are read as the
subject is, named in the refusal, and taken out in protect mode; a display
name that is only a correspondent's name is not personal data."""

from __future__ import annotations

import base64
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from fixtures_content import aes_zip

from gateway.model import Action, Envelope, ReasonCode
from gateway.parse.headers import display_text, reads_as_text
from gateway.pipeline import Decision, Pipeline
from gateway.settings import Settings

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
    "jones.s@nhs.example,Jones Sarah (NHS England - X24),Nurse,,NHS England,01632 960002,\n"
)
NHS = "104 332 1810"  # valid check digit, synthetic
NI = "JG103759A"  # synthetic
CHILD = "William Jennings"
ABOUT = f"{CHILD} DOB 18/03/2014 NHS {NHS} (foster placement)"
SUBJECT = "Private and Confidential: placement update"
ENVELOPE = Envelope("jo@council.example", ("team@recipient.example",))


def _pipeline(tmp_path: Path, mode: str = "enforce") -> Pipeline:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    return Pipeline(Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": mode}}))


def _raw(*headers: str, body: str = "Hello,\n\nI will phone you this afternoon.\n\nJo\n",
         to: str = "team@recipient.example", sender: str = "jo@council.example") -> bytes:
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {SUBJECT}",
             "Message-ID: <t1@council.example>", "MIME-Version: 1.0", *headers,
             "Content-Type: text/plain; charset=utf-8", "", body]
    return "\r\n".join(lines).replace("\n\n", "\r\n\r\n").encode("utf-8")


def _reason(decision: Decision) -> str:
    (reason,) = [r for r in decision.verdict.reasons if r.code == ReasonCode.PERSONAL_DATA_IN_BODY]
    return reason.text


def _refused_naming(decision: Decision, place: str) -> None:
    assert decision.verdict.action == Action.REJECT
    text = _reason(decision)
    assert f"is in {place}, which is not encrypted" in text
    assert NHS not in text and CHILD not in text
    # The subject held nothing: the audit record keeps it as it was.
    assert decision.subject == SUBJECT
    assert not decision.subject_has_personal_data


@pytest.mark.parametrize("header", ["To", "From", "Cc", "Reply-To", "Sender"])
def test_a_display_name_with_personal_data_is_refused(tmp_path: Path, header: str) -> None:
    value = f'"{ABOUT}" <duty.team@recipient.example>'
    if header in ("To", "From"):
        raw = _raw(**{"to" if header == "To" else "sender": value})
    else:
        raw = _raw(f"{header}: {value}")
    decision = _pipeline(tmp_path).run(ENVELOPE, raw)
    _refused_naming(decision, f"the name shown beside the address in the {header} header")
    assert "name that is only the person's or team's name" in decision.verdict.reasons[0].fix


def test_an_encoded_display_name_is_read_decoded(tmp_path: Path) -> None:
    raw = _raw(to="=?utf-8?B?TkhTIDEwNCAzMzIgMTgxMA==?= <team@recipient.example>")  # "NHS 104..."
    decision = _pipeline(tmp_path).run(ENVELOPE, raw)
    _refused_naming(decision, "the name shown beside the address in the To header")


def test_a_comment_beside_an_address_is_read(tmp_path: Path) -> None:
    raw = _raw(f"Cc: team@recipient.example (NI {NI})")
    decision = _pipeline(tmp_path).run(ENVELOPE, raw)
    _refused_naming(decision, "the name shown beside the address in the Cc header")


@pytest.mark.parametrize("header", [
    f"X-Patient: NHS {NHS}",
    "X-Patient: =?utf-8?Q?NHS_104_332_1810?=",
    f"X-Child: {CHILD}, date of birth 18/03/2014",
    f"X-Note: placement for\r\n NHS {NHS}",  # folded
    f"Organization: NHS {NHS}",
    f"Content-Description: NHS {NHS}",  # a single-part message's own
])
def test_a_text_header_with_personal_data_is_refused(tmp_path: Path, header: str) -> None:
    decision = _pipeline(tmp_path).run(ENVELOPE, _raw(header))
    name = header.split(":", 1)[0]
    _refused_naming(decision, f"the {name} header")
    assert "wrote the personal data into a header" in decision.verdict.reasons[0].fix


def _with_part_header(header: str) -> bytes:
    return "\r\n".join([
        "From: jo@council.example", "To: team@recipient.example", f"Subject: {SUBJECT}",
        "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b1"', "",
        "--b1", "Content-Type: text/plain", "", "Notes attached.", "",
        "--b1", "Content-Type: text/csv", 'Content-Disposition: attachment; filename="a.csv"',
        header, "", "school,year", "Example Primary,4", "",
        "--b1--", "",
    ]).encode("ascii")


@pytest.mark.parametrize("header", [f"Content-Description: NHS {NHS}", f"X-Note: NHS {NHS}"])
def test_a_parts_header_with_personal_data_is_refused(tmp_path: Path, header: str) -> None:
    decision = _pipeline(tmp_path).run(ENVELOPE, _with_part_header(header))
    name = header.split(":", 1)[0]
    _refused_naming(decision, f"the {name} header of a part of the message")


@pytest.mark.parametrize("headers", [
    ('"Jo Bloggs" <jo@council.example>', '"Recipient Team" <team@recipient.example>', ()),
    ('"BLOGGS, Jo (Children\'s Services)" <jo@council.example>',
     '"Jones Sarah (NHS England - X24)" <jones.s@nhs.example>', ()),
    ('"jo@council.example" <jo@council.example>', "Sarah Jones <jones.s@nhs.example>", ()),
    ("Jo Bloggs <jo@council.example>", "team@recipient.example",
     ("Organization: Example Council, Town Hall, SW1A 1AA, 01632 960000",
      "X-Mailer: Microsoft Outlook 16.0", "X-Priority: 3 (Normal)",
      "X-MS-Exchange-Organization-SCL: 1043321810",
      f"X-Sharing-Purpose: safeguarding referral, NHS {NHS}")),
])
def test_ordinary_headers_are_not_personal_data(
    tmp_path: Path, headers: tuple[str, str, tuple[str, ...]]
) -> None:
    """A correspondent's name, a team's, a colleague's as NHS mail shows it
    ("Jones Sarah (NHS England - X24)", on the allow-list), an
    organisation's own contact details and the technical X- headers (and
    the sharing headers, read and removed elsewhere) are not the personal
    data of a person the message is about."""
    sender, to, extra = headers
    raw = _raw(*extra, sender=sender, to=to)
    decision = _pipeline(tmp_path).run(
        Envelope("jo@council.example", ("team@recipient.example", "jones.s@nhs.example")), raw)
    assert not [r for r in decision.verdict.reasons
                if r.code == ReasonCode.PERSONAL_DATA_IN_BODY], decision.verdict.reasons


def test_the_childs_name_as_a_display_name_is_not_an_echo(tmp_path: Path) -> None:
    """Written to the young person about themselves: the body is refused,
    but a name beside an address is the correspondent's own."""
    raw = _raw(to=f'"{CHILD}" <w.jennings@recipient.example>',
               body=f"Hello,\n\nChild: {CHILD}, date of birth 18/03/2014.\n")
    decision = _pipeline(tmp_path).run(ENVELOPE, raw)
    assert "the message text" in _reason(decision)
    assert "To header" not in _reason(decision)


def test_protect_mode_keeps_only_the_addresses(tmp_path: Path) -> None:
    raw = _raw(f"Cc: \"Recipient Team\" <team@recipient.example>, \"{ABOUT}\" "
               "<duty@recipient.example>", f"X-Patient: NHS {NHS}", "X-Mailer: Outlook",
               to=f'"{ABOUT}" <duty.team@recipient.example>')
    decision = _pipeline(tmp_path, "protect").run(ENVELOPE, raw)
    assert decision.verdict.action != Action.REJECT
    assert NHS.encode() not in decision.content and CHILD.encode() not in decision.content
    delivered = message_from_bytes(decision.content, policy=default)
    assert str(delivered["To"]) == "duty.team@recipient.example"
    assert str(delivered["Cc"]) == "team@recipient.example, duty@recipient.example"
    assert str(delivered["From"]) == "jo@council.example"
    assert delivered["X-Patient"] is None
    assert str(delivered["X-Mailer"]) == "Outlook"
    assert "placement update" in str(delivered["Subject"])


def test_protect_mode_takes_the_description_off_a_kept_attachment(tmp_path: Path) -> None:
    sent = aes_zip(256, {"plan.csv": b"plan,review\nyes,2026-12-01\n"}, "Tulip-Harbour-73",
                   read_only=True)
    raw = "\r\n".join([
        "From: jo@council.example", "To: team@recipient.example", f"Subject: {SUBJECT}",
        "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b1"', "",
        "--b1", "Content-Type: text/plain", "", "The plan is attached.", "",
        "--b1", "Content-Type: application/zip",
        'Content-Disposition: attachment; filename="plan.zip"',
        f"Content-Description: plan for NHS {NHS}", "Content-Transfer-Encoding: base64", "", "",
    ]).encode("ascii") + base64.encodebytes(sent).replace(b"\n", b"\r\n") + b"\r\n--b1--\r\n"
    decision = _pipeline(tmp_path, "protect").run(ENVELOPE, raw)
    assert decision.verdict.action != Action.REJECT
    assert NHS.encode() not in decision.content
    delivered = message_from_bytes(decision.content, policy=default)
    kept = [p for p in delivered.iter_attachments() if p.get_filename() == "plan.zip"]
    assert len(kept) == 1 and kept[0].get_content() == sent
    assert kept[0]["Content-Description"] is None


def test_monitor_mode_records_and_delivers_unchanged(tmp_path: Path) -> None:
    raw = _raw(f"X-Patient: NHS {NHS}", to=f'"{ABOUT}" <duty.team@recipient.example>')
    decision = _pipeline(tmp_path, "monitor").run(ENVELOPE, raw)
    assert decision.verdict.action == Action.DELIVER
    assert decision.content == raw
    assert "the X-Patient header" in _reason(decision)


def test_too_much_header_text_is_not_inspected(tmp_path: Path) -> None:
    notes = [f"X-Note-{n}: " + "routine placement note " * 40 for n in range(80)]
    decision = _pipeline(tmp_path).run(ENVELOPE, _raw(*notes))
    assert decision.verdict.action == Action.REJECT
    assert any(r.code == ReasonCode.UNINSPECTABLE_CONTENT for r in decision.verdict.reasons)


def test_which_headers_are_read() -> None:
    assert reads_as_text("X-Patient") and reads_as_text("Organization")
    assert reads_as_text("Content-Description")
    for technical in ("X-Mailer", "X-MS-Exchange-Organization-SCL", "X-Microsoft-Antispam",
                      "X-Originating-IP", "X-Spam-Status", "X-Virus-Scanned", "X-Google-DKIM-Signature",
                      "X-Gm-Message-State", "X-Received", "X-Apple-Base-Url", "X-MimeOLE",
                      "X-Priority", "X-Forefront-Antispam-Report", "X-Attachment-Password",
                      "X-Sharing-Purpose", "X-Authorised-By", "X-Protective-Marking"):
        assert not reads_as_text(technical), technical


def test_display_text_is_what_a_reader_sees_beside_the_addresses() -> None:
    assert display_text('"Jo Bloggs" <jo@council.example>, team@recipient.example').split() == [
        '"Jo', 'Bloggs"', ","]
    assert display_text("jo@council.example, <team@recipient.example>") == ""
    assert display_text("team@recipient.example (NHS 104 332 1810)") == "(NHS 104 332 1810)"


@pytest.mark.parametrize(("text", "names_only"), [
    ("Jo Bloggs", True),
    ("Bloggs, Jo", True),
    ("Dr Ellie-Mae O'Connor  Sam J. Smith", True),
    ("Jack Jones DOB 14/03/2015", False),
    ("Jane Jones HIV positive", False),
    ("Bloggs Jo (NHS ENGLAND - X24)", False),
    ("", False),
])
def test_a_display_name_of_names_only_needs_no_detection_pass(
    text: str, names_only: bool
) -> None:
    """What most mail's From and To show: a correspondent's name, no
    personal data, so no detection pass is spent on it; anything else in a
    display name is read."""
    from gateway.parse.headers import only_names

    assert only_names(text) is names_only
