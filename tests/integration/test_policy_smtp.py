"""The secure-sharing policy over real SMTP: client -> gateway -> sink.

For each mode a compliant message (AES-256 read-only zip, marked subject,
password line that opens the zip, allowed recipient) is delivered without
its password line and the password is held; in enforce each rule broken
alone is refused with exactly its reason, several with all of them, and the
sender's notification arrives at the sink without any personal data;
`gateway scan` gives the verdicts live mail got.
"""

from __future__ import annotations

import base64
import email
import getpass
import json
import secrets
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from gwtest import audit_events_of, event_types, run_cli, strip_received, write_config
from policy_messages import (
    ALLOWED,
    MARKING,
    SENDER,
    STRANGER,
    Person,
    Spec,
    broken_alone,
    person,
)
from sqlalchemy import select

from gateway.db import audit_events, audit_records, queue_contents, queue_messages
from gateway.passwords import PasswordVault, held_passwords
from gateway.policy.notify import HELD_SUBJECT, REFUSED_SUBJECT
from gateway.transform.mime import HtmlText

KEY = base64.b64encode(secrets.token_bytes(32)).decode()

Factory = Callable[..., Awaitable[Any]]


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", KEY)
    return KEY


@pytest.fixture
def who() -> Person:
    return person(20240501)


async def send(port: int, raw: bytes, rcpts: list[str]) -> tuple[int, str]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    try:
        errors, reply = await client.sendmail(SENDER, rcpts, raw)
        assert not errors
        return 250, reply
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    finally:
        client.close()


async def records(gw: Any) -> list[dict[str, Any]]:
    async with gw.engine.connect() as conn:
        rows = await conn.execute(select(audit_records.c.document).order_by(audit_records.c.seq))
        return [json.loads(r[0]) for r in rows]


async def events(gw: Any, record_id: str) -> list[str]:
    return await event_types(gw, record_id)


async def held_for(gw: Any, queue_id: str) -> list[str]:
    """The held passwords of one message, opened with the key."""
    async with gw.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(held_passwords.c.id, held_passwords.c.ciphertext).where(
                    held_passwords.c.queue_id == queue_id
                )
            )
        ).all()
    vault = PasswordVault.from_settings(gw.settings)
    return [vault.open(r.ciphertext, context=r.id) for r in rows]


def delivered_text(content: bytes) -> str:
    """Every text part of a delivered message, decoded."""
    message = email.message_from_bytes(strip_received(content)[1], policy=email.policy.default)
    texts = []
    for part in message.walk():
        if part.get_content_maintype() == "text":
            texts.append(part.get_content())
    return "\n".join(texts) + "\n" + str(message["Subject"])


# -- each mode: the compliant message ------------------------------------------------


@pytest.mark.parametrize("mode", ["enforce", "protect", "monitor"])
async def test_compliant_message_delivered_without_password_which_is_held(
    gateway_factory: Factory, sink: Any, who: Person, mode: str
) -> None:
    gw = await gateway_factory({"policy": {"mode": mode}})
    spec = Spec(who)
    code, reply = await send(gw.port, spec.build(), [ALLOWED])
    assert code == 250, reply
    queue_id = reply.split()[-1]
    (got,) = await sink.wait(1)
    assert spec.password.encode() not in got.content
    text = delivered_text(got.content)
    assert "Private and Confidential" in text
    assert spec.password not in text
    assert "Purpose: child protection referral" not in text  # stripped, in the notice instead
    assert await held_for(gw, queue_id) == [spec.password]
    (record,) = await records(gw)
    assert record["verdict"] == "deliver"
    assert record["reasons"] == []
    assert record["purpose"] == "child protection referral"
    assert record["recipients"][0]["organisation"] == "Recipient Council"
    assert record["recipients"][0]["telephone"] == "01632 960001"
    assert record["attachments"] == [
        {"filename": "referral.zip", "content_type": "application/zip",
         "encryption": "aes-256", "read_only": True}
    ]
    assert "password held" in record["method"]
    assert "uk_nhs_number" in record["information_types"]
    assert (await events(gw, queue_id))[:3] == ["received", "queued", "password_held"]


