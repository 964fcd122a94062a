"""Formats that used to pass as clean: tar, multi-member gzip, UTF-16 without
a byte order mark, and bytes the gateway recognises as nothing at all; and
bzip2 and xz, once refused as archives it could not open, now read; UTF-32,
whose byte order mark was read as UTF-16's (NUL between every digit)."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile

import pytest
from fixtures_content import NHS, Entry, build_zip, png

from gateway.extract import ExtractContext, build_registry, detect_format
from gateway.model import Problem
from gateway.parse import ContentLimits

REGISTRY = build_registry()
RECORD = f"name,nhs_number\nAlex Carter,{NHS}\n"


def extract(data: bytes, limits: ContentLimits | None = None) -> tuple[str, list[Problem]]:
    ctx = ExtractContext.start(limits or ContentLimits(), REGISTRY, "2")
    texts = REGISTRY.extract(data, ctx)
    return "\n".join(t.text for t in texts), ctx.problems


def tar_of(files: dict[str, bytes], mode: str = "w") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as archive:  # type: ignore[call-overload]
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (tar_of({"caseload.csv": RECORD.encode()}), "tar"),
        (tar_of({"caseload.csv": RECORD.encode()}, "w:gz"), "gzip"),
        (RECORD.encode("utf-16-le"), "csv"),
        (RECORD.encode("utf-16-be"), "csv"),
        (f"Referral for NHS {NHS}\n".encode("utf-16-le"), "text"),
        (b"\x00\x00\x00\x18ftypmp42" + bytes(64), "video"),
        (b"\x00\x00\x00\x18ftypheic" + bytes(64), "image"),
        (b"ID3\x03\x00" + bytes(64), "audio"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(64), "image"),
        (b"\x28\xb5\x2f\xfd" + bytes(64), "archive"),
        (os.urandom(4096), "binary"),
        (bz2.compress(RECORD.encode()), "bzip2"),
        (lzma.compress(RECORD.encode()), "xz"),
        (RECORD.encode("utf-32"), "csv"),
        (RECORD.encode("utf-32-le"), "csv"),
        (RECORD.encode("utf-32-be"), "csv"),
        (f"Referral for NHS {NHS}\n".encode("utf-32-be"), "text"),
        (f"<p>Referral for NHS {NHS}</p>".encode("utf-16"), "html"),
        (f"<p>Referral for NHS {NHS}</p>".encode("utf-32"), "html"),
    ],
    ids=["tar", "tgz", "utf16le-csv", "utf16be-csv", "utf16le-text", "mp4", "heic", "mp3",
         "webp", "zstd", "random", "bzip2", "xz", "utf32-bom-csv", "utf32le-csv",
         "utf32be-csv", "utf32be-text", "utf16-bom-html", "utf32-bom-html"],
)
def test_format_is_recognised(data: bytes, fmt: str) -> None:
    assert detect_format(data) == fmt


@pytest.mark.parametrize(
    "data",
    [
        tar_of({"caseload.csv": RECORD.encode()}),
        tar_of({"caseload.csv": RECORD.encode()}, "w:gz"),
        gzip.compress(tar_of({"notes/caseload.csv": RECORD.encode()})),
        tar_of({"inner.tar": tar_of({"caseload.csv": RECORD.encode()})}),
        tar_of({"inner.zip": build_zip([Entry("caseload.csv", RECORD.encode())])}),
        build_zip([Entry("inner.tgz", tar_of({"caseload.csv": RECORD.encode()}, "w:gz"))]),
        gzip.compress(b"cover note\n") + gzip.compress(RECORD.encode()),
        RECORD.encode("utf-16-le"),
        RECORD.encode("utf-16-be"),
        bz2.compress(RECORD.encode()),
        tar_of({"caseload.csv": RECORD.encode()}, "w:bz2"),
        bz2.compress(b"cover note\n") + bz2.compress(RECORD.encode()),
        lzma.compress(RECORD.encode()),
        tar_of({"caseload.csv": RECORD.encode()}, "w:xz"),
        lzma.compress(b"cover note\n") + lzma.compress(RECORD.encode()),
        build_zip([Entry("notes.csv.xz", lzma.compress(RECORD.encode()))]),
        RECORD.encode("utf-32"),
        RECORD.encode("utf-32-le"),
        RECORD.encode("utf-32-be"),
        f"Referral for NHS {NHS}\n".encode("utf-32-le"),
        f"<p>Referral for NHS {NHS}</p>".encode("utf-32"),
        build_zip([Entry("caseload.csv", RECORD.encode("utf-32"))]),
    ],
    ids=["tar", "tgz", "gz-of-tar", "tar-in-tar", "zip-in-tar", "tgz-in-zip",
         "gzip-two-members", "utf16le", "utf16be", "bz2", "tbz2", "bz2-two-streams", "xz",
         "txz", "xz-two-streams", "xz-in-zip", "utf32-bom", "utf32le", "utf32be",
         "utf32le-text", "utf32-bom-html", "utf32-in-zip"],
)
def test_personal_data_is_read(data: bytes) -> None:
    text, problems = extract(data)
    assert NHS in text
    assert problems == []


def test_tar_member_names_are_text() -> None:
    text, _ = extract(tar_of({f"Alex Carter {NHS}.pdf": b""}))
    assert f"Alex Carter {NHS}.pdf" in text


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (os.urandom(4096), "unsupported_format"),
        (b"MZ\x90\x00" + os.urandom(500), "unsupported_format"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04" + os.urandom(200), "unsupported_format"),
        (b"\xfd7zXZ\x00" + os.urandom(200), "malformed_archive"),
        (b"BZh9" + os.urandom(200), "malformed_archive"),
        (lzma.compress(RECORD.encode() * 50)[:-40], "malformed_archive"),
        (bz2.compress(RECORD.encode() * 50)[:-40], "malformed_archive"),
        (bz2.compress(RECORD.encode()) + b"hidden " + RECORD.encode(), "malformed_archive"),
        (lzma.compress(RECORD.encode()) + b"hidden " + RECORD.encode(), "malformed_archive"),
        (b"\x28\xb5\x2f\xfd" + os.urandom(200), "unsupported_format"),
        (tar_of({"caseload.csv": RECORD.encode() * 50})[:1200], "malformed_archive"),
        (tar_of({"a.txt": b"x"}) + b"hidden " + RECORD.encode(), "malformed_archive"),
        (gzip.compress(RECORD.encode()) + b"hidden " + RECORD.encode(), "malformed_archive"),
        (build_zip([Entry("blob.bin", os.urandom(300))]), "unsupported_format"),
    ],
    ids=["random", "exe", "7z", "xz", "bz2", "truncated-xz", "truncated-bz2", "after-bz2",
         "after-xz", "zstd", "truncated-tar", "after-tar", "after-gzip", "random-in-zip"],
)
def test_what_cannot_be_read_is_a_problem(data: bytes, code: str) -> None:
    _, problems = extract(data)
    assert code in {p.code for p in problems}


@pytest.mark.parametrize(
    ("data", "limits", "code"),
    [
        (tar_of({f"f{i}.txt": b"x" for i in range(30)}), ContentLimits(max_archive_entries=10),
         "archive_bomb"),
        (tar_of({"big.txt": b"x" * 5000}), ContentLimits(max_archive_total=1000), "archive_bomb"),
        (
            gzip.compress(b"a" * 1000) + gzip.compress(b"b" * 5000),
            ContentLimits(max_archive_total=3000),
            "archive_bomb",
        ),
        (bz2.compress(b"a" * 5_000_000), ContentLimits(max_archive_ratio=100), "archive_bomb"),
        (lzma.compress(b"a" * 5_000_000), ContentLimits(max_archive_ratio=100), "archive_bomb"),
        (lzma.compress(b"b" * 5000), ContentLimits(max_archive_total=3000), "archive_bomb"),
        (
            tar_of({"l1.tar": tar_of({"l2.tar": tar_of({"l3.txt": NHS.encode()})})}),
            ContentLimits(max_archive_depth=2),
            "too_deep",
        ),
    ],
    ids=["tar-entries", "tar-total", "gzip-members-total", "tar-depth", "bz2-ratio",
         "xz-ratio", "xz-total"],
)
def test_tar_and_gzip_are_bounded_as_zip_is(
    data: bytes, limits: ContentLimits, code: str
) -> None:
    _, problems = extract(data, limits)
    assert code in {p.code for p in problems}


@pytest.mark.parametrize(
    "data",
    [
        png(),
        b"\x00\x00\x00\x18ftypmp42" + bytes(64),
        b"ID3\x03\x00" + bytes(64),
        b"VCLMTF" + bytes(64),
        b"\xd7\xcd\xc6\x9a" + bytes(64),
        b"Please find attached.\n",
    ],
    ids=["png", "mp4", "mp3", "svm", "wmf", "text"],
)
def test_recognised_media_and_text_are_not_problems(data: bytes) -> None:
    _, problems = extract(data)
    assert problems == []


def test_text_with_a_few_nul_bytes_is_not_taken_for_utf16() -> None:
    data = b"ref\x00 12\n" + b"an ordinary line of text\n" * 40
    assert detect_format(data) == "binary"


def _signed(content: bytes, *, detached: bool) -> bytes:
    """An S/MIME (CMS signed-data) blob, as smime.p7s or an opaque smime.p7m."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs7
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Duty Desk")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    options = [pkcs7.PKCS7Options.DetachedSignature] if detached else []
    return (
        pkcs7.PKCS7SignatureBuilder().set_data(content)
        .add_signer(cert, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, options)
    )


def test_a_detached_smime_signature_is_not_a_problem() -> None:
    data = _signed(b"Content-Type: text/plain\r\n\r\nhello\r\n", detached=True)
    _, problems = extract(data)
    assert problems == []


def test_opaque_signed_content_is_not_passed_as_clean() -> None:
    data = _signed(f"Content-Type: text/plain\r\n\r\nNHS {NHS}\r\n".encode(), detached=False)
    text, problems = extract(data)
    assert NHS in text or problems
