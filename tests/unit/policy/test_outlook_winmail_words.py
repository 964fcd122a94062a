"""Reasons about a winmail.dat (Outlook's TNEF) name what the sender sees.

Outlook shows neither the sender nor the recipient a winmail.dat: it shows
the message text and the files attached.  So a reason names a file inside
by its position among the attachments and its kind, "sent by Outlook
inside winmail.dat", and winmail.dat itself (the message as Outlook encodes
it) is no attachment: not counted, not "an unencrypted attachment" of a
marked message.
"""

from __future__ import annotations

from pathlib import Path

from fixtures_content import aes_zip, mail, tnef

from gateway.model import Envelope, ReasonCode
from gateway.pipeline import Pipeline
from gateway.settings import Settings

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
)
ENVELOPE = Envelope("a@council.example", ("team@recipient.example",))
MARKED = "Private and Confidential: referral"


def reasons(tmp_path: Path, winmail: bytes, subject: str = MARKED) -> dict[ReasonCode, str]:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    pipeline = Pipeline(Settings.model_validate({"config_dir": tmp_path,
                                                 "policy": {"mode": "enforce"}}))
    raw = mail("Please see the attached.", subject=subject,
               attachments=[("winmail.dat", winmail, "application/ms-tnef")])
    return {r.code: r.text for r in pipeline.run(ENVELOPE, raw).verdict.reasons}


def test_a_file_inside_is_named_by_position_and_kind(tmp_path: Path) -> None:
    editable = aes_zip(256, {"r.txt": b"Referral."}, read_only=False)
    texts = reasons(tmp_path, tnef("", {"Jack Jones referral.zip": editable}))
    assert set(texts) == {ReasonCode.NOT_READ_ONLY}
    text = texts[ReasonCode.NOT_READ_ONLY]
    assert text.startswith("Attachment 1 (a zip archive, sent by Outlook inside winmail.dat)")
    assert "Jack" not in text


def test_winmail_dat_is_not_counted_among_the_attachments(tmp_path: Path) -> None:
    editable = aes_zip(256, {"r.txt": b"Referral."}, read_only=False)
    texts = reasons(tmp_path, tnef("", {"a.zip": editable, "b.zip": editable}))
    assert "Attachment 1 (a zip archive, sent by Outlook inside winmail.dat) and " \
           "attachment 2 (a zip archive, sent by Outlook inside winmail.dat) are" \
           in texts[ReasonCode.NOT_READ_ONLY]


def test_a_marked_message_with_only_its_text_in_winmail_dat(tmp_path: Path) -> None:
    """OFFICIAL-SENSITIVE content in the text, not in an attachment."""
    texts = reasons(tmp_path, tnef("Please see the attached.", {}),
                    subject="OFFICIAL-SENSITIVE: Private and Confidential: referral")
    assert ReasonCode.UNENCRYPTED_ATTACHMENT not in texts
    assert texts[ReasonCode.PERSONAL_DATA_IN_BODY].startswith("The message is marked")


def test_a_damaged_winmail_dat_is_named_for_what_it_is(tmp_path: Path) -> None:
    stream = tnef("Please see the attached.", {"rota.txt": b"Mon: Sam"})
    texts = reasons(tmp_path, stream[:-6], subject="Rota")
    assert "the copy of the message Outlook sends in winmail.dat is damaged" in \
        texts[ReasonCode.UNINSPECTABLE_CONTENT]
