"""Text the recipient reads whole that used to leave in clear, over real SMTP:
an NHS number split by an HTML comment or a hidden span, split by a
format=flowed soft line break, and an ASCII CSV declared in a charset that
garbles it are refused in enforce mode like the same number written plainly;
a password split by an HTML comment is still taken out of the HTML."""

from __future__ import annotations

import base64
import email
import email.policy
import os
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from gwtest import strip_received
from policy_messages import ALLOWED, SENDER, Person, Spec, only_record, person, send

from gateway.transform.mime import HtmlText

Factory = Callable[..., Awaitable[Any]]
NHS = "083 016 6130"  # synthetic, valid check digit
HEAD = (
    f"From: {SENDER}\r\nTo: {ALLOWED}\r\nSubject: re: the child we discussed\r\n"
    "MIME-Version: 1.0\r\n"
)


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", base64.b64encode(secrets.token_bytes(32)).decode())


def single_part(content_type: str, body: str) -> bytes:
    message_id = f"Message-ID: <{os.urandom(8).hex()}@council.example>\r\n"
    return (HEAD + message_id + f"Content-Type: {content_type}\r\n\r\n{body}\r\n").encode()




SENTENCE = "Re: the child we discussed, NHS number {number} today"
HTML_PAGE = "<html><body><p>" + SENTENCE + "</p></body></html>"
CSV_TEXT = f"name,nhs number,dob\nJane Smith,{NHS},14/03/2011\n"
SPLIT = [
    pytest.param("text/html", HTML_PAGE.format(number=NHS[:6] + "<!-- x -->" + NHS[6:]),
                 id="html-comment"),
    pytest.param("text/html", HTML_PAGE.format(
        number=NHS[:6] + '<span style="display:none">zz</span>' + NHS[6:]), id="html-hidden-span"),
    pytest.param("text/html", "<html><head><style><!--\r\n.MsoNormal {margin:0cm}\r\n"
                 "span.x {mso-hide:all; display:none}\r\n--></style></head>" + HTML_PAGE.format(
        number=NHS[:6] + '<span class="x">zz</span>' + NHS[6:])[6:], id="html-class-hidden"),
    pytest.param("text/html", "<html><head><style>p {margin:0} /* " + SENTENCE.format(number=NHS)
                 + " */</style></head><body><p>See the note.</p></body></html>",
                 id="html-in-a-css-comment"),
    pytest.param("text/calendar; method=REQUEST; charset=utf-8",
                 "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDESCRIPTION:"
                 + SENTENCE.format(number=NHS[:5] + "\r\n " + NHS[5:])
                 + "\r\nEND:VEVENT\r\nEND:VCALENDAR", id="calendar-folded"),
    pytest.param("text/html", '<html><body><p>See the form.</p><form><input type="text" value="'
                 + SENTENCE.format(number=NHS) + '"></form></body></html>', id="html-input-value"),
    pytest.param("text/plain; format=flowed",
                 SENTENCE.format(number=NHS[:8] + "\r\n" + NHS[8:]), id="flowed"),
    pytest.param("text/plain; format=flowed; delsp=yes",
                 SENTENCE.format(number=NHS[:5] + " \r\n" + NHS[5:]), id="flowed-delsp"),
    pytest.param("text/html", HTML_PAGE.format(number=NHS), id="control-html"),
    pytest.param("text/plain; format=flowed", SENTENCE.format(number=NHS), id="control-flowed"),
]