# Outlook writes the body's HTML with a spell-check <span> inside a word it
# does not know, and <o:p> after a paragraph's text; other clients write a
# hyphen as an entity.  The text alternative says the same plainly.
OUTLOOK_HTML = [
    pytest.param('<html><body><p class=MsoNormal><span lang=EN-GB>Password: </span>'
                 '<span class=SpellE><span lang=EN-GB>{split}</span></span>'
                 '<span lang=EN-GB>{rest}<o:p></o:p></span></p></body></html>', id="spell-check"),
    pytest.param("<p>Password: <b>{split}</b>{rest}</p>", id="bold"),
    pytest.param("<p>Password: {entities}</p>", id="entities"),
    pytest.param("<p>Password:</p><p>{split}<span></span>{rest}</p>", id="next-paragraph"),
]


@pytest.mark.parametrize("html", OUTLOOK_HTML)
async def test_a_password_in_html_split_by_tags_or_entities_never_travels(
    gateway_factory: Factory, sink: Any, who: Person, html: str
) -> None:
    """The text a reader sees holds the password whole; the HTML source
    holds it in pieces.  It was found (and held), but taken out of the
    plain text only: the recipient got it with the zip it opens.  Written
    with entities, it was found but never taken out, so every attempt got
    451 until the sender's client gave up."""
    spec = Spec(who)
    split, rest = spec.password[:9], spec.password[9:]
    entities = spec.password.replace("-", "&#45;", 1).replace("-", "&#x2d;")
    spec.html = html.format(split=split, rest=rest, entities=entities)
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await send(gw.port, spec.build(), [ALLOWED])
    assert code == 250, reply
    (got,) = await sink.wait(1)
    message = email.message_from_bytes(strip_received(got.content)[1], policy=email.policy.default)
    part = message.get_body(("html",))
    assert part is not None
    seen = HtmlText(part.get_content()).text
    assert "(password removed by the mail gateway" in seen
    assert spec.password not in seen and split not in seen
    assert spec.password not in delivered_text(got.content)
    assert await held_for(gw, reply.split()[-1]) == [spec.password]


@pytest.mark.parametrize("written", ["password {pw}", "pw {pw}", "({pw})", "{pw}"])
async def test_a_password_that_opens_the_zip_is_found_in_the_subject_however_written(
    gateway_factory: Factory, sink: Any, who: Person, written: str
) -> None:
    """The body's statement gives the value away, and the value opened the
    zip; the subject holding it with no "Password:" before it went out with
    the zip it opens, and into the trail."""
    spec = Spec(who)
    spec.subject = f"{MARKING}: referral " + written.format(pw=spec.password)
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await send(gw.port, spec.build(), [ALLOWED])
    assert code == 550, reply
    assert "written in the subject line" in reply
    (record,) = await records(gw)
    assert [r["code"] for r in record["reasons"]] == ["password_in_message"]
    assert record["subject"].startswith(f"{MARKING}: referral ")
    assert "[redacted]" in record["subject"]
    assert spec.password not in json.dumps(record)
    (note,) = await sink.wait(1)
    assert spec.password.encode() not in note.content


@pytest.mark.parametrize("mode", ["enforce", "protect"])
async def test_personal_data_in_the_purpose_or_consent_is_never_shown_or_recorded(
    gateway_factory: Factory, sink: Any, who: Person, mode: str
) -> None:
    """The purpose and the limits to consent go to the recipient in the
    handling notice, in clear, and into the trail; a header's value was
    never read for personal data, and a body line's only for the verdict."""
    spec = Spec(who, purpose=False, headers=[
        ("X-Sharing-Purpose", f"Review of {who.name}, NHS {who.nhs}"),
        ("X-Sharing-Consent", f"Mother agreed; DOB {who.dob}"),
        ("X-Authorised-By", "Duty Manager, 01632 960111"),
    ])
    gw = await gateway_factory({"policy": {"mode": mode}})
    code, reply = await send(gw.port, spec.build(), [ALLOWED])
    assert code == 250, reply
    (got,) = await sink.wait(1)
    text = delivered_text(got.content)
    assert "Purpose of sharing: Review of [redacted], NHS [redacted]" in text
    (record,) = await records(gw)
    assert record["purpose"] == "Review of [redacted], NHS [redacted]"
    assert record["consent"] == "Mother agreed; DOB [redacted]"
    assert record["authorised_by"] == "Duty Manager, 01632 960111"
    for value in who.values:
        assert value not in text and value.encode() not in got.content, value
        assert value not in json.dumps(record), value


