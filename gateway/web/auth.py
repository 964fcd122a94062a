"""Who is asking, and may they: sign-in, roles, session timeout, CSRF.

Two ways in, both ending in the same session:

- a name and password from `[[web.users]]` (argon2 hashes, checked off the
  event loop: a hash costs tens of milliseconds of CPU and, with argon2's
  defaults, 64 MiB; at most PASSWORD_CHECKS at once, PASSWORD_QUEUE more
  waiting, and past that a sign-in is refused at once (Busy) rather than
  growing the process that also relays mail; failures are limited by
  Throttle);
- a reverse proxy that already authenticated the user and names them in
  `[web] trusted_header`, honoured only when the TCP peer is in
  `[web] trusted_proxies` and only for names listed in `[[web.users]]` (whose
  role they get).  From anywhere else the header is ignored, so a browser
  cannot name itself.

Roles: auditor reads the audit trail, approver decides held messages, admin
does both.  A session ends after `[web] session_timeout` without a request,
SESSION_LIFETIME after sign-in however active it is, and at sign-out (on
every replica: gateway.web.session tells how); the user's role is re-read
from the configuration on every request, so removing a user from the config
ends their session at once.

CSRF: a random token bound to the session, put in every form and compared on
every POST (a POST without it is refused with 403); cookies are SameSite=Strict
as a second line.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import Argon2Error, InvalidHashError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.types import Scope

from gateway.settings import WebSettings
from gateway.web.session import SESSION_ID, session_reference, signed_out_in_trail

Role = Literal["auditor", "approver", "admin"]
Permission = Literal["audit", "held"]

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "auditor": frozenset({"audit"}),
    "approver": frozenset({"held"}),
    "admin": frozenset({"audit", "held"}),
}

CSRF_FIELD = "csrf"
# However active, a session ends this long after sign-in (a working day):
# a cookie copied from a browser cannot be kept alive for ever by use.
SESSION_LIFETIME = 8 * 3600.0
# A real hash of a random password: unknown names are verified against it so
# that a wrong name costs as long as a wrong password (no user enumeration).
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
# Password checks at once, and sign-ins let wait for one: each check holds
# its hash's memory (64 MiB with argon2's defaults) for its tens of ms.
PASSWORD_CHECKS = 2
PASSWORD_QUEUE = 8
# An address that signed in as an account is let try it while many others
# are guessing it (Throttle), for this long after.
KNOWN_CLIENT = 30 * 86400.0


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    name: str
    role: str
    via: str  # "password" | "trusted_header"
    full_name: str = ""  # [[web.users]] full_name: the name the trail records

    @property
    def person(self) -> str:
        """Who this is in the audit trail: the configured full name, else
        the account's."""
        return self.full_name or self.name

    def can(self, permission: str) -> bool:
        return permission in ROLE_PERMISSIONS.get(self.role, frozenset())


class Busy(Exception):
    """PASSWORD_CHECKS are running and PASSWORD_QUEUE more wait: try later."""

    def __init__(self) -> None:
        super().__init__("too many sign-ins at once")


class NotSignedIn(Exception):
    """No valid session: pages redirect to sign-in, other requests get 401."""

    def __init__(self, expired: bool = False) -> None:
        super().__init__("not signed in")
        self.expired = expired


class _Failures:
    """Recent failure times per key, oldest-failing key first.

    Past `size` keys, those whose last failure is oldest go first, but only
    while below `limit`: a flood of new keys must not wipe a key that is
    refused, or its guesser would start again.  Keys at the limit are never
    dropped before their window passes; there cannot be many, as each took
    `limit` password checks (Authenticator runs few at once), and the
    per-client limits cap what one address adds."""

    def __init__(self, limit: int, window: float, size: int) -> None:
        self.limit = limit
        self.window = window
        self.size = size
        self._times: dict[Hashable, list[float]] = {}

    def _recent(self, key: Hashable, now: float) -> list[float]:
        return [t for t in self._times.get(key, ()) if now - t < self.window]

    def reached(self, key: Hashable, now: float) -> bool:
        recent = self._recent(key, now)
        if not recent:
            self._times.pop(key, None)
        return len(recent) >= self.limit

    def add(self, key: Hashable, now: float) -> None:
        recent = self._recent(key, now)
        self._times.pop(key, None)  # re-inserted last: the dict's order is the eviction order
        self._times[key] = [*recent[-self.limit:], now]
        if len(self._times) > self.size:
            self._evict(now)

    def clear(self, key: Hashable) -> None:
        self._times.pop(key, None)

    def _evict(self, now: float) -> None:
        excess = len(self._times) - self.size
        for key in list(self._times):
            if excess <= 0:
                break
            if len(self._recent(key, now)) < self.limit:
                del self._times[key]
                excess -= 1

    def __len__(self) -> int:
        return len(self._times)


