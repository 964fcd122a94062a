"""What a bounce returns and says: the whole message for RET=FULL (within
FULL_RETURN_LIMIT), headers otherwise; an expiry says the gateway gave up
and after what; a "relayed" report (RFC 3461 5.2.2) is no bounce."""

from __future__ import annotations

import email
import email.policy

import pytest
from faker import Faker

from gateway.deliver.bounce import FULL_RETURN_LIMIT, Expiry, _duration, build_bounce
from gateway.model import RecipientResult

_FAKE = Faker("en_GB")
_FAKE.seed_instance(3461)
SENDER = f"{_FAKE.user_name()}@sender.example"
RECIPIENT = f"{_FAKE.user_name()}@recipient.example"


def _original(body_lines: int) -> bytes:
    body = "\r\n".join(_FAKE.sentence() for _ in range(body_lines))
    return (f"From: {SENDER}\r\nTo: {RECIPIENT}\r\nSubject: {_FAKE.catch_phrase()}\r\n"
            f"\r\n{body}\r\n.\r\n..two dots\r\n").encode()


def _bounce(original: bytes, **kw: object) -> bytes:
    return build_bounce(reporting_mta="gw.example.org", sender=SENDER, queue_id="Q1",
                        original=original,
                        failed=[RecipientResult(RECIPIENT, 550, "5.1.1 no such mailbox")],
                        **kw)  # type: ignore[arg-type]


def _parts(content: bytes) -> list[email.message.Message]:
    return list(email.message_from_bytes(content, policy=email.policy.default).iter_parts())


def test_ret_full_returns_the_message_byte_for_byte():
    original = _original(20)
    content = _bounce(original, ret="FULL")
    human, _, returned = _parts(content)
    assert returned.get_content_type() == "message/rfc822"
    assert b"\r\n\r\n" + original in content  # as queued, dot lines and all
    assert "headers are returned" not in human.get_content()


@pytest.mark.parametrize("ret", [None, "HDRS"])
def test_without_ret_full_only_the_headers_return(ret):
    original = _original(20)
    content = _bounce(original, ret=ret)
    _, _, returned = _parts(content)
    assert returned.get_content_type() == "text/rfc822-headers"
    assert original.split(b"\r\n\r\n", 1)[1][:40] not in content


def test_ret_full_over_the_limit_returns_the_headers_and_says_so():
    original = _original(2000)
    assert len(original) > FULL_RETURN_LIMIT
    content = _bounce(original, ret="FULL")
    human, _, returned = _parts(content)
    assert returned.get_content_type() == "text/rfc822-headers"
    assert f"larger than {FULL_RETURN_LIMIT} bytes" in human.get_content()


def test_an_8bit_message_returned_whole_is_marked_8bit():
    original = f"From: {SENDER}\r\nSubject: rota\r\n\r\nCaf\u00e9 at noon\r\n".encode()
    content = _bounce(original, ret="FULL")
    _, _, returned = _parts(content)
    assert returned.get_content_type() == "message/rfc822"
    assert returned["Content-Transfer-Encoding"] == "8bit"
    assert original in content


@pytest.mark.parametrize(("seconds", "said"), [
    (45, "45 seconds"), (60, "1 minute"), (190, "3 minutes"), (3 * 3600 + 1200, "3 hours 20 minutes"),
    (5 * 86400, "5 days"), (86400 + 3600 + 60, "1 day 1 hour"),
])
def test_durations_read_as_a_person_says_them(seconds, said):
    assert _duration(seconds) == said


def test_an_expiry_says_the_gateway_gave_up_after_how_many_attempts_over_how_long():
    content = build_bounce(reporting_mta="gw.example.org", sender=SENDER, queue_id="Q1",
                           original=_original(2),
                           failed=[RecipientResult(RECIPIENT, 452, "4.2.2 mailbox full")],
                           expiry=Expiry(attempts=9, seconds=5 * 86400))
    human = " ".join(_parts(content)[0].get_content().split())
    assert "The gateway gave up after 9 attempts over 5 days" in human
    assert f"<{RECIPIENT}>: 452 4.2.2 mailbox full" in human


def test_a_relayed_report_is_no_bounce():
    content = build_bounce(reporting_mta="gw.example.org", sender=SENDER, queue_id="Q1",
                           original=_original(2), ret="FULL", relayed=True,
                           failed=[RecipientResult(RECIPIENT, 250, "2.0.0 Ok: queued as 4XyZ")])
    report = email.message_from_bytes(content, policy=email.policy.default)
    assert report["Subject"] == "Relayed Mail Delivery Report"
    human, status, returned = report.iter_parts()
    assert "could not be delivered" not in human.get_content()
    (_, block) = status.get_payload()
    assert (block["Action"], block["Status"]) == ("relayed", "2.0.0")
    assert returned.get_content_type() == "text/rfc822-headers"  # RET is for failures
