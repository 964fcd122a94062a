"""A zip mixing encrypted and clear entries: the encrypted ones are judged
(cipher, read-only) as if the clear ones were not there, and the clear ones
are read as clear content.

`zip -P pw case.zip notes.txt` then `zip case.zip README.txt` (or adding a
file to an encrypted zip in Explorer or 7-Zip) leaves such a mix; one clear
README used to make the whole archive `none`, so a ZipCrypto or editable
entry beside it went out unjudged, to anyone, unmarked.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from faker import Faker
from fixtures_content import NHS, PASSWORD, Entry, aes_zip, build_zip, mail

from gateway.inspect import inspect_message
from gateway.model import AttachmentReport, Encryption, Inspection, SegmentSource

RO = 0o100444 << 16
RW = 0o100644 << 16
README = b"Open with 7-Zip or Windows 11."


def _case_notes() -> bytes:
    fake = Faker("en_GB")
    fake.seed_instance(7)
    return f"{fake.name()}, NHS number {NHS}, lives at {fake.postcode()}.".encode()


def _with_clear(archive: bytes, name: str, data: bytes, external_attr: int) -> bytes:
    """`archive` with one clear entry appended, as `zip case.zip README.txt` does."""
    buffer = io.BytesIO(archive)
    with zipfile.ZipFile(buffer, "a") as zf:
        info = zipfile.ZipInfo(name)
        info.create_system = 3
        info.external_attr = external_attr
        zf.writestr(info, data)
    return buffer.getvalue()


def _inspect(data: bytes, body: str = "The password follows by telephone.") -> tuple[
    AttachmentReport, Inspection
]:
    inspection = inspect_message(
        mail(body, attachments=[("notes.zip", data, "application/zip")])
    )
    (report,) = inspection.attachments
    return report, inspection


@pytest.mark.parametrize(
    ("data", "encryption", "read_only"),
    [
        (
            build_zip([Entry("notes.txt", b"x", password=b"pw"), Entry("README.txt", README)]),
            Encryption.ZIPCRYPTO,
            False,
        ),
        (
            build_zip([
                Entry("notes.txt", b"x", password=b"pw", external_attr=RO),
                Entry("README.txt", README, external_attr=RO),
            ]),
            Encryption.ZIPCRYPTO,
            True,
        ),
        (
            _with_clear(aes_zip(256, {"notes.txt": b"x"}), "README.txt", README, RO),
            Encryption.AES_256,
            False,
        ),
        (
            _with_clear(aes_zip(128, {"notes.txt": b"x"}, read_only=True), "README.txt", README, RW),
            Encryption.AES_128,
            True,
        ),
        (
            _with_clear(
                build_zip([Entry("notes.txt", b"x", password=b"pw", external_attr=RO)]),
                "README.txt", README, RO,
            ),
            Encryption.ZIPCRYPTO,
            True,
        ),
    ],
    ids=[
        "zipcrypto-beside-clear",
        "zipcrypto-read-only-beside-clear-read-only",
        "aes-editable-beside-clear-read-only",
        "aes-read-only-beside-clear-editable",
        "zipcrypto-then-clear-appended",
    ],
)
def test_encrypted_entries_are_judged_whatever_their_clear_siblings(
    data: bytes, encryption: Encryption, read_only: bool
) -> None:
    report, _ = _inspect(data)
    assert (report.encryption, report.read_only) == (encryption, read_only)


def test_aes_entry_beside_a_clear_readme_opens_with_the_password_and_both_are_read() -> None:
    notes = _case_notes()
    data = _with_clear(
        aes_zip(256, {"notes.txt": notes}, read_only=True), "README.txt", README, RW
    )
    report, inspection = _inspect(data, body=f"Password: {PASSWORD}\n")
    assert (report.encryption, report.read_only, report.password_opens) == (
        Encryption.AES_256, True, True
    )
    attachment = [s for s in inspection.segments if s.source is SegmentSource.ATTACHMENT]
    inside = [s.text for s in attachment if s.inside_encrypted]
    clear = [s.text for s in attachment if not s.inside_encrypted]
    assert any(NHS in text for text in inside)
    assert not any(NHS in text for text in clear)
    assert any(README.decode() in text for text in clear)


def test_personal_data_in_the_clear_entry_is_clear_content() -> None:
    notes = _case_notes()
    data = _with_clear(
        aes_zip(256, {"letter.txt": b"Dear colleague"}, read_only=True), "notes.txt", notes, RO
    )
    report, inspection = _inspect(data)
    assert report.encryption is Encryption.AES_256
    clear = [s.text for s in inspection.segments
             if s.source is SegmentSource.ATTACHMENT and not s.inside_encrypted]
    assert any(NHS in text for text in clear)


def test_a_zip_without_encrypted_entries_is_still_none() -> None:
    report, _ = _inspect(build_zip([Entry("a.txt", README, external_attr=RO)]))
    assert (report.encryption, report.read_only) == (Encryption.NONE, True)