async def test_personal_data_in_a_file_name_is_refused_and_not_recorded(
    gateway_factory: Factory, sink: Any, who: Person
) -> None:
    """The name of an encrypted zip travels in clear; the trail kept it as
    it came, where the subject's personal data was already redacted."""
    spec = Spec(who, zip_name=f"referral {who.name} NHS {who.nhs}.zip")
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await send(gw.port, spec.build(), [ALLOWED])
    assert code == 550, reply
    (record,) = await records(gw)
    assert [r["code"] for r in record["reasons"]] == ["unencrypted_attachment"]
    assert [a["filename"] for a in record["attachments"]] == [
        "referral [redacted] NHS [redacted].zip"
    ]
    for value in who.values:
        assert value not in json.dumps(record), value


async def test_protect_mode_renames_files_whose_names_show_personal_data(
    gateway_factory: Factory, sink: Any, who: Person, tmp_path: Path
) -> None:
    """A zip's entry names, and the name of an attachment kept as the
    sender encrypted it, are read without any password."""
    spec = Spec(who, plain_attachment=True, zip_name=f"referral {who.name} NHS {who.nhs}.zip",
                csv_name=f"{who.name} DOB {who.dob}.csv")
    gw = await gateway_factory({"policy": {"mode": "protect"}})
    code, reply = await send(gw.port, spec.build(), [ALLOWED])
    assert code == 250, reply
    (got,) = await sink.wait(1)
    for value in who.values:
        assert value.encode() not in got.content, value
    message = email.message_from_bytes(strip_received(got.content)[1], policy=email.policy.default)
    names = [p.get_filename() for p in message.walk() if p.get_filename()]
    assert names == ["protected-content.zip", "attachment-2.zip"]
    import pyzipper

    protected = next(p for p in message.walk() if p.get_filename() == "protected-content.zip")
    archive = tmp_path / "protected.zip"
    archive.write_bytes(protected.get_payload(decode=True))
    with pyzipper.AESZipFile(archive) as zf:
        assert zf.namelist() == ["message.txt", "attachment-3.csv"]
    (record,) = await records(gw)
    assert [a["filename"] for a in record["attachments"]] == [
        "referral [redacted] NHS [redacted].zip", "[redacted] DOB [redacted].csv",
    ]


# -- enforce: each rule alone, all together, the notification -------------------------


def _cases() -> list[Any]:
    return [pytest.param(*case, id=case[0]) for case in broken_alone(person(20240501))]


