"""prepare_outbound outside protect mode: strip, take the password out, add the notice."""

from __future__ import annotations

import html

import pytest
from transform_support import (
    BODY,
    aes_zip,
    header_block,
    message,
    parse,
    run,
    settings,
    texts,
    verdict,
)

from gateway.errors import ContentError
from gateway.inspect import inspect_message
from gateway.model import PasswordCandidate
from gateway.transform import outbound as outbound_module
from gateway.transform import prepare_outbound, sharing_facts
from gateway.transform.mime import HtmlText

PASSWORD = "Blue42!x"
NOTICE = "Handling notice: this message shares personal information."


def encrypted() -> tuple[str, str, bytes]:
    return ("report.zip", "application/zip", aes_zip({"report.txt": b"NHS 943 476 5919"},
                                                      PASSWORD))


def test_nothing_to_do_returns_the_same_bytes() -> None:
    raw = message(body="Lunch on Friday?\n")
    out = run(raw, verdict(personal_data=False))
    assert out.content is raw
    assert (out.password, out.protected, out.method) == (None, False, "email")


def test_sharing_headers_and_lines_stripped_rest_intact() -> None:
    body = "Hello,\n\nPurpose: referral\nConsent: GP only\nAuthorised by: J Manager\n\nBye\n"
    raw = message(body=body, headers=[("X-Sharing-Purpose", "referral"),
                                      ("X-Sharing-Consent", "GP only"),
                                      ("X-Authorised-By", "J Manager"),
                                      ("X-Mailer", "Outlook 16.0")])
    out = run(raw, verdict(personal_data=False))
    head = header_block(out.content)
    assert b"X-Sharing" not in head and b"X-Authorised-By" not in head
    for line in header_block(raw).split(b"\r\n"):
        if not line.startswith((b"X-Sharing", b"X-Authorised")):
            assert line in head
    assert texts(out.content)["text/plain"] == "Hello,\n\nBye\n"


def test_handling_notice_in_plain_and_html() -> None:
    raw = message(html="<html><head><title>t</title></head><body class=x><p>Dear Dr Jones"
                       "</p></body></html>", headers=[("X-Sharing-Purpose", "Court report")])
    out = run(raw, verdict())
    parts = texts(out.content)
    assert parts["text/plain"].startswith(NOTICE + "\nPurpose of sharing: Court report\n")
    assert BODY.strip() in parts["text/plain"]
    html = parts["text/html"]
    assert html.startswith("<html><head><title>t</title></head><body class=x><div")
    assert "Court report" in html and html.endswith("<p>Dear Dr Jones</p></body></html>\n")
    assert "fair and secure" in html
    assert parse(out.content).get_content_type() == "multipart/alternative"


def test_notice_says_what_to_do_when_purpose_and_consent_are_missing() -> None:
    out = run(message(), verdict())
    text = texts(out.content)["text/plain"]
    assert "Purpose of sharing: not stated: ask the sender" in text
    assert "Limits to consent: none stated" in text


SIGNED = (
    b"From: alice@council.example\r\nTo: bob@nhs.example\r\nSubject: signed\r\n"
    b"Message-ID: <s1@council.example>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/signed; protocol="application/pkcs7-signature";\r\n'
    b' micalg=sha-256; boundary="sig"\r\n\r\n'
    b"--sig\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    b"NHS number 943 476 5919\r\nPurpose: referral\r\n{extra}"
    b"--sig\r\n"
    b"Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nMIIBogYJKoZIhvcNAQcCoIIBkzCCAY8CAQE=\r\n"
    b"--sig--\r\n"
)


def signed_entity(raw: bytes) -> bytes:
    start = raw.index(b"--sig\r\n")
    return raw[start : raw.index(b"--sig--") + 7]


def test_signed_content_untouched_notice_beside_it() -> None:
    raw = SIGNED.replace(b"{extra}", b"")
    out = run(raw, verdict())
    assert signed_entity(raw) in out.content  # the signature still verifies
    parsed = parse(out.content)
    assert parsed.get_content_type() == "multipart/mixed"
    first, second = parsed.get_payload()
    assert first.get_content().startswith(NOTICE)
    assert second.get_content_type() == "multipart/signed"


