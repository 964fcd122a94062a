"""Files inside a winmail.dat (Outlook's TNEF) are attachments of their own.

The recipient's Outlook shows each as an attachment, so each is judged as
the same file sent as a MIME part: its encryption and read-only state are
reported, the sender's password is tried on it, and an AES zip is no
longer "encrypted content hidden inside an attachment".  What cannot be
read stays a problem (fail closed): encryption nested deeper inside such a
file, or a winmail.dat inside one of them.
"""

from __future__ import annotations

from fixtures_content import NHS, PASSWORD, Entry, aes_zip, build_zip, mail, tnef

from gateway.inspect import inspect_message
from gateway.model import AttachmentReport, Encryption, Inspection, SegmentSource

RECORD = f"Referral for Amelia Hartley, NHS number {NHS}.".encode()


def outlook(files: dict[str, bytes], body: str = "Referral attached.") -> Inspection:
    raw = mail(body, subject="Private and Confidential: referral",
               attachments=[("winmail.dat", tnef("Referral attached.", files),
                             "application/ms-tnef")])
    return inspect_message(raw)


def inner(inspection: Inspection) -> list[AttachmentReport]:
    return [a for a in inspection.attachments if a.sent_in]


def test_an_aes_read_only_zip_inside_is_reported_as_one() -> None:
    inspection = outlook({"referral.zip": aes_zip(256, {"r.txt": RECORD}, read_only=True)})
    (wrapper,) = [a for a in inspection.attachments if not a.sent_in]
    (report,) = inner(inspection)
    assert report.filename == "referral.zip"
    assert report.part_path == f"{wrapper.part_path}.TNEF.1"
    assert report.sent_in == wrapper.part_path
    assert (report.encryption, report.read_only) == (Encryption.AES_256, True)
    assert inspection.problems == ()
    assert [p.path for p in inspection.unwrapped] == [report.part_path]


def test_the_password_in_the_text_opens_it() -> None:
    inspection = outlook({"referral.zip": aes_zip(256, {"r.txt": RECORD}, read_only=True)},
                         body=f"Referral attached.\nPassword: {PASSWORD}\n")
    (report,) = inner(inspection)
    assert report.password_opens
    opened = [s for s in inspection.segments if s.inside_encrypted]
    assert opened and {s.part_path for s in opened} == {report.part_path}
    assert NHS in "".join(s.text for s in opened)


def test_a_clear_file_inside_is_read_as_its_own_attachment() -> None:
    inspection = outlook({"notes.txt": RECORD})
    (report,) = inner(inspection)
    texts = [s for s in inspection.segments if s.part_path == report.part_path]
    assert all(s.source is SegmentSource.ATTACHMENT for s in texts)
    assert any(NHS in s.text for s in texts)
    assert report.encryption is Encryption.NONE


def test_encryption_deeper_inside_a_file_is_still_a_problem() -> None:
    nested = build_zip([Entry("referral.zip", aes_zip(256, {"r.txt": RECORD}))])
    inspection = outlook({"bundle.zip": nested})
    (report,) = inner(inspection)
    assert [(p.part_path, p.code) for p in inspection.problems] == [
        (report.part_path, "encrypted_content")
    ]


def test_a_winmail_dat_inside_a_file_inside_is_read_not_taken_apart() -> None:
    deeper = tnef("", {"referral.zip": aes_zip(256, {"r.txt": RECORD}, read_only=True)})
    inspection = outlook({"winmail.dat": deeper})
    assert len(inner(inspection)) == 1
    assert "encrypted_content" in {p.code for p in inspection.problems}
