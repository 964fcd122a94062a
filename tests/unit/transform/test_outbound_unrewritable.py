"""A password the transform cannot take out is UnrewritableContent, a refusal
for the pipeline; any other failure stays a plain ContentError (451).

The inspect stage reads a part through fallback charsets, a byte order mark
and the bytes' own reading; the transform edits only a part's exact reading.
Where the password shows in a reading the transform cannot edit, it raises
UnrewritableContent(password_in_message), never delivers it.
"""

from __future__ import annotations

import base64

import pytest
from transform_support import aes_zip, run, verdict

from gateway.errors import ContentError, UnrewritableContent
from gateway.model import ReasonCode
from gateway.transform import outbound

PASSWORD = "Tulip-Harbour-73"
ZIP = aes_zip({"list.txt": b"Made-up list"}, PASSWORD)


def _part(content_type: str, data: bytes) -> bytes:
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            .encode() + encoded)


def _multipart(subtype: str, boundary: str, parts: list[bytes]) -> bytes:
    out = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode()
    for item in parts:
        out += f"--{boundary}\r\n".encode() + item + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def _message(*texts: tuple[str, bytes]) -> bytes:
    """The texts (content type, bytes, written as labelled) and the zip."""
    bodies = [_part(content_type, data) for content_type, data in texts]
    text = bodies[0] if len(bodies) == 1 else _multipart("alternative", "alt", bodies)
    attachment = _part("application/zip", ZIP).replace(
        b"\r\n\r\n", b'\r\nContent-Disposition: attachment; filename="list.zip"\r\n\r\n', 1)
    return (b"From: jo@council.example\r\nTo: team@recipient.example\r\n"
            b"Subject: list\r\nMessage-ID: <u1@council.example>\r\nMIME-Version: 1.0\r\n"
            + _multipart("mixed", "mixed", [text, attachment]))


STATED = f"Hello,\n\nPassword: {PASSWORD}\n\nJo\n".encode("ascii")


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        # A charset the gateway has no codec for.
        ('text/html; charset="x-council-legacy"', f"<p>Key - {PASSWORD}</p>".encode()),
        # No charset, UTF-16 after a byte order mark: no byte of the value's
        # UTF-8 is in the part, yet the inspect stage (and Outlook) read it.
        ("text/html", f"\ufeff<p>Key - {PASSWORD}</p>".encode("utf-16-le")),
    ],
)
def test_the_password_again_in_a_part_that_cannot_be_rewritten(
    content_type: str, data: bytes
) -> None:
    raw = _message(('text/plain; charset="us-ascii"', STATED), (content_type, data))
    with pytest.raises(UnrewritableContent) as caught:
        run(raw, verdict(personal_data=False))
    assert caught.value.code == ReasonCode.PASSWORD_IN_MESSAGE
    assert PASSWORD not in str(caught.value)


def test_a_statement_only_the_bytes_own_reading_shows() -> None:
    # Declared UTF-16, written in ASCII: the exact reading is CJK symbols
    # the transform cannot find the statement in; the inspect stage reads
    # the bytes as they are, as a program ignoring the label shows them.
    even = STATED + b"\n" * (len(STATED) % 2)  # UTF-16 reads it: nothing is left over
    raw = _message(('text/plain; charset="utf-16"', even))
    with pytest.raises(UnrewritableContent) as caught:
        run(raw, verdict(personal_data=False))
    assert caught.value.code == ReasonCode.PASSWORD_IN_MESSAGE


def test_the_password_in_a_part_read_exactly_is_taken_out() -> None:
    raw = _message(('text/plain; charset="us-ascii"', STATED))
    result = run(raw, verdict(personal_data=False))
    assert PASSWORD.encode() not in result.content
    assert result.password == PASSWORD


@pytest.mark.parametrize("error", [MemoryError, RuntimeError])
def test_any_other_failure_is_a_plain_content_error(
    monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    def failing(self: object) -> None:
        raise error("synthetic failure")

    monkeypatch.setattr(outbound._Transform, "run", failing)
    raw = _message(('text/plain; charset="us-ascii"', STATED))
    with pytest.raises(ContentError) as caught:
        run(raw, verdict(personal_data=False))
    assert not isinstance(caught.value, UnrewritableContent)
