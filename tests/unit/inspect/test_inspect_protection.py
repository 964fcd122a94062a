"""Encryption and read-only state per format: ZIP, PDF, Office, OpenDocument."""

from __future__ import annotations

import struct

import pytest
from fixtures_content import (
    NHS,
    PASSWORD,
    READ_ONLY_PERMISSIONS,
    Entry,
    aes_zip,
    build_zip,
    docx,
    encrypted_docx,
    encrypted_pdf,
    mail,
    odt,
    pdf_with_text,
    xlsx,
)
from pypdf.constants import UserAccessPermissions

from gateway.inspect import inspect_message
from gateway.inspect.office import classify_encryption_info
from gateway.model import AttachmentReport, Encryption, Inspection

RO = 0o100444 << 16
RW = 0o100644 << 16


def inspect_attachment(
    data: bytes, body: str = "See attached."
) -> tuple[AttachmentReport, Inspection]:
    inspection = inspect_message(
        mail(body, attachments=[("file.bin", data, "application/octet-stream")])
    )
    (report,) = inspection.attachments
    return report, inspection


@pytest.mark.parametrize(
    ("data", "encryption", "read_only"),
    [
        (aes_zip(128, {"a.csv": b"x"}), Encryption.AES_128, False),
        (aes_zip(192, {"a.csv": b"x"}), Encryption.AES_192, False),
        (aes_zip(256, {"a.csv": b"x", "b.csv": b"y"}), Encryption.AES_256, False),
        (aes_zip(256, {"a.csv": b"x"}, read_only=True), Encryption.AES_256, True),
        (build_zip([Entry("a.csv", b"x", password=b"pw")]), Encryption.ZIPCRYPTO, False),
        (
            # The clear sibling is read as clear content; it does not make
            # the ZipCrypto entry beside it `none` (formats tester, F7).
            build_zip([Entry("a.csv", b"x", password=b"pw"), Entry("b.csv", b"y")]),
            Encryption.ZIPCRYPTO,
            False,
        ),
        (build_zip([Entry("a.csv", b"x")]), Encryption.NONE, False),
        (
            build_zip([Entry("a.csv", external_attr=RO), Entry("b.csv", external_attr=RO)]),
            Encryption.NONE,
            True,
        ),
        (
            build_zip([Entry("a.csv", external_attr=RO), Entry("b.csv", external_attr=RW)]),
            Encryption.NONE,
            False,
        ),
        (build_zip([Entry("a.csv", external_attr=0x01, create_system=0)]), Encryption.NONE, True),
        (build_zip([Entry("a.csv", external_attr=0x20, create_system=0)]), Encryption.NONE, False),
        (
            build_zip(
                [
                    Entry("dir/", b"", external_attr=(0o40755 << 16) | 0x10),
                    Entry("dir/a.csv", external_attr=RO),
                ]
            ),
            Encryption.NONE,
            True,
        ),
    ],
    ids=[
        "aes128",
        "aes192",
        "aes256",
        "aes256-ro",
        "zipcrypto",
        "mixed-clear",
        "clear",
        "unix-ro",
        "unix-mixed-ro",
        "dos-ro",
        "dos-rw",
        "dirs-ignored",
    ],
)
def test_zip(data: bytes, encryption: Encryption, read_only: bool) -> None:
    report, _ = inspect_attachment(data)
    assert (report.content_type, report.encryption, report.read_only) == (
        "application/zip",
        encryption,
        read_only,
    )


def test_zip_mixed_ciphers_report_the_weakest() -> None:
    from gateway.inspect.protection import weakest

    assert weakest([Encryption.AES_256, Encryption.ZIPCRYPTO]) is Encryption.ZIPCRYPTO
    assert weakest([Encryption.AES_256, Encryption.AES_128]) is Encryption.AES_128
    assert weakest([Encryption.AES_256, Encryption.NONE]) is Encryption.NONE
    assert weakest([Encryption.AES_256, Encryption.UNKNOWN]) is Encryption.UNKNOWN


@pytest.mark.parametrize(
    ("algorithm", "encryption"),
    [
        ("RC4-40", Encryption.RC4),
        ("RC4-128", Encryption.RC4),
        ("AES-128", Encryption.AES_128),
        ("AES-256-R5", Encryption.AES_256),
        ("AES-256", Encryption.AES_256),
    ],
)
def test_pdf_ciphers(algorithm: str, encryption: Encryption) -> None:
    report, inspection = inspect_attachment(encrypted_pdf(f"NHS {NHS}", algorithm))
    assert (report.content_type, report.encryption, report.read_only) == (
        "application/pdf",
        encryption,
        False,
    )
    assert not any(NHS in s.text for s in inspection.segments)


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-128", "AES-256"])
def test_pdf_owner_password_only_is_not_encryption(algorithm: str) -> None:
    pdf = encrypted_pdf(
        f"NHS {NHS}", algorithm, user_password="", permissions=READ_ONLY_PERMISSIONS
    )
    report, inspection = inspect_attachment(pdf)
    assert (report.encryption, report.read_only) == (Encryption.NONE, True)
    assert any(NHS in s.text and not s.inside_encrypted for s in inspection.segments)


@pytest.mark.parametrize("allowed", [UserAccessPermissions.FILL_FORM_FIELDS,
                                     UserAccessPermissions.ASSEMBLE_DOC],
                         ids=["fill-forms", "assemble-pages"])
def test_pdf_allowing_form_filling_or_page_assembly_is_not_read_only(
    allowed: UserAccessPermissions,
) -> None:
    """Deleting pages or changing a form's values is editing (formats tester, F13)."""
    report, _ = inspect_attachment(
        encrypted_pdf("x", "AES-256", permissions=READ_ONLY_PERMISSIONS | allowed))
    assert (report.encryption, report.read_only) == (Encryption.AES_256, False)


