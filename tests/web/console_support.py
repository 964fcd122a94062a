"""Support for the web console tests (the fixture is in conftest.py).

`console` builds a Settings with three console users (auditor, approver,
admin; cheap argon2 hashes so sign-in is fast), seeds the database from
`db_url` (SQLite, and PostgreSQL when configured) with audit records, a held
message and a held password, and hands out a `Console` helper whose
`client(...)` opens a Starlette TestClient on `create_app` with a clock the
test can move (session timeout).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from gwtest import run_in_thread
from sqlalchemy import insert
from starlette.testclient import TestClient

from gateway.audit import (
    AuditEvent,
    AuditReason,
    AuditRecipient,
    AuditRecord,
    AuditTrail,
    EventType,
)
from gateway.db import create_engine
from gateway.model import Envelope
from gateway.passwords import PasswordVault, hold_op
from gateway.queue import NewMessage, QueueState, QueueStore, Writer
from gateway.receipts.schema import receipt_requests
from gateway.settings import Settings
from gateway.web import create_app

PASSWORDS = {"alice": "auditor-pass-1", "bob": "approver-pass-2", "carol": "admin-pass-3"}
ROLES = {"alice": "auditor", "bob": "approver", "carol": "admin"}
# The name the trail records for an approver (`[[web.users]] full_name`).
FULL_NAMES = {"bob": "Bob Approver"}
# Cheap parameters: verification cost follows the hash's own parameters.
_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
HASHES = {name: _HASHER.hash(pw) for name, pw in PASSWORDS.items()}

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "dr.jones@nhs.example,Dr Rhys Jones,Named GP for safeguarding,Safeguarding,"
    "Riverside NHS Trust,01632 960001,\n"
    "@school.example,School Office,Designated safeguarding lead,,Hill School,01632 960002,\n"
)
HELD_ID = "HELD0000000001"
HELD_BODY = b"SECRET-BODY-TEXT NHS 943 476 5919"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def record(
    id: str,
    received_at: datetime,
    verdict: str = "protect",
    sender: str = "alice.smith@council.example",
    recipients: tuple[str, ...] = ("dr.jones@nhs.example",),
    types: tuple[str, ...] = ("uk_nhs_number",),
    reasons: tuple[str, ...] = ("unencrypted_attachment",),
    purpose: str | None = "Child protection case conference",
) -> AuditRecord:
    return AuditRecord(
        id=id, message_id=f"<{id}@council.example>", received_at=received_at, sender=sender,
        recipients=tuple(AuditRecipient(a, "Dr Rhys Jones", "GP", "", "Riverside NHS Trust",
                                        "01632 960001", listed_as=a.lower())
                         for a in recipients),
        subject="Private and Confidential: case conference", verdict=verdict,
        reasons=tuple(AuditReason(code, f"text for {code}") for code in reasons),
        purpose=purpose, information_types=types, method="email", queue_id=id,
    )


def events_for(rec: AuditRecord, stages: tuple[EventType, ...]) -> list[AuditEvent]:
    return [AuditEvent(kind, rec.received_at + timedelta(seconds=i), {"n": i})
            for i, kind in enumerate(stages)]


@dataclass
class Seed:
    """What the tests can find in the seeded database."""

    ids: list[str] = field(default_factory=list)
    tie_ids: list[str] = field(default_factory=list)  # share one received_at
    held_id: str = HELD_ID
    held_password: str = "Tr0ub4dor&3-never-shown"
    password_id: str = ""


async def _seed(url: str, tmp: Path, extra: int) -> Seed:
    seed = Seed()
    engine = create_engine(url)
    writer = Writer(engine)
    writer.start()
    trail = AuditTrail()
    try:
        full = (EventType.RECEIVED, EventType.QUEUED, EventType.RELAYED,
                EventType.DELIVERY_CONFIRMED, EventType.READ_CONFIRMED,
                EventType.PASSWORD_RELEASED)
        samples = [
            (record("REC-DELIVERED", T0, "protect"), full),
            (record("REC-REJECTED", T0 + timedelta(minutes=1), "reject",
                    sender="bob.brown@council.example", recipients=("x@gmail.example",),
                    types=("uk_national_insurance_number",),
                    reasons=("recipient_not_allowed", "personal_data_in_body")),
             (EventType.RECEIVED, EventType.REJECTED)),
            (record("REC-AWAITING", T0 + timedelta(minutes=2), "deliver", types=(),
                    reasons=()),
             (EventType.RECEIVED, EventType.QUEUED, EventType.RELAYED)),
        ]
        for rec, stages in samples:
            await writer.submit(trail.record_op(rec, events_for(rec, stages)))
            seed.ids.append(rec.id)
        # Many records for paging, some with exactly the same time (keyset ties).
        base = T0 - timedelta(days=1)
        bulk = []
        for i in range(extra):
            at = base if i < 60 else base - timedelta(seconds=i)
            rec = record(f"BULK{i:05d}", at, "deliver", sender=f"staff{i % 7}@council.example",
                         types=(), reasons=())
            bulk.append(trail.record_op(rec, events_for(rec, (EventType.RECEIVED,))))
            (seed.tie_ids if i < 60 else seed.ids).append(rec.id)

        async def all_bulk(conn: Any) -> None:  # one transaction: one fsync
            for op in bulk:
                await op(conn)

        await writer.submit(all_bulk)
        # A held message with its record, as the acceptor writes them.
        held = record(HELD_ID, T0 + timedelta(minutes=3), "hold",
                      recipients=("dr.jones@nhs.example", "someone@elsewhere.example"),
                      types=("special_category", "uk_nhs_number"), reasons=())
        envelope = Envelope(mail_from="alice.smith@council.example",
                            rcpt_tos=("dr.jones@nhs.example", "someone@elsewhere.example"))
        store = QueueStore(engine, writer)
        await store.enqueue(
            NewMessage(envelope=envelope, content=HELD_BODY, state=QueueState.HELD,
                       audit_id=HELD_ID, id=HELD_ID),
            also=[trail.record_op(held, events_for(held, (EventType.RECEIVED, EventType.HELD)))],
            claim=False,
        )
        # A held password expiring within the dashboard's 48 hours.
        vault = PasswordVault([os.urandom(32)])
        ids = await writer.submit(hold_op(vault, "REC-AWAITING", ["dr.jones@nhs.example"],
                                          seed.held_password, timedelta(hours=5),
                                          audit_id="REC-AWAITING", trail=trail))
        seed.password_id = ids[0]

        async def receipts_asked(conn: Any) -> None:  # as the desk's request_op does
            await conn.execute(insert(receipt_requests).values(
                queue_id="REC-AWAITING", idx=0, recipient="dr.jones@nhs.example",
                route="upstream", sender="alice.smith@council.example", sender_mdn=False,
                created_at=T0.timestamp(), relayed_at=T0.timestamp() + 2))

        await writer.submit(receipts_asked)
    finally:
        await writer.stop()
        await engine.dispose()
    return seed


class Console:
    def __init__(self, settings_data: dict[str, Any], seed: Seed, url: str) -> None:
        self.settings_data = settings_data
        self.seed = seed
        self.url = url
        self.clock = Clock()

    def settings(self, database_url: str | None = None, **web: Any) -> Settings:
        data = dict(self.settings_data)
        data["web"] = {**data["web"], **web}
        if database_url is not None:
            data["database"] = {"url": database_url}
        return Settings.model_validate(data)

    def client(self, client: tuple[str, int] = ("testclient", 50000),
               database_url: str | None = None, **web: Any) -> TestClient:
        """`database_url`: another database than the seeded one (one that
        cannot be reached, say)."""
        app = create_app(self.settings(database_url, **web), clock=self.clock)
        return TestClient(app, base_url="http://console.test", client=client,
                          follow_redirects=False)

    def sign_in(self, client: TestClient, name: str) -> None:
        response = client.get("/signin")
        token = csrf_of(response.text)
        response = client.post("/signin", data={"name": name, "password": PASSWORDS[name],
                                                "csrf": token, "next": "/"})
        assert response.status_code == 303, response.text

    def run(self, work: Callable[[Any], Any]) -> Any:
        """Run `work(engine)` (a coroutine function) against the database."""

        async def go() -> Any:
            engine = create_engine(self.url)
            try:
                return await work(engine)
            finally:
                await engine.dispose()

        return run_in_thread(go)


def csrf_of(html: str) -> str:
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


def make_console(db_url: str, tmp_path: Path) -> Iterator[Console]:
    recipients = tmp_path / "recipients.csv"
    recipients.write_text(RECIPIENTS, encoding="utf-8")
    seed = run_in_thread(lambda: _seed(db_url, tmp_path, extra=130))
    data: dict[str, Any] = {
        "database": {"url": db_url},
        "policy": {"recipients_file": str(recipients),
                   "hold": {"enabled": True, "special_category": True}},
        "web": {
            "listen": "",
            "users": [{"name": n, "password_hash": HASHES[n], "role": ROLES[n],
                       "full_name": FULL_NAMES.get(n, "")} for n in PASSWORDS],
        },
        "config_dir": tmp_path,
    }
    yield Console(data, seed, db_url)


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)