@pytest.mark.parametrize(("name", "spec", "code", "policy"), _cases())
async def test_each_rule_alone_over_smtp(
    gateway_factory: Factory, sink: Any, name: str, spec: Spec, code: str,
    policy: dict[str, Any],
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce", **policy}})
    reply_code, reply = await send(gw.port, spec.build(), spec.to)
    assert reply_code == 550, reply
    assert reply.startswith("5.7.1")
    (record,) = await records(gw)
    assert [r["code"] for r in record["reasons"]] == [code]
    assert record["verdict"] == "reject"
    # The password, wherever it was written (the subject too), is in
    # neither the trail nor the notification, which quote the subject.
    assert spec.password not in json.dumps(record)
    # Only the notification reaches the sink, addressed to the sender.
    (note,) = await sink.wait(1)
    assert note.mail_from == ""
    assert note.rcpt_tos == (SENDER,)
    assert spec.password.encode() not in note.content
    assert await sink.stays_empty(0) is False and len(sink.snapshot()) == 1


async def test_several_rules_broken_notification_has_no_personal_data(
    gateway_factory: Factory, sink: Any, who: Person
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    spec = Spec(
        who,
        subject=f"Referral for {who.name} NHS {who.nhs}",
        to=[ALLOWED, STRANGER],
        body_extra=f"Child: {who.name}, NHS number {who.nhs}, DOB {who.dob}",
        plain_attachment=True,
        zip_aes=False,
    )
    code, reply = await send(gw.port, spec.build(), spec.to)
    assert code == 550
    # The reasons read as one line: `... encrypted; ...`, not `... encrypted.; ...`.
    assert "; " in reply and ".;" not in reply, reply
    (record,) = await records(gw)
    codes = [r["code"] for r in record["reasons"]]
    assert codes == [
        "personal_data_in_body",
        "unencrypted_attachment",
        "weak_encryption",
        "missing_subject_marking",
        "recipient_not_allowed",
    ]
    (note,) = await sink.wait(1)
    raw = note.content
    for value in [*who.values, spec.password, "children.csv", "referral.zip"]:
        assert value.encode() not in raw, value
    for value in who.values:
        assert value not in reply
        assert value not in json.dumps(record)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["From"].addresses[0].addr_spec == "postmaster@gw.test.example"
    body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"Reference: {record['id']}" in body
    assert STRANGER in body
    assert body.count("How to fix it:") == 5
    assert "Subject:" not in body  # the subject held personal data
    # The refused message itself is not in the queue; only the notification.
    async with gw.engine.connect() as conn:
        rows = (await conn.execute(select(queue_messages.c.mail_from))).all()
    assert [r[0] for r in rows] == [""]


async def test_protect_mode_wraps_clear_personal_data(
    gateway_factory: Factory, sink: Any, who: Person, tmp_path: Path
) -> None:
    gw = await gateway_factory({"policy": {"mode": "protect"}})
    spec = Spec(who, subject="Referral", with_zip=False, password_line=False,
                body_extra=f"Child: {who.name}, NHS number {who.nhs}")
    code, reply = await send(gw.port, spec.build(), [ALLOWED])
    assert code == 250, reply
    queue_id = reply.split()[-1]
    (got,) = await sink.wait(1)
    for value in who.values:
        assert value.encode() not in got.content
    (password,) = await held_for(gw, queue_id)
    (record,) = await records(gw)
    assert record["verdict"] == "protect"
    assert [r["code"] for r in record["reasons"]] == [
        "personal_data_in_body", "missing_subject_marking",
    ]
    message = email.message_from_bytes(strip_received(got.content)[1], policy=email.policy.default)
    assert "Private and Confidential" in str(message["Subject"])
    zips = [p for p in message.walk() if p.get_filename() and p.get_filename().endswith(".zip")]
    assert len(zips) == 1
    import pyzipper

    archive = tmp_path / "protected.zip"
    archive.write_bytes(zips[0].get_payload(decode=True))
    with pyzipper.AESZipFile(archive) as zf:
        zf.setpassword(password.encode())
        contents = b"".join(zf.read(i) for i in zf.infolist())
        assert all((i.external_attr >> 16) & 0o222 == 0 for i in zf.infolist())
    assert who.nhs.encode() in contents
    if shutil.which("7z") is not None:  # CI installs p7zip-full; pyzipper above checks it anyway
        target = tmp_path / "out"
        subprocess.run(["7z", "x", f"-p{password}", f"-o{target}", "-y", str(archive)],
                       check=True, capture_output=True)
        listing = subprocess.run(["7z", "l", "-slt", str(archive)], check=True,
                                 capture_output=True, text=True).stdout
        assert "AES-256" in listing
        extracted = [f for f in target.rglob("*") if f.is_file()]
        assert extracted
        assert all(f.stat().st_mode & 0o222 == 0 for f in extracted)
        assert any(who.nhs.encode() in f.read_bytes() for f in extracted)


async def test_monitor_mode_delivers_and_records_would_action(
    gateway_factory: Factory, sink: Any, who: Person
) -> None:
    gw = await gateway_factory({"policy": {"mode": "monitor"}})
    spec = Spec(who, to=[STRANGER])
    code, reply = await send(gw.port, spec.build(), spec.to)
    assert code == 250
    queue_id = reply.split()[-1]
    await sink.wait(1)
    (record,) = await records(gw)
    assert record["verdict"] == "deliver"
    assert [r["code"] for r in record["reasons"]] == ["recipient_not_allowed"]
    (detail,) = [d for t, d in await audit_events_of(gw, queue_id) if t == "queued"]
    assert detail["would_action"] == "reject"


async def test_clean_mail_is_relayed_unchanged(gateway_factory: Factory, sink: Any) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    raw = (
        f"From: {SENDER}\r\nTo: {STRANGER}\r\nSubject: Lunch on Friday?\r\n"
        "Message-ID: <lunch@council.example>\r\n\r\nShall we meet at one?\r\n"
    ).encode()
    code, _ = await send(gw.port, raw, [STRANGER])
    assert code == 250
    (got,) = await sink.wait(1)
    assert strip_received(got.content)[1] == raw


# -- hold ---------------------------------------------------------------------------


async def test_held_message_approved_then_delivered(
    gateway_factory: Factory, sink: Any, who: Person, tmp_path: Path
) -> None:
    overrides = {"policy": {"mode": "enforce", "hold": {"enabled": True, "min_people": 1,
                                                         "special_category": False}}}
    gw = await gateway_factory(overrides)
    code, reply = await send(gw.port, Spec(who).build(), [ALLOWED])
    assert code == 250 and "held for authorisation" in reply
    queue_id = reply.split()[3]
    # The sender is told it waits (their mail client showed it as sent);
    # nothing goes to the recipient.
    (notice,) = await sink.wait(1)
    assert notice.rcpt_tos == (SENDER,) and notice.mail_from == ""
    assert notice.header("Subject") == HELD_SUBJECT
    assert queue_id in notice.content.decode()
    assert Spec(who).password.encode() not in notice.content
    assert await sink.stays_empty(0.5, after=1)
    config = write_config(tmp_path / "held.toml", {
        "database": {"url": gw.settings.database.url},
        "policy": {"recipients_file": str(gw.settings.recipients_path)},
    })
    listing = run_cli("held", "list", "--json", config=config)
    assert listing.returncode == 0, listing.stderr
    (row,) = [json.loads(line) for line in listing.stdout.splitlines()]
    assert row["id"] == queue_id and "uk_nhs_number" in row["information_types"]
    approve = run_cli("held", "approve", queue_id, "--by", "Jo Manager", "--note", "ok",
                      config=config)
    assert approve.returncode == 0, approve.stderr
    got = (await sink.wait(2, timeout=20))[1]
    assert got.rcpt_tos == (ALLOWED,)
    assert Spec(who).password.encode() not in got.content
    assert "approved" in await events(gw, queue_id)
    async with gw.engine.connect() as conn:
        (detail,) = (await conn.execute(select(audit_events.c.detail).where(
            audit_events.c.record_id == queue_id, audit_events.c.type == "approved"))).scalars()
    # The name typed, and the operating-system account that typed it.
    assert (json.loads(detail)["via"], json.loads(detail)["account"]) == (
        "command line", getpass.getuser())
    again = run_cli("held", "reject", queue_id, "--by", "Jo Manager", config=config)
    assert again.returncode == 1 and "no longer held" in again.stderr


async def test_held_list_names_what_a_subject_from_mail_would_do_to_the_terminal(
    gateway_factory: Factory, sink: Any, who: Person, tmp_path: Path
) -> None:
    """The subject comes in an RFC 2047 encoded-word, decoded to an escape
    sequence (it sets the terminal's title) and a right-to-left override.
    `held list` and `audit show` print their names; `--json` the text."""
    hold = {"enabled": True, "min_people": 1, "special_category": False}
    gw = await gateway_factory({"policy": {"mode": "enforce", "hold": hold}})
    subject = f"{MARKING}: referral \x1b]0;all clear\x07 \u202efdp.exe"
    code, reply = await send(gw.port, Spec(who, subject=subject).build(), [ALLOWED])
    assert code == 250 and "held for authorisation" in reply
    queue_id = reply.split()[3]
    config = write_config(tmp_path / "held.toml", {
        "database": {"url": gw.settings.database.url},
        "policy": {"recipients_file": str(gw.settings.recipients_path)},
    })
    listing = run_cli("held", "list", config=config)
    assert listing.returncode == 0, listing.stderr
    assert "referral <U+001B>]0;all clear<U+0007> <U+202E>fdp.exe" in listing.stdout
    assert "\x1b" not in listing.stdout and "\u202e" not in listing.stdout
    shown = run_cli("audit", "show", queue_id, config=config)
    assert shown.returncode == 0, shown.stderr
    assert "<U+001B>]0;all clear<U+0007>" in shown.stdout and "\x1b" not in shown.stdout
    as_json = run_cli("held", "list", "--json", config=config)
    (row,) = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert row["subject"] == subject


async def test_held_message_rejected_is_never_delivered(
    gateway_factory: Factory, sink: Any, who: Person, tmp_path: Path
) -> None:
    hold = {"enabled": True, "min_people": 1}
    gw = await gateway_factory({"policy": {"mode": "enforce", "hold": hold}})
    code, reply = await send(gw.port, Spec(who).build(), [ALLOWED])
    assert code == 250 and "held for authorisation" in reply
    queue_id = reply.split()[3]
    config = write_config(tmp_path / "held.toml", {
        "database": {"url": gw.settings.database.url},
        "policy": {"recipients_file": str(gw.settings.recipients_path)},
    })
    result = run_cli("held", "reject", queue_id, "--by", "Jo Manager", "--note",
                     "Not proportionate", config=config)
    assert result.returncode == 0, result.stderr
    # The sender hears it was held, then that it was refused and by whom;
    # nothing goes to the recipient.
    held, refused = await sink.wait(2, timeout=20)
    assert held.header("Subject") == HELD_SUBJECT
    assert refused.rcpt_tos == (SENDER,) and refused.header("Subject") == REFUSED_SUBJECT
    words = " ".join(refused.content.decode().split())
    assert "Decided by: Jo Manager" in words and "Not proportionate" in words
    assert queue_id in words
    assert all(m.rcpt_tos == (SENDER,) for m in await sink.wait(2))
    assert await sink.stays_empty(0.5, after=2)
    async with gw.engine.connect() as conn:
        state = (
            await conn.execute(
                select(queue_messages.c.state).where(queue_messages.c.id == queue_id)
            )
        ).scalar_one()
        kept = (
            await conn.execute(
                select(queue_contents.c.content).where(queue_contents.c.message_id == queue_id)
            )
        ).all()
    assert state == "rejected" and kept == []
    trail = await events(gw, queue_id)
    # Destroyed because the approver refused it, not expired: nothing went
    # out that a recipient could not open.
    assert trail == ["received", "held", "password_held", "rejected", "password_destroyed"]
    async with gw.engine.connect() as conn:
        states = (await conn.execute(
            select(held_passwords.c.state, held_passwords.c.ciphertext)
            .where(held_passwords.c.queue_id == queue_id)
        )).all()
    assert [(s, c) for s, c in states] == [("destroyed", None)]


# -- scan and live agree -------------------------------------------------------------


async def test_scan_and_live_verdicts_agree(
    gateway_factory: Factory, sink: Any, who: Person, tmp_path: Path
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    folder = tmp_path / "mail"
    folder.mkdir()
    specs = [("compliant", Spec(who))] + [(name, spec) for name, spec, _, _ in broken_alone(who)]
    specs.append(("clean", Spec(who, subject="Agenda", with_zip=False, password_line=False)))
    live: dict[str, tuple[str, list[str]]] = {}
    for name, spec in specs:
        raw = spec.build()
        (folder / f"{name.replace(' ', '_')}.eml").write_bytes(raw)
        before = len(await records(gw))
        await send(gw.port, raw, spec.to)
        record = (await records(gw))[before]
        live[name.replace(" ", "_")] = (record["verdict"], [r["code"] for r in record["reasons"]])
    data = {
        "database": {"url": gw.settings.database.url},
        "policy": {"mode": "enforce", "recipients_file": str(gw.settings.recipients_path)},
    }
    config = write_config(tmp_path / "scan.toml", data)
    result = run_cli("scan", "--json", str(folder), config=config)
    assert result.returncode == 0, result.stderr
    scanned = {}
    passwords = {}
    for line in result.stdout.splitlines():
        doc = json.loads(line)
        assert set(doc) == {"file", "personal_data", "information_types", "verdict", "reasons",
                            "password", "attachments"}
        scanned[Path(doc["file"]).stem] = (doc["verdict"], [r["code"] for r in doc["reasons"]])
        passwords[Path(doc["file"]).stem] = doc["password"]
    assert scanned == live
    assert live["compliant"] == ("deliver", [])
    assert live["no_purpose"] == ("deliver", [])  # require_purpose is off in this config
    assert passwords["compliant"] == "held"
    assert passwords["password_in_subject"] == "in_message"
    assert passwords["clean"] == "none"
