"""Over real SMTP: a CSV of people with "ID3" in front (people.csv, text/csv,
that every player refuses and every spreadsheet opens) used to be delivered
in clear as audio nobody reads.  It is refused in enforce mode and goes in a
protected zip in protect mode; an MP3 of sound alone still passes."""

from __future__ import annotations

import base64
import email
import email.policy
import random
import secrets
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

import pytest
from policy_messages import ALLOWED, SENDER, only_record, person, send
from policy_messages import with_attachment as message

Factory = Callable[..., Awaitable[Any]]


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Protect mode holds the zip's password: it needs a key to seal it with."""
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", base64.b64encode(secrets.token_bytes(32)).decode())


def people_csv() -> tuple[bytes, list[str]]:
    """A CSV of made-up people and the values that must not leave in clear."""
    people = [person(seed) for seed in range(40, 60)]
    rows = "".join(f"{p.name},{p.dob},{p.nhs}\n" for p in people)
    return ("name,date_of_birth,nhs_number\n" + rows).encode(), [p.nhs for p in people]


async def test_media_magic_in_front_of_a_csv_attachment_is_refused(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    csv, _ = people_csv()
    code, reply = await send(gw.port, message(b"ID3" + csv, "people.csv", "text", "csv"))
    assert code == 550, reply
    record = await only_record(gw)
    assert record["verdict"] == "reject"
    assert "unencrypted_attachment" in [r["code"] for r in record["reasons"]]
    assert "uk_nhs_number" in record["information_types"]
    assert all(ALLOWED not in m.rcpt_tos for m in sink.messages)


async def test_media_magic_in_front_of_a_csv_attachment_is_protected(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory({"policy": {"mode": "protect"}})
    csv, numbers = people_csv()
    code, reply = await send(gw.port, message(b"ID3" + csv, "people.csv", "text", "csv"))
    assert code == 250, reply
    record = await only_record(gw)
    assert record["verdict"] == "protect"
    (got,) = [m for m in await sink.wait(1) if ALLOWED in m.rcpt_tos]
    delivered = email.message_from_bytes(got.content, policy=email.policy.default)
    parts = [p for p in delivered.walk() if not p.is_multipart()]
    names = [p.get_filename() for p in parts if p.get_filename()]
    assert names and all(name.endswith(".zip") for name in names)
    for part in parts:
        payload = part.get_payload(decode=True) or b""
        assert b"date_of_birth" not in payload
        assert not any(number.encode() in payload for number in numbers)


async def test_an_mp3_attachment_of_sound_alone_still_passes(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    rng = random.Random(9)
    title = b"TIT2" + (14).to_bytes(4, "big") + b"\x00\x00\x03Team meeting"
    tag = b"ID3\x04\x00\x00" + bytes((0, 0, 0, len(title))) + title
    sound = b"".join(b"\xff\xfb\x90\x64" + rng.randbytes(413) for _ in range(1000))
    mail = EmailMessage(policy=SMTP)
    mail["From"] = SENDER
    mail["To"] = ALLOWED
    mail["Subject"] = "Recording"
    mail["Message-ID"] = "<recording@council.example>"
    mail.set_content("The recording of Friday's meeting.\n")
    mail.add_attachment(tag + sound, maintype="audio", subtype="mpeg", filename="meeting.mp3")
    code, reply = await send(gw.port, mail.as_bytes(policy=SMTP))
    assert code == 250, reply
    assert len(await sink.wait(1)) == 1
    record = await only_record(gw)
    assert record["verdict"] == "deliver"
