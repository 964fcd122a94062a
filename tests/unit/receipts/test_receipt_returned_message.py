"""A report that returns the whole message (RET=FULL; Exchange does so
unasked) is read whatever the size of what it returned: the limit applies
to the report, not to the returned copy, and that copy is never parsed."""

from __future__ import annotations

import tracemalloc

import pytest
from receipt_shapes import exchange_ndr, gmail_bounce, qmail_bounce

from gateway.receipts import Outcome, parse_receipt

TO = "dsn+2Q34SGXL1BR53R0M-0-y7kw7gczsfxem7xbeisn@receipts.example.org"
RCPT = "duty@recipient.example"
MID = "<orig-5678@council.example>"
ENVID = "2Q34SGXL1BR53R0M-0"
MiB = 1024 * 1024


@pytest.mark.parametrize("size", [3 * MiB, 20 * MiB])
def test_a_failure_returning_a_large_message_is_read(size: int) -> None:
    small = parse_receipt(exchange_ndr(to=TO, recipient=RCPT, original_message_id=MID,
                                       envid=ENVID, attachment_size=1000))
    raw = exchange_ndr(to=TO, recipient=RCPT, original_message_id=MID, envid=ENVID,
                       attachment_size=size)
    assert len(raw) > size
    receipt = parse_receipt(raw)
    assert receipt is not None
    assert receipt == small  # the same report, as read from the small one
    (status,) = receipt.statuses
    assert (status.outcome, status.status) == (Outcome.FAILED, "5.2.2")
    assert status.names(RCPT)
    assert receipt.original_envelope_id == ENVID
    assert receipt.original_message_id == MID  # from the returned message's headers


def test_the_returned_message_is_not_held_in_memory_again() -> None:
    """Bounded memory: reading a 20 MiB report costs far less than the
    report itself (the returned copy is skipped, not parsed or copied)."""
    raw = exchange_ndr(to=TO, recipient=RCPT, original_message_id=MID,
                       attachment_size=20 * MiB)
    tracemalloc.start()
    try:
        receipt = parse_receipt(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert receipt is not None
    assert peak < MiB


def test_a_nested_report_in_a_large_message_is_read() -> None:
    """Gmail's shape (a multipart/related first part) with a large returned message."""
    raw = gmail_bounce(to=TO, recipient=RCPT, original_message_id=MID)
    raw = raw.replace(b"(body omitted)", (b"A" * 76 + b"\r\n") * 42_000)
    assert len(raw) > 3 * MiB
    receipt = parse_receipt(raw)
    assert receipt is not None and receipt.statuses[0].outcome is Outcome.FAILED
    assert receipt.original_message_id == MID


def test_a_plain_text_bounce_with_the_message_below_is_read() -> None:
    """qmail writes the whole message under its report, in the same text."""
    raw = qmail_bounce(to=TO, recipient=RCPT) + b"0123456789abcdef" * 200_000 + b"\r\n"
    assert len(raw) > 3 * MiB
    receipt = parse_receipt(raw)
    assert receipt is not None
    assert (receipt.statuses[0].outcome, receipt.statuses[0].status) == (Outcome.FAILED,
                                                                         "5.1.1")
    assert receipt.statuses[0].names(RCPT)


def test_the_limit_still_applies_to_the_report_itself() -> None:
    """A report part larger than the limit is not read (kept whole, too big)."""
    raw = exchange_ndr(to=TO, recipient=RCPT, original_message_id=MID)
    padding = b"".join(b"X-Padding-%d: %s\r\n" % (i, b"p" * 60) for i in range(40_000))
    raw = raw.replace(b"Reporting-MTA: dns;", padding + b"Reporting-MTA: dns;", 1)
    assert len(raw) > 2 * MiB
    assert parse_receipt(raw) is None


def test_a_large_message_that_is_no_report_is_none() -> None:
    raw = (b"From: someone@example.org\r\nSubject: holiday photos\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           b"Content-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + b"QUJD" * 19 * 50_000 + b"\r\n--b--\r\n")
    assert len(raw) > 3 * MiB
    assert parse_receipt(raw) is None


def test_many_parts_are_not_all_read() -> None:
    """A multipart of thousands of parts: the first hundred are read."""
    part = b"--b\r\nContent-Type: text/plain\r\n\r\n" + b"x" * 900 + b"\r\n"
    report = exchange_ndr(to=TO, recipient=RCPT, original_message_id=MID)
    raw = (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + part * 3000
           + b"--b\r\nContent-Type: message/rfc822\r\n\r\n" + report + b"--b--\r\n")
    raw += b"Y" * (2 * MiB)  # the epilogue
    assert parse_receipt(raw) is None  # the report is part 3001: never reached
