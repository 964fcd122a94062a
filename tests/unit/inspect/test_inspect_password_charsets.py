"""A password in a body part whose declared charset cannot be applied is not
removable: the inspect stage read the text through a fallback (or a byte
order mark), and the transform stage rewrites a part only from its exact
reading, so the policy refuses it as password_in_message before the
transform is asked to (it used to answer 451 for ever)."""

from __future__ import annotations

import base64

import pytest
from fixtures_content import NHS, PASSWORD, aes_zip

from gateway.inspect import inspect_message

ZIP = aes_zip(256, {"a.csv": NHS.encode()}, read_only=True)


def _message(content_type: str, body: bytes) -> bytes:
    """The body with the label as given (base64, so any bytes travel) and
    a zip the password opens."""
    def part(header: str, data: bytes) -> bytes:
        return (header.encode() + b"Content-Transfer-Encoding: base64\r\n\r\n"
                + base64.encodebytes(data).replace(b"\n", b"\r\n"))

    return (b"From: alex@council.example\r\nTo: sam@trust.example\r\nSubject: Report\r\n"
            b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            + part(f"Content-Type: {content_type}\r\n", body) + b"\r\n--b\r\n"
            + part('Content-Type: application/zip\r\nContent-Disposition: attachment; '
                   'filename="a.zip"\r\n', ZIP)
            + b"\r\n--b--\r\n")


def _openers(raw: bytes) -> list[tuple[str, bool]]:
    inspection = inspect_message(raw)
    assert inspection.attachments[0].password_opens
    return [(c.location, c.removable) for c in inspection.passwords if c.opens]


TEXT = f"Hello,\nPassword: {PASSWORD}\nDuty Desk \u00a3\n"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ('text/plain; charset="x-council-legacy"', TEXT.encode("cp1252")),  # no codec
        ('text/plain; charset="utf-8"', TEXT.encode("cp1252")),  # mislabelled
        ('text/plain; charset="us-ascii"', TEXT.encode("cp1252")),  # 8-bit, not UTF-8
        ("text/plain", TEXT.encode("utf-16")),  # no label, a byte order mark
        ('text/html; charset="x-council-legacy"', f"<p>Password: {PASSWORD}</p>".encode()),
    ],
)
def test_a_password_the_declared_charset_cannot_read_is_not_removable(
    content_type: str, body: bytes
) -> None:
    assert _openers(_message(content_type, body)) == [("body", False)]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ('text/plain; charset="windows-1252"', TEXT.encode("cp1252")),
        ('text/plain; charset="utf-8"', TEXT.encode("utf-8")),
        ("text/plain", TEXT.encode("utf-8")),  # undeclared 8-bit text is read as UTF-8
        ('text/plain; charset="utf-16"', TEXT.encode("utf-16")),
    ],
)
def test_a_password_its_charset_reads_stays_removable(content_type: str, body: bytes) -> None:
    assert _openers(_message(content_type, body)) == [("body", True)]


def test_a_loosely_labelled_password_the_charset_cannot_read_is_not_removable() -> None:
    # "Key: ..." is believed only for a value that opens (the message's
    # words tried): one read through a fallback cannot be taken out either.
    body = f"Hello,\nKey: {PASSWORD}\n".encode()
    raw = _message('text/plain; charset="x-council-legacy"', body)
    assert ("body", True) not in _openers(raw)
