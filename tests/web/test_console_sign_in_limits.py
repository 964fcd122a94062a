"""What failed sign-ins refuse, and to whom (gateway.web.auth Throttle), and
how many password checks run at once (Busy): a guesser is refused at their
own address, the user they guess at is not; a flood of names forgets no
refused guesser; a flood of sign-ins holds at most PASSWORD_CHECKS hashes'
memory at once."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from console_support import PASSWORDS, Console, csrf_of, wait_for
from sqlalchemy import select
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from gateway.db import audit_events
from gateway.web import auth
from gateway.web.auth import PASSWORD_CHECKS, PASSWORD_QUEUE, Throttle

GUESSER = "203.0.113.7"
USER = "198.51.100.20"
PROXY = {"trusted_header": "X-Remote-User", "trusted_proxies": ["127.0.0.1/32"]}


def from_anywhere(console: Console, **web: Any) -> TestClient:
    """A client on one console app whose requests come from the address in
    X-Test-Peer (TestClient's own is fixed): one throttle, many addresses."""
    inner = console.client(**web).app

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        peer = dict(scope.get("headers", [])).get(b"x-test-peer")
        if peer is not None:
            scope = {**scope, "client": (peer.decode(), 50000)}
        await inner(scope, receive, send)

    return TestClient(app, base_url="http://console.test", follow_redirects=False)


def attempt(client: TestClient, peer: str, name: str, password: str,
            headers: dict[str, str] | None = None) -> int:
    headers = {**(headers or {}), "X-Test-Peer": peer}
    token = csrf_of(client.get("/signin", headers=headers).text)
    response = client.post("/signin", headers=headers,
                           data={"name": name, "password": password, "csrf": token})
    return response.status_code


def failed_sign_ins(console: Console) -> list[dict[str, Any]]:
    async def work(engine: Any) -> list[dict[str, Any]]:
        async with engine.connect() as conn:
            rows = await conn.execute(select(audit_events.c.detail)
                                      .where(audit_events.c.type == "console_sign_in_failed")
                                      .order_by(audit_events.c.seq))
            return [json.loads(d) for (d,) in rows]

    result: list[dict[str, Any]] = console.run(work)
    return result


# -- who is refused ------------------------------------------------------------------------------


def test_wrong_passwords_for_a_name_refuse_the_guesser_not_the_user(console: Console) -> None:
    with from_anywhere(console) as client:
        assert [attempt(client, GUESSER, name, "guess") for name in ["alice", "ALICE"] * 3] \
            == [401] * 5 + [429]
        assert attempt(client, GUESSER, "alice", PASSWORDS["alice"]) == 429
        assert attempt(client, USER, "alice", PASSWORDS["alice"]) == 303
        console.clock.advance(16 * 60)
        assert attempt(client, GUESSER, "alice", PASSWORDS["alice"]) == 303
    throttled = [e for e in failed_sign_ins(console) if e.get("throttled")]
    # "ALICE" names no configured user, so the trail keeps no name for it.
    assert [(e.get("name"), e["client"]) for e in throttled] \
        == [(None, GUESSER), ("alice", GUESSER)]


def test_an_address_trying_many_names_is_refused_for_every_name(console: Console) -> None:
    with from_anywhere(console) as client:
        assert {attempt(client, GUESSER, f"made-up-{i}", "guess") for i in range(20)} == {401}
        assert attempt(client, GUESSER, "bob", PASSWORDS["bob"]) == 429
        assert attempt(client, USER, "bob", PASSWORDS["bob"]) == 303


def test_an_ipv6_guesser_is_one_address_per_64(console: Console) -> None:
    with from_anywhere(console) as client:
        assert [attempt(client, f"2001:db8::{i + 1}", "alice", "guess")
                for i in range(5)] == [401] * 5
        assert attempt(client, "2001:db8::beef", "alice", PASSWORDS["alice"]) == 429
        assert attempt(client, "2001:db8:0:1::1", "alice", PASSWORDS["alice"]) == 303


def test_behind_the_trusted_proxy_each_forwarded_address_counts_alone(console: Console) -> None:
    guesser = {"X-Forwarded-For": f"10.0.0.1, {GUESSER}"}  # the proxy added the last
    user = {"X-Forwarded-For": USER}
    with from_anywhere(console, **PROXY) as client:
        assert [attempt(client, "127.0.0.1", "alice", "guess", guesser)
                for _ in range(5)] == [401] * 5
        assert attempt(client, "127.0.0.1", "alice", PASSWORDS["alice"], guesser) == 429
        assert attempt(client, "127.0.0.1", "alice", PASSWORDS["alice"], user) == 303
        # From anywhere else the header is the client's own say: not believed.
        assert [attempt(client, GUESSER, "bob", "guess", user) for _ in range(6)] \
            == [401] * 5 + [429]
        assert attempt(client, GUESSER, "bob", PASSWORDS["bob"], {"X-Forwarded-For": "1.2.3.4"}) \
            == 429


def test_many_addresses_guessing_one_account_keep_it_open_where_it_was_used(
    console: Console,
) -> None:
    with from_anywhere(console) as client:
        assert attempt(client, USER, "carol", PASSWORDS["carol"]) == 303
        for n in range(10):  # 50 failures for carol, 5 from each of 10 addresses
            assert [attempt(client, f"192.0.2.{n + 1}", "carol", "guess")
                    for _ in range(5)] == [401] * 5
        assert attempt(client, "192.0.2.200", "carol", PASSWORDS["carol"]) == 429
        assert attempt(client, "192.0.2.200", "alice", PASSWORDS["alice"]) == 303  # carol's only
        assert attempt(client, USER, "carol", PASSWORDS["carol"]) == 303
        console.clock.advance(16 * 60)
        assert attempt(client, "192.0.2.200", "carol", PASSWORDS["carol"]) == 303


# -- a flood forgets no refused guesser -----------------------------------------------------


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_of_names_does_not_wipe_a_refused_address_and_name() -> None:
    throttle = Throttle(Clock(), accounts=["alice"], size=50)
    for _ in range(5):
        throttle.failed("203.0.113.7", "alice")
    for n in range(500):  # many addresses, four made-up names each
        for i in range(4):
            throttle.failed(f"10.{n // 250}.{n % 250}.1", f"made-up-{n}-{i}")
    assert throttle.blocked("203.0.113.7", "alice")
    assert not throttle.blocked("198.51.100.20", "alice")
    assert len(throttle._pairs) <= 51 and len(throttle._clients) <= 51


def test_a_flood_of_addresses_does_not_wipe_a_refused_address() -> None:
    throttle = Throttle(Clock(), accounts=["alice"], size=50)
    for i in range(20):
        throttle.failed("203.0.113.7", f"made-up-{i}")
    for n in range(500):
        throttle.failed(f"10.{n // 250}.{n % 250}.1", "alice")
    assert throttle.blocked("203.0.113.7", "bob")
    assert len(throttle._clients) <= 51


# -- how many hashes at once -----------------------------------------------------------------


class GatedHasher:
    """Stands in for argon2: counts the checks running at once, each held
    until the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.calls = 0

    def verify(self, stored: str, password: str) -> bool:
        with self.lock:
            self.running += 1
            self.calls += 1
            self.most = max(self.most, self.running)
        try:
            self.gate.wait(60)
            return False
        finally:
            with self.lock:
                self.running -= 1


def test_concurrent_sign_ins_run_a_few_hashes_and_turn_the_rest_away(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = GatedHasher()
    monkeypatch.setattr(auth, "_HASHER", hasher)
    admitted = PASSWORD_CHECKS + PASSWORD_QUEUE
    with console.client(client=(GUESSER, 50000)) as client, ThreadPoolExecutor(admitted) as pool:
        token = csrf_of(client.get("/signin").text)

        def sign_in(i: int) -> int:
            return client.post("/signin", data={"name": f"made-up-{i}", "password": "p",
                                                "csrf": token}).status_code

        waiting = [pool.submit(sign_in, i) for i in range(admitted)]
        authenticator = client.app.state.console.auth  # type: ignore[attr-defined]
        wait_for(lambda: hasher.running == PASSWORD_CHECKS
                 and authenticator._admitted == admitted)
        turned_away = client.post("/signin", data={"name": "alice", "password": "p",
                                                   "csrf": token})
        assert turned_away.status_code == 503
        assert turned_away.headers["retry-after"] == "60"
        assert "busy" in turned_away.text
        hasher.gate.set()
        assert [f.result() for f in waiting] == [401] * admitted
    assert hasher.most == PASSWORD_CHECKS and hasher.calls == admitted
    failed = failed_sign_ins(console)
    assert [e for e in failed if e.get("busy")] == [
        {"name": "alice", "known_user": True, "via": "password", "client": GUESSER,
         "busy": True}]
