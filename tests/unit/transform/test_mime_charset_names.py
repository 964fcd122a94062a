"""Text parts whose declared charset name Python cannot even look up.

A NUL in a charset name makes `codecs.lookup` and `bytes.decode` raise
ValueError ("embedded null character") where an unknown name raises
LookupError: such a part is treated as one in an unknown charset, never as
an error of the transform stage.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import cast

import pytest

from gateway.transform.mime import get_text, set_text


def _part(charset: bytes) -> EmailMessage:
    raw = b'Content-Type: text/plain; charset="' + charset + b'"\r\n\r\nhello \xd5\r\n'
    return cast(EmailMessage, email.message_from_bytes(raw, policy=email.policy.default))


@pytest.mark.parametrize("charset", [b"u\x00", b"no-such-charset"])
def test_a_charset_that_cannot_be_looked_up_is_never_read_and_is_rewritten_as_utf8(
    charset: bytes,
) -> None:
    part = _part(charset)
    assert get_text(part) is None  # not read: writing it back could change it
    set_text(part, "Cyfrinachol \u2013 new text")
    assert part.get_content_charset() == "utf-8"
    assert get_text(part) == "Cyfrinachol \u2013 new text\n"