class Throttle:
    """Failed password sign-ins, counted three ways, so that a password
    cannot be guessed at argon2's pace for ever and a guesser cannot lock
    someone else out.

    - per client address and name: `limit` failures within `window` seconds
      refuse that name from that address until the window has passed (one
      machine guessing one account);
    - per client address: `client_limit` failures, whatever names they
      typed, refuse that address (one machine trying many names or
      passwords);
    - per configured account: `account_limit` failures from anywhere refuse
      the account from every address that has not signed in as it within
      `KNOWN_CLIENT` (many machines guessing one account).  Much looser than
      the others: reaching it takes `account_limit / limit` addresses, and
      even then the account's user signs in from where they did before.

    Addresses are the TCP peer's, or what a trusted proxy says it saw
    (Authenticator.client), and an IPv6 address counts as its /64: one
    machine usually holds the whole /64.  So typing wrong passwords for
    someone's name refuses the typist, never the user at their own machine.

    In memory, per process: a restart forgets, which only gives a guesser a
    few more tries.  At most `size` keys of each kind, less those refused
    (_Failures): flooding made-up names from many addresses cannot wipe the
    count against a guessed account."""

    def __init__(
        self,
        clock: Callable[[], float],
        limit: int = 5,
        window: float = 900.0,
        client_limit: int = 20,
        account_limit: int = 50,
        accounts: Iterable[str] = (),
        size: int = 10_000,
    ) -> None:
        self.clock = clock
        self._pairs = _Failures(limit, window, size)
        self._clients = _Failures(client_limit, window, size)
        self._accounts = _Failures(account_limit, window, size)
        self._names = frozenset(a.casefold() for a in accounts)
        # (client, account) -> when it last signed in with the password.
        self._known: dict[tuple[str, str], float] = {}
        self._known_size = size

    def blocked(self, client: str, name: str) -> bool:
        now, client, name = self.clock(), client_key(client), name.casefold()
        if self._pairs.reached((client, name), now) or self._clients.reached(client, now):
            return True
        return self._accounts.reached(name, now) and not self._known_client(client, name, now)

    def failed(self, client: str, name: str) -> None:
        now, client, name = self.clock(), client_key(client), name.casefold()
        self._pairs.add((client, name), now)
        self._clients.add(client, now)
        if name in self._names:  # made-up names have no account to guess
            self._accounts.add(name, now)

    def succeeded(self, client: str, name: str) -> None:
        now, client, name = self.clock(), client_key(client), name.casefold()
        self._pairs.clear((client, name))
        key = (client, name)
        self._known.pop(key, None)
        self._known[key] = now
        if len(self._known) > self._known_size:  # only the password's holders add to it
            self._known.pop(next(iter(self._known)))

    def _known_client(self, client: str, name: str, now: float) -> bool:
        when = self._known.get((client, name))
        return when is not None and now - when < KNOWN_CLIENT


