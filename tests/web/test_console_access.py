"""Who may see and do what: anonymous visitors, each role, CSRF, sessions,
the trusted proxy header, cookies and headers."""

from __future__ import annotations

from typing import Any

import pytest
from console_support import HELD_ID, PASSWORDS, Console, csrf_of
from sqlalchemy import select

from gateway.db import audit_events, queue_contents, queue_messages

PAGES = ["/", "/dashboard", "/audit", "/audit?verdict=reject", "/audit/records/REC-DELIVERED",
         "/audit/records/REC-DELIVERED/download", "/audit/download?format=csv",
         "/audit/download?format=json", "/integrity", "/activity", "/held", f"/held/{HELD_ID}"]
POSTS = ["/signout", "/integrity/check", f"/held/{HELD_ID}/decide"]
AUDIT_PAGES = ["/dashboard", "/audit", "/audit/records/REC-DELIVERED",
               "/audit/records/REC-DELIVERED/download", "/audit/download?format=csv",
               "/integrity", "/activity"]
HELD_PAGES = ["/held", f"/held/{HELD_ID}"]


def console_events(console: Console, kind: str) -> list[dict[str, Any]]:
    import json

    async def work(engine: Any) -> list[dict[str, Any]]:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(audit_events.c.record_id, audit_events.c.detail)
                .where(audit_events.c.type == kind).order_by(audit_events.c.seq))
            return [dict(json.loads(d), record_id=r) for r, d in rows]

    result: list[dict[str, Any]] = console.run(work)
    return result


def queue_state(console: Console, message_id: str = HELD_ID) -> tuple[str, bytes]:
    async def work(engine: Any) -> tuple[str, bytes]:
        async with engine.connect() as conn:
            row = (await conn.execute(
                select(queue_messages.c.state, queue_contents.c.content)
                .select_from(queue_messages.outerjoin(
                    queue_contents, queue_contents.c.message_id == queue_messages.c.id))
                .where(queue_messages.c.id == message_id))).one()
            return str(row[0]), bytes(row[1] or b"")

    result: tuple[str, bytes] = console.run(work)
    return result


# -- anonymous ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_is_sent_to_sign_in_and_sees_nothing(console: Console, path: str) -> None:
    with console.client() as client:
        response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin?next=")
    assert "REC-DELIVERED" not in response.text and "council.example" not in response.text


@pytest.mark.parametrize("path", POSTS)
def test_anonymous_post_is_401(console: Console, path: str) -> None:
    with console.client() as client:
        token = csrf_of(client.get("/signin").text)
        response = client.post(path, data={"csrf": token, "decision": "approve"})
    assert response.status_code == 401
    assert queue_state(console)[0] == "held"


