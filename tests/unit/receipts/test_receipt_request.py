"""What each recipient's copy goes out with, and the header surgery."""

from __future__ import annotations

from gateway.receipts import ReceiptAddressing
from gateway.receipts.request import RECEIPT_NOTIFY, add_header, for_recipient, take_header, xtext
from gateway.settings import ReceiptSettings

ADDRESSING = ReceiptAddressing([b"k" * 32], "receipts.example.org")
QUEUE = "2Q34SGXL1BR53R0M"


def test_for_recipient_with_dsn_and_mdn() -> None:
    ask = for_recipient(ADDRESSING, ReceiptSettings(domain="receipts.example.org"), QUEUE, 2,
                        "a+b@recipient.example", sender="me@council.example")
    assert ask.mail_from == ADDRESSING.return_path(QUEUE, 2)
    assert ask.notify == RECEIPT_NOTIFY
    assert ask.ret == "HDRS"
    assert ask.envid == f"{QUEUE}-2"
    assert ask.orcpt == "rfc822;a+2Bb@recipient.example"
    assert ask.header == (
        f"Disposition-Notification-To: <{ADDRESSING.mdn_address(QUEUE, 2)}>\r\n".encode()
    )


def test_sender_orcpt_is_kept() -> None:
    ask = for_recipient(ADDRESSING, ReceiptSettings(), QUEUE, 0, "x@y.example",
                        sender="me@c.example", sender_orcpt="rfc822;alias@y.example")
    assert ask.orcpt == "rfc822;alias@y.example"


def test_mdn_only_keeps_the_senders_envelope() -> None:
    ask = for_recipient(ADDRESSING, ReceiptSettings(request_dsn=False), QUEUE, 0, "x@y.example",
                        sender="me@c.example", sender_notify=("NEVER",), sender_envid="E1")
    assert (ask.mail_from, ask.notify, ask.envid, ask.ret) == ("me@c.example", ("NEVER",),
                                                              "E1", None)
    assert ask.header.startswith(b"Disposition-Notification-To: <mdn+")


def test_dsn_only_adds_no_header() -> None:
    ask = for_recipient(ADDRESSING, ReceiptSettings(request_mdn=False), QUEUE, 0, "x@y.example",
                        sender="me@c.example")
    assert ask.header == b""


def test_xtext() -> None:
    assert xtext("a+b=c@d") == "a+2Bb+3Dc@d"
    assert xtext("é") == "+C3+A9"


def test_take_header_removes_every_folded_occurrence() -> None:
    raw = (b"From: a@b\r\nDisposition-Notification-To: <a@b>,\r\n\t<c@d>\r\n"
           b"Subject: s\r\ndisposition-notification-to: e@f\r\n\r\n"
           b"Disposition-Notification-To: in the body stays\r\n")
    out, found = take_header(raw, "Disposition-Notification-To")
    assert found == ("<a@b>, <c@d>", "e@f")
    assert out == (b"From: a@b\r\nSubject: s\r\n\r\n"
                   b"Disposition-Notification-To: in the body stays\r\n")


def test_take_header_without_it_changes_nothing() -> None:
    raw = b"From: a@b\r\n\r\nbody\r\n"
    assert take_header(raw, "Disposition-Notification-To") == (raw, ())


def test_add_header_goes_below_received() -> None:
    raw = b"Received: from x\r\n\tby y; date\r\nReceived: z\r\nFrom: a@b\r\n\r\nbody\r\n"
    out = add_header(raw, b"D: 1\r\n")
    assert out == b"Received: from x\r\n\tby y; date\r\nReceived: z\r\nD: 1\r\nFrom: a@b\r\n\r\nbody\r\n"
    assert add_header(b"From: a@b\r\n\r\n", b"D: 1\r\n") == b"D: 1\r\nFrom: a@b\r\n\r\n"
    assert add_header(raw, b"") == raw
