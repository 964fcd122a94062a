"""Marking the subject: once, after RFC 2047 decoding, nothing else touched."""

from __future__ import annotations

import pytest
from transform_support import header_block, parse

from gateway.errors import ContentError
from gateway.transform import is_marked, mark_subject

MARK = "Private and Confidential"
DKIM = (b"DKIM-Signature: v=1; a=rsa-sha256; d=council.example; s=s1;\r\n"
        b"\th=from:to:subject; bh=abc=; b=def=\r\n")


def raw(subject_line: bytes) -> bytes:
    return (b"Received: from a by b; Mon, 2 Mar 2026 09:30:00 +0000\r\n" + DKIM
            + b"From: alice@council.example\r\nTo: bob@nhs.example\r\n" + subject_line
            + b"Message-ID: <m1@council.example>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n")


def test_prefix_added_and_everything_else_kept() -> None:
    original = raw(b"Subject: Referral\r\n")
    out = mark_subject(original, MARK)
    assert parse(out)["Subject"] == "Private and Confidential: Referral"
    assert DKIM in out and b"Message-ID: <m1@council.example>\r\n" in out
    assert out.split(b"\r\n\r\n", 1)[1] == original.split(b"\r\n\r\n", 1)[1]
    # The subject stays where it was among the headers.
    names = [line.split(b":")[0] for line in header_block(out).split(b"\r\n")
             if line and not line[:1].isspace()]
    assert names.index(b"Subject") == 4


@pytest.mark.parametrize(
    "subject_line",
    [
        b"Subject: PRIVATE AND CONFIDENTIAL - referral\r\n",
        b"Subject: Re: referral (private  and\r\n confidential)\r\n",
        b"Subject: =?utf-8?q?Private_and_Confidential=3A_r=C3=A9f=C3=A9rence?=\r\n",
    ],
)
def test_already_marked_is_left_byte_for_byte(subject_line: bytes) -> None:
    original = raw(subject_line)
    assert mark_subject(original, MARK) is original


def test_non_ascii_subject_is_encoded() -> None:
    out = mark_subject(raw("Subject: Référence école\r\n".encode()), MARK)
    assert parse(out)["Subject"] == "Private and Confidential: Référence école"
    assert header_block(out).isascii()


def test_missing_subject_is_added() -> None:
    out = mark_subject(raw(b""), MARK)
    assert parse(out)["Subject"] == MARK


def test_is_marked() -> None:
    assert is_marked("re: private and confidential", MARK)
    assert is_marked("Private & Confidential", MARK)  # "&" is "and"
    assert not is_marked("Private Confidential", MARK)


def test_empty_marking_refused() -> None:
    with pytest.raises(ContentError):
        mark_subject(raw(b"Subject: x\r\n"), "  ")
