"""Receipts as real mail systems write them, for the unit and SMTP tests.

Each builder takes what a real report would carry for our message (the
address it is sent to, the recipient, the ENVID / Message-ID) and returns
the bytes, CRLF line endings, laid out the way that system lays it out:
Postfix (bounce(8) DSNs), Exchange (relay/delivery DSN, read MDN), Gmail
(failure DSN), Thunderbird (MDN), qmail (plain-text bounce), old Exim's
plain-text delay warning, Outlook's "Read:" notice (plain text, HTML or
winmail.dat alone) and Exchange's out-of-office reply.
"""

from __future__ import annotations

import base64
import struct
from email.utils import formatdate


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def _headers(original_message_id: str | None, subject: str = "Private and Confidential: referral") -> str:
    lines = [
        "Received: from gw.test.example (gw.test.example [192.0.2.10])",
        "\tby mx.recipient.example (Postfix) with ESMTPS id 4VTx1b2c3d",
        f"\tfor <duty@recipient.example>; {formatdate()}",
        "From: caseworker@council.example",
        "To: duty@recipient.example",
        f"Subject: {subject}",
        f"Date: {formatdate()}",
    ]
    if original_message_id:
        lines.append(f"Message-ID: {original_message_id}")
    lines += ["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="abc"']
    return "\n".join(lines) + "\n"


def postfix_dsn(
    *,
    to: str,
    recipient: str,
    action: str = "delivered",
    status: str = "2.0.0",
    envid: str | None = None,
    original_message_id: str | None = None,
    orcpt: str | None = None,
    message_id: str = "<20240501120000.7F00A1B2C3@mx.recipient.example>",
    smtputf8: bool = False,
) -> bytes:
    """`smtputf8`: as Postfix reports on internationalised mail (RFC 6533's
    message/global-delivery-status and message/global-headers)."""
    boundary = "4VTx1b2c3d.1714564800/mx.recipient.example"
    status_type = "message/global-delivery-status" if smtputf8 else "message/delivery-status"
    headers_type = "message/global-headers" if smtputf8 else "text/rfc822-headers"
    failed = action == "failed"
    subject = "Undelivered Mail Returned to Sender" if failed else "Successful Mail Delivery Report"
    notice = (
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n"
        if failed
        else "Your message was successfully delivered to the destination(s)\n"
        "listed below. If the message was delivered to mailbox you will\n"
        "receive no further notifications. Otherwise you may still receive\n"
        "notifications of mail delivery errors from other systems.\n"
    )
    diagnostic = (
        f"smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown"
        if failed
        else "X-Postfix; delivery via local: delivered to mailbox"
    )
    per_message = [
        "Reporting-MTA: dns; mx.recipient.example",
        "X-Postfix-Queue-ID: 4VTx1b2c3d",
        f"X-Postfix-Sender: rfc822; {to}",
        f"Arrival-Date: {formatdate()}",
    ]
    if envid:
        per_message.append(f"Original-Envelope-Id: {envid}")
    per_recipient = [f"Final-Recipient: rfc822; {recipient}"]
    if orcpt:
        per_recipient.append(f"Original-Recipient: {orcpt}")
    per_recipient += [f"Action: {action}", f"Status: {status}"]
    if failed:
        per_recipient.append("Remote-MTA: dns; mailstore.recipient.example")
    per_recipient.append(f"Diagnostic-Code: {diagnostic}")
    text = f"""Return-Path: <>
Received: by mx.recipient.example (Postfix)
\tid 7F00A1B2C3; {formatdate()}
Date: {formatdate()}
From: MAILER-DAEMON@mx.recipient.example (Mail Delivery System)
Subject: {subject}
To: {to}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="{boundary}"
Content-Transfer-Encoding: 8bit
Message-Id: {message_id}

This is a MIME-encapsulated message.

--{boundary}
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.recipient.example.

{notice}
                   The mail system

<{recipient}>: {diagnostic.partition('; ')[2]}

--{boundary}
Content-Description: Delivery report
Content-Type: {status_type}

{chr(10).join(per_message)}

{chr(10).join(per_recipient)}

--{boundary}
Content-Description: {"Undelivered Message Headers" if failed else "Message Headers"}
Content-Type: {headers_type}

{_headers(original_message_id)}
--{boundary}--
"""
    return _crlf(text)


def exchange_dsn(
    *,
    to: str,
    recipient: str,
    envid: str | None = None,
    original_message_id: str | None = None,
    base64_status: bool = False,
    report_type: bool = True,
) -> bytes:
    """Exchange's relay/delivery notification (subject "Delivered: ...")."""
    import base64

    status = "\n".join([
        "Reporting-MTA: dns;EXCH01.recipient.example",
        "Received-From-MTA: dns;gw.test.example",
        f"Arrival-Date: {formatdate()}",
        *([f"Original-Envelope-Id: {envid}"] if envid else []),
        "",
        f"Original-Recipient: rfc822;{recipient}",
        f"Final-Recipient: rfc822;{recipient}",
        "Action: delivered",
        "Status: 2.0.0",
        "X-Display-Name: Duty Team",
        "",
    ])
    if base64_status:
        status_part = ("Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n"
                       + base64.encodebytes(_crlf(status)).decode())
    else:
        status_part = "Content-Type: message/delivery-status\n\n" + status
    kind = "; report-type=delivery-status" if report_type else ""
    text = f"""From: postmaster@recipient.example
To: {to}
Date: {formatdate()}
Content-Type: multipart/report{kind};
\tboundary="_000_AM0PR01MB1234abcd_"
Content-Language: en-GB
Message-ID: <9a8b7c6d-1111-2222-3333-444455556666@EXCH01.recipient.example>
{"In-Reply-To: " + original_message_id if original_message_id else "X-Nothing: x"}
Thread-Topic: Private and Confidential: referral
Subject: Delivered: Private and Confidential: referral
Auto-Submitted: auto-replied
X-MS-Exchange-Organization-SCL: -1
X-MS-Exchange-Organization-AuthAs: Internal
MIME-Version: 1.0

--_000_AM0PR01MB1234abcd_
Content-Type: multipart/alternative;
\tboundary="_001_AM0PR01MB1234abcd_"

--_001_AM0PR01MB1234abcd_
Content-Type: text/plain; charset="us-ascii"

Your message has been delivered to the following recipients:

Duty Team ({recipient})

Subject: Private and Confidential: referral

--_001_AM0PR01MB1234abcd_
Content-Type: text/html; charset="us-ascii"

<html><body><p>Your message has been delivered to the following recipients:</p></body></html>

--_001_AM0PR01MB1234abcd_--

--_000_AM0PR01MB1234abcd_
{status_part}
--_000_AM0PR01MB1234abcd_
Content-Type: text/rfc822-headers

{_headers(original_message_id)}
--_000_AM0PR01MB1234abcd_--
"""
    return _crlf(text)


def gmail_bounce(*, to: str, recipient: str, original_message_id: str | None = None) -> bytes:
    boundary = "000000000000b2c1e0061763a9f1"
    text = f"""Delivered-To: {to}
Return-Path: <>
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: {to}
Auto-Submitted: auto-replied
Subject: Delivery Status Notification (Failure)
{"References: " + original_message_id if original_message_id else "X-Nothing: x"}
X-Failed-Recipients: {recipient}
Message-ID: <6632a8b1.050a0220.abcd.0001.GMR@mx.google.com>
Date: {formatdate()}
MIME-Version: 1.0
Content-Type: multipart/report; boundary="{boundary}"; report-type=delivery-status

--{boundary}
Content-Type: text/plain; charset="UTF-8"

Address not found
Your message wasn't delivered to {recipient} because the address couldn't be found, or is unable to receive mail.

--{boundary}
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Received-From-MTA: dns; gw.test.example
Arrival-Date: {formatdate()}
X-Original-Message-ID: {original_message_id or "<none@x>"}

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1
Remote-MTA: dns; gmail-smtp-in.l.google.com. (2a00:1450:400c:c0b::1b, the server for the domain.)
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not exist.
Last-Attempt-Date: {formatdate()}

--{boundary}
Content-Type: message/rfc822

{_headers(original_message_id)}
(body omitted)

--{boundary}--
"""
    return _crlf(text)


def exchange_mdn(
    *, to: str, recipient: str, original_message_id: str | None, disposition: str = "displayed"
) -> bytes:
    word = "Read" if disposition == "displayed" else "Not read"
    verb = "was read on" if disposition == "displayed" else "was deleted without being read on"
    text = f"""From: Duty Team <{recipient}>
To: {to}
Subject: {word}: Private and Confidential: referral
Date: {formatdate()}
Message-ID: <AM0PR01MB5678efgh@EXCH01.recipient.example>
Content-Type: multipart/report; report-type=disposition-notification;
\tboundary="_002_AM0PR01MB5678efgh_"
MIME-Version: 1.0
X-MS-Exchange-Organization-SCL: -1
X-MS-Has-Attach:
X-MS-TNEF-Correlator:

--_002_AM0PR01MB5678efgh_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Your message

To: Duty Team
Subject: Private and Confidential: referral
Sent: 01 May 2024 12:00:00 (UTC+00:00) Dublin, Edinburgh, Lisbon, London

{verb} 01 May 2024 12:05:00 (UTC+00:00) Dublin, Edinburgh, Lisbon, London.

--_002_AM0PR01MB5678efgh_
Content-Type: message/disposition-notification

Reporting-UA: EXCH01.recipient.example; Microsoft Exchange Server 2019
Final-Recipient: rfc822;{recipient}
{"Original-Message-ID: " + original_message_id if original_message_id else "X-Nothing: x"}
Disposition: automatic-action/MDN-sent-automatically; {disposition}

--_002_AM0PR01MB5678efgh_--
"""
    return _crlf(text)


def thunderbird_mdn(*, to: str, recipient: str, original_message_id: str | None) -> bytes:
    boundary = "------------mNm1xq9wXr3Yd0Fz6TfU2aBc"
    text = f"""Content-Type: multipart/report; report-type=disposition-notification;
 boundary="{boundary}"
Message-ID: <5e3c2a1b-9f8e-4d7c-b6a5-0123456789ab@recipient.example>
Date: {formatdate()}
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
From: Duty <{recipient}>
Subject: Return Receipt (displayed) - Private and Confidential: referral
To: {to}

This is a multi-part message in MIME format.
--{boundary}
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 7bit

This is a Return Receipt for the mail that you sent to {recipient}.

Note: This Return Receipt only acknowledges that the message was displayed on the recipient's computer. There is no guarantee that the recipient has read or understood the message contents.

--{boundary}
Content-Type: message/disposition-notification; name="MDNPart2.txt"
Content-Disposition: inline
Content-Transfer-Encoding: 7bit

Reporting-UA: recipient.example; Mozilla Thunderbird
Final-Recipient: rfc822;{recipient}
{"Original-Message-ID: " + original_message_id if original_message_id else "X-Nothing: x"}
Disposition: manual-action/MDN-sent-manually; displayed

--{boundary}
Content-Type: text/rfc822-headers; name="MDNPart3.txt"
Content-Transfer-Encoding: 7bit
Content-Disposition: inline

{_headers(original_message_id)}
--{boundary}--
"""
    return _crlf(text)


def qmail_bounce(
    *, to: str, recipient: str,
    remote: str = "Sorry, no mailbox here by that name. (#5.1.1)",
    subject: str = "Private and Confidential: referral",
) -> bytes:
    """`remote`: what the remote host said, as qmail quotes it."""
    text = f"""Return-Path: <>
From: MAILER-DAEMON@mail.recipient.example
To: {to}
Subject: failure notice
Date: {formatdate()}

Hi. This is the qmail-send program at mail.recipient.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{recipient}>:
{remote}

--- Below this line is a copy of the message.

Subject: {subject}
"""
    return _crlf(text)


def outlook_text_read(*, to: str, recipient: str) -> bytes:
    text = f"""From: Duty Team <{recipient}>
To: {to}
Subject: Read: Private and Confidential: referral
Date: {formatdate()}
MIME-Version: 1.0
Content-Type: text/plain; charset="us-ascii"

Your message

  To: Duty Team
  Subject: Private and Confidential: referral
  Sent: 01/05/2024 12:00

was read on 01/05/2024 12:05.
"""
    return _crlf(text)


def exim_delay_warning(*, to: str, recipient: str,
                       subject: str = "Private and Confidential: referral") -> bytes:
    """Exim's "Warning: message ... delayed" (delay_warning), plain text:
    it sends no DSN for a delay unless asked for one."""
    text = f"""Return-path: <>
From: Mail Delivery System <Mailer-Daemon@mx.recipient.example>
To: {to}
Subject: Warning: message 1kXyZa-0003Ab-Cd delayed 24 hours
Message-Id: <E1kXyZb-0003Ac-Ef@mx.recipient.example>
Auto-Submitted: auto-replied
Date: {formatdate()}

This message was created automatically by mail delivery software.
A message that you sent has not yet been delivered to one or more of its
recipients after more than 24 hours on the queue on mx.recipient.example.

The message identifier is:     1kXyZa-0003Ab-Cd
The subject of the message is: {subject}
The date of the message is:    {formatdate()}

The following address(es) have not yet been delivered:

  {recipient}
    retry timeout not reached

No action is required on your part. Delivery attempts will continue for
some time, and this warning may be repeated at intervals if the message
remains undelivered. Eventually the mail delivery software will give up,
and when that happens, the message will be returned to you.
"""
    return _crlf(text)


def out_of_office(
    *, to: str, recipient: str, original_message_id: str | None,
    subject: str = "Automatic reply: Private and Confidential: referral",
    exchange: bool = True,
) -> bytes:
    """An out-of-office reply to the return path; `exchange`: with the
    headers Exchange adds (without: only RFC 3834's Auto-Submitted)."""
    lines = [
        f"From: Duty Team <{recipient}>",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {formatdate()}",
        "Message-ID: <ooo-5521@mail.recipient.example>",
    ]
    if original_message_id:
        lines += [f"In-Reply-To: {original_message_id}", f"References: {original_message_id}"]
    lines.append("Auto-Submitted: auto-replied")
    if exchange:
        lines += [
            f"X-MS-Exchange-Inbox-Rules-Loop: {recipient}",
            "X-Auto-Response-Suppress: All",
            "X-MS-Exchange-Organization-AutoReplyType: OOF",
        ]
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "",
              "I am out of the office until Monday with limited access to email.",
              "Your message could not be delivered to me in person; it will be read on my return.",
              ""]
    return _crlf("\n".join(lines))


