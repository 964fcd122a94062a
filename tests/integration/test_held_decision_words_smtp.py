"""What the trail keeps of an approver's words: `gateway held approve|reject
--by NAME --note TEXT` on a message held over real SMTP.

Approvers type the case into the note ("ok for <the child>, NHS <number>"),
and the trail keeps it for years: the `approved` or `rejected` event keeps
the note and the name redacted, as the purpose and the authoriser are, in
`audit show`, its JSON, the export and audit_events_v.  The sender's notice
of a refusal quotes the note as typed (it goes to them alone)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from faker import Faker
from gwtest import run_cli, write_config
from policy_messages import ALLOWED, SENDER, Person, Spec, person
from sqlalchemy import text

Factory = Callable[..., Awaitable[Any]]
HOLD = {"policy": {"mode": "enforce", "hold": {"enabled": True, "min_people": 1,
                                                 "special_category": False}}}


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", base64.b64encode(secrets.token_bytes(32)).decode())


def _child() -> Person:
    return person(20261129)


def _approver() -> str:
    fake = Faker("en_GB")
    fake.seed_instance(4117)
    return f"{fake.first_name()} {fake.last_name()}"


async def _held(gw: Any, who: Person) -> str:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gw.port, timeout=30)
    await client.connect()
    try:
        _, reply = await client.sendmail(SENDER, [ALLOWED], Spec(who).build())
    finally:
        client.close()
    assert "held for authorisation" in reply
    return reply.split()[3]


async def _kept(gw: Any, queue_id: str, config: Path) -> str:
    """The record as `audit show` (text and JSON) and the export give it,
    and its events as audit_events_v does."""
    shown = run_cli("audit", "show", queue_id, config=config)
    as_json = run_cli("audit", "show", queue_id, "--format", "json", config=config)
    exported = run_cli("audit", "export", "--no-progress", config=config)
    for result in (shown, as_json, exported):
        assert result.returncode == 0, result.stderr
    async with gw.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM audit_events_v"))).all()
    return "\n".join([shown.stdout, as_json.stdout, exported.stdout, str(rows)])


@pytest.mark.parametrize("decision", ["approve", "reject"])
async def test_the_approvers_note_and_name_are_kept_redacted(
    gateway_factory: Factory, sink: Any, tmp_path: Path, decision: str
) -> None:
    who, approver = _child(), _approver()
    gw = await gateway_factory(HOLD)
    queue_id = await _held(gw, who)
    config = write_config(tmp_path / "held.toml", {
        "database": {"url": gw.settings.database.url},
        "policy": {"recipients_file": str(gw.settings.recipients_path)},
    })
    note = f"ok for {who.name}, NHS {who.nhs}, date of birth {who.dob}"
    by = f"{approver} (re NHS {who.nhs})"
    result = run_cli("held", decision, queue_id, "--by", by, "--note", note, config=config)
    assert result.returncode == 0, result.stderr
    kept = await _kept(gw, queue_id, config)
    assert "ok for [redacted], NHS [redacted], date of birth [redacted]" in kept
    assert f"{approver} (re NHS [redacted])" in kept  # the approver's own name stays
    for value in who.values:
        assert value not in kept
    if decision == "reject":
        # The sender hears why, in the approver's words.
        _, refused = await sink.wait(2, timeout=20)
        assert refused.rcpt_tos == (SENDER,)
        assert who.nhs in " ".join(refused.content.decode().split())
