"""Receipts without a report part: what their own words say decides.

An automatic reply is no receipt whatever the staff member's subject it
quotes; a plain-text bounce is a failure only when it says it gave up (or
gives a 5.x.x code of its own), a delay when it says it is still trying,
and never a failure by default; Outlook's "Read:" notice is read in HTML
or as winmail.dat alone too."""

from __future__ import annotations

import pytest
from receipt_shapes import exim_delay_warning, out_of_office, outlook_read, qmail_bounce

from gateway.receipts import Outcome, parse_receipt
from gateway.receipts.parse import auto_reply

TO = "dsn+2Q34SGXL1BR53R0M-0-y7kw7gczsfxem7xbeisn@receipts.example.org"
RCPT = "duty@recipient.example"
MID = "<orig-1234@council.example>"

# Staff subjects with a bounce's words in them, as an auto-reply quotes them.
SUBJECTS = [
    "Automatic reply: Private and Confidential: non-delivery of school transport",
    "Out of Office: Private and Confidential: Undelivered medication",
    "Automatic reply: Returned to sender - Private and Confidential",
    "Auto: failure notice for the transport contract",
    "Private and Confidential: Undelivered medication",  # no prefix at all
    "Undelivered medication: Private and Confidential",  # not even a prefix
]


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "rfc3834"])
@pytest.mark.parametrize("subject", SUBJECTS)
def test_an_out_of_office_reply_is_no_receipt(subject: str, exchange: bool) -> None:
    raw = out_of_office(to=TO, recipient=RCPT, original_message_id=MID, subject=subject,
                        exchange=exchange)
    assert parse_receipt(raw) is None
    assert auto_reply(raw)


@pytest.mark.parametrize("header", [
    "X-Autoreply: yes", "X-Autorespond: yes", "Precedence: auto_reply",
])
def test_other_auto_reply_marks_are_no_receipt_either(header: str) -> None:
    raw = (f"From: MAILER-DAEMON@mx.recipient.example\r\n{header}\r\n"
           "Subject: Undelivered Mail Returned to Sender\r\n\r\n"
           "I am away. This is a permanent error; I've given up.\r\n").encode()
    assert parse_receipt(raw) is None


def test_a_bounce_marked_auto_replied_by_its_mail_daemon_is_still_a_bounce() -> None:
    """Exim writes `Auto-Submitted: auto-replied` on its bounces."""
    raw = qmail_bounce(to=TO, recipient=RCPT).replace(
        b"Subject:", b"Auto-Submitted: auto-replied\r\nSubject:")
    receipt = parse_receipt(raw)
    assert receipt is not None and not auto_reply(raw)
    assert receipt.statuses[0].outcome is Outcome.FAILED


def test_an_exim_plain_text_delay_warning_is_a_delay() -> None:
    receipt = parse_receipt(exim_delay_warning(to=TO, recipient=RCPT))
    assert receipt is not None and receipt.standard is False
    (status,) = receipt.statuses
    assert (status.outcome, status.status) == (Outcome.DELAYED, "4.0.0")


def test_the_quoted_subject_does_not_make_a_delay_a_failure() -> None:
    receipt = parse_receipt(exim_delay_warning(
        to=TO, recipient=RCPT, subject="Permanent error in the records: I've given up"))
    assert receipt is not None
    assert receipt.statuses[0].outcome is Outcome.DELAYED


def test_qmail_giving_up_is_a_failure_whatever_the_remote_code() -> None:
    receipt = parse_receipt(qmail_bounce(
        to=TO, recipient=RCPT, remote="Remote host said: 452 4.2.2 <x>: mailbox full"))
    assert receipt is not None
    (status,) = receipt.statuses
    assert status.outcome is Outcome.FAILED and status.names(RCPT)
    assert status.status == "4.2.2"  # the code it gave up on, as Postfix's 4.x "failed"


def _bounce(body: str, subject: str = "Mail delivery failed",
            sender: str = "MAILER-DAEMON@mx.recipient.example") -> bytes:
    return (f"From: {sender}\r\nTo: {TO}\r\nSubject: {subject}\r\n\r\n{body}\r\n"
            "--- Below this line is a copy of the message.\r\n\r\n"
            "Subject: permanent error 5.1.1 I've given up\r\n\r\n"
            "This is a permanent error; I've given up (the staff member's words).\r\n").encode()


# The report's own words -> outcome, status.  Words after the copy of the
# message (the staff member's) never count.
TEXTS = [
    ("Your message could not be delivered.", Outcome.OTHER, None),
    ("Your message could not be delivered: 550 5.1.1 user unknown", Outcome.FAILED, "5.1.1"),
    ("Delivery failed: 452 4.2.2 mailbox full", Outcome.DELAYED, "4.2.2"),
    ("This is a permanent error.", Outcome.FAILED, "5.0.0"),
    ("Not delivered yet; delivery will be retried. 451 4.4.1", Outcome.DELAYED, "4.4.1"),
    ("Hello.", Outcome.OTHER, None),
]


@pytest.mark.parametrize(("body", "outcome", "status"), TEXTS)
def test_a_text_bounce_fails_only_when_its_own_words_say_so(
    body: str, outcome: Outcome, status: str | None
) -> None:
    receipt = parse_receipt(_bounce(body))
    assert receipt is not None
    (found,) = receipt.statuses
    assert (found.outcome, found.status) == (outcome, status)


def test_a_mail_daemon_notice_about_no_delivery_is_no_receipt() -> None:
    assert parse_receipt(_bounce("Your mailbox is nearly full.", subject="Mailbox quota")) is None


def test_a_reply_quoting_a_bounce_subject_is_no_bounce() -> None:
    raw = _bounce("I had this back, can you resend?",
                  subject="RE: Undelivered Mail Returned to Sender",
                  sender="colleague@recipient.example")
    assert parse_receipt(raw) is None


def test_an_html_read_notice_is_a_read_receipt() -> None:
    receipt = parse_receipt(outlook_read(to=TO, recipient=RCPT, form="html"))
    assert receipt is not None and receipt.kind == "mdn" and receipt.standard is False
    (status,) = receipt.statuses
    assert status.outcome is Outcome.DISPLAYED and status.names(RCPT)


@pytest.mark.parametrize(("message_class", "outcome"), [
    ("REPORT.IPM.Note.IPNRN", Outcome.DISPLAYED),
    ("REPORT.IPM.Note.IPNNRN", Outcome.DELETED),
    (None, Outcome.DISPLAYED),  # names none: the subject says it
])
def test_a_winmail_dat_read_notice_is_a_read_receipt(
    message_class: str | None, outcome: Outcome
) -> None:
    receipt = parse_receipt(outlook_read(to=TO, recipient=RCPT, form="tnef",
                                         message_class=message_class))
    assert receipt is not None and receipt.kind == "mdn"
    assert receipt.statuses[0].outcome is outcome


def test_a_winmail_dat_that_is_an_ordinary_message_is_no_read_receipt() -> None:
    assert parse_receipt(outlook_read(to=TO, recipient=RCPT, form="tnef",
                                      message_class="IPM.Note")) is None


def test_an_html_message_titled_read_that_says_nothing_of_reading_is_no_receipt() -> None:
    raw = outlook_read(to=TO, recipient=RCPT, form="html").replace(b"was read on", b"see you")
    assert parse_receipt(raw) is None