def _tnef(message_class: str | None) -> str:
    """A winmail.dat: its signature, key, and the message class attribute."""
    data = b"\x78\x9f\x3e\x22" + b"\x01\x00"
    if message_class is not None:
        value = message_class.encode() + b"\x00"
        data += struct.pack("<BHHI", 1, 0x8008, 0x0007, len(value)) + value
        data += struct.pack("<H", sum(value) & 0xFFFF)
    return base64.encodebytes(data).decode()


def outlook_read(*, to: str, recipient: str, form: str,
                 message_class: str | None = "REPORT.IPM.Note.IPNRN",
                 subject: str = "Read: Private and Confidential: referral") -> bytes:
    """Outlook's "Read:" notice without a disposition part, as `form`:
    "html" (HTML alone) or "tnef" (winmail.dat alone, naming
    `message_class`)."""
    head = f"""From: Duty Team <{recipient}>
To: {to}
Subject: {subject}
Date: {formatdate()}
Message-ID: <read-7730@mail.recipient.example>
MIME-Version: 1.0
"""
    if form == "html":
        body = """Content-Type: text/html; charset="us-ascii"

<html><body><p>Your message</p>
<p>To: Duty Team<br>Subject: Private and Confidential: referral</p>
<p>was read on 01/05/2024 12:05.</p></body></html>
"""
    else:
        body = f"""Content-Type: application/ms-tnef; name="winmail.dat"
Content-Transfer-Encoding: base64

{_tnef(message_class)}"""
    return _crlf(head + body)
