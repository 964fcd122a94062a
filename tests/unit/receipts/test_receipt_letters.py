"""The timeout notice's words: what the sender can really do, and durations
as people write them."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta

import pytest

from gateway.receipts.letters import Contact, timeout_notice

CONTACT = Contact("duty@recipient.example", "Recipient Team", "01632 960001")


def body(**overrides: object) -> str:
    values: dict[str, object] = {
        "hostname": "gw.test.example", "marking": "OFFICIAL-SENSITIVE",
        "sender": "caseworker@council.example", "queue_id": "Q1",
        "message_id": "<m1@council.example>", "contacts": [CONTACT],
        "waited": timedelta(days=2), "password_held": True, "sender_has_password": True,
    }
    values.update(overrides)
    raw = timeout_notice(**values)  # type: ignore[arg-type]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    text = message.get_content()  # type: ignore[attr-defined]
    return " ".join(str(text).split())


@pytest.mark.parametrize(("waited", "words"), [
    (timedelta(seconds=1), "more than 1 second ago"),
    (timedelta(seconds=59), "59 seconds"),
    (timedelta(minutes=1), "1 minute ago"),
    (timedelta(minutes=30), "30 minutes"),
    (timedelta(hours=1), "1 hour ago"),
    (timedelta(hours=5), "5 hours"),
    (timedelta(days=1), "1 day ago"),
    (timedelta(days=2), "2 days"),
])
def test_durations_read_as_people_write_them(waited: timedelta, words: str) -> None:
    text = body(waited=waited)
    assert words in text
    wrong = re.search(r"\b(0 \w+|1 (seconds|minutes|hours|days))\b", text)
    assert wrong is None, wrong


def test_a_password_the_sender_wrote_may_be_read_out() -> None:
    text = body(sender_has_password=True)
    assert "read it out" in text


def test_a_password_the_gateway_made_is_never_said_to_be_the_senders() -> None:
    """Protect mode: the gateway made the password; the sender never had it."""
    text = body(sender_has_password=False)
    assert "read it out" not in text and "you may read" not in text
    assert "you do not have" in text
    assert "gateway passwords release" in text and "Q1" in text


def test_no_password_words_when_none_is_held() -> None:
    text = body(password_held=False, sender_has_password=False)
    assert "password" not in text.lower()


def test_recipients_who_never_read_it_are_named_as_such() -> None:
    text = body(contacts=[], unread=[CONTACT])
    assert "duty@recipient.example" in text and "no read receipt" in text


@pytest.mark.parametrize("kind,outcome", [("dsn", "failed"), ("dsn", "delivered"),
                                          ("mdn", "displayed")])
def test_a_forwarded_report_does_not_say_the_sender_asked_for_it(kind: str, outcome: str) -> None:
    """A failure is reported unasked (RFC 3461's default) and the gateway
    asks for the other reports itself: the staff member asked for none."""
    from gateway.receipts.letters import forwarded_receipt
    from gateway.receipts.parse import Outcome, Receipt, RecipientStatus

    status = RecipientStatus(Outcome(outcome), final_recipient="team@recipient.example")
    raw = forwarded_receipt(
        hostname="gateway.example.org", sender="jo@council.example",
        receipt=Receipt(kind, (status,)), status=status, recipient="team@recipient.example",
        queue_id="Q1", message_id="<m1@council.example>", sender_envid=None, sender_orcpt=None,
    )
    text = email.message_from_bytes(raw, policy=email.policy.default)
    words = " ".join(
        part.get_content() for part in text.walk() if part.get_content_type() == "text/plain"
    )
    assert "forwards you a copy" in words
    assert "asked" not in words


def _copy(kind: str, sender: str, status: object, reporting: str) -> bytes:
    from gateway.receipts.letters import forwarded_receipt
    from gateway.receipts.parse import Receipt, RecipientStatus

    assert isinstance(status, RecipientStatus)
    return forwarded_receipt(
        hostname="gateway.example.org", sender=sender,
        receipt=Receipt(kind, (status,), reporting=reporting), status=status,
        recipient="team@recipient.example", queue_id="Q1", message_id="<m1@council.example>",
        sender_envid="Q1-0" if kind == "dsn" else None, sender_orcpt="utf-8; zoë@council.example",
    )


@pytest.mark.parametrize("sender", ["jo@council.example", "zoë.jones@council.example"])
def test_a_report_with_utf8_fields_is_copied_to_the_sender(sender: str) -> None:
    """RFC 6532/6533 receipts carry UTF-8 fields (a German server's reply, a
    reader's name); the copy was never written (UnicodeEncodeError), and
    with it the receipt was refused with 451 for ever."""
    from gateway.receipts.parse import Outcome, RecipientStatus

    failed = RecipientStatus(
        Outcome.FAILED, final_recipient="jürgen.müller@recipient.example", status="5.2.2",
        diagnostic="smtp; 552 5.2.2 Postfach voll – Jürgen", action="failed")
    read = RecipientStatus(
        Outcome.DISPLAYED, final_recipient="jürgen.müller@recipient.example",
        disposition="manual-action/MDN-sent-manually; displayed (lu par Zoë)")
    for kind, status, reporting in [("dsn", failed, "dns; mx.çhildrens.example"),
                                    ("mdn", read, "Zoë’s PC; Outlook")]:
        raw = _copy(kind, sender, status, reporting)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert message["To"] == sender
        (report,) = [p for p in message.walk()
                     if p.get_content_type().startswith("message/")]
        fields = report.as_bytes() if kind == "mdn" else b"".join(
            p.as_bytes() for p in report.get_payload())
        # RFC 3464 / 8098 fields are ASCII: UTF-8 in RFC 6533's forms.
        assert fields.isascii()
        assert b"Final-Recipient: utf-8; j\\x{FC}rgen.m\\x{FC}ller@recipient.example" in fields
        assert b"Original-Recipient: utf-8; zo\\x{EB}@council.example" in fields
        if kind == "dsn":
            assert b"Reporting-MTA: dns; mx.\\x{E7}hildrens.example" in fields
            assert b"Postfach voll \\x{2013} J\\x{FC}rgen" in fields
        else:
            assert b"Reporting-UA: Zo\\x{EB}\\x{2019}s PC; Outlook" in fields
            assert b"displayed (lu par Zo\\x{EB})" in fields
        words = " ".join(p.get_content() for p in message.walk()
                         if p.get_content_type() == "text/plain")
        assert reporting in words
        if status.diagnostic:
            assert status.diagnostic in words
        # Written whole to an ASCII sender; raw UTF-8 (SMTPUTF8) only to an
        # internationalised one.
        assert raw.split(b"\r\n\r\n", 1)[0].isascii() is sender.isascii()


def test_a_very_long_utf8_field_still_makes_a_copy_with_lines_smtp_allows() -> None:
    from gateway.receipts.parse import Outcome, RecipientStatus

    long = "中文" * 250
    for kind, status in [
        ("dsn", RecipientStatus(Outcome.DELAYED, status="4.2.2", diagnostic=long)),
        ("mdn", RecipientStatus(Outcome.DISPLAYED, disposition=long)),
    ]:
        raw = _copy(kind, "jo@council.example", status, long)
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_letters_to_an_internationalised_address_name_it_as_written() -> None:
    """They go under SMTPUTF8; their To: field was an encoded word
    ("=?utf-8?q?zo=C3=AB?=@..."), which may not stand in an address."""
    from gateway.receipts.letters import (
        expired_before_receipt_notice,
        password_email_failed_notice,
        password_to_recipient,
        password_to_sender,
    )

    to = "zoë.jones@council.example"
    common = {"hostname": "gw.test.example", "marking": "OFFICIAL-SENSITIVE",
              "queue_id": "Q1", "message_id": "<m1@council.example>"}
    letters = [
        password_to_recipient(**common, recipient=to, password="x", sent_at=0.0),  # type: ignore[arg-type]
        password_to_sender(**common, sender=to, password="x", contacts=[CONTACT]),  # type: ignore[arg-type]
        expired_before_receipt_notice(**common, sender=to, contact=CONTACT,  # type: ignore[arg-type]
                                      confirmed_at=0.0, expired_at=0.0),
        password_email_failed_notice(**common, sender=to, contact=CONTACT,  # type: ignore[arg-type]
                                     reply="550 5.1.1", expires=0.0),
        timeout_notice(**common, sender=to, contacts=[CONTACT],  # type: ignore[arg-type]
                       waited=timedelta(days=1), password_held=False),
    ]
    for raw in letters:
        assert f"\r\nTo: {to}\r\n".encode() in raw
