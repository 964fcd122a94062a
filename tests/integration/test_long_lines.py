"""A line longer than SMTP allows (998 bytes, RFC 5322 2.1.1) is accepted
and delivered, broken on the way out as Postfix breaks it.

The sink, like many servers (RFC 5321 4.5.3.1.6), refuses such a line
with `500 Line too long`: relayed as it came, the message was told 250,
then bounced back to its sender.
"""

from __future__ import annotations

import email
import email.policy

import aiosmtplib
from gwtest import wait_state

from gateway.wire import MAX_LINE

SENDER = "alice@sender.example"


async def test_a_message_with_long_lines_is_delivered_within_the_limit(gateway, sink):
    subject = "Minutes " + " ".join(f"item{i}" for i in range(300))  # 2 KB, spaces to fold at
    html_line = "<p>" + "".join(f"<b>{i}</b>" for i in range(400)) + "</p>"  # no space at all
    message = (
        f"From: {SENDER}\r\nTo: bob@recipient.example\r\nSubject: {subject}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        f"{html_line}\r\n<p>short line</p>\r\n"
    ).encode()
    assert max(map(len, message.split(b"\r\n"))) > 2 * MAX_LINE
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gateway.port)
    await client.connect()
    _, reply = await client.sendmail(SENDER, ["bob@recipient.example"], message)
    await client.quit()
    queue_id = reply.split()[-1]  # "2.0.0 Queued as <id>"
    (got,) = await sink.wait(1)
    assert max(map(len, got.content.split(b"\r\n"))) <= MAX_LINE
    parsed = email.message_from_bytes(got.content, policy=email.policy.default)
    assert parsed["Subject"] == subject  # folded at its spaces, unfolds to itself
    body = parsed.get_content()
    # The HTML line, broken where it had no space, shows one space more.
    assert body.replace("\n ", "").replace("\r", "") == f"{html_line}\n<p>short line</p>\n"
    delivered = await wait_state(gateway, queue_id, "delivered")
    assert delivered.recipients[0].last_code == 250
