"""An attachment's file name written as raw UTF-8 in the header (RFC 6532,
sent with SMTPUTF8): the compat32 parser hands its 8-bit bytes over as
replacement characters; the part's file name is the real letters."""

from __future__ import annotations

import pytest

from gateway.parse import ContentLimits, parse_message

CRLF = b"\r\n"


def _message(content_type: bytes, disposition: bytes | None) -> bytes:
    lines = [
        b"From: staff@council.example",
        b"To: duty.team@children.example",
        b"Subject: attached",
        b"MIME-Version: 1.0",
        b"Content-Type: multipart/mixed; boundary=XX",
        b"",
        b"--XX",
        b"Content-Type: text/plain; charset=utf-8",
        b"",
        b"see attached",
        b"--XX",
        b"Content-Type: " + content_type,
        *([b"Content-Disposition: " + disposition] if disposition else []),
        b"Content-Transfer-Encoding: base64",
        b"",
        b"aGVsbG8=",
        b"--XX--",
        b"",
    ]
    return CRLF.join(lines)


def _file_name(raw: bytes) -> str | None:
    parsed = parse_message(raw, ContentLimits())
    assert parsed.problems == ()
    (attachment,) = [p for p in parsed.parts if not p.is_body]
    return attachment.filename


NAME = "Überweisung März.pdf"


@pytest.mark.parametrize(
    ("content_type", "disposition", "expected"),
    [
        (f'application/pdf; name="{NAME}"'.encode(), f'attachment; filename="{NAME}"'.encode(),
         NAME),
        (b"application/pdf", f'attachment; filename="{NAME}"'.encode(), NAME),
        (f'application/pdf; name="{NAME}"'.encode(), None, NAME),
        (b"application/pdf; name=\xc3\x9cberweisung_M\xc3\xa4rz.pdf", None,
         "Überweisung_März.pdf"),
    ],
    ids=["both", "filename", "name", "unquoted"],
)
def test_a_raw_utf8_file_name_is_read_as_its_letters(
    content_type: bytes, disposition: bytes | None, expected: str
) -> None:
    assert _file_name(_message(content_type, disposition)) == expected


def test_the_other_parameters_are_read_as_before() -> None:
    name = _file_name(_message(b'application/pdf; name="x.pdf"',
                               f'attachment; size=5; filename="{NAME}"; x="ö"'.encode()))
    assert name == NAME


def test_bytes_that_are_not_utf8_are_still_a_file_name() -> None:
    name = _file_name(_message(b"application/pdf",
                               b'attachment; filename="Bericht \xff\xfe.pdf"'))
    assert name is not None and name.startswith("Bericht ") and name.endswith(".pdf")


def test_an_ascii_file_name_is_unchanged() -> None:
    assert _file_name(_message(b"application/pdf", b'attachment; filename="plan.pdf"')) \
        == "plan.pdf"
