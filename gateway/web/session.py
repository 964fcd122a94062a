"""Signed cookie sessions (itsdangerous), with the cookie's attributes decided
per request, and a sign-out that holds on every replica.

The session is a small dict (user name, role, CSRF token, random session id,
start and last-seen times) signed, not encrypted: it holds nothing secret,
only what the server must be able to trust when it comes back.  Starlette's
own SessionMiddleware fixes the Secure attribute at start-up; the console
needs it per request ("auto": Secure when the browser reached us over HTTPS,
directly or through a trusted TLS-terminating proxy), hence this small
middleware.  Idle timeout and absolute lifetime are enforced by the auth
layer from `seen` and `started` (so they can be tested with a clock); the
signature's own age check is a second, coarser guard.

Ending a session.  The cookie is the session, so clearing the browser's copy
at sign-out does not end it: a copy taken earlier would go on working.  Each
session therefore carries a random id made at sign-in, and sign-out records
`console_signed_out` with that session's reference (a digest of the id, so
the trail never holds the cookie's own value).  Before the app sees a
request, `ended` asks whether its session has signed out; if so the request
is anonymous and the browser's cookie is cleared.  The audit trail is the
list of ended sessions, rather than a table of its own, because:

- the sign-out event is written anyway, and the session ends in the very
  commit that audits it: the trail and the console cannot disagree;
- every replica reads the same database (sessions are shared between
  replicas when `[web] session_secret` is set);
- it needs no cleaning: a session lives at most its absolute lifetime, so
  only the console records (`console-YYYY-MM-DD`) of the days from its start
  to now, a day either side for clocks that differ, can hold its sign-out:
  one query on the (record_id, type) index over a few rows.

When that cannot be asked (the database down) the request is answered by
`failed` (the console's 503 page), fail closed, and the cookie is left as it
is so that the session outlives the outage.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.db import audit_events
from gateway.web.activity import ConsoleEvent, record_id_for

COOKIE_NAME = "gateway_console"
# The session's random id, made at sign-in; only its reference is ever recorded.
SESSION_ID = "id"
# Replicas' clocks may differ: the day a sign-out is filed under is looked
# for this far either side of the session's start and now.
_CLOCKS_APART = timedelta(days=1)


def session_reference(session: Mapping[str, Any]) -> str | None:
    """What the trail records for this session (sign-in, sign-out): a digest of
    its id, enough to tie the two together, useless as a cookie."""
    session_id = session.get(SESSION_ID)
    if not isinstance(session_id, str) or not session_id:
        return None
    return hashlib.sha256(session_id.encode()).hexdigest()[:32]


async def signed_out_in_trail(
    engine: AsyncEngine, reference: str, started: float, now: float
) -> bool:
    """Whether the trail holds a sign-out of the session `reference` that
    started at `started` (epoch seconds), looking in the console records
    of the days from then to `now`."""
    first = datetime.fromtimestamp(min(started, now), UTC) - _CLOCKS_APART
    last = datetime.fromtimestamp(max(started, now), UTC) + _CLOCKS_APART
    days = [record_id_for(first + timedelta(days=n)) for n in range((last - first).days + 1)]
    e = audit_events.c
    query = (select(e.detail)
             .where(e.record_id.in_(days), e.type == ConsoleEvent.SIGNED_OUT.value,
                    e.detail.contains(reference, autoescape=True)))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).scalars().all()
    return any(json.loads(detail).get("session") == reference for detail in rows)


class SessionMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        secret: str,
        max_age: float,
        secure: Callable[[Scope], bool],
        cookie_name: str = COOKIE_NAME,
        ended: Callable[[dict[str, Any]], Awaitable[bool]] | None = None,
        failed: Callable[[Request, Exception], Awaitable[Response]] | None = None,
    ) -> None:
        self.app = app
        self.serializer = URLSafeTimedSerializer(secret, salt="gateway-console-session")
        self.max_age = int(max_age)
        self.secure = secure
        self.cookie_name = cookie_name
        self.ended = ended
        self.failed = failed

    def _load(self, raw: str | None) -> dict[str, Any]:
        if not raw:
            return {}
        try:
            data = self.serializer.loads(raw, max_age=self.max_age)
        except BadSignature:  # includes SignatureExpired
            return {}
        return data if isinstance(data, dict) else {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        had_cookie = self.cookie_name in connection.cookies
        session = self._load(connection.cookies.get(self.cookie_name))
        if session and self.ended is not None:
            try:
                if await self.ended(session):
                    session = {}  # signed out (here or on another replica)
            except Exception as exc:
                if self.failed is None:
                    raise
                # Answered without the cookie wrapper: the cookie stays as it was.
                scope["session"] = {}
                response = await self.failed(Request(scope, receive), exc)
                await response(scope, receive, send)
                return
        scope["session"] = session
        initial = json.dumps(scope["session"], sort_keys=True)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                session: dict[str, Any] = scope["session"]
                changed = json.dumps(session, sort_keys=True) != initial
                headers = MutableHeaders(scope=message)
                attributes = "; Path=/; HttpOnly; SameSite=Strict"
                if self.secure(scope):
                    attributes += "; Secure"
                if session and (changed or not had_cookie):
                    value = self.serializer.dumps(session)
                    headers.append("Set-Cookie", f"{self.cookie_name}={value}{attributes}")
                elif not session and had_cookie:
                    headers.append(
                        "Set-Cookie",
                        f"{self.cookie_name}=null{attributes}; Max-Age=0; "
                        "Expires=Thu, 01 Jan 1970 00:00:00 GMT",
                    )
            await send(message)

        await self.app(scope, receive, send_wrapper)


class SecurityHeadersMiddleware:
    """Headers every console response carries: no framing, no inline script,
    nothing cached (pages show audit data)."""

    HEADERS = (
        ("content-security-policy",
         "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
         "frame-ancestors 'none'; base-uri 'none'"),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.HEADERS:
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_wrapper)