def test_password_line_removed_and_returned() -> None:
    raw = message(body=BODY + "\nThe password is " + PASSWORD + "\n",
                  html="<p>Hi</p><p><b>Password:</b> " + PASSWORD + "</p>",
                  attachments=[encrypted()])
    out = run(raw, verdict())
    assert out.password == PASSWORD
    assert PASSWORD.encode() not in out.content
    assert "password held for separate delivery" in out.method
    parts = texts(out.content)
    assert "password is" not in parts["text/plain"]
    assert "(password removed by the mail gateway" in parts["text/html"]
    # The attachment goes as it came.
    original = next(p for p in parse(raw).walk() if p.get_filename() == "report.zip")
    kept = next(p for p in parse(out.content).walk() if p.get_filename() == "report.zip")
    assert kept.get_payload(decode=True) == original.get_payload(decode=True)


def test_password_in_a_long_line_is_replaced_not_the_line() -> None:
    line = ("I have attached the report you asked for last week, and the password for the "
            f"attachment is {PASSWORD} as agreed on the phone with your team yesterday.")
    out = run(message(body=f"Hello\n{line}\nBye\n", attachments=[encrypted()]), verdict())
    text = texts(out.content)["text/plain"]
    assert PASSWORD not in text and "as agreed on the phone" in text
    assert out.password == PASSWORD


def test_password_on_the_next_line() -> None:
    out = run(message(body=f"Hello\nPassword:\n{PASSWORD}\nBye\n", attachments=[encrypted()]),
              verdict())
    assert out.password == PASSWORD
    assert PASSWORD not in texts(out.content)["text/plain"]


def test_password_header_removed_and_returned() -> None:
    raw = message(attachments=[encrypted()], headers=[("X-Attachment-Password", PASSWORD)])
    out = run(raw, verdict())
    assert out.password == PASSWORD
    assert b"X-Attachment-Password" not in out.content and PASSWORD.encode() not in out.content


def test_password_that_opens_nothing_is_not_held() -> None:
    raw = message(body="Hello\nPassword: NotIt123\n", attachments=[encrypted()])
    out = run(raw, verdict())
    assert out.password is None
    assert "NotIt123" in texts(out.content)["text/plain"]


def test_password_inside_signed_content_removes_the_signature() -> None:
    raw = SIGNED.replace(b"{extra}", f"Password: {PASSWORD}\r\n".encode())
    inspection = inspect_message(raw)
    candidate = PasswordCandidate(PASSWORD, "body", "1", removable=True, opens=True)
    inspection = type(inspection)(inspection.message, inspection.segments,
                                  inspection.attachments, inspection.problems, (candidate,))
    out = prepare_outbound(raw, inspection, verdict(), settings(), sharing_facts(inspection))
    assert out.password == PASSWORD and PASSWORD.encode() not in out.content
    assert b"multipart/signed" not in out.content and b"pkcs7-signature" not in out.content
    assert "NHS number 943 476 5919" in texts(out.content)["text/plain"]


def test_undecodable_body_with_the_password_is_refused() -> None:
    raw = message(body="x").replace(b"charset=\"utf-8\"", b"charset=\"x-unknown-9\"").replace(
        b"\r\n\r\nx\r\n", f"\r\n\r\nPassword: {PASSWORD}\r\n".encode())
    inspection = inspect_message(raw)
    candidate = PasswordCandidate(PASSWORD, "body", "1", removable=True, opens=True)
    inspection = type(inspection)(inspection.message, inspection.segments, (),
                                  inspection.problems, (candidate,))
    with pytest.raises(ContentError):
        prepare_outbound(raw, inspection, verdict(), settings(), sharing_facts(inspection))


def test_internal_failure_is_a_content_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(outbound_module, "prepend_text", broken)
    with pytest.raises(ContentError):
        run(message(), verdict())


