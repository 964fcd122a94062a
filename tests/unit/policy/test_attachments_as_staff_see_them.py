"""Reasons name attachments as the sender's mail program shows them.

A signature's logo (a picture inline in the HTML text) and a meeting
invitation's calendar part are not attachments the sender chose: Outlook
lists neither.  Counting them made a refusal say "Attachment 2 (a PDF
document)" for the only file attached, and call an invitation "Attachment
1 (a text file)" with advice to zip it.  And an encrypted Office document
keeps its read-only setting inside the encryption: without the password the
gateway cannot see it, which the reason says, with the ways through.
"""

from __future__ import annotations

import zipfile
from email.message import EmailMessage
from pathlib import Path

import msoffcrypto

from gateway.model import Envelope, ReasonCode
from gateway.pipeline import Pipeline
from gateway.settings import Settings

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
)
ENVELOPE = Envelope("a@council.example", ("team@recipient.example",))
# A 1x1 PNG: the signature's logo.
LOGO = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
CSV = b"name,nhs_number\r\nAmelia Hartley,943 476 5919\r\n"


def _pipeline(tmp_path: Path) -> Pipeline:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    return Pipeline(Settings.model_validate({"config_dir": tmp_path,
                                             "policy": {"mode": "enforce"}}))


def _texts(pipeline: Pipeline, raw: bytes) -> dict[ReasonCode, str]:
    verdict = pipeline.run(ENVELOPE, raw).verdict
    return {r.code: r.text for r in verdict.reasons}


def _fixes(pipeline: Pipeline, raw: bytes) -> dict[ReasonCode, str]:
    verdict = pipeline.run(ENVELOPE, raw).verdict
    return {r.code: r.fix for r in verdict.reasons}


def _with_logo() -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"] = "a@council.example", "team@recipient.example"
    msg["Subject"] = "Private and Confidential: list"
    msg.set_content("Please find the list attached.\n\nKind regards\nA Officer\n")
    msg.add_alternative('<p>Please find the list attached.</p><img src="cid:logo1@x">',
                        subtype="html")
    html = msg.get_payload()[1]
    html.add_related(LOGO, "image", "png", cid="<logo1@x>", disposition="inline",
                     filename="image001.png")
    msg.add_attachment(CSV, maintype="text", subtype="csv", filename="list.csv")
    return msg


def test_an_inline_logo_is_not_counted_as_an_attachment(tmp_path: Path) -> None:
    texts = _texts(_pipeline(tmp_path), _with_logo().as_bytes())
    reason = texts[ReasonCode.UNENCRYPTED_ATTACHMENT]
    assert reason.startswith("Attachment 1 (a spreadsheet (CSV)) is not encrypted"), reason
    assert "Attachment 2" not in reason


def test_a_meeting_invitation_is_named_as_one(tmp_path: Path) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"] = "a@council.example", "team@recipient.example"
    msg["Subject"] = "Private and Confidential: strategy meeting"
    msg.set_content("Strategy meeting about the child below.\n")
    invitation = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1@council.example\r\n"
        "DTSTART:20261201T100000Z\r\nSUMMARY:Strategy meeting\r\n"
        "DESCRIPTION:Amelia Hartley NHS number 943 476 5919 is subject to a child "
        "protection plan\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    msg.add_attachment(invitation.encode(), maintype="text", subtype="calendar",
                       params={"method": "REQUEST"})
    texts = _texts(_pipeline(tmp_path), msg.as_bytes())
    reason = texts[ReasonCode.UNENCRYPTED_ATTACHMENT]
    assert reason.startswith("The meeting invitation is not encrypted"), reason
    assert "text file" not in reason
    # Advice staff can follow with an invitation: not "zip the attachment".
    fix = _fixes(_pipeline(tmp_path), msg.as_bytes())[ReasonCode.UNENCRYPTED_ATTACHMENT]
    assert fix.startswith("Take the personal details out of the meeting invitation"), fix
    assert "Save the attachment" not in fix
    # With a spreadsheet beside it, both pieces of advice.
    msg.add_attachment(CSV, maintype="text", subtype="csv", filename="list.csv")
    fix = _fixes(_pipeline(tmp_path), msg.as_bytes())[ReasonCode.UNENCRYPTED_ATTACHMENT]
    assert fix.startswith("Save the attachment read-only") and "meeting invitation" in fix


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)


def _encrypted_docx(tmp_path: Path) -> bytes:
    """A Word document, read-only, with the AES (agile) encryption Office uses."""
    paragraph = "<w:p><w:r><w:t>Meeting notes for the case conference.</w:t></w:r></w:p>"
    document = (
        '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.'
        'openxmlformats.org/wordprocessingml/2006/main"><w:body>'
        + paragraph * 200 + "</w:body></w:document>"
    )
    plain = tmp_path / "plain.docx"
    # Stored, not deflated: msoffcrypto-tool will not encrypt a very small package.
    with zipfile.ZipFile(plain, "w", zipfile.ZIP_STORED) as package:
        package.writestr("[Content_Types].xml", _CONTENT_TYPES)
        package.writestr("_rels/.rels", _RELS)
        package.writestr("word/document.xml", document)
    encrypted = tmp_path / "notes.docx"
    with plain.open("rb") as source, encrypted.open("wb") as target:
        office = msoffcrypto.OfficeFile(source)
        office.encrypt("Tq7#vLm9-Rx2pWz", target)
    return encrypted.read_bytes()


def test_an_encrypted_office_document_is_not_said_to_be_editable(tmp_path: Path) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"] = "a@council.example", "team@recipient.example"
    msg["Subject"] = "Private and Confidential: notes"
    msg.set_content("The attached file is encrypted; I will phone you with the password.\n")
    msg.add_attachment(_encrypted_docx(tmp_path), maintype="application",
                       subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                       filename="notes.docx")
    texts = _texts(_pipeline(tmp_path), msg.as_bytes())
    reason = texts[ReasonCode.NOT_READ_ONLY]
    assert "cannot check that it is read-only without the password" in reason, reason
    assert reason.startswith("Attachment 1 (a Word document) is encrypted")  # not "a file"
    assert "not saved read-only" not in reason
