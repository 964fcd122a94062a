"""Which status of a report is about the recipient: plus-addressing
(RFC 5233), Message-IDs with comments, and what a recipient's token
authenticates on its own (ReceiptDesk._about: no database involved)."""

from __future__ import annotations

from typing import Any

import pytest
from receipt_shapes import exchange_mdn, postfix_dsn

from gateway.receipts import Outcome, parse_receipt
from gateway.receipts.desk import ReceiptDesk
from gateway.receipts.parse import message_id_core, same_mailbox

TO = "dsn+2Q34SGXL1BR53R0M-0-y7kw7gczsfxem7xbeisn@receipts.example.org"
PLUS = "jo.bloggs+case@childrens.example"
MID = "<orig-9012@council.example>"
ENVID = "2Q34SGXL1BR53R0M-0"
X500 = ("IMCEAEX-_O=EXCHANGELABS_OU=EXCHANGE+20ADMINISTRATIVE+20GROUP_CN=RECIPIENTS_"
        "CN=abc123-duty@EURPRD01.PROD.OUTLOOK.COM")


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


@pytest.mark.parametrize(("value", "core"), [
    ("<a.b@host.example>", "a.b@host.example"),
    ("  <a.b@host.example>  ", "a.b@host.example"),
    ("<a.b@host.example> (added by postmaster@childrens)", "a.b@host.example"),
    ("(comment (nested)) <a.b@host.example>", "a.b@host.example"),
    ("(was <old@x.example>) <a.b@host.example>", "a.b@host.example"),
    ("(escaped \\) paren) <a.b@host.example>", "a.b@host.example"),
    ("a.b@host.example", "a.b@host.example"),
    ("a.b@host.example (no brackets)", "a.b@host.example"),
    ("<Mixed.Case@Host.example>", "Mixed.Case@Host.example"),
    ("", ""),
    (None, ""),
    ("(only a comment)", ""),
])
def test_message_id_core(value: str | None, core: str) -> None:
    assert message_id_core(value) == core


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


@pytest.mark.parametrize("final", ["duty.alias@childrens.example", X500])
def test_on_the_token_a_lone_status_without_an_envid_is_the_recipients(final: str) -> None:
    """What a read receipt already had: the token names the recipient,
    whatever address the report gives (`_outside` judges that address)."""
    receipt = _dsn(final)
    status = ReceiptDesk._about(receipt, ENVID, _row("duty@childrens.example"), token=True)
    assert status is not None and status == receipt.statuses[0]
    # Without a token nothing says it is about this recipient.
    assert ReceiptDesk._about(receipt, ENVID, _row("duty@childrens.example")) is None


def test_several_statuses_none_naming_the_recipient_are_not_guessed() -> None:
    raw = postfix_dsn(to=TO, recipient="a@childrens.example", original_message_id=MID)
    raw = raw.replace(b"Final-Recipient: rfc822; a@childrens.example\r\n",
                      b"Final-Recipient: rfc822; b@childrens.example\r\n"
                      b"Action: delivered\r\nStatus: 2.0.0\r\n\r\n"
                      b"Final-Recipient: rfc822; a@childrens.example\r\n")
    receipt = parse_receipt(raw)
    assert receipt is not None and len(receipt.statuses) == 2
    assert ReceiptDesk._about(receipt, ENVID, _row("duty@childrens.example"), token=True) is None


def test_a_message_id_with_a_comment_is_the_message() -> None:
    receipt = _dsn(PLUS, ENVID, original=MID + " (added by postmaster@childrens)")
    assert receipt.original_message_id is not None
    for token in (True, False):
        assert ReceiptDesk._about(receipt, ENVID, _row(), token=token) is not None


def test_without_a_token_another_message_id_is_another_message() -> None:
    receipt = _dsn(PLUS, ENVID, original="<someone-else@elsewhere.example>")
    assert ReceiptDesk._about(receipt, ENVID, _row()) is None
    # On the token, whether it names another message of ours is the
    # caller's question (_names_another, over the database).
    assert ReceiptDesk._about(receipt, ENVID, _row(), token=True) is not None


def test_a_read_receipt_with_a_commented_message_id_matches() -> None:
    receipt = parse_receipt(exchange_mdn(to=TO, recipient=PLUS,
                                         original_message_id=MID + " (comment)"))
    assert receipt is not None
    assert ReceiptDesk._about(receipt, ENVID, _row()) is not None


@pytest.mark.parametrize(("written", "read"), [
    (PLUS, PLUS),  # "+ca" is no xtext: a subaddress, as written
    ("jo.bloggs+2Bcase@childrens.example", PLUS),
    ("jo+CASE@childrens.example", "jo+CASE@childrens.example"),  # +CA is no ASCII character
    ("a+20b@childrens.example", "a b@childrens.example"),
])
def test_only_xtext_is_decoded(written: str, read: str) -> None:
    receipt = parse_receipt(postfix_dsn(to=TO, recipient=written))
    assert receipt is not None and receipt.statuses[0].final_recipient == read