def test_outbound_repr_hides_content_and_password() -> None:
    out = run(message(body=BODY + f"\nPassword: {PASSWORD}\n", attachments=[encrypted()]),
              verdict())
    assert PASSWORD not in repr(out) and "943" not in repr(out)


def test_crlf_and_mime_kept_valid_for_8bit_latin1() -> None:
    raw = (b"From: a@council.example\r\nTo: b@nhs.example\r\nSubject: x\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\nCaf\xe9 NHS 943 476 5919\r\n"
           b"Purpose: r\xe9f\xe9rence\r\n")
    out = run(raw, verdict())
    assert b"\n" not in out.content.replace(b"\r\n", b"")
    part = parse(out.content)
    assert part.get_content_charset() == "iso-8859-1"
    text = part.get_content()
    assert "Café NHS 943 476 5919" in text and "Purpose of sharing: référence" in text
    assert "Purpose: référence" not in text


@pytest.mark.parametrize(("document", "expected"), [
    # Outlook's spell-check span and <o:p>: the markup stays, the text goes.
    ('<p><span>Password: </span><span class=SpellE>Blue4</span><span>2!x<o:p></o:p></span></p>',
     '<p><span>Password: </span><span class=SpellE>{R}</span><span><o:p></o:p></span></p>'),
    ("<p>Password: Blue&#52;2&excl;x</p>", "<p>Password: {R}</p>"),
    ("<!-- Password: Blue42!x --><p>Hello</p>", "<!-- Password: {R} --><p>Hello</p>"),
    ('<img alt="Password: Blue42!x" src="cid:1">', '<img alt="Password: {R}" src="cid:1">'),
    ("<p>Password: Blue42!x</p><p>Again: Blue42!x.</p>",
     "<p>Password: {R}</p><p>Again: {R}.</p>"),
    # Not the password: a longer word that holds it, or the same letters
    # parted by a block.
    ("<p>Password: Blue42!x</p><p>Blue42!xy</p>", "<p>Password: {R}</p><p>Blue42!xy</p>"),
])
def test_html_password_found_as_read_and_cut_from_the_source(document: str,
                                                             expected: str) -> None:
    removed = outbound_module.remove_from_html(document, [PASSWORD])
    assert removed == expected.replace("{R}", html.escape(outbound_module.REMOVED))


def test_html_without_a_password_statement_is_returned_as_it_came() -> None:
    document = "<p>Blue42!x is only a word here</p>"
    assert outbound_module.remove_from_html(document, [PASSWORD]) is document


def test_html_text_reads_inline_tags_as_joined_and_blocks_as_parted() -> None:
    document = "<div>NHS <b>943</b>476<i>5919</i></div><p>next&nbsp;one</p><td>x</td>"
    text = HtmlText(document)
    assert text.text == "\nNHS 9434765919\n\nnext\xa0one\n\nx\n"
    start = text.text.index("next")
    spans = text.spans(start + 1, start + len("next\xa0one"))
    assert [document[a:b] for a, b in spans] == ["ext", "&nbsp;", "one"]


@pytest.mark.parametrize("personal_data", [False, True], ids=["delivered", "with-notice"])
def test_a_bcc_header_in_the_submitted_text_never_travels(personal_data: bool) -> None:
    """A script or case system that leaves Bcc: in the message it submits
    would show each copy's reader who else got it (Postfix's cleanup drops
    it too); the envelope says who gets a copy."""
    raw = message(body="Lunch on Friday?\n", headers=[("Bcc", "head@school.example.sch.uk")])
    out = run(raw, verdict(personal_data=personal_data))
    head = header_block(out.content)
    assert b"bcc" not in head.lower() and b"head@school" not in out.content
    assert texts(out.content)["text/plain"].startswith(NOTICE if personal_data else "Lunch")


def test_a_protected_copy_carries_no_bcc_header() -> None:
    from transform_support import PROTECT

    raw = message(body=BODY, headers=[("Bcc", "head@school.example.sch.uk")])
    out = run(raw, PROTECT, settings("protect"))
    assert out.protected and b"head@school" not in header_block(out.content)
