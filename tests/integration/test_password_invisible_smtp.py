"""A password written with characters that draw nothing, over real SMTP.

Pasted from a chat or a web page, "Password: V\u200bq\u200b7..." (zero-width
spaces, joiners, a word joiner, soft hyphens or byte order marks between
its characters) reads as the password.  The gateway opens the zip with it
and holds it; the delivered message must not carry it in any form, in the
plain text nor in the HTML (where it may be written with entities), or
the trail's "password held for separate delivery" would be untrue.
"""

from __future__ import annotations

import base64
import email
import html
import json
import os
import secrets
import unicodedata
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.policy import SMTP, default
from typing import Any

import pytest
from gwtest import strip_received
from policy_messages import ALLOWED, MARKING, SENDER, person, protected_zip, record_text, send
from sqlalchemy import select

from gateway.db import audit_records
from gateway.passwords import PasswordVault, held_passwords
from gateway.transform.mime import HtmlText

Factory = Callable[..., Awaitable[Any]]
PASSWORD = "Vq7mZp2kL9xw"
INVISIBLE = {
    "zero-width-space": ("\u200b", "&#8203;"),
    "zero-width-non-joiner": ("\u200c", "&zwnj;"),
    "word-joiner": ("\u2060", "&#x2060;"),
    "soft-hyphen": ("\u00ad", "&shy;"),
    "byte-order-mark": ("\ufeff", "&#65279;"),
}


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", base64.b64encode(secrets.token_bytes(32)).decode())


def _visible(text: str) -> str:
    """What a reader sees of `text`: no character that draws nothing."""
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def _message(plain: str, entity: str, *, html_part: bool) -> bytes:
    mail = EmailMessage(policy=SMTP)
    mail["From"] = SENDER
    mail["To"] = ALLOWED
    mail["Subject"] = f"{MARKING}: referral"
    mail["Message-ID"] = f"<{os.urandom(8).hex()}@council.example>"
    mail.set_content("Please see the attached referral.\n"
                     f"Password: {plain.join(PASSWORD)}\n")
    if html_part:
        mail.add_alternative("<p>Please see the attached referral.</p>"
                             f"<p>Password: {entity.join(PASSWORD)}</p>", subtype="html")
    zipped = protected_zip(PASSWORD, record_text(person(20240915)))
    mail.add_attachment(zipped, maintype="application", subtype="zip", filename="referral.zip")
    return mail.as_bytes(policy=SMTP)


async def _held(gw: Any) -> list[str]:
    async with gw.engine.connect() as conn:
        rows = (await conn.execute(
            select(held_passwords.c.id, held_passwords.c.ciphertext))).all()
    vault = PasswordVault.from_settings(gw.settings)
    return [vault.open(r.ciphertext, context=r.id) for r in rows]


@pytest.mark.parametrize("html_part", [False, True], ids=["plain", "plain-and-html"])
@pytest.mark.parametrize(("plain", "entity"), INVISIBLE.values(), ids=INVISIBLE.keys())
async def test_the_password_is_held_and_in_no_form_in_what_is_delivered(
    gateway_factory: Factory, sink: Any, plain: str, entity: str, html_part: bool
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await send(gw.port, _message(plain, entity, html_part=html_part))
    assert code == 250, reply
    (got,) = await sink.wait(1)
    delivered = email.message_from_bytes(strip_received(got.content)[1], policy=default)
    seen = [str(delivered["Subject"])]
    for part in delivered.walk():
        if part.get_content_maintype() == "text":
            text = part.get_content()
            seen += [text, HtmlText(text).text, html.unescape(text)]
    assert seen[1:], "the text went with the message"
    for text in seen:
        assert PASSWORD not in _visible(text)
    assert PASSWORD.encode() not in got.content
    assert await _held(gw) == [PASSWORD]
    async with gw.engine.connect() as conn:
        (document,) = [json.loads(r[0]) for r in
                       await conn.execute(select(audit_records.c.document))]
    assert "password held for separate delivery" in document["method"]
    assert PASSWORD not in _visible(json.dumps(document, ensure_ascii=False))