def test_sign_in_page_and_static_files_are_public(console: Console) -> None:
    with console.client() as client:
        assert client.get("/signin").status_code == 200
        css = client.get("/static/console.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


# -- sign-in ---------------------------------------------------------------------------------


def test_sign_in_success_is_audited_and_sets_a_strict_cookie(console: Console) -> None:
    with console.client() as client:
        token = csrf_of(client.get("/signin?next=/audit").text)
        response = client.post("/signin", data={"name": "alice", "password": PASSWORDS["alice"],
                                                "csrf": token, "next": "/audit"})
        assert response.status_code == 303
        assert response.headers["location"] == "/audit"
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "Secure" not in cookie  # plain http, cookie_secure = "auto"
        assert client.get("/audit").status_code == 200
    events = console_events(console, "console_signed_in")
    assert events[-1]["user"] == "alice" and events[-1]["role"] == "auditor"
    assert events[-1]["via"] == "password"
    assert events[-1]["record_id"].startswith("console-")


@pytest.mark.parametrize("name,password", [("alice", "wrong"), ("mallory", "whatever"),
                                           ("bob", "")])
def test_sign_in_failure_is_audited(console: Console, name: str, password: str) -> None:
    with console.client() as client:
        token = csrf_of(client.get("/signin").text)
        response = client.post("/signin", data={"name": name, "password": password,
                                                "csrf": token})
        assert response.status_code == 401
        assert "not right" in response.text
        assert client.get("/dashboard").status_code == 303
    failed = console_events(console, "console_sign_in_failed")
    # A configured user is named; text that names no user (a password
    # typed into the wrong field, perhaps) is never kept.
    assert failed[-1].get("name") == (name if name in PASSWORDS else None)
    assert failed[-1]["known_user"] is (name in PASSWORDS)
    assert password not in str(failed) or not password


def test_repeated_failures_lock_the_name_for_a_while(console: Console) -> None:
    with console.client() as client:
        token = csrf_of(client.get("/signin").text)

        def attempt(password: str) -> int:
            return client.post("/signin", data={"name": "alice", "password": password,
                                                "csrf": token}).status_code

        assert [attempt("guess") for _ in range(5)] == [401] * 5
        assert attempt(PASSWORDS["alice"]) == 429  # even the right password, for now
        console.clock.advance(16 * 60)
        assert attempt(PASSWORDS["alice"]) == 303
    throttled = [e for e in console_events(console, "console_sign_in_failed")
                 if e.get("throttled")]
    assert len(throttled) == 1


def test_sign_in_only_returns_to_local_pages(console: Console) -> None:
    with console.client() as client:
        token = csrf_of(client.get("/signin").text)
        response = client.post("/signin", data={"name": "alice", "password": PASSWORDS["alice"],
                                                "csrf": token, "next": "//evil.example/x"})
    assert response.headers["location"] == "/"


def test_sign_in_without_csrf_is_refused(console: Console) -> None:
    with console.client() as client:
        client.get("/signin")
        response = client.post("/signin", data={"name": "alice",
                                                "password": PASSWORDS["alice"]})
        assert response.status_code == 403
        wrong = client.post("/signin", data={"name": "alice", "password": PASSWORDS["alice"],
                                             "csrf": "forged"})
        assert wrong.status_code == 403
        assert client.get("/dashboard").status_code == 303
    assert console_events(console, "console_signed_in") == []


def test_sign_in_renews_the_session(console: Console) -> None:
    with console.client() as client:
        before = csrf_of(client.get("/signin").text)
        console.sign_in(client, "alice")
        after = csrf_of(client.get("/audit").text)
    assert before != after  # no session fixation: a new token with the new session


def test_sign_out_is_audited_and_ends_the_session(console: Console) -> None:
    with console.client() as client:
        console.sign_in(client, "carol")
        token = csrf_of(client.get("/dashboard").text)
        assert client.post("/signout", data={}).status_code == 403  # CSRF first
        response = client.post("/signout", data={"csrf": token})
        assert response.status_code == 303 and response.headers["location"] == "/signin"
        assert client.get("/dashboard").status_code == 303
    assert console_events(console, "console_signed_out")[-1]["user"] == "carol"


# -- roles -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", AUDIT_PAGES)
def test_auditor_reads_the_audit_trail(console: Console, path: str) -> None:
    with console.client() as client:
        console.sign_in(client, "alice")
        assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", HELD_PAGES)
def test_auditor_cannot_see_held_messages(console: Console, path: str) -> None:
    with console.client() as client:
        console.sign_in(client, "alice")
        response = client.get(path)
    assert response.status_code == 403
    assert "someone@elsewhere.example" not in response.text


def test_auditor_cannot_approve(console: Console) -> None:
    with console.client() as client:
        console.sign_in(client, "alice")
        token = csrf_of(client.get("/audit").text)
        response = client.post(f"/held/{HELD_ID}/decide",
                               data={"csrf": token, "decision": "approve", "note": "ok"})
    assert response.status_code == 403
    assert queue_state(console)[0] == "held"
    assert console_events(console, "approved") == []


@pytest.mark.parametrize("path", AUDIT_PAGES)
def test_approver_cannot_read_the_audit_trail(console: Console, path: str) -> None:
    with console.client() as client:
        console.sign_in(client, "bob")
        response = client.get(path)
    assert response.status_code == 403
    assert "REC-DELIVERED" not in response.text


def test_approver_cannot_run_verification(console: Console) -> None:
    with console.client() as client:
        console.sign_in(client, "bob")
        token = csrf_of(client.get("/held").text)
        assert client.post("/integrity/check", data={"csrf": token}).status_code == 403


@pytest.mark.parametrize("path", HELD_PAGES)
def test_approver_sees_held_messages(console: Console, path: str) -> None:
    with console.client() as client:
        console.sign_in(client, "bob")
        assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", AUDIT_PAGES + HELD_PAGES)
def test_admin_sees_everything(console: Console, path: str) -> None:
    with console.client() as client:
        console.sign_in(client, "carol")
        assert client.get(path).status_code == 200


@pytest.mark.parametrize("user,target", [("alice", "/dashboard"), ("bob", "/held"),
                                         ("carol", "/dashboard")])
def test_home_goes_to_the_roles_first_page(console: Console, user: str, target: str) -> None:
    with console.client() as client:
        console.sign_in(client, user)
        assert client.get("/").headers["location"] == target


def test_nav_shows_only_what_the_role_may_open(console: Console) -> None:
    with console.client() as client:
        console.sign_in(client, "bob")
        page = client.get("/held").text
    assert 'href="/held"' in page and 'href="/audit"' not in page


# -- CSRF on every form ------------------------------------------------------------------------


@pytest.mark.parametrize("path", POSTS)
def test_every_form_needs_the_csrf_token(console: Console, path: str) -> None:
    with console.client() as client:
        console.sign_in(client, "carol")
        for data in ({"decision": "approve"}, {"decision": "approve", "csrf": "x" * 43}):
            response = client.post(path, data=data)
            assert response.status_code == 403
        assert client.get("/dashboard").status_code == 200  # still signed in
    assert queue_state(console)[0] == "held"


# -- session timeout -----------------------------------------------------------------------------


def test_session_times_out_after_inactivity(console: Console) -> None:
    with console.client() as client:
        console.sign_in(client, "alice")
        console.clock.advance(29 * 60)
        assert client.get("/audit").status_code == 200  # activity keeps it alive
        console.clock.advance(29 * 60)
        assert client.get("/audit").status_code == 200
        console.clock.advance(31 * 60)
        response = client.get("/audit")
        assert response.status_code == 303
        assert "expired=1" in response.headers["location"]
        assert "ended after a period" in client.get(response.headers["location"]).text
        assert client.get("/audit").status_code == 303  # the session is gone


def test_session_timeout_is_configurable(console: Console) -> None:
    with console.client(session_timeout="5m") as client:
        console.sign_in(client, "alice")
        console.clock.advance(6 * 60)
        assert client.get("/audit").status_code == 303


def test_a_forged_cookie_is_not_a_session(console: Console) -> None:
    with console.client() as client:
        client.cookies.set("gateway_console", "eyJ1c2VyIjoiY2Fyb2wifQ.forged.sig")
        assert client.get("/dashboard").status_code == 303


def test_a_cookie_signed_by_another_console_is_refused(console: Console) -> None:
    with console.client(session_secret="a" * 40) as first:
        console.sign_in(first, "carol")
        cookie = first.cookies.get("gateway_console")
    with console.client(session_secret="b" * 40) as second:
        second.cookies.set("gateway_console", cookie or "")
        assert second.get("/dashboard").status_code == 303


# -- trusted reverse proxy ------------------------------------------------------------------------


PROXY = {"trusted_header": "X-Remote-User", "trusted_proxies": ["127.0.0.1/32"]}


def test_trusted_proxy_header_signs_in(console: Console) -> None:
    with console.client(client=("127.0.0.1", 40000), **PROXY) as client:
        headers = {"X-Remote-User": "alice"}
        assert client.get("/audit", headers=headers).status_code == 200
        assert client.get("/dashboard", headers=headers).status_code == 200
        assert client.get("/held", headers=headers).status_code == 403  # alice's role
    signed = console_events(console, "console_signed_in")
    assert len(signed) == 1 and signed[0]["via"] == "trusted_header"


def test_the_trail_names_the_client_the_trusted_proxy_served(console: Console) -> None:
    """Behind the proxy every request's TCP peer is the proxy: the trail's
    `client` is the address it added last to X-Forwarded-For, as the
    sign-in throttle counts it (one a client sent itself, earlier in the
    header, is not believed)."""
    with console.client(client=("127.0.0.1", 40000), **PROXY) as client:
        headers = {"X-Remote-User": "alice", "X-Forwarded-For": "192.0.2.99, 198.51.100.7"}
        assert client.get("/audit", headers=headers).status_code == 200
    (signed,) = console_events(console, "console_signed_in")
    assert signed["client"] == "198.51.100.7"
    with console.client(client=("10.9.9.9", 40000), **PROXY) as client:
        client.get("/signin", headers={"X-Forwarded-For": "198.51.100.8"})
        token = csrf_of(client.get("/signin").text)
        client.post("/signin", data={"name": "alice", "password": "wrong", "csrf": token},
                    headers={"X-Forwarded-For": "198.51.100.8"})
    (failed,) = console_events(console, "console_sign_in_failed")
    assert failed["client"] == "10.9.9.9"  # not from the proxy: its header is not believed


def test_header_from_an_untrusted_peer_is_ignored(console: Console) -> None:
    with console.client(client=("10.9.9.9", 40000), **PROXY) as client:
        response = client.get("/audit", headers={"X-Remote-User": "carol"})
    assert response.status_code == 303
    assert console_events(console, "console_signed_in") == []


def test_proxy_name_not_in_config_is_refused(console: Console) -> None:
    with console.client(client=("127.0.0.1", 40000), **PROXY) as client:
        for _ in range(3):
            assert client.get("/audit", headers={"X-Remote-User": "mallory"}).status_code == 403
    refused = console_events(console, "console_sign_in_failed")
    assert [e["name"] for e in refused] == ["mallory"]  # once per session, not per request


def test_proxy_user_without_password_cannot_use_the_form(console: Console) -> None:
    data = dict(console.settings_data)
    data["web"] = {**data["web"], **PROXY, "users": [
        *data["web"]["users"], {"name": "dave", "role": "admin"}]}
    console.settings_data = data
    with console.client(client=("127.0.0.1", 40000)) as client:
        token = csrf_of(client.get("/signin").text)
        response = client.post("/signin", data={"name": "dave", "password": "",
                                                "csrf": token})
        assert response.status_code == 401
        assert client.get("/held", headers={"X-Remote-User": "dave"}).status_code == 200


# -- cookies and headers -------------------------------------------------------------------------


def test_cookie_secure_always(console: Console) -> None:
    with console.client(cookie_secure="always") as client:
        response = client.get("/signin")
    assert "; Secure" in response.headers["set-cookie"]


def test_cookie_secure_auto_behind_a_tls_proxy(console: Console) -> None:
    with console.client(client=("127.0.0.1", 40000), **PROXY) as client:
        proxied = client.get("/signin", headers={"X-Forwarded-Proto": "https"})
    assert "; Secure" in proxied.headers["set-cookie"]
    with console.client(client=("10.0.0.5", 40000), **PROXY) as client:
        direct = client.get("/signin", headers={"X-Forwarded-Proto": "https"})
    assert "; Secure" not in direct.headers["set-cookie"]


def test_security_headers(console: Console) -> None:
    with console.client() as client:
        console.sign_in(client, "carol")
        response = client.get("/dashboard")
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "script-src" not in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