@pytest.mark.parametrize(("content_type", "body"), SPLIT)
async def test_a_number_the_reader_sees_whole_is_refused(
    gateway_factory: Factory, sink: Any, content_type: str, body: str
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await send(gw.port, single_part(content_type, body))
    assert code == 550, reply
    record = await only_record(gw)
    assert record["verdict"] == "reject"
    assert "uk_nhs_number" in record["information_types"]
    assert all(ALLOWED not in m.rcpt_tos for m in sink.messages)


def csv_message(data: bytes, charset: str) -> bytes:
    boundary = os.urandom(8).hex()
    attachment = base64.encodebytes(data).decode().replace("\n", "\r\n")
    return single_part(
        f'multipart/mixed; boundary="{boundary}"',
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nPlease see attached.\r\n"
        f"--{boundary}\r\nContent-Type: text/csv; charset={charset}\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="list.csv"\r\n\r\n'
        f"{attachment}--{boundary}--",
    )


@pytest.mark.parametrize("charset", ["utf-16", "cp500", "utf-32"])
async def test_an_ascii_csv_declared_in_a_garbling_charset_is_refused(
    gateway_factory: Factory, sink: Any, charset: str
) -> None:
    data = CSV_TEXT.encode()
    data += b" " * (-len(data) % 4)
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await send(gw.port, csv_message(data, charset))
    assert code == 550, reply
    record = await only_record(gw)
    assert record["verdict"] == "reject"
    assert "unencrypted_attachment" in [r["code"] for r in record["reasons"]]
    assert "uk_nhs_number" in record["information_types"]
    assert all(ALLOWED not in m.rcpt_tos for m in sink.messages)


@pytest.fixture
def who() -> Person:
    return person(20240501)


async def test_a_password_split_by_an_html_comment_never_travels(
    gateway_factory: Factory, sink: Any, who: Person
) -> None:
    spec = Spec(who)
    split, rest = spec.password[:9], spec.password[9:]
    spec.html = f"<html><body><p>Password: {split}<!-- x -->{rest}</p></body></html>"
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await send(gw.port, spec.build())
    assert code == 250, reply
    (got,) = await sink.wait(1)
    message = email.message_from_bytes(strip_received(got.content)[1], policy=email.policy.default)
    part = message.get_body(("html",))
    assert part is not None
    html = part.get_content()
    seen = HtmlText(html).text
    assert "(password removed by the mail gateway" in seen
    assert spec.password not in seen
    assert split not in html and rest not in html


async def test_a_signatures_own_links_are_not_personal_data(
    gateway_factory: Factory, sink: Any
) -> None:
    """Link addresses are read when the text does not show them; a
    signature's telephone and email links, which it does show, would read
    apart from the signature as someone's personal telephone number."""
    signature = (
        "<p>Kind regards</p><p>Alice Brown<br>Family Support Worker<br>"
        'Tel: <a href="tel:+441632960002">01632 960002</a><br>'
        f'<a href="mailto:{SENDER}">{SENDER}</a></p>'
    )
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    body = f"<html><body><p>The meeting moved to Thursday.</p>{signature}</body></html>"
    code, reply = await send(gw.port, single_part("text/html", body))
    assert code == 250, reply
    record = await only_record(gw)
    assert record["verdict"] == "deliver" and record["information_types"] == []


# Personal data written as plain staff mail, with no label beside it, that
# the body's recognizers used to let through (each synthetic).
LEAKS = [
    pytest.param("Here you go: Jack Wilson, 14/06/2013, BD5 7QJ\r\n\r\n"
                 "On Tue, 3 Jun 2025 at 10:00, Sam Jones <sam@partner.example.org> wrote:\r\n"
                 "> Can you send me the child's details?", ["date_of_birth", "person_name"],
                 id="record-row-above-a-quoted-question"),
    pytest.param(f"NHS number {NHS[:7]}\r\n{NHS[8:]}, as the GP has changed.", ["uk_nhs_number"],
                 id="nhs-number-hard-wrapped"),
    pytest.param(f"Hi, ref {NHS} please.", ["uk_nhs_number"], id="nhs-number-called-a-ref"),
    pytest.param("William Jennings has moved to 14 Acacia Road, Headingley, Leeds.",
                 ["person_name"], id="name-at-a-street-address"),
    pytest.param("Mr Paul Roberts, 12 Hill Street, Leeds LS6 2AB, rent arrears £1,240, "
                 "eviction notice served.", ["person_name", "uk_postcode"], id="tenant-arrears"),
]


HTML_LEAKS = [
    pytest.param(f"<html><body><p>NHS number {NHS[:7]}<br>{NHS[8:]}</p></body></html>",
                 ["uk_nhs_number"], id="nhs-number-split-by-br"),
]


@pytest.mark.parametrize(("body", "types"), HTML_LEAKS)
async def test_html_personal_data_is_refused(
    gateway_factory: Factory, sink: Any, body: str, types: list[str]
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await send(gw.port, single_part("text/html; charset=utf-8", body))
    assert code == 550, reply
    record = await only_record(gw)
    assert set(types) <= set(record["information_types"])


@pytest.mark.parametrize(("body", "types"), LEAKS)
async def test_plain_prose_personal_data_is_refused(
    gateway_factory: Factory, sink: Any, body: str, types: list[str]
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await send(gw.port, single_part("text/plain; charset=utf-8", body))
    assert code == 550, reply
    record = await only_record(gw)
    assert record["verdict"] == "reject"
    assert set(types) <= set(record["information_types"])
    assert all(ALLOWED not in m.rcpt_tos for m in sink.messages)


NEAR_MISSES = [
    pytest.param("The minutes are attached.\r\n\r\nKind regards\r\n\r\nSarah Jones\r\n"
                 "Housing Officer\r\nTel: 01632 960002\r\nCivic Hall, Leeds, LS1 1UR",
                 id="signature-name-phone-office-postcode"),
    pytest.param("Budget review\r\nWhen: 14/06/2026 10:00-11:00\r\n"
                 "Where: Room 2, Civic Hall, LS1 1UR\r\nOrganiser: Sarah Jones",
                 id="meeting-invite"),
    pytest.param("Hi, ref 123 456 7890 please.", id="ref-without-a-valid-check-digit"),
]


@pytest.mark.parametrize("body", NEAR_MISSES)
async def test_business_mail_near_a_leak_is_delivered(
    gateway_factory: Factory, sink: Any, body: str
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await send(gw.port, single_part("text/plain; charset=utf-8", body))
    assert code == 250, reply
    record = await only_record(gw)
    assert record["verdict"] == "deliver" and record["information_types"] == []
