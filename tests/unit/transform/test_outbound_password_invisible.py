"""A password written with characters that draw nothing is taken out whole.

Copied from a chat or a web page, a password can carry zero-width spaces,
joiners, a word joiner, soft hyphens or byte order marks between its
characters ("V\\u200bq\\u200b7..."): the reader sees the password, the
inspect stage reads it (and holds it), so the transform must take it out
of the text as it is written, in plain text and HTML (raw or as entities),
whatever the part's transfer encoding; where it cannot, the message is
refused rather than sent with the password in it.
"""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import Callable
from email import policy
from email.message import EmailMessage

import pytest
from transform_support import aes_zip, run, texts, verdict

from gateway.errors import UnrewritableContent
from gateway.extract.base import SeenText
from gateway.model import ReasonCode
from gateway.transform.mime import HtmlText
from gateway.transform.outbound import REMOVED, remove_from_html, remove_from_text

PASSWORD = "Vq7mZp2kL9xw"
INVISIBLE = {
    "zero-width-space": "\u200b",
    "zero-width-non-joiner": "\u200c",
    "zero-width-joiner": "\u200d",
    "word-joiner": "\u2060",
    "soft-hyphen": "\u00ad",
    "byte-order-mark": "\ufeff",
}
# As HTML writes them: a named entity where there is one.
ENTITIES = {
    "\u200b": "&#8203;", "\u200c": "&zwnj;", "\u200d": "&zwj;", "\u2060": "&#x2060;",
    "\u00ad": "&shy;", "\ufeff": "&#65279;",
}  # fmt: skip


def _between_every(mark: str) -> str:
    return mark.join(PASSWORD)


def _one_in_the_middle(mark: str) -> str:
    return PASSWORD[:5] + mark + PASSWORD[5:]


WRITINGS = [_between_every, _one_in_the_middle]


def _visible(text: str) -> str:
    """`text` with every character that draws nothing dropped."""
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def _zip() -> tuple[str, str, bytes]:
    return ("list.zip", "application/zip", aes_zip({"list.txt": b"Made-up list"}, PASSWORD))


def test_the_seen_text_maps_back_to_what_is_written() -> None:
    written = "Password: \u200bV\u200bq\u200d7\u00ad."
    seen = SeenText(written)
    assert seen.text == "Password: Vq7."
    start = seen.text.index("Vq7")
    assert written[slice(*seen.source(start, start + 3))] == "V\u200bq\u200d7"


@pytest.mark.parametrize("write", WRITINGS)
@pytest.mark.parametrize("mark", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_plain_text_statement_alone_on_its_line(mark: str, write: Callable[[str], str]) -> None:
    text = f"Hello,\n\nPassword: {write(mark)}\n\nThanks, Jo\n"
    assert remove_from_text(text, [PASSWORD]) == f"Hello,\n\n{REMOVED}\n\nThanks, Jo\n"


@pytest.mark.parametrize("write", WRITINGS)
@pytest.mark.parametrize("mark", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_plain_text_statement_beside_other_words(mark: str, write: Callable[[str], str]) -> None:
    text = f"The list is attached. The password is {write(mark)} (capitals matter)\n"
    out = remove_from_text(text, [PASSWORD])
    assert out == f"The list is attached. The password is {REMOVED} (capitals matter)\n"


@pytest.mark.parametrize("mark", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_plain_text_statement_over_two_lines(mark: str) -> None:
    text = f"Password:\n{_between_every(mark)}.\nBye\n"
    out = remove_from_text(text, [PASSWORD])
    assert PASSWORD not in _visible(out)
    assert REMOVED in out


@pytest.mark.parametrize("write", WRITINGS)
@pytest.mark.parametrize("mark", INVISIBLE.values(), ids=INVISIBLE.keys())
@pytest.mark.parametrize("as_entity", [False, True], ids=["raw", "entity"])
def test_html_statement(mark: str, write: object, as_entity: bool) -> None:
    written = write(ENTITIES[mark] if as_entity else mark)
    document = f"<p>The list is attached.</p><p>Password: <b>{written}</b></p>"
    out = remove_from_html(document, [PASSWORD])
    seen = _visible(HtmlText(out).text)
    assert PASSWORD not in seen
    assert REMOVED in seen
    assert "<b>" in out and "The list is attached." in out  # the rest is as it was


def _letter(plain: str, html: str, cte: str) -> bytes:
    """A message with `plain` and `html` as its text in transfer encoding
    `cte`, and the zip the password opens."""
    mail = EmailMessage()
    mail["From"] = "Alice Smith <alice@council.example>"
    mail["To"] = "dr.jones@nhs.example"
    mail["Subject"] = "Referral"
    mail.set_content(plain, cte=cte)
    mail.add_alternative(html, subtype="html", cte=cte)
    name, _, data = _zip()
    mail.add_attachment(data, maintype="application", subtype="zip", filename=name)
    return mail.as_bytes(policy=policy.SMTP)


@pytest.mark.parametrize("cte", ["8bit", "quoted-printable", "base64"])
@pytest.mark.parametrize("mark", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_the_message_goes_without_the_password_and_it_is_held(mark: str, cte: str) -> None:
    written = _between_every(mark)
    entities = written.replace(mark, ENTITIES[mark])
    raw = _letter(f"Hello,\nThe list is attached.\nPassword: {written}\n",
                  f"<p>The list is attached. Password: {entities}</p>"
                  f"<p>Again: the password is {written}</p>", cte)
    out = run(raw, verdict())
    assert out.password == PASSWORD
    assert set(texts(out.content)) == {"text/plain", "text/html"}
    for text in texts(out.content).values():
        assert PASSWORD not in _visible(HtmlText(text).text)
        assert PASSWORD not in _visible(text)
        assert REMOVED in HtmlText(text).text


def _part(content_type: str, data: bytes, extra: str = "") -> bytes:
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n"
            f"{extra}\r\n").encode() + encoded


def _by_hand(plain: bytes, html_type: str, html: bytes) -> bytes:
    """Plain text and an HTML alternative labelled as given, and the zip."""
    alternative = (b'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n--alt\r\n'
                   + _part('text/plain; charset="utf-8"', plain) + b"\r\n--alt\r\n"
                   + _part(html_type, html) + b"\r\n--alt--\r\n")
    attachment = _part("application/zip", _zip()[2],
                       'Content-Disposition: attachment; filename="list.zip"\r\n')
    return (b"From: jo@council.example\r\nTo: team@recipient.example\r\n"
            b"Subject: list\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="mix"\r\n\r\n--mix\r\n'
            + alternative + b"\r\n--mix\r\n" + attachment + b"\r\n--mix--\r\n")


@pytest.mark.parametrize(
    ("html_type", "encoding"),
    [
        # A charset the gateway has no codec for: the part cannot be rewritten.
        ('text/html; charset="x-council-legacy"', "utf-8"),
        # No charset, UTF-16 after a byte order mark: read, not rewritten.
        ("text/html", "utf-16"),
    ],
)
@pytest.mark.parametrize("mark", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_the_password_again_where_it_cannot_be_taken_out_is_refused(
    mark: str, html_type: str, encoding: str
) -> None:
    written = _between_every(mark)
    plain = f"Hello,\nPassword: {written}\n".encode()
    html = f"<p>Key - {written}</p>".encode(encoding)
    with pytest.raises(UnrewritableContent) as caught:
        run(_by_hand(plain, html_type, html), verdict(personal_data=False))
    assert caught.value.code == ReasonCode.PASSWORD_IN_MESSAGE
