"""parse_receipt over the shapes real systems send: one table of cases."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from receipt_shapes import (
    exchange_dsn,
    exchange_mdn,
    gmail_bounce,
    outlook_text_read,
    postfix_dsn,
    qmail_bounce,
    thunderbird_mdn,
)

from gateway.receipts import Outcome, parse_receipt

TO = "dsn+2Q34SGXL1BR53R0M-0-y7kw7gczsfxem7xbeisn@receipts.example.org"
RCPT = "duty@recipient.example"
MID = "<orig-1234@council.example>"
ENVID = "2Q34SGXL1BR53R0M-0"

# name, bytes, kind, outcome, status, envid, message id, standard
CASES: list[tuple[str, Callable[[], bytes], str, Outcome, str | None, str | None, str | None,
                  bool]] = [
    ("postfix_delivered",
     lambda: postfix_dsn(to=TO, recipient=RCPT, envid=ENVID, original_message_id=MID,
                         orcpt=f"rfc822;{RCPT}"),
     "dsn", Outcome.DELIVERED, "2.0.0", ENVID, MID, True),
    ("postfix_failed",
     lambda: postfix_dsn(to=TO, recipient=RCPT, action="failed", status="5.1.1", envid=ENVID),
     "dsn", Outcome.FAILED, "5.1.1", ENVID, None, True),
    ("postfix_delayed",
     lambda: postfix_dsn(to=TO, recipient=RCPT, action="delayed", status="4.4.1"),
     "dsn", Outcome.DELAYED, "4.4.1", None, None, True),
    ("exchange_delivered",
     lambda: exchange_dsn(to=TO, recipient=RCPT, envid=ENVID, original_message_id=MID),
     "dsn", Outcome.DELIVERED, "2.0.0", ENVID, MID, True),
    ("exchange_base64_no_report_type",
     lambda: exchange_dsn(to=TO, recipient=RCPT, envid=ENVID, base64_status=True,
                          report_type=False),
     "dsn", Outcome.DELIVERED, "2.0.0", ENVID, None, True),
    ("gmail_failure",
     lambda: gmail_bounce(to=TO, recipient=RCPT, original_message_id=MID),
     "dsn", Outcome.FAILED, "5.1.1", None, MID, True),
    ("exchange_mdn_read",
     lambda: exchange_mdn(to=TO, recipient=RCPT, original_message_id=MID),
     "mdn", Outcome.DISPLAYED, None, None, MID, True),
    ("exchange_mdn_deleted",
     lambda: exchange_mdn(to=TO, recipient=RCPT, original_message_id=MID,
                          disposition="deleted"),
     "mdn", Outcome.DELETED, None, None, MID, True),
    ("thunderbird_mdn",
     lambda: thunderbird_mdn(to=TO, recipient=RCPT, original_message_id=MID),
     "mdn", Outcome.DISPLAYED, None, None, MID, True),
    ("thunderbird_mdn_without_original_message_id",
     lambda: thunderbird_mdn(to=TO, recipient=RCPT, original_message_id=None),
     "mdn", Outcome.DISPLAYED, None, None, None, True),
    # RFC 6533, as Postfix reports on SMTPUTF8 mail.
    ("postfix_global_delivered",
     lambda: postfix_dsn(to=TO, recipient=RCPT, envid=ENVID, original_message_id=MID,
                         smtputf8=True),
     "dsn", Outcome.DELIVERED, "2.0.0", ENVID, MID, True),
    ("postfix_global_failed_no_envid",
     lambda: postfix_dsn(to=TO, recipient=RCPT, action="failed", status="5.1.1",
                         original_message_id=MID, smtputf8=True),
     "dsn", Outcome.FAILED, "5.1.1", None, MID, True),
    ("exchange_global_mdn",
     lambda: exchange_mdn(to=TO, recipient=RCPT, original_message_id=MID).replace(
         b"message/disposition-notification\r\n",
         b"message/global-disposition-notification\r\n"),
     "mdn", Outcome.DISPLAYED, None, None, MID, True),
    ("qmail_text_bounce",
     lambda: qmail_bounce(to=TO, recipient=RCPT),
     "dsn", Outcome.FAILED, "5.1.1", None, None, False),
    ("outlook_text_read",
     lambda: outlook_text_read(to=TO, recipient=RCPT),
     "mdn", Outcome.DISPLAYED, None, None, None, False),
]


@pytest.mark.parametrize(
    ("name", "build", "kind", "outcome", "status", "envid", "message_id", "standard"),
    CASES, ids=[c[0] for c in CASES],
)
def test_shapes(
    name: str, build: Callable[[], bytes], kind: str, outcome: Outcome, status: str | None,
    envid: str | None, message_id: str | None, standard: bool,
) -> None:
    receipt = parse_receipt(build())
    assert receipt is not None, name
    assert receipt.kind == kind
    assert receipt.original_envelope_id == envid
    assert receipt.original_message_id == message_id
    assert receipt.standard is standard
    (first, *rest) = receipt.statuses
    assert not rest
    assert first.outcome is outcome
    assert first.status == status
    assert first.names(RCPT)


def test_orcpt_is_xtext_decoded() -> None:
    receipt = parse_receipt(postfix_dsn(to=TO, recipient="a.b@recipient.example",
                                        orcpt="rfc822;a+2Bb@recipient.example"))
    assert receipt is not None
    assert receipt.statuses[0].original_recipient == "a+b@recipient.example"


def test_reporting_and_disposition_are_kept() -> None:
    dsn = parse_receipt(postfix_dsn(to=TO, recipient=RCPT))
    mdn = parse_receipt(thunderbird_mdn(to=TO, recipient=RCPT, original_message_id=MID))
    assert dsn is not None and mdn is not None
    assert dsn.reporting == "dns; mx.recipient.example"
    assert dsn.statuses[0].diagnostic is not None
    assert mdn.statuses[0].disposition == "manual-action/MDN-sent-manually; displayed"


@pytest.mark.parametrize(("written", "kept", "outcome"), [
    ("deleted/Jack Wilson 9434765919 DOB 14/06/2013",
     "automatic-action/MDN-sent-automatically; deleted", Outcome.DELETED),
    ("Displayed / Error,warning, see Jack Wilson",
     "automatic-action/MDN-sent-automatically; displayed/error,warning", Outcome.DISPLAYED),
    ("processed/expired", "automatic-action/MDN-sent-automatically; processed/expired",
     Outcome.OTHER),
    ("Jack Wilson read it", None, Outcome.OTHER),
])
def test_a_disposition_is_kept_in_the_rfcs_words_only(
    written: str, kept: str | None, outcome: Outcome
) -> None:
    """The recipient's side writes the line: a modifier or an unknown type
    can be any text, which the trail would keep (RFC 8098 section 3.2.6)."""
    mdn = parse_receipt(exchange_mdn(to=TO, recipient=RCPT, original_message_id=MID,
                                     disposition=written))
    assert mdn is not None
    (status,) = mdn.statuses
    assert (status.disposition, status.outcome) == (kept, outcome)


GARBAGE = [
    b"",
    b"\x00\x01\x02 not mail at all",
    b"Subject: hello\r\n\r\nJust a normal message, not a receipt.\r\n",
    b"From: someone@example.org\r\nSubject: Out of office\r\n\r\nI am away until Monday.\r\n",
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n"
    b"--x\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
    b"Final-Recipient: rfc822; a@b\r\nAction: exploded\r\n--x--\r\n",
    b"Content-Type: message/disposition-notification\r\n\r\nFinal-Recipient: rfc822;a@b\r\n",
    b"Content-Type: multipart/report; boundary=\"unterminated\r\n\r\n--unterminated\r\n",
    b"Subject: Read: my holiday\r\n\r\nI read the book you sent.\r\n",
    b"X" * (3 * 1024 * 1024),
]


@pytest.mark.parametrize("raw", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_is_not_a_receipt(raw: bytes) -> None:
    assert parse_receipt(raw) is None


@pytest.mark.parametrize(("name", "build"), [(c[0], c[1]) for c in CASES], ids=[c[0] for c in CASES])
def test_the_report_keeps_its_own_message_id(name: str, build: Callable[[], bytes]) -> None:
    """What tells a replayed report from a new one (the desk's dedupe)."""
    raw = build()
    receipt = parse_receipt(raw)
    assert receipt is not None
    own = next((line.split(":", 1)[1].strip() for line in raw.decode("utf-8", "replace")
                .splitlines() if line.lower().startswith("message-id:")), None)
    assert receipt.report_id == own, name  # None for the shapes that carry none
    if own is not None:
        assert receipt.report_id != receipt.original_message_id


def _with_charset(where: str, charset: bytes) -> bytes:
    if where == "text":
        return (b"From: reader@example.org\r\nSubject: Read: Private and Confidential\r\n"
                b"Content-Type: text/plain; charset=\"" + charset + b"\"\r\n\r\n"
                b"Your message was read on Monday \xd5.\r\n")
    return (b"From: MAILER-DAEMON@example.org\r\nMessage-ID: <report-1@example.org>\r\n"
            b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nDelivered.\r\n"
            b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
            b"Final-Recipient: rfc822; a@example.org\r\nAction: delivered\r\nStatus: 2.0.0\r\n"
            b"--b\r\nContent-Type: text/rfc822-headers; charset=\"" + charset + b"\"\r\n\r\n"
            b"Message-ID: <original-1@gateway.example>\r\nSubject: caf\xe9\r\n--b--\r\n")


@pytest.mark.parametrize("where", ["text", "headers"])
def test_a_charset_with_a_nul_in_its_name_reads_as_utf8(where: str) -> None:
    # The stdlib raises ValueError ("embedded null character") for such a
    # name where it expects LookupError: it must not make a receipt unreadable.
    found = parse_receipt(_with_charset(where, b"u\x00"))
    assert found == parse_receipt(_with_charset(where, b"utf-8"))
    if where == "headers":
        assert found is not None and found.original_message_id == "<original-1@gateway.example>"


@pytest.mark.parametrize("action", ["relayed", "expanded"])
def test_relayed_and_expanded_are_not_delivery(action: str) -> None:
    """RFC 3464: "relayed" went to a system that sends no DSN, "expanded"
    to a list; neither says the message arrived."""
    receipt = parse_receipt(postfix_dsn(to=TO, recipient=RCPT, action=action, envid=ENVID))
    assert receipt is not None
    (status,) = receipt.statuses
    assert status.outcome is not Outcome.DELIVERED
    assert status.outcome.value == action


# RFC 3464: a DSN's Status class must agree with its Action.  What does not
# agree confirms nothing (OTHER) and keeps what it said (`action`).
AGREEMENT = [
    ("delivered", "2.0.0", Outcome.DELIVERED),
    ("delivered", "2.1.5 (ok)", Outcome.DELIVERED),
    ("delivered", "5.1.1", Outcome.OTHER),
    ("delivered", "4.4.1", Outcome.OTHER),
    ("delivered", "", Outcome.OTHER),
    ("failed", "5.1.1", Outcome.FAILED),
    ("failed", "4.4.7", Outcome.FAILED),  # Postfix gives up on a 4.x.x
    ("failed", "2.0.0", Outcome.OTHER),
    ("delayed", "4.4.1", Outcome.DELAYED),
]


@pytest.mark.parametrize(("action", "status", "outcome"), AGREEMENT)
def test_a_dsn_status_must_agree_with_its_action(
    action: str, status: str, outcome: Outcome
) -> None:
    raw = postfix_dsn(to=TO, recipient=RCPT, action=action, status=status, envid=ENVID)
    if not status:
        raw = raw.replace(b"Status: \r\n", b"")
    receipt = parse_receipt(raw)
    assert receipt is not None
    (found,) = receipt.statuses
    assert (found.outcome, found.action) == (outcome, action)


def test_an_mdn_keeps_who_it_is_from() -> None:
    """An MDN naming no Final-Recipient is about the reader it comes from."""
    receipt = parse_receipt(exchange_mdn(to=TO, recipient=RCPT, original_message_id=MID))
    assert receipt is not None and receipt.from_address == RCPT
    dsn = parse_receipt(postfix_dsn(to=TO, recipient=RCPT, envid=ENVID))
    assert dsn is not None and dsn.from_address is None


def test_utf8_fields_are_read_as_utf8_not_one_replacement_a_byte() -> None:
    """SMTPUTF8 systems write report fields in raw UTF-8 (RFC 6532): the
    audit trail had "zo\ufffd\ufffd.head@..." for a final recipient."""
    final = "zoë.head@school.example.sch.uk"
    raw = postfix_dsn(to=TO, recipient=final, action="failed", status="5.2.2")
    raw = raw.replace(b"Recipient address rejected: User unknown",
                      "Postfach voll – Jürgen".encode()).replace(
        b"Reporting-MTA: dns; mx.recipient.example",
        "Reporting-MTA: dns; mx.çhildrens.example".encode())
    receipt = parse_receipt(raw)
    assert receipt is not None and receipt.reporting == "dns; mx.çhildrens.example"
    (status,) = receipt.statuses
    assert status.final_recipient == final
    assert status.diagnostic is not None and status.diagnostic.endswith("Postfach voll – Jürgen")

    mdn = exchange_mdn(to=TO, recipient=final, original_message_id=MID).replace(
        b"Reporting-UA: EXCH01.recipient.example; Microsoft Exchange Server 2019",
        "Reporting-UA: Zoë’s PC; Outlook".encode()).replace(
        b"MDN-sent-automatically; displayed",
        "MDN-sent-automatically; displayed (lu par Zoë)".encode())
    read = parse_receipt(mdn)
    assert read is not None and read.reporting == "Zoë’s PC; Outlook"
    assert read.from_address == final
    (status,) = read.statuses
    assert status.final_recipient == final
    # A comment after the disposition type is no other type.
    assert status.outcome is Outcome.DISPLAYED
    # RFC 8098's words only: the comment is the reader's text, never kept.
    assert status.disposition == "automatic-action/MDN-sent-automatically; displayed"


@pytest.mark.parametrize(("field", "address"), [
    ("utf-8; zo\\x{EB}.head@school.example.sch.uk", "zoë.head@school.example.sch.uk"),
    ("utf-8; zoë.head@school.example.sch.uk", "zoë.head@school.example.sch.uk"),
    ("utf-8; \\x{D800}x\\x{110000}@school.example.sch.uk", "\ufffdx\ufffd@school.example.sch.uk"),
    ("rfc822; a+2Bb+00@recipient.example", "a+b@recipient.example"),
])
def test_rfc6533_utf8_addresses_are_decoded(field: str, address: str) -> None:
    raw = postfix_dsn(to=TO, recipient="x@recipient.example").replace(
        b"Final-Recipient: rfc822; x@recipient.example", f"Final-Recipient: {field}".encode())
    receipt = parse_receipt(raw)
    assert receipt is not None and receipt.statuses[0].final_recipient == address


def test_fields_carry_no_control_characters_or_lone_surrogates() -> None:
    """Nothing a report says; a lone surrogate cannot even be written as
    UTF-8 (the audit trail, the sender's copy)."""
    raw = postfix_dsn(to=TO, recipient=RCPT, action="failed", status="5.2.2").replace(
        b"User unknown", b"User\x07 un\x1bknown \xed\xa0\x80 \xff")
    receipt = parse_receipt(raw)
    assert receipt is not None
    diagnostic = receipt.statuses[0].diagnostic
    assert diagnostic is not None and diagnostic.endswith("User unknown \ufffd\ufffd\ufffd \ufffd")
    diagnostic.encode("utf-8")


def test_a_global_report_carries_utf8_fields() -> None:
    """RFC 6533: UTF-8 in the fields of a global delivery status, whether
    8bit (SMTPUTF8) or base64 (through a 7-bit hop)."""
    final = "zoë.head@school.example.sch.uk"
    raw = postfix_dsn(to=TO, recipient=final, envid=ENVID, smtputf8=True).replace(
        b"Original-Envelope-Id", "X-Note: für\r\nOriginal-Envelope-Id".encode())
    receipt = parse_receipt(raw)
    assert receipt is not None and receipt.original_envelope_id == ENVID
    assert receipt.statuses[0].final_recipient == final
    head, _, rest = raw.partition(b"Content-Type: message/global-delivery-status\r\n\r\n")
    fields, _, tail = rest.partition(b"\r\n--")
    encoded = (head + b"Content-Type: message/global-delivery-status\r\n"
               b"Content-Transfer-Encoding: base64\r\n\r\n"
               + base64.encodebytes(fields).replace(b"\n", b"\r\n") + b"\r\n--" + tail)
    receipt = parse_receipt(encoded)
    assert receipt is not None and receipt.original_envelope_id == ENVID
    assert receipt.statuses[0].final_recipient == final
    assert receipt.statuses[0].outcome is Outcome.DELIVERED
