"""Console sessions end when they should, and a failed sign-in keeps no
secret: a copied cookie is refused after sign-out (on every replica sharing
the database), a session ends at its absolute lifetime however active it is,
and a name that is not a console user never reaches the trail or the log."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from console_support import HELD_ID, PASSWORDS, Console, csrf_of
from sqlalchemy import select
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from gateway.db import audit_events, queue_messages

COOKIE = "gateway_console"
SECRET = "s" * 40  # shared by the replicas below, as [web] session_secret


def held_state(console: Console) -> str:
    async def work(engine: Any) -> str:
        async with engine.connect() as conn:
            return str((await conn.execute(select(queue_messages.c.state)
                                           .where(queue_messages.c.id == HELD_ID))).scalar_one())

    result: str = console.run(work)
    return result


def audit_event_rows(console: Console) -> list[dict[str, Any]]:
    """Every column of every audit event, as text."""
    async def work(engine: Any) -> list[dict[str, Any]]:
        async with engine.connect() as conn:
            rows = await conn.execute(select(audit_events).order_by(audit_events.c.seq))
            return [{k: str(v) for k, v in row._mapping.items()} for row in rows]

    result: list[dict[str, Any]] = console.run(work)
    return result


def details(console: Console, kind: str) -> list[dict[str, Any]]:
    return [json.loads(row["detail"]) for row in audit_event_rows(console)
            if row["type"] == kind]


def failed_sign_ins(console: Console) -> list[dict[str, Any]]:
    return details(console, "console_sign_in_failed")


def with_cookie(console: Console, cookie: str) -> TestClient:
    client = console.client(session_secret=SECRET)
    client.cookies.set(COOKIE, cookie)
    return client


def sign_out(client: TestClient) -> None:
    token = csrf_of(client.get("/held").text)
    assert client.post("/signout", data={"csrf": token}).status_code == 303


# -- sign-out ends the session everywhere ------------------------------------------------------


def test_a_cookie_copied_before_sign_out_is_refused_after_it(console: Console) -> None:
    with console.client(session_secret=SECRET) as browser:
        console.sign_in(browser, "carol")
        copied = browser.cookies.get(COOKIE) or ""
        token = csrf_of(browser.get(f"/held/{HELD_ID}").text)
        sign_out(browser)
    with with_cookie(console, copied) as thief:
        for path in ("/dashboard", "/audit/download?format=csv", f"/held/{HELD_ID}"):
            response = thief.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/signin?next=")
        refused = thief.post(f"/held/{HELD_ID}/decide", data={"csrf": token,
                                                              "decision": "approve"})
        assert refused.status_code in {401, 403}
        thief.cookies.set(COOKIE, copied)
        assert thief.post("/signout", data={"csrf": token}).status_code in {401, 403}
    assert held_state(console) == "held"


def test_sign_out_on_one_replica_ends_the_session_on_another(console: Console) -> None:
    with console.client(session_secret=SECRET) as first, \
            console.client(session_secret=SECRET) as second:
        console.sign_in(first, "alice")
        second.cookies.set(COOKIE, first.cookies.get(COOKIE) or "")
        assert second.get("/dashboard").status_code == 200  # shared, as the README says
        token = csrf_of(first.get("/dashboard").text)
        assert first.post("/signout", data={"csrf": token}).status_code == 303
        assert second.get("/dashboard").status_code == 303


def test_sign_out_ends_only_that_session(console: Console) -> None:
    with console.client(session_secret=SECRET) as laptop, \
            console.client(session_secret=SECRET) as desktop:
        console.sign_in(laptop, "alice")
        console.sign_in(desktop, "alice")
        token = csrf_of(laptop.get("/dashboard").text)
        assert laptop.post("/signout", data={"csrf": token}).status_code == 303
        assert laptop.get("/dashboard").status_code == 303
        assert desktop.get("/dashboard").status_code == 200
    signed_in = details(console, "console_signed_in")
    (signed_out,) = details(console, "console_signed_out")
    # The trail ties the sign-out to the sign-in it ended.
    assert [e["session"] for e in signed_in].count(signed_out["session"]) == 1
    assert signed_in[0]["session"] != signed_in[1]["session"]


# -- absolute lifetime ---------------------------------------------------------------------------


def test_an_active_session_ends_at_its_absolute_lifetime(console: Console) -> None:
    with console.client() as client:
        console.sign_in(client, "alice")
        for _ in range(19):  # a request every 25 minutes: never idle, for 7 h 55 min
            console.clock.advance(25 * 60)
            assert client.get("/audit").status_code == 200
        console.clock.advance(25 * 60)  # 8 h 20 min after sign-in
        response = client.get("/audit")
        assert response.status_code == 303
        assert "expired=1" in response.headers["location"]
        assert client.get("/audit").status_code == 303
        console.sign_in(client, "alice")  # a new sign-in starts a new lifetime
        assert client.get("/audit").status_code == 200


def test_a_copied_cookie_also_ends_at_the_absolute_lifetime(console: Console) -> None:
    with console.client(session_secret=SECRET) as browser:
        console.sign_in(browser, "bob")
        copied = browser.cookies.get(COOKIE) or ""
    with with_cookie(console, copied) as thief:
        for _ in range(20):
            console.clock.advance(25 * 60)
            thief.get("/held")
        token = csrf_of(thief.get("/signin").text)
        thief.cookies.set(COOKIE, copied)
        assert thief.get("/held").status_code == 303
        response = thief.post(f"/held/{HELD_ID}/decide", data={"csrf": token,
                                                               "decision": "approve"})
        assert response.status_code in {401, 403}
    assert held_state(console) == "held"


# -- failed sign-ins keep no secret ------------------------------------------------------------


TYPED = "Tr0ub4dor&3-typed-as-name"


def test_a_password_typed_as_the_name_is_kept_nowhere(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs, console.client() as client:
        token = csrf_of(client.get("/signin").text)
        response = client.post("/signin", data={"name": TYPED, "password": "whatever",
                                                 "csrf": token})
        assert response.status_code == 401
    rows = audit_event_rows(console)
    assert TYPED not in str(rows) and TYPED.casefold() not in str(rows).casefold()
    assert TYPED not in str(logs) and TYPED not in caplog.text
    (failed,) = failed_sign_ins(console)
    assert failed["known_user"] is False and failed.get("name") is None


def test_a_failed_sign_in_names_a_configured_user(console: Console) -> None:
    with console.client() as client:
        token = csrf_of(client.get("/signin").text)
        assert client.post("/signin", data={"name": "alice", "password": "wrong",
                                            "csrf": token}).status_code == 401
    (failed,) = failed_sign_ins(console)
    assert failed["name"] == "alice" and failed["known_user"] is True


def test_throttled_unknown_names_are_still_locked_and_not_recorded(console: Console) -> None:
    with console.client() as client:
        token = csrf_of(client.get("/signin").text)

        def attempt() -> int:
            return client.post("/signin", data={"name": TYPED, "password": "x",
                                                "csrf": token}).status_code

        assert [attempt() for _ in range(6)] == [401] * 5 + [429]
        assert client.post("/signin", data={"name": "alice", "password": PASSWORDS["alice"],
                                            "csrf": token}).status_code == 303
    rows = audit_event_rows(console)
    assert TYPED not in str(rows)
    assert [e.get("throttled") for e in failed_sign_ins(console)] == [None] * 5 + [True]
