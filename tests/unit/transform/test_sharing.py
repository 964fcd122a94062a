"""Purpose, consent and authoriser: captured from headers or body lines, then stripped."""

from __future__ import annotations

import pytest
from transform_support import message

from gateway.inspect import inspect_message
from gateway.transform import SharingFacts, sharing_facts
from gateway.transform.sharing import lines_in, may_hold_statement, strip_html, strip_text


def test_headers_give_the_facts() -> None:
    raw = message(headers=[("X-Sharing-Purpose", "Child protection referral"),
                           ("X-Sharing-Consent", "Share with the GP only"),
                           ("X-Authorised-By", "Jane Manager")])
    assert sharing_facts(inspect_message(raw)) == SharingFacts(
        "Child protection referral", "Share with the GP only", "Jane Manager")


def test_body_lines_fill_what_headers_do_not_say() -> None:
    body = ("Hello,\n\nPurpose: Safeguarding referral\nConsent:  parents agreed  to GP only\n"
            "Authorised by: Jane Manager\n\nRegards\n")
    raw = message(body=body, headers=[("X-Sharing-Purpose", "From the header")])
    facts = sharing_facts(inspect_message(raw))
    assert facts == SharingFacts("From the header", "parents agreed to GP only", "Jane Manager")


@pytest.mark.parametrize(
    ("line", "field", "value"),
    [
        ("Purpose of sharing: Case conference", "purpose", "Case conference"),
        ("PURPOSE: case review", "purpose", "case review"),
        ("Limits to consent: none beyond the GP", "consent", "none beyond the GP"),
        ("Authorized by: J. Manager", "authorised_by", "J. Manager"),
        ("  Consent: verbal, 3 March", "consent", "verbal, 3 March"),
    ],
)
def test_line_spellings(line: str, field: str, value: str) -> None:
    facts = sharing_facts(inspect_message(message(body=f"Hello\n{line}\nBye\n")))
    assert getattr(facts, field) == value


def test_quoted_and_empty_lines_are_not_statements() -> None:
    body = "Hello\n> Purpose: someone else's\nConsent:\nBye\n"
    assert sharing_facts(inspect_message(message(body=body))) == SharingFacts(None, None, None)


def test_only_the_first_body_part_counts() -> None:
    raw = message(body="Hello\n", attachments=[("notes.txt", "text/plain", b"Purpose: x\n")])
    assert sharing_facts(inspect_message(raw)).purpose is None


def test_html_only_body() -> None:
    msg = message(body="x")
    raw = msg.replace(b"text/plain", b"text/html").replace(
        b"\r\n\r\nx\r\n", b"\r\n\r\n<p>Hello</p><p>Purpose: Court report</p>\r\n")
    assert sharing_facts(inspect_message(raw)).purpose == "Court report"


def test_long_values_are_cut() -> None:
    facts = sharing_facts(inspect_message(message(body="Purpose: " + "a" * 2000 + "\n")))
    assert facts.purpose is not None and len(facts.purpose) == 500


def test_strip_text_keeps_paragraphs() -> None:
    text = "Hello,\r\n\r\nPurpose: referral\r\nConsent: GP only\r\n\r\nThe report.\r\nConsent:\r\n"
    assert strip_text(text) == "Hello,\r\n\r\nThe report.\r\nConsent:\r\n"


def test_strip_html_keeps_markup_balanced() -> None:
    html = "<p>Hi</p><p><b>Purpose:</b> referral &amp; review</p>\n<div>Consent: GP only</div>"
    assert strip_html(html) == "<p>Hi</p><p><b></b></p>\n<div></div>"


@pytest.mark.parametrize(
    ("text", "may"),
    [
        ("Hello,\n\nsee you on Monday.\n" * 50, False),
        ("Hello\nPURPOSE: review\n", True),
        ("Hello\nAuthorized by: J. Manager\n", True),
        # Not ASCII: IGNORECASE matches other spellings, so the regex decides.
        ("Purpo\u017fe: case review\n", True),
    ],
)
def test_the_cheap_test_never_hides_a_statement(text: str, may: bool) -> None:
    assert may_hold_statement(text) is may


def test_a_statement_spelled_with_a_long_s_is_still_found_and_stripped() -> None:
    text = "Hello\nPurpo\u017fe: case review\nBye\n"
    assert lines_in(text) == {"purpose": "case review"}
    assert strip_text(text) == "Hello\nBye\n"


def test_text_without_statements_comes_back_unchanged() -> None:
    text = "Hello,\r\n\r\nsee you on Monday.\r\n"
    assert lines_in(text) == {}
    assert strip_text(text) is text
