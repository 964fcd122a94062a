"""Signed cookie sessions (itsdangerous), with the cookie's attributes decided
per request.

The session is a small dict (user name, role, CSRF token, last-seen time)
signed, not encrypted: it holds nothing secret, only what the server must be
able to trust when it comes back.  Starlette's own SessionMiddleware fixes
the Secure attribute at start-up; the console needs it per request ("auto":
Secure when the browser reached us over HTTPS, directly or through a trusted
TLS-terminating proxy), hence this small middleware.  Idle timeout is
enforced by the auth layer from `seen` (so it can be tested with a clock);
the signature's own age check is a second, coarser guard.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE_NAME = "gateway_console"


class SessionMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        secret: str,
        max_age: float,
        secure: Callable[[Scope], bool],
        cookie_name: str = COOKIE_NAME,
    ) -> None:
        self.app = app
        self.serializer = URLSafeTimedSerializer(secret, salt="gateway-console-session")
        self.max_age = int(max_age)
        self.secure = secure
        self.cookie_name = cookie_name

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
        scope["session"] = self._load(connection.cookies.get(self.cookie_name))
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
