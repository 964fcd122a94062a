"""Text parts whose declared charset the transform stage must not apply.

A NUL in a charset name makes `codecs.lookup` and `bytes.decode` raise
ValueError ("embedded null character") where an unknown name raises
LookupError; `unicode_escape` is a Python codec no mail program applies
(read with it, `\\u0041` would be an "A" the recipient never sees).  Each is
treated as an unknown charset, as the content stage treats it
(gateway.parse.charsets): the part is never read or rewritten in it.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import cast

import pytest

from gateway.transform.mime import get_text, set_text


def _part(charset: bytes) -> EmailMessage:
    raw = (b'Content-Type: text/plain; charset="' + charset
           + b'"\r\n\r\nhello \\u0041 \xd5\r\n')
    return cast(EmailMessage, email.message_from_bytes(raw, policy=email.policy.default))


@pytest.mark.parametrize("charset", [b"u\x00", b"unicode_escape", b"no-such-charset"])
def test_a_charset_we_must_not_apply_is_never_read_and_is_rewritten_as_utf8(
    charset: bytes,
) -> None:
    part = _part(charset)
    assert get_text(part) is None  # not read: writing it back could change it
    set_text(part, "Cyfrinachol \u2013 new text")
    assert part.get_content_charset() == "utf-8"
    assert get_text(part) == "Cyfrinachol \u2013 new text\n"