def test_pdf_read_only_needs_modify_and_annotate_denied() -> None:
    report, _ = inspect_attachment(encrypted_pdf("x", "AES-256", permissions=READ_ONLY_PERMISSIONS))
    assert (report.encryption, report.read_only) == (Encryption.AES_256, True)
    report, _ = inspect_attachment(pdf_with_text("x"))
    assert (report.encryption, report.read_only) == (Encryption.NONE, False)


@pytest.mark.parametrize(
    ("data", "encryption", "read_only"),
    [
        (docx([["plain"]]), Encryption.NONE, False),
        (
            docx([["protected"]], read_only=True),
            Encryption.NONE,
            True,
        ),  # documentProtection is not encryption
        (xlsx([["a"]]), Encryption.NONE, False),
        (encrypted_docx([["secret"]]), Encryption.AES_256, None),
        (encrypted_docx([["default"]], password="VelvetSweatshop"), Encryption.NONE, False),
        (odt(["x"]), Encryption.NONE, False),
        (
            odt(["x"], encrypted="http://www.w3.org/2001/04/xmlenc#aes256-cbc"),
            Encryption.AES_256,
            None,
        ),
        # ODF 1.1's own cipher: known, and weak (refused as weak_encryption,
        # with its fix, not as content that could not be checked).
        (odt(["x"], encrypted="Blowfish CFB"), Encryption.BLOWFISH, None),
        (
            b"-----BEGIN PGP MESSAGE-----\nhQEMA\n-----END PGP MESSAGE-----\n",
            Encryption.UNKNOWN,
            None,
        ),
        (b"Name,NHS\nAlex,1\n", Encryption.NONE, None),
    ],
    ids=[
        "docx",
        "docx-protected",
        "xlsx",
        "agile",
        "velvetsweatshop",
        "odt",
        "odt-aes",
        "odt-blowfish",
        "pgp",
        "csv",
    ],
)
def test_office_and_others(data: bytes, encryption: Encryption, read_only: bool | None) -> None:
    report, _ = inspect_attachment(data)
    assert (report.encryption, report.read_only) == (encryption, read_only)


def test_default_password_content_is_extracted() -> None:
    _, inspection = inspect_attachment(encrypted_docx([[f"NHS {NHS}"]], password="VelvetSweatshop"))
    assert any(NHS in s.text and not s.inside_encrypted for s in inspection.segments)


def _standard_info(alg_id: int, key_bits: int = 128, flags: int = 0x24) -> bytes:
    header = struct.pack("<IIIIIIII", flags, 0, alg_id, 0x8004, key_bits, 0x18, 0, 0)
    return struct.pack("<HHII", 4, 2, flags, len(header)) + header


@pytest.mark.parametrize(
    ("stream", "encryption"),
    [
        (_standard_info(0x660E), Encryption.AES_128),
        (_standard_info(0x660F, 192), Encryption.AES_192),
        (_standard_info(0x6610, 256), Encryption.AES_256),
        (_standard_info(0x6801, 128, 0x04), Encryption.RC4),
        (_standard_info(0, 256, 0x24), Encryption.AES_256),
        (struct.pack("<HH", 4, 3) + b"\x00" * 40, Encryption.UNKNOWN),  # extensible
        (
            struct.pack("<HHI", 4, 4, 0x40)
            + b'<encryption><keyData cipherAlgorithm="AES" keyBits="128"/></encryption>',
            Encryption.AES_128,
        ),
        (
            struct.pack("<HHI", 4, 4, 0x40)
            + b'<encryption><keyData cipherAlgorithm="DES" keyBits="56"/></encryption>',
            Encryption.UNKNOWN,
        ),
        (b"\x01", Encryption.UNKNOWN),
    ],
    ids=[
        "std-aes128",
        "std-aes192",
        "std-aes256",
        "std-rc4",
        "std-flags-aes",
        "extensible",
        "agile-128",
        "agile-des",
        "junk",
    ],
)
def test_encryption_info_classification(stream: bytes, encryption: Encryption) -> None:
    assert classify_encryption_info(stream) is encryption


@pytest.mark.parametrize(
    "data",
    [
        aes_zip(256, {"list.csv": f"Alex,{NHS}".encode()}),
        aes_zip(128, {"list.csv": f"Alex,{NHS}".encode()}),
        build_zip([Entry("list.csv", f"Alex,{NHS}".encode(), password=PASSWORD.encode())]),
        encrypted_pdf(f"NHS {NHS}", "AES-256"),
        encrypted_pdf(f"NHS {NHS}", "RC4-40"),
        encrypted_docx([[f"NHS {NHS}"]]),
    ],
    ids=["aes256-zip", "aes128-zip", "zipcrypto", "pdf-aes256", "pdf-rc4", "docx-agile"],
)
def test_password_from_the_body_opens_and_content_is_inspected(data: bytes) -> None:
    report, inspection = inspect_attachment(data, body=f"Hi,\nPassword: {PASSWORD}\nThanks")
    assert report.password_opens
    inside = [s for s in inspection.segments if s.inside_encrypted]
    assert inside and any(NHS in s.text for s in inside)
    assert inspection.passwords[0].location == "body"
    assert inspection.passwords[0].removable


def test_wrong_password_does_not_open() -> None:
    report, inspection = inspect_attachment(
        aes_zip(256, {"a.csv": b"x"}), body="Password: wrong-one"
    )
    assert not report.password_opens
    assert not any(s.inside_encrypted for s in inspection.segments)
    assert [p.location for p in inspection.passwords] == ["body"]
