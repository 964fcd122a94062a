"""Bounces for internationalised mail (RFC 6531-6533) and the transport's
reading of RCPT replies (RFC 5321 4.5.3.1.10)."""

from __future__ import annotations

import email
import email.policy

import pytest
from faker import Faker

from gateway.deliver.bounce import build_bounce, dsn_address
from gateway.deliver.transport import _rcpt_reply, too_many_recipients
from gateway.model import RecipientResult

_FAKE = Faker("en_GB")
_FAKE.seed_instance(6533)


def _report(content: bytes) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def _blocks(report: email.message.EmailMessage) -> list[dict[str, str]]:
    _, status, _ = report.iter_parts()
    return [{k: " ".join(v.split()) for k, v in block.items()}
            for block in status.get_payload()]


def test_an_ascii_recipient_keeps_the_rfc822_type():
    address = f"{_FAKE.user_name()}@recipient.example"
    assert dsn_address(address) == f"rfc822; {address}"


def test_an_internationalised_recipient_is_written_as_utf8_xtext():
    assert dsn_address("j\u00f6se@recipient.example") == "utf-8; j\\x{F6}se@recipient.example"
    # The characters xtext reserves are escaped too; the rest stand as they are.
    assert dsn_address("\u00e5+x=y\\z@r.example") == "utf-8; \\x{E5}\\x{2B}x\\x{3D}y\\x{5C}z@r.example"


def test_a_bounce_for_an_internationalised_envelope_is_built_and_parsed():
    """It crashed (UnicodeEncodeError) and left the message claimed for ever."""
    sender = f"\u00e5lice.{_FAKE.last_name().lower()}@sender.example"
    recipient = f"j\u00f6se.{_FAKE.last_name().lower()}@recipient.example"
    original = (f"From: {sender}\r\nTo: {recipient}\r\nSubject: Caf\u00e9 rota\r\n"
                "\r\nbody text\r\n").encode()
    failed = [RecipientResult(recipient, 553, "5.6.7 SMTPUTF8 is required, but was not "
                              "offered by host relay.example.net", by_gateway=True)]
    content = build_bounce(reporting_mta="gw.example.org", sender=sender, queue_id="Q1",
                           original=original, failed=failed,
                           orcpts={recipient: f"rfc822;{recipient}"})
    report = _report(content)
    assert report["To"] == sender  # UTF-8 as it is (RFC 6532), no encoded word
    assert f"To: {sender}".encode() in content
    _, per_recipient = _blocks(report)
    escaped = recipient.replace("\u00f6", "\\x{F6}")
    assert per_recipient["Final-Recipient"] == f"utf-8; {escaped}"
    assert per_recipient["Original-Recipient"] == f"utf-8; {escaped}"
    assert per_recipient["Status"] == "5.6.7"
    human, _, headers = report.iter_parts()
    assert f"<{recipient}>: SMTPUTF8 is required" in human.get_content()
    assert headers.get_content_type() == "text/rfc822-headers"
    assert "Subject: Caf\u00e9 rota" in headers.get_content()
    assert b"body text" not in content  # headers only, never the body


def test_an_ascii_bounce_is_as_before():
    sender = f"{_FAKE.user_name()}@sender.example"
    recipient = f"{_FAKE.user_name()}@recipient.example"
    content = build_bounce(reporting_mta="gw.example.org", sender=sender, queue_id="Q2",
                           original=b"Subject: rota\r\n\r\nbody\r\n",
                           failed=[RecipientResult(recipient, 550, "5.1.1 no such mailbox")])
    assert content.isascii()
    assert b"Content-Type: text/rfc822-headers\n" in content.replace(b"\r\n", b"\n")
    (_, block) = _blocks(_report(content))
    assert block["Final-Recipient"] == f"rfc822; {recipient}"


@pytest.mark.parametrize(("code", "reply", "limited"), [
    (452, "4.5.3 Error: too many recipients", True),
    (452, "Too many recipients", True),
    (452, "4.2.2 mailbox full", False),
    (451, "4.5.3 too many recipients", False),
    (550, "5.5.3 too many recipients", False),
])
def test_too_many_recipients_is_452_with_4_5_3_or_its_words(code, reply, limited):
    address = f"{_FAKE.user_name()}@recipient.example"
    assert too_many_recipients(RecipientResult(address, code, reply)) is limited
    assert not too_many_recipients(RecipientResult(address, code, reply, by_gateway=True))


@pytest.mark.parametrize(("code", "reply", "read"), [
    (552, "5.2.2 mailbox full", (452, "4.2.2 mailbox full")),
    (552, "mailbox full", (452, "mailbox full")),
    (552, "5.5.3 too many recipients", (452, "4.5.3 too many recipients")),
    (550, "5.1.1 no such mailbox", (550, "5.1.1 no such mailbox")),
    (250, "2.1.5 OK", (250, "2.1.5 OK")),
])
def test_a_552_to_rcpt_is_read_as_452(code, reply, read):
    address = f"{_FAKE.user_name()}@recipient.example"
    result = _rcpt_reply(address, code, reply)
    assert (result.code, result.message) == read
    assert not result.by_gateway
