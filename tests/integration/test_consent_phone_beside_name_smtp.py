"""A mobile number beside a third party's name in the limits to consent
(auditor finding F11): the name was redacted in the trail, the number kept.

Through the real gateway (SMTP in, SQLite trail): the consent header's value
is redacted by what detection finds in it, so the number must be found.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import aiosmtplib
import pytest
from faker import Faker
from policy_messages import ALLOWED, SENDER, Spec, person
from sqlalchemy import select

from gateway.db import audit_records

Factory = Callable[..., Awaitable[Any]]


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # The compliant message's password is held: the gateway needs its key.
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", base64.b64encode(secrets.token_bytes(32)).decode())


async def _send(port: int, raw: bytes) -> int:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    try:
        await client.sendmail(SENDER, [ALLOWED], raw)
        return 250
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code
    finally:
        client.close()


async def test_a_mobile_beside_a_name_in_the_consent_is_redacted_in_the_trail(
    gateway_factory: Factory, sink: Any
) -> None:
    fake = Faker("en_GB")
    fake.seed_instance(20261129)
    father = f"{fake.first_name_male()} {fake.last_name()}"
    # Ofcom's drama range: possible, not allocated, like the number the
    # auditor found kept (a valid mobile was found even before).
    mobile = f"07700 900{random.Random(20261129).randrange(1000):03d}"
    spec = Spec(person(20261129), headers=[
        ("X-Sharing-Consent", f"Consent from mother; do not share with father ({father}, {mobile})"),
    ])
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    assert await _send(gw.port, spec.build()) == 250
    async with gw.engine.connect() as conn:
        rows = (await conn.execute(select(audit_records.c.document))).all()
    (record,) = [json.loads(row[0]) for row in rows]
    assert record["consent"] == "Consent from mother; do not share with father ([redacted], [redacted])"
    assert mobile not in json.dumps(record) and father not in json.dumps(record)
    await sink.wait(1)
