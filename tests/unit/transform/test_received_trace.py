"""The Received header the gateway puts on every message it queues."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

from gateway.model import Envelope
from gateway.pipeline import received_header


def _envelope(helo: str, recipients: tuple[str, ...] = ("bob@recipient.example",)) -> Envelope:
    return Envelope(mail_from="alice@sender.example", rcpt_tos=recipients, helo=helo,
                    peer="192.0.2.10")


def test_the_header_names_peer_protocol_id_recipient_and_date() -> None:
    when = datetime(2026, 11, 26, 9, 30, 15, 123456, tzinfo=UTC)
    header = received_header(_envelope("client.example"), "gw.example", "Q1", when, tls=True)
    assert header == (
        b"Received: from client.example ([192.0.2.10])\r\n"
        b"\tby gw.example (secure-sharing gateway) with ESMTPS id Q1\r\n"
        b"\tfor <bob@recipient.example>;\r\n"
        b"\tThu, 26 Nov 2026 09:30:15 +0000\r\n"
    )


def test_each_second_gets_its_own_date() -> None:
    """Dates are worked out once per second: never a stale one."""
    start = datetime(2026, 11, 26, 9, 30, 15, 999999, tzinfo=UTC)
    for step in range(6):
        when = start + timedelta(microseconds=1) + timedelta(seconds=step)
        header = received_header(_envelope("client.example"), "gw", "Q1", when).decode()
        expected = email.utils.format_datetime(when.replace(microsecond=0))
        assert header.endswith(f"\t{expected}\r\n")


def test_the_helo_name_cannot_break_out_of_its_comment_or_line() -> None:
    for helo, shown in [
        ("evil) (by forged.example", "evil by forged.example"),
        ("a\\b\x00c\x1bd", "abcd"),
        ("()\\", "unknown"),
        ("", "unknown"),
        ("x" * 300, "x" * 100),
    ]:
        header = received_header(_envelope(helo, ("a@x", "b@y")), "gw", "Q1",
                                 datetime.now(UTC)).decode()
        assert header.startswith(f"Received: from {shown} ([192.0.2.10])\r\n"), helo
        assert "\tfor <" not in header  # several recipients: none named
