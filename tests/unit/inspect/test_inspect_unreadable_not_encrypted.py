"""A file the gateway cannot read is not called encrypted: its attachment
report says `none` and a Problem says why; only real encryption of an
unknown kind is `unknown`.  The policy's words follow."""

from __future__ import annotations

import gzip
import io
import os
import tarfile

import pytest
from fixtures_content import NHS, mail, pdf_with_text

from gateway.inspect import inspect_message
from gateway.model import (
    AttachmentReport,
    Encryption,
    Envelope,
    Inspection,
    ReasonCode,
)
from gateway.policy import decide
from gateway.settings import Settings

SUBJECT = "Private and Confidential: referral"


def inspect_attachment(data: bytes) -> tuple[AttachmentReport, Inspection]:
    inspection = inspect_message(
        mail("See attached.", attachments=[("file.bin", data, "application/octet-stream")])
    )
    (report,) = inspection.attachments
    return report, inspection


def uninspectable_text(inspection: Inspection) -> str:
    verdict = decide(
        Envelope(mail_from="sender@council.example.gov.uk", rcpt_tos=("a@b.example",)),
        inspection,
        (),
        Settings(),
    )
    (reason,) = [r for r in verdict.reasons if r.code is ReasonCode.UNINSPECTABLE_CONTENT]
    return reason.text


def _tar(data: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        info = tarfile.TarInfo("caseload.csv")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"7z\xbc\xaf\x27\x1c\x00\x04" + os.urandom(200), "unsupported_format",
         "is in a format the gateway cannot read"),
        (b"Rar!\x1a\x07\x01\x00" + os.urandom(200), "unsupported_format",
         "is in a format the gateway cannot read"),
        (pdf_with_text(f"NHS {NHS}")[:60], "malformed", "is damaged"),
        (b"PK\x03\x04" + b"\x00" * 40, "malformed_archive", "is damaged"),
        (os.urandom(2048), "unsupported_format", "is in a format the gateway cannot read"),
        (gzip.compress(b"x" * 100)[:-12] + os.urandom(4), "malformed", "is damaged"),
    ],
    ids=["7z", "rar", "truncated-pdf", "broken-zip", "random", "broken-gzip"],
)
def test_an_unreadable_file_is_not_called_encrypted(data: bytes, code: str, words: str) -> None:
    report, inspection = inspect_attachment(data)
    assert report.encryption is Encryption.NONE
    assert any(code in p.code for p in inspection.problems)
    text = uninspectable_text(inspection)
    assert words in text
    assert "encryption" not in text


def test_real_encryption_of_an_unknown_kind_stays_unknown() -> None:
    report, inspection = inspect_attachment(
        b"-----BEGIN PGP MESSAGE-----\nhQEMA\n-----END PGP MESSAGE-----\n"
    )
    assert report.encryption is Encryption.UNKNOWN
    # Attached as a file (not the mail program's PGP/MIME): named for what it is.
    assert ("attachment 1 (a PGP-encrypted file) cannot be opened by the gateway"
            in uninspectable_text(inspection))


def test_a_gzip_is_called_a_gzip_file() -> None:
    report, inspection = inspect_attachment(gzip.compress(b"x" * 100) + b"trailing junk")
    assert report.content_type == "application/gzip"
    text = uninspectable_text(inspection)
    assert "(a gzip file)" in text
    assert "zip archive" not in text


def test_a_tar_is_read_and_reported_as_a_tar() -> None:
    report, inspection = inspect_attachment(_tar(f"Alex Carter,{NHS}\n".encode()))
    assert report.content_type == "application/x-tar"
    assert report.encryption is Encryption.NONE
    assert any(NHS in s.text for s in inspection.segments)
    assert inspection.problems == ()
