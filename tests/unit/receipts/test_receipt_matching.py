"""Which status of a report is about the recipient: plus-addressing
(RFC 5233) (ReceiptDesk._about: no database involved)."""

from __future__ import annotations

from typing import Any

import pytest
from receipt_shapes import postfix_dsn

from gateway.receipts import Outcome, parse_receipt
from gateway.receipts.desk import ReceiptDesk
from gateway.receipts.parse import same_mailbox

TO = "dsn+2Q34SGXL1BR53R0M-0-y7kw7gczsfxem7xbeisn@receipts.example.org"
PLUS = "jo.bloggs+case@childrens.example"
MID = "<orig-9012@council.example>"
ENVID = "2Q34SGXL1BR53R0M-0"


@pytest.mark.parametrize(("address", "recipient", "same"), [
    ("jo.bloggs@childrens.example", PLUS, True),  # the mailbox +case is delivered to
    ("Jo.Bloggs@CHILDRENS.example", PLUS, True),
    ("jo.bloggs@childrens.example.", PLUS, True),
    (PLUS, PLUS, True),
    ("JO.BLOGGS+CASE@childrens.example", PLUS, True),
    ("jo.bloggs+other@childrens.example", PLUS, False),  # another detail
    ("jo.bloggs@elsewhere.example", PLUS, False),  # another domain
    ("jo@childrens.example", PLUS, False),
    ("jo.bloggs+case@childrens.example", "jo.bloggs@childrens.example", False),  # not widened
    ("jo.bloggs@childrens.example", "jo.bloggs.case@childrens.example", False),
    ("@childrens.example", "+case@childrens.example", False),
    ("jo.bloggs", "jo.bloggs+case", False),  # no domain: no mailbox to compare
])
def test_same_mailbox(address: str, recipient: str, same: bool) -> None:
    assert same_mailbox(address, recipient) is same


def test_a_status_naming_the_mailbox_without_the_detail_names_the_recipient() -> None:
    receipt = parse_receipt(postfix_dsn(to=TO, recipient="jo.bloggs@childrens.example"))
    assert receipt is not None
    assert receipt.statuses[0].names(PLUS)
    other = parse_receipt(postfix_dsn(to=TO, recipient="jo.bloggs+other@childrens.example"))
    assert other is not None and not other.statuses[0].names(PLUS)


def _row(recipient: str = PLUS, message_id: str | None = MID) -> dict[str, Any]:
    return {"recipient": recipient, "message_id": message_id}


def _dsn(final: str, envid: str | None = None, original: str | None = MID,
         **kwargs: Any) -> Any:
    receipt = parse_receipt(postfix_dsn(to=TO, recipient=final, envid=envid,
                                        original_message_id=original, **kwargs))
    assert receipt is not None
    return receipt


@pytest.mark.parametrize("envid", [ENVID, None])
def test_plus_addressing_final_recipient_is_the_recipient(envid: str | None) -> None:
    status = ReceiptDesk._about(_dsn("jo.bloggs@childrens.example", envid), ENVID, _row())
    assert status is not None and status.outcome is Outcome.DELIVERED



@pytest.mark.parametrize(("written", "read"), [
    (PLUS, PLUS),  # "+ca" is no xtext: a subaddress, as written
    ("jo.bloggs+2Bcase@childrens.example", PLUS),
    ("jo+CASE@childrens.example", "jo+CASE@childrens.example"),  # +CA is no ASCII character
    ("a+20b@childrens.example", "a b@childrens.example"),
])
def test_only_xtext_is_decoded(written: str, read: str) -> None:
    receipt = parse_receipt(postfix_dsn(to=TO, recipient=written))
    assert receipt is not None and receipt.statuses[0].final_recipient == read