def exchange_ndr(
    *,
    to: str,
    recipient: str,
    original_message_id: str | None,
    attachment_size: int = 0,
    envid: str | None = None,
) -> bytes:
    """Exchange's non-delivery report ("Undeliverable: ...") returning the
    whole original message (RET=FULL, or Exchange's own habit), its file
    of `attachment_size` bytes included."""
    import base64
    import hashlib

    # Incompressible bytes, as a real file's would be, the same every run.
    blocks = (hashlib.sha256(i.to_bytes(8, "big")).digest()
              for i in range(attachment_size // 32 + 1))
    file_text = base64.encodebytes(b"".join(blocks)[:attachment_size]).decode()
    inner = "_004_returned_message_"
    text = f"""From: Microsoft Outlook <postmaster@recipient.example>
To: <{to}>
Date: {formatdate()}
Subject: Undeliverable: Private and Confidential: referral
Message-ID: <8c2b7e1a-4d3f-4a59-9e0b-ndr000000001@EXCH01.recipient.example>
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="_000_EXCH01_NDR_"
MIME-Version: 1.0
X-MS-Exchange-Message-Is-Ndr:
Auto-Submitted: auto-replied

--_000_EXCH01_NDR_
Content-Type: text/plain; charset="us-ascii"

Delivery has failed to these recipients or groups:

{recipient}
The recipient's mailbox is full and can't accept messages now.

--_000_EXCH01_NDR_
Content-Type: message/delivery-status

Reporting-MTA: dns;EXCH01.recipient.example
Received-From-MTA: dns;gw.test.example
Arrival-Date: {formatdate()}
{"Original-Envelope-Id: " + envid if envid else "X-Nothing: x"}

Original-Recipient: rfc822;{recipient}
Final-Recipient: rfc822;{recipient}
Action: failed
Status: 5.2.2
Diagnostic-Code: smtp;554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException

--_000_EXCH01_NDR_
Content-Type: message/rfc822

{_headers(original_message_id).replace('boundary="abc"', f'boundary="{inner}"')}
--{inner}
Content-Type: text/plain; charset="utf-8"

Please find the referral attached.

--{inner}
Content-Type: application/pdf; name="referral.pdf"
Content-Disposition: attachment; filename="referral.pdf"
Content-Transfer-Encoding: base64

{file_text}
--{inner}--

--_000_EXCH01_NDR_--
"""
    return _crlf(text)
