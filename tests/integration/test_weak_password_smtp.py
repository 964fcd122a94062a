"""A sender's own AES zip under a password anyone could guess, over real SMTP.

AES-256 and read-only, marked, to an allowed recipient: compliant but for
its password, one of the most common ("qwerty", telephoned, which the gateway
guesses) or shorter than `[policy] min_password_length` ("Password: Kq7x",
which it would hold and send).  Refused as `weak_password` in enforce and
protect, the password in neither the reply, the record nor the sender's
notification; the same message under a longer password is delivered.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

import pytest
from policy_messages import (
    ALLOWED,
    MARKING,
    SENDER,
    only_record,
    person,
    protected_zip,
    record_text,
    send,
)

Factory = Callable[..., Awaitable[Any]]


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", base64.b64encode(secrets.token_bytes(32)).decode())


def zip_message(password: str, body: str) -> bytes:
    mail = EmailMessage(policy=SMTP)
    mail["From"] = SENDER
    mail["To"] = ALLOWED
    mail["Subject"] = f"{MARKING}: referral"
    mail["Message-ID"] = f"<{secrets.token_hex(8)}@council.example>"
    mail.set_content(f"Hello,\nThe referral is attached.\n{body}\n"
                     "Purpose: child protection referral\n")
    mail.add_attachment(protected_zip(password, record_text(person(20240801))),
                        maintype="application", subtype="zip", filename="referral.zip")
    return mail.as_bytes(policy=SMTP)


WEAK = [
    pytest.param("qwerty", "I will phone you with it.", "one of the most common", id="common"),
    pytest.param("Kq7x", "Password: Kq7x", "shorter than 8 characters", id="short"),
]


@pytest.mark.parametrize("mode", ["enforce", "protect"])
@pytest.mark.parametrize(("password", "body", "why"), WEAK)
async def test_a_guessable_password_is_refused_as_weak_password(
    gateway_factory: Factory, sink: Any, mode: str, password: str, body: str, why: str
) -> None:
    gw = await gateway_factory({"policy": {"mode": mode}})
    code, reply = await send(gw.port, zip_message(password, body))
    assert code == 550, reply
    assert password not in reply
    record = await only_record(gw)
    assert record["verdict"] == "reject"
    (reason,) = record["reasons"]
    assert reason["code"] == "weak_password"
    assert why in reason["text"]
    assert password not in json.dumps(record)
    (note,) = await sink.wait(1)
    assert note.rcpt_tos == (SENDER,)
    assert password.encode() not in note.content


async def test_the_same_message_under_a_longer_password_is_delivered(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await send(gw.port, zip_message("Kq7x-Heron-Vault", "Password: Kq7x-Heron-Vault"))
    assert code == 250, reply
    (got,) = await sink.wait(1)
    assert got.rcpt_tos == (ALLOWED,)


async def test_a_lower_minimum_lets_a_short_password_through(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce", "min_password_length": 4}})
    code, reply = await send(gw.port, zip_message("Kq7x", "Password: Kq7x"))
    assert code == 250, reply
