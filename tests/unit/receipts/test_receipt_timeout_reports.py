"""The timeout notice names what did come back about each recipient.

"No delivery or read receipt has come back" was said of a recipient whose
mail system reported a forward to a personal mailbox (a possible breach the
sender must hear of), who deleted it unread, whose delivery was delayed, or
about whom a report came that the gateway could not verify.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta

from gateway.receipts.letters import CameBack, Contact, timeout_notice

TEAM = Contact("duty.team@recipient.example", "Duty Team", "01632 960001")
HEAD = Contact("head@school.example", "Head Teacher", "01632 960002")
HOME = "duty.team.home@gmail.example"
NONE_CAME = "No delivery or read receipt has come back from these recipients"


def body(**overrides: object) -> str:
    values: dict[str, object] = {
        "hostname": "gw.test.example", "marking": "OFFICIAL-SENSITIVE",
        "sender": "caseworker@council.example", "queue_id": "Q1",
        "message_id": "<m1@council.example>", "contacts": [TEAM],
        "waited": timedelta(hours=1), "password_held": True, "sender_has_password": False,
    }
    values.update(overrides)
    raw = timeout_notice(**values)  # type: ignore[arg-type]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return " ".join(str(message.get_content()).split())  # type: ignore[attr-defined]


def test_a_forward_outside_is_named_with_what_to_do() -> None:
    text = body(came_back={TEAM.address: CameBack(delivered_outside=(HOME,),
                                                   opened_outside=(HOME,))})
    assert NONE_CAME not in text
    assert (f"it was forwarded to {HOME}, a mailbox outside the organisations you may "
            "share with, and opened there") in text
    assert "Please telephone them before anything else is sent" in text
    assert "tell your data protection officer" in text
    # The password emailed to them would follow the message out.
    assert f"Do not have the password emailed to {TEAM.address}" in text
    assert "Duty Team" in text and "01632 960001" in text


def test_a_read_receipt_from_outside_alone_says_opened_there() -> None:
    text = body(came_back={TEAM.address: CameBack(opened_outside=(HOME,))})
    assert f"it was opened at {HOME}, a mailbox outside" in text
    assert "forwarded to" not in text


def test_a_forward_to_an_address_with_a_hidden_character_shows_it() -> None:
    spoofed = "duty.team\u202e@gmail.example"
    text = body(came_back={TEAM.address: CameBack(delivered_outside=(spoofed,))})
    assert spoofed not in text and "duty.team" in text and "gmail.example" in text


def test_a_deletion_unread_is_named() -> None:
    text = body(contacts=[TEAM, HEAD], came_back={HEAD.address: CameBack(deleted_unread=True)})
    assert "they deleted it without reading it" in text
    # The team sent nothing at all, and is still said to have.
    silent, reported = text.split("but other reports about it have:")
    assert NONE_CAME in silent and TEAM.address in silent and HEAD.address not in silent
    assert HEAD.address in reported and TEAM.address not in reported
    assert "data protection officer" not in text and "Do not have the password" not in text


def test_a_deletion_after_delivery_is_named_under_unread() -> None:
    text = body(contacts=[], unread=[HEAD],
                came_back={HEAD.address: CameBack(deleted_unread=True)})
    assert "confirmed delivery, but no read receipt" in text
    assert "they deleted it without reading it" in text


def test_a_delay_is_named_with_its_last_report() -> None:
    last = datetime(2025, 3, 4, 9, 30, tzinfo=UTC).timestamp()
    text = body(came_back={TEAM.address: CameBack(delayed_last=last)})
    assert "delivery was delayed (last report on 04 March 2025 09:30 UTC)" in text
    assert NONE_CAME not in text


def test_an_unverified_report_is_named_and_not_relied_on() -> None:
    text = body(came_back={TEAM.address: CameBack(unverified=("delivered", "failed"))})
    assert ("a report came that the gateway could not verify, saying it was delivered; "
            "it does not count as a receipt") in text
    assert "could not verify, saying it could not be delivered" in text
    assert "Please telephone them to check that it arrived" in text


def test_reports_that_promise_no_receipt_are_named() -> None:
    text = body(came_back={TEAM.address: CameBack(passed_on=True, to_a_list=True,
                                                   unclear=True)})
    assert "another system that sends no receipts" in text
    assert "members of a mailing list" in text
    assert "could not make sense of" in text


def test_nothing_came_back_reads_as_before() -> None:
    text = body(came_back={})
    assert NONE_CAME in text and "other reports" not in text
    assert "data protection officer" not in text
