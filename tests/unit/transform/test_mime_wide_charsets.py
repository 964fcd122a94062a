"""Text parts in a charset that does not write ASCII as ASCII, rewritten.

UTF-16 and UTF-32 write every character in two or four bytes (an LF byte is
half of one), and UTF-7 writes "+" as "+-": the stdlib's `set_content`
cannot write them line by line, nor as a 7bit body.  Every rewrite of such
a part (the handling notice, a password line taken out) is written in UTF-8
instead, with the same text, so a compliant message is not answered 451 for
ever; an ASCII-compatible charset is kept as before.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from email.mime.text import MIMEText
from typing import cast

import pytest

from gateway.transform.mime import get_text, serialise, set_text


def _part(text: str, charset: str) -> EmailMessage:
    raw = MIMEText(text, "plain", charset).as_bytes()
    return cast(EmailMessage, email.message_from_bytes(raw, policy=email.policy.default))


@pytest.mark.parametrize("charset", ["utf-16", "utf-16-le", "utf-32", "utf-32-be", "utf-7"])
@pytest.mark.parametrize(
    "text", ["I will phone you with the password.", "Gw\u00eal\u00e1f \u2013 \u00a3 i ffonio"]
)
def test_a_wide_charset_part_is_rewritten_in_utf8_with_the_same_text(
    charset: str, text: str
) -> None:
    part = _part("Hello,\nThe referral is attached.\n", charset)
    assert get_text(part) == "Hello,\nThe referral is attached.\n"
    set_text(part, f"Notice\n\n{text}\nThanks\n")
    assert part.get_content_charset() == "utf-8"
    assert get_text(part) == f"Notice\n\n{text}\nThanks\n"
    reread = email.message_from_bytes(serialise(part), policy=email.policy.default)
    written = get_text(cast(EmailMessage, reread))
    assert written is not None
    assert written.replace("\r\n", "\n") == f"Notice\n\n{text}\nThanks\n"


def test_an_ascii_compatible_charset_is_kept() -> None:
    part = _part("Caf\u00e9\n", "iso-8859-1")
    set_text(part, "Caf\u00e9 and notice\n")
    assert part.get_content_charset() == "iso-8859-1"
    assert get_text(part) == "Caf\u00e9 and notice\n"
