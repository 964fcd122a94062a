"""A message whose content the gateway can never make fit, over real SMTP.

The password for an encrypted attachment written in a body part the
transform cannot rewrite (a charset it does not know, or bytes the declared
one does not read) cannot be taken out: the message is refused (550
password_in_message, an audit record, the sender's notice), where it was
answered 451 for ever and the sender's server bounced it days later with no
record.  A passing failure of the transform (memory, a bug) is still 451:
the client keeps the message and tries again.
"""

from __future__ import annotations

import base64
import email
import json
import secrets
from collections.abc import Awaitable, Callable
from email.policy import default
from typing import Any

import pytest
from policy_messages import ALLOWED, MARKING, SENDER, person, protected_zip, record_text, send
from sqlalchemy import select

from gateway.db import audit_records, queue_messages
from gateway.errors import ContentError
from gateway.policy.notify import NOTIFICATION_SUBJECT
from gateway.transform import outbound

Factory = Callable[..., Awaitable[Any]]
PASSWORD = "Tangerine-Lamp-42"


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", base64.b64encode(secrets.token_bytes(32)).decode())


def _message(*texts: tuple[str, bytes, str]) -> bytes:
    """A marked message with the referral in an AES zip the password opens,
    and `texts` as its text (alternatives of it when more than one):
    (subtype, bytes, charset as declared), written by hand so the label
    stays as declared."""
    def part(content_type: str, data: bytes, extra: str = "") -> bytes:
        encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
        return (f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n"
                f"{extra}\r\n").encode() + encoded

    def multipart(subtype: str, boundary: str, parts: list[bytes]) -> bytes:
        out = f"Content-Type: multipart/{subtype}; boundary=\"{boundary}\"\r\n\r\n".encode()
        for item in parts:
            out += f"--{boundary}\r\n".encode() + item + b"\r\n"
        return out + f"--{boundary}--\r\n".encode()

    bodies = [part(f'text/{subtype}; charset="{charset}"', data)
              for subtype, data, charset in texts]
    text = bodies[0] if len(bodies) == 1 else multipart("alternative", "alt-1", bodies)
    attachment = part("application/zip",
                      protected_zip(PASSWORD, record_text(person(20240811))),
                      'Content-Disposition: attachment; filename="referral.zip"\r\n')
    headers = (f"From: {SENDER}\r\nTo: {ALLOWED}\r\nSubject: {MARKING}: referral\r\n"
               f"Message-ID: <{secrets.token_hex(8)}@council.example>\r\nMIME-Version: 1.0\r\n")
    return headers.encode() + multipart("mixed", "mixed-1", [text, attachment])


LINES = ("Hello,\n\nPlease find the referral attached.\n"
         "Purpose: child protection referral\nPassword: {password}\n\nDuty Desk {pound}\n")


async def _documents(gw: Any) -> list[dict[str, Any]]:
    async with gw.engine.connect() as conn:
        rows = await conn.execute(select(audit_records.c.document))
        return [json.loads(r[0]) for r in rows]


async def _refused_as_password_in_message(gw: Any, sink: Any, raw: bytes) -> None:
    code, reply = await send(gw.port, raw)
    assert code == 550, reply
    assert reply.startswith("5.7.1")
    assert "cannot" in reply  # why it could not be taken out, not only where
    (record,) = await _documents(gw)
    assert record["verdict"] == "reject"
    assert [r["code"] for r in record["reasons"]] == ["password_in_message"]
    assert PASSWORD not in json.dumps(record)
    (note,) = await sink.wait(1)  # the sender's notice, nothing else
    assert note.mail_from == ""
    assert note.rcpt_tos == (SENDER,)
    assert PASSWORD.encode() not in note.content
    notice = email.message_from_bytes(note.content, policy=default)
    assert notice["Subject"] == NOTIFICATION_SUBJECT
    assert await sink.stays_empty(0) is False and len(sink.snapshot()) == 1


@pytest.mark.parametrize("mode", ["enforce", "protect"])
@pytest.mark.parametrize(
    ("charset", "encoding"),
    [
        ("x-council-legacy", "ascii"),  # a charset Python has no codec for
        ("utf-8", "cp1252"),  # mislabelled: a pound sign in cp1252 is no UTF-8
    ],
)
async def test_a_password_in_a_body_the_charset_cannot_read_is_refused(
    gateway_factory: Factory, sink: Any, mode: str, charset: str, encoding: str
) -> None:
    gw = await gateway_factory({"policy": {"mode": mode}})
    pound = "£" if encoding == "cp1252" else "GBP"
    body = LINES.format(password=PASSWORD, pound=pound).encode(encoding)
    await _refused_as_password_in_message(gw, sink, _message(("plain", body, charset)))


async def test_the_password_again_in_an_alternative_that_cannot_be_rewritten_is_refused(
    gateway_factory: Factory, sink: Any
) -> None:
    # The plain text states it and can be rewritten; the HTML alternative,
    # in a charset the gateway does not know, shows it again without the
    # word "password": the transform finds it there and cannot take it out.
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    plain = LINES.format(password=PASSWORD, pound="GBP").encode("ascii")
    html = f"<p>Referral attached.</p><p>Key - {PASSWORD}</p>".encode("ascii")
    raw = _message(("plain", plain, "us-ascii"), ("html", html, "x-council-legacy"))
    await _refused_as_password_in_message(gw, sink, raw)


async def test_the_same_message_readable_is_delivered_with_the_password_held(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    body = LINES.format(password=PASSWORD, pound="£").encode("cp1252")
    code, reply = await send(gw.port, _message(("plain", body, "windows-1252")))
    assert code == 250, reply
    (got,) = await sink.wait(1)
    assert PASSWORD.encode() not in got.content
    (record,) = await _documents(gw)
    assert "password held" in record["method"]


@pytest.mark.parametrize("error", [MemoryError, RuntimeError, ContentError])
async def test_a_passing_failure_of_the_transform_is_still_451(
    gateway_factory: Factory, sink: Any, monkeypatch: pytest.MonkeyPatch,
    error: type[Exception],
) -> None:
    def failing(self: object) -> None:
        raise error("synthetic failure")

    monkeypatch.setattr(outbound._Transform, "run", failing)
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    body = LINES.format(password=PASSWORD, pound="GBP").encode("ascii")
    code, reply = await send(gw.port, _message(("plain", body, "us-ascii")))
    assert code == 451, reply
    assert await _documents(gw) == []  # nothing accepted, nothing refused
    async with gw.engine.connect() as conn:
        assert (await conn.execute(select(queue_messages.c.id))).all() == []
