"""PostgreSQL role separation (migration 0002): the application's role can
append to and read the trail, never change or remove it, even with the purge
flag set; the auditors' role can only read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from audit_support import life, make_record
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit import AuditEvent, AuditTrail, EventType, purge, verify
from gateway.errors import StoreError

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_engine(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("roles are PostgreSQL's")
    return engine


async def as_role(conn: AsyncConnection, role: str) -> None:
    await conn.execute(text(f"SET LOCAL ROLE {role}"))


async def test_app_role_appends_and_reads(pg_engine):
    trail = AuditTrail(checkpoint_every=2)  # also writes checkpoints
    record = make_record()
    async with pg_engine.begin() as conn:
        await as_role(conn, "gateway_app")
        await trail.append_record(conn, record, life(record))
        await trail.append_events(conn, record.id, life(record)[:1])
        count = (await conn.execute(text("SELECT count(*) FROM audit_records_v"))).scalar()
    assert count == 1
    assert (await verify(pg_engine)).ok


@pytest.mark.parametrize("role", ["gateway_app", "gateway_auditor"])
async def test_the_roles_read_the_views_decision_columns(pg_engine, role):
    """audit_records_v calls functions for the approver and the refuser
    (migrations 0011, 0014): each reading role may run them."""
    approved, refused = make_record("role-approved"), make_record("role-refused")
    at = approved.received_at
    async with pg_engine.begin() as conn:
        for record in (approved, refused):
            await AuditTrail().append_record(conn, record, life(record)[:1])
        await AuditTrail().append_events(conn, approved.id, [AuditEvent(
            EventType.APPROVED, at, {"by": "Sarah Approver", "authorised_by": "Sarah Approver"})])
        await AuditTrail().append_events(conn, refused.id, [AuditEvent(
            EventType.REJECTED, at, {"by": "Sarah Approver", "note": ""})])
    async with pg_engine.begin() as conn:
        await as_role(conn, role)
        rows = (await conn.execute(text(
            "SELECT id, authorised_by, outcome, decided_by FROM audit_records_v ORDER BY id"
        ))).all()
    assert [tuple(r) for r in rows] == [
        ("role-approved", "Sarah Approver", "approved", "Sarah Approver"),
        ("role-refused", None, "refused", "Sarah Approver"),
    ]


@pytest.mark.parametrize("statement", [
    "UPDATE audit_records SET verdict = 'deliver'",
    "DELETE FROM audit_records",
    "UPDATE audit_events SET type = 'relayed'",
    "DELETE FROM audit_events",
    "DELETE FROM audit_record_terms",
    "UPDATE audit_checkpoints SET hash = 'x'",
    "DELETE FROM audit_checkpoints",
    "TRUNCATE audit_records",
])
async def test_app_role_cannot_change_or_remove(pg_engine, statement):
    record = make_record()
    async with pg_engine.begin() as conn:
        await AuditTrail().append_record(conn, record, life(record))
    with pytest.raises(DBAPIError) as caught:
        async with pg_engine.begin() as conn:
            await as_role(conn, "gateway_app")
            # The purge flag opens the trigger, not the grant.
            await conn.execute(text("SELECT set_config('gateway.audit_purge', 'on', true)"))
            await conn.execute(text(statement))
    assert "permission denied" in str(caught.value)
    assert (await verify(pg_engine)).ok


async def test_auditor_role_only_reads(pg_engine):
    record = make_record()
    async with pg_engine.begin() as conn:
        await AuditTrail().append_record(conn, record, life(record))
    async with pg_engine.begin() as conn:
        await as_role(conn, "gateway_auditor")
        rows = (await conn.execute(text(
            "SELECT address, organisation, telephone FROM audit_recipients_v"
        ))).all()
        assert [tuple(r) for r in rows] == [
            ("Dr.Jones@nhs.example", "Riverside NHS Trust", "01632 960001")
        ]
    with pytest.raises(DBAPIError, match="permission denied"):
        async with pg_engine.begin() as conn:
            await as_role(conn, "gateway_auditor")
            await conn.execute(text(
                "INSERT INTO audit_checkpoints (at, kind, seq, hash, detail) "
                "VALUES (now(), 'manual', 0, 'x', '{}')"
            ))


CHAIN_CALLS = [
    "SELECT * FROM audit_chain_head(1)",
    "SELECT * FROM audit_chain_link(1, ARRAY[]::bytea[])",
]


@pytest.mark.parametrize("call", CHAIN_CALLS, ids=["head", "link"])
async def test_only_the_app_role_runs_the_chain_functions(pg_engine, call):
    """Both take the chain's advisory lock: an auditor's session (or any
    role's, through PUBLIC, before migration 0015) holding it would stall
    every replica's appends."""
    async with pg_engine.begin() as conn:
        await as_role(conn, "gateway_app")
        await conn.execute(text(call))
    with pytest.raises(DBAPIError, match="permission denied for function"):
        async with pg_engine.begin() as conn:
            await as_role(conn, "gateway_auditor")
            await conn.execute(text(call))


async def test_no_gateway_function_is_executable_by_public(pg_engine):
    async with pg_engine.connect() as conn:
        public = (await conn.execute(text(
            "SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace "
            "AND p.proname LIKE 'audit%' AND has_function_privilege('public', p.oid, 'EXECUTE') "
            "ORDER BY 1"
        ))).scalars().all()
    assert public == []


async def test_purge_as_the_app_role_is_refused_clearly(pg_engine):
    record = make_record(received_at=datetime.now(UTC) - timedelta(days=3000))
    async with pg_engine.begin() as conn:
        await AuditTrail().append_record(conn, record, life(record))

    @event.listens_for(pg_engine.sync_engine, "begin")
    def as_app(conn) -> None:  # every transaction of this engine runs as gateway_app
        conn.exec_driver_sql("SET LOCAL ROLE gateway_app")

    try:
        with pytest.raises(StoreError, match="not gateway_app"):
            await purge(pg_engine, AuditTrail(), timedelta(days=365))
    finally:
        event.remove(pg_engine.sync_engine, "begin", as_app)
    assert (await verify(pg_engine)).ok


async def test_app_role_cannot_write_a_cut(pg_engine):
    """A `cut` moves where verify starts and where the next row links: only
    a role that may purge writes one (migration 0013).  The app role's own
    checkpoints still go in."""
    trail = AuditTrail()
    record = make_record()
    async with pg_engine.begin() as conn:
        await trail.append_record(conn, record, life(record))
    with pytest.raises(DBAPIError, match="only a role that may purge"):
        async with pg_engine.begin() as conn:
            await as_role(conn, "gateway_app")
            await conn.execute(text(
                "INSERT INTO audit_checkpoints (at, kind, seq, hash, detail) "
                "VALUES (now(), 'cut', 50, repeat('a', 64), '{}')"
            ))
    async with pg_engine.begin() as conn:
        await as_role(conn, "gateway_app")
        await trail.write_checkpoint(conn, "manual")
    report = await verify(pg_engine)
    assert report.ok and report.checkpoints == 1 and report.cut_seq == 0
    # The owner's purge writes its cut as before.
    async with pg_engine.begin() as conn:
        await trail.append_events(conn, "later", [])
    result = await purge(pg_engine, trail, timedelta(days=1),
                         now=datetime.now(UTC) + timedelta(days=3650))
    assert result.checkpoint_id is not None
    assert (await verify(pg_engine)).ok


async def test_app_role_works_the_queue_and_its_contents(pg_engine):
    """The queue is the application's working state (0002), its contents'
    table too (0017): a message queued, its content read and deleted."""
    async with pg_engine.begin() as conn:
        await as_role(conn, "gateway_app")
        await conn.execute(text(
            "INSERT INTO queue_messages (id, created_at, mail_from, envelope, size, state,"
            " attempts, next_attempt_at, updated_at) VALUES ('role-q', 1, 'a@example.org', '{}',"
            " 4, 'queued', 0, 1, 1)"))
        await conn.execute(text(
            "INSERT INTO queue_contents (message_id, content) VALUES ('role-q', 'body')"))
        stored = (await conn.execute(text(
            "SELECT content FROM queue_contents WHERE message_id = 'role-q'"))).scalar()
        await conn.execute(text("DELETE FROM queue_contents WHERE message_id = 'role-q'"))
        await conn.execute(text("DELETE FROM queue_messages WHERE id = 'role-q'"))
    assert stored == b"body"