def client_key(address: str) -> str:
    """The address throttled: an IPv6 address's /64, an IPv4 one as it is
    (also when written IPv4-mapped)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Authenticator:
    def __init__(
        self, web: WebSettings, clock: Callable[[], float], lifetime: float = SESSION_LIFETIME
    ) -> None:
        self.web = web
        self.clock = clock
        self.users = {u.name: u for u in web.users}
        self.throttle = Throttle(clock, accounts=[u.name for u in web.users if u.password_hash])
        # Thread-safe, not an asyncio semaphore: the waiting is done in the
        # worker threads (at most PASSWORD_QUEUE of Starlette's pool),
        # whatever event loop the request came on.
        self._checks = threading.BoundedSemaphore(PASSWORD_CHECKS)
        self._admitted = 0
        self._admitting = threading.Lock()
        self.proxies = [ipaddress.ip_network(n, strict=False) for n in web.trusted_proxies]
        self.timeout = web.session_timeout.total_seconds()
        self.lifetime = lifetime

    # -- passwords ---------------------------------------------------------------

    async def check_password(self, name: str, password: str) -> ConsoleUser | None:
        """The user, or None; Busy when too many checks are running or waiting."""
        user = self.users.get(name)
        stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH

        def verify() -> bool:
            with self._checks:
                try:
                    return bool(_HASHER.verify(stored, password))
                except (Argon2Error, InvalidHashError):
                    return False

        with self._admitting:
            if self._admitted >= PASSWORD_CHECKS + PASSWORD_QUEUE:
                raise Busy()
            self._admitted += 1
        try:
            ok = await run_in_threadpool(verify)
        finally:
            with self._admitting:
                self._admitted -= 1
        if not ok or user is None or not user.password_hash:
            return None
        return ConsoleUser(user.name, user.role, "password", " ".join(user.full_name.split()))

    # -- the trusted proxy ---------------------------------------------------------

    def from_trusted_proxy(self, scope: Scope) -> bool:
        client = scope.get("client")
        if not self.proxies or not client:
            return False
        try:
            peer = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        return any(peer in net for net in self.proxies)

    def client(self, connection: HTTPConnection) -> str:
        """The address a sign-in came from, for Throttle: the TCP peer's, or,
        from a trusted proxy, the one it added last to X-Forwarded-For (else
        everyone behind the proxy would share one count)."""
        peer = connection.client.host if connection.client else ""
        if not self.from_trusted_proxy(connection.scope):
            return peer
        forwarded = connection.headers.getlist("x-forwarded-for")
        last = forwarded[-1].split(",")[-1].strip() if forwarded else ""
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return peer

    def header_name(self, connection: HTTPConnection) -> str | None:
        """The user the trusted proxy names, or None (no header, or not from a proxy)."""
        if not self.web.trusted_header or not self.from_trusted_proxy(connection.scope):
            return None
        value = connection.headers.get(self.web.trusted_header, "").strip()
        return value or None

    def https(self, scope: Scope) -> bool:
        if scope.get("scheme") == "https":
            return True
        if self.from_trusted_proxy(scope):
            for key, value in scope.get("headers", []):
                if key == b"x-forwarded-proto":
                    return bool(value.decode("latin-1").strip().lower() == "https")
        return False

    def secure_cookie(self, scope: Scope) -> bool:
        mode = self.web.cookie_secure
        return mode == "always" or (mode == "auto" and self.https(scope))

    # -- sessions --------------------------------------------------------------------

    def start_session(self, session: dict[str, Any], user: ConsoleUser) -> str:
        """A fresh session for `user`: a new id and CSRF token (no fixation).
        Returns its reference for the trail."""
        session.clear()
        now = self.clock()
        session.update({"user": user.name, "role": user.role, "via": user.via,
                        SESSION_ID: secrets.token_urlsafe(32),
                        "started": now, "seen": now, CSRF_FIELD: secrets.token_urlsafe(32)})
        return str(session_reference(session))

    @staticmethod
    def reference(session: dict[str, Any]) -> str | None:
        """The session's reference in the trail: recorded with the sign-out,
        it ends every copy of the cookie (gateway.web.session)."""
        return session_reference(session)

    def session_user(self, request: Request) -> ConsoleUser:
        """The signed-in user, refreshing the idle timer; NotSignedIn otherwise.
        (A signed-out session never gets here: the session middleware has
        already emptied it.)"""
        session = request.session
        name = session.get("user")
        if not isinstance(name, str):
            raise NotSignedIn()
        if session_reference(session) is None:
            session.clear()  # a session from before ids: it could not be ended
            raise NotSignedIn()
        now = self.clock()
        seen = session.get("seen")
        started = session.get("started")
        if (not isinstance(seen, int | float) or now - seen > self.timeout
                or not isinstance(started, int | float) or not self._within_lifetime(started)):
            session.clear()
            raise NotSignedIn(expired=True)
        configured = self.users.get(name)
        if configured is None:
            session.clear()
            raise NotSignedIn()
        session["seen"] = now
        # The configured role, not the one in the cookie: a demotion applies at once.
        session["role"] = configured.role
        return ConsoleUser(name, configured.role, str(session.get("via", "password")),
                           " ".join(configured.full_name.split()))

    async def signed_out(self, engine: AsyncEngine, session: dict[str, Any]) -> bool:
        """Whether `session` was ended by sign-out, on this replica or another."""
        reference = session_reference(session)
        started = session.get("started")
        if reference is None or not isinstance(started, int | float):
            return False  # not a signed-in session: session_user refuses it anyway
        if not self._within_lifetime(started):
            return False  # session_user refuses it without asking
        return await signed_out_in_trail(engine, reference, started, self.clock())

    def _within_lifetime(self, started: float) -> bool:
        # Either way: a start far ahead of this clock came from a broken one,
        # and would otherwise be looked for in a long run of days.
        return abs(self.clock() - started) <= self.lifetime


# -- CSRF ------------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """This session's token, created on first use (also for the sign-in form)."""
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


async def checked_form(request: Request) -> FormData:
    """The POSTed form, or 403 when its CSRF token is missing or wrong."""
    form = await request.form(max_files=0, max_fields=50)
    sent = form.get(CSRF_FIELD)
    expected = request.session.get(CSRF_FIELD)
    if (not isinstance(sent, str) or not isinstance(expected, str)
            or not hmac.compare_digest(sent.encode(), expected.encode())):
        raise HTTPException(403, "The form has expired or did not come from this console.")
    return form
