"""The one validated Settings object: TOML file, then GATEWAY_* overrides.

Flow: `load_settings(path)` reads the TOML file, applies environment
overrides (`GATEWAY_<SECTION>_<KEY>`, e.g. `GATEWAY_DATABASE_URL`,
`GATEWAY_UPSTREAM_PORT=2600`; a string key takes the value as written, other
values are read as TOML when they parse, else as plain strings), validates
everything with pydantic (unknown keys are errors), resolves relative paths
against the config file's folder, checks files exist and that keys fit
together.  Every problem is collected into one `ConfigError` whose messages
name the file (or the environment variable that set the value), the key and
the reason, so `gateway check-config` can print them all at once.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import os
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gateway.errors import ConfigError
from gateway.receive.addresses import address_problem

DEFAULT_CONFIG = Path("config/gateway.toml")

# A DNS name: dot-separated labels of letters, digits, hyphens (and
# underscores), none starting or ending with a hyphen; a final dot allowed.
_HOST_NAME = re.compile(
    r"(?=.{1,254}\Z)(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?"
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|y)\s*$")
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "y": 365 * 86400,
}


def parse_duration(value: object) -> timedelta:
    """'15m', '5d', '6y' (365 days), '30s', '250ms'.

    A number without a unit is refused: `ttl = 7` meant seven days to the
    administrator who wrote it, and seven seconds would have destroyed
    every held password before anyone could read it."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration such as '15m' or '5d' is needed")
    seconds: float | None = None
    if isinstance(value, int | float):
        raise ValueError(f"{value!r} is not a duration: it needs a unit, as in "
                         f"'{value}s', '{value}m' or '{value}d'")
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds is None:
        raise ValueError(f"{value!r} is not a duration (use e.g. '30s', '15m', '4h', '5d', '6y')")
    try:
        return timedelta(seconds=seconds)
    except (OverflowError, ValueError) as exc:
        # Past timedelta's 999999999 days (inf too): an OverflowError, which
        # neither the config's validation nor a command's argument parsing
        # expects.  It stays the cause: `gateway audit --since` tells it apart.
        raise ValueError(f"{value!r} is too long a duration (at most 999999999d)") from exc


def _more_than_zero(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be more than 0s")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
# A timeout, interval or lifetime that means nothing at 0s: a connection
# closed before its banner, every message bounced or "too slow", a poll or
# sweep that spins.  (A duration whose 0s has a meaning stays `Duration`.)
PositiveDuration = Annotated[Duration, AfterValidator(_more_than_zero)]
TlsMode = Literal["none", "starttls", "starttls-verify", "implicit"]


def _split_hostport(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{value!r} is not host:port")
    number = int(port)
    if not 0 <= number <= 65535:
        raise ValueError(f"port {number} is out of range 0-65535")
    return host.strip("[]") or "127.0.0.1", number


def _check_listen(value: str) -> str:
    """host:port to listen on: the host an IP address or a host name.

    A dotted all-digit host that is no IPv4 address (`999.1.1.1`) reads as
    a host name to the syntax, but no resolver has it: say so here, where
    `check-config` finds it, not at the start."""
    host, _ = _split_hostport(value)
    if _is_ip_address(host):
        return value
    if ":" in host or all(label.isdigit() for label in host.rstrip(".").split(".")):
        raise ValueError(f"{host!r} is not an IP address")
    _check_host_name(host)
    return value


def _check_host_name(value: str) -> str:
    if not _HOST_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a host name")
    return value


def _is_ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return False
    return True


def _check_networks(value: list[str]) -> list[str]:
    for net in value:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError as exc:
            raise ValueError(f"{net!r} is not a network ({exc})") from None
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class User(_Section):
    """An SMTP submission user (AUTH PLAIN/LOGIN after STARTTLS)."""

    name: str = Field(min_length=1)
    password_hash: str = Field(pattern=r"^\$argon2(id|i|d)\$")
    # The MAIL FROM addresses this user may send as, `*` for any text
    # (`["*@council.example"]`); any other is refused 553 5.7.1 at MAIL, as
    # Postfix's reject_sender_login_mismatch.  Empty: any address.
    senders: list[str] = []

    @field_validator("senders")
    @classmethod
    def _senders(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if pattern.count("@") != 1 or not pattern.isprintable() or " " in pattern:
                raise ValueError(f"{pattern!r} is not an address pattern "
                                 "(e.g. *@council.example or scanner@council.example)")
        return value


class ServerSettings(_Section):
    listen: str = "127.0.0.1:2525"
    hostname: str = "gateway.example.org"
    trusted_networks: list[str] = ["127.0.0.0/8", "::1/128"]
    require_auth: bool = False
    tls_cert: str = ""
    tls_key: str = ""
    max_message_size: int = Field(default=26_214_400, gt=0, le=1 << 31)
    max_recipients: int = Field(default=100, gt=0, le=100_000)
    # Refused AUTH attempts a session may make before it is closed with
    # 421 4.7.0 (Postfix's smtpd_hard_error_limit plays this part there):
    # a password guesser must reconnect, and is logged each time.
    max_auth_failures: int = Field(default=3, ge=1, le=100)
    # Received headers a message may carry; more is a mail loop, refused
    # 554 5.4.6 (RFC 5321 6.3: a threshold "normally at least 100";
    # Postfix's hopcount_limit is 50).
    max_hops: int = Field(default=100, ge=10, le=1000)
    # Sessions one client address outside trusted_networks may have open at
    # once (Postfix's smtpd_client_connection_count_limit, also 50); more
    # are told 421 4.7.0 at the greeting.  0: no limit.
    max_connections_per_client: int = Field(default=50, ge=0, le=100_000)
    idle_timeout: PositiveDuration = timedelta(minutes=5)
    # The whole DATA transfer of one message (a 25 MB message on a slow
    # link takes minutes); the idle timeout applies between commands.
    data_timeout: PositiveDuration = timedelta(minutes=10)
    # Before-queue inspection must answer before the client's own DATA timeout.
    inspect_timeout: PositiveDuration = timedelta(seconds=60)
    # Characters of text a message may hold once extracted, all its parts,
    # attachments and archive members together; more is refused as
    # uninspectable (a few kilobytes of zip can expand to megabytes of text
    # that detection could not read within inspect_timeout).
    max_inspected_text: int = Field(default=4_000_000, ge=100_000, le=100_000_000)
    # Where message content above 1 MiB is spooled while it arrives and is
    # inspected (anonymous temporary files, gone when closed or on a crash);
    # empty: the system's temporary folder ($TMPDIR).  Relative: against the
    # config file's folder.
    spool_dir: str = ""
    # How many spooled (large) messages are read back, inspected and queued
    # at once; the others wait their turn (bounded by inspect_timeout, then
    # 451).  Each costs a few times its size in memory while it is handled
    # (about 100 MB for a 25 MB message on SQLite; docs/operations.md).
    large_message_concurrency: int = Field(default=1, ge=1, le=64)
    # Where mail to the domainless `postmaster` (RFC 5321 4.5.1, taken from
    # anyone) and to postmaster@ the receipts domain is relayed, through the
    # upstream like any other mail.  Empty: postmaster@<hostname>, the
    # address the gateway's own notices come from.
    postmaster: str = ""
    # The event loop `gateway serve` runs on.  uvloop (libuv) does the same
    # socket work as asyncio's own loop for about a fifth less CPU per
    # message (bench/README.md); "asyncio" is the standard library's loop,
    # for a platform uvloop does not build on.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _check_listen(value)

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str) -> str:
        # Said in the banner, EHLO and Received, and as the HELO name of
        # every delivery: aiosmtplib refuses an empty one or one with a
        # space, so each message would be accepted, then fail until max_age.
        return _check_host_name(value)

    @field_validator("trusted_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return _check_networks(value)

    @field_validator("postmaster")
    @classmethod
    def _postmaster(cls, value: str) -> str:
        if value and address_problem(value) is not None:
            raise ValueError(f"{value!r} is not an e-mail address ({address_problem(value)})")
        return value

    @property
    def postmaster_address(self) -> str:
        return self.postmaster or f"postmaster@{self.hostname}"

    @model_validator(mode="after")
    def _tls_pair(self) -> ServerSettings:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("tls_cert and tls_key must be set together")
        return self

    @property
    def host(self) -> str:
        return _split_hostport(self.listen)[0]

    @property
    def port(self) -> int:
        return _split_hostport(self.listen)[1]

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(n, strict=False) for n in self.trusted_networks]


class RouteSettings(_Section):
    """A smarthost: the default [upstream] or a named [routes.NAME]."""

    host: str = "127.0.0.1"
    port: int = Field(default=2526, ge=1, le=65535)
    tls: TlsMode = "none"
    timeout: PositiveDuration = timedelta(seconds=30)
    # The reply to the end of DATA: a smarthost that scans before it answers
    # has usually committed the message already, so giving up sooner sends
    # it twice (RFC 5321 4.5.3.2.6: 10 minutes; Postfix smtp_data_done_timeout).
    data_done_timeout: PositiveDuration = timedelta(minutes=10)
    ca_file: str = ""
    username: str = ""
    password: str = Field(default="", repr=False)
    # One per delivery worker (`queue.workers` defaults to 16): with fewer,
    # workers wait for a connection to come free.
    pool_size: int = Field(default=16, ge=1, le=256)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        # Refused here, an empty or mistyped host is the administrator's
        # to fix at once; accepted, every message deferred for days, then
        # bounced.  Underscores are allowed: container service names use them.
        with contextlib.suppress(ValueError):
            ipaddress.ip_address(value.strip("[]"))
            return value
        if not _HOST_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a host name or an IP address")
        return value

    @property
    def credentials_exposed(self) -> bool:
        """A username for a host off this machine without TLS insisted on:
        opportunistic STARTTLS counts as none, since whoever can strip the
        offer reads the password (Postfix: smtp_sasl_security_options =
        noplaintext)."""
        if not self.username or self.tls in ("starttls-verify", "implicit"):
            return False
        return not _on_this_machine(self.host)

    @property
    def in_clear_off_this_machine(self) -> bool:
        """tls = "none" to a host that is not this machine: the mail, the
        separate password emails among it, crosses the network readable."""
        return self.tls == "none" and not _on_this_machine(self.host)


def _on_this_machine(host: str) -> bool:
    if host.lower() in {"localhost", "localhost."}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class QueueSettings(_Section):
    retry: list[PositiveDuration] = [
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(hours=1),
        timedelta(hours=4),
    ]
    max_age: PositiveDuration = timedelta(days=5)
    # How long a finished (delivered, bounced, refused) message keeps its
    # row, envelope and recipients, for `gateway queue show`; its audit
    # record is kept for [audit] retention.  "0s": removed once finished.
    keep_finished: Duration = timedelta(days=30)
    lease: PositiveDuration = timedelta(minutes=5)
    workers: int = Field(default=16, ge=1, le=512)
    # Who this process is when it claims messages: unique per replica and
    # the same after a restart (so it takes its own claims back at once).
    # Default: the machine's host name and the SMTP port it listens on.
    worker_id: str = ""
    poll_interval: PositiveDuration = timedelta(seconds=1)

    @field_validator("retry")
    @classmethod
    def _retry(cls, value: list[timedelta]) -> list[timedelta]:
        if not value:
            raise ValueError("at least one retry delay is needed")
        return value


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///var/gateway.db"
    pool_size: int = Field(default=10, ge=1, le=200)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB")
        query = {key.lower() for key in parse_qs(value.partition("?")[2], keep_blank_values=True)}
        if value.startswith("sqlite") and (sqlite_path(value) is None or "mode" in query):
            # Every command would open a database of its own, empty, gone at
            # its exit (and the engine's pool refuses one: a traceback).
            raise ValueError("an in-memory SQLite database cannot hold the queue: "
                             "use sqlite+aiosqlite:///PATH to a file")
        if value.startswith("postgresql") and "sslmode" in query:
            # libpq's spelling: asyncpg takes `ssl` and refuses `sslmode`
            # at every connection.
            raise ValueError("asyncpg has no sslmode: write ssl instead (e.g. ?ssl=require)")
        return value

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite database's file (relative: to the working folder, as
        SQLite opens it), or None for PostgreSQL or an in-memory database."""
        return sqlite_path(self.url)


def sqlite_path(url: str) -> Path | None:
    prefix = "sqlite+aiosqlite:///"
    if not url.startswith(prefix):
        return None
    path = url[len(prefix):].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


class ReceiptSettings(_Section):
    # Where receipts come back: the domain of every return path and
    # Disposition-Notification-To the gateway writes (its MX points here).
    domain: str = "receipts.gateway.example.org"
    request_dsn: bool = True
    request_mdn: bool = True
    release_on: Literal["delivery", "read"] = "delivery"
    # No receipt this long after relaying: the sender is told, to telephone.
    timeout: PositiveDuration = timedelta(days=2)
    # The HMAC key of the receipt addresses: base64 of 32 random bytes, several
    # comma-separated newest first.  From GATEWAY_RECEIPTS_KEY (arrives here
    # as `key`), else key_file, else derived from the password vault's keys.
    key_file: str = ""
    key: str = Field(default="", repr=False)
    # How often held passwords are expired and receipt timeouts looked for.
    check_interval: PositiveDuration = timedelta(seconds=60)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        # A name receipts can be addressed to (an MX on the internet needs
        # at least two labels), not an address: accepted, return paths no
        # receipt could ever come back to, and every password held in vain.
        if (not _HOST_NAME.fullmatch(value) or "." not in value.rstrip(".")
                or _is_ip_address(value)):
            raise ValueError(f"{value!r} is not a domain name (e.g. receipts.gateway.example.org)")
        return value


class PasswordSettings(_Section):
    release: Literal["on-receipt", "manual", "sender"] = "on-receipt"
    ttl: PositiveDuration = timedelta(days=7)
    key_file: str = ""


class HoldSettings(_Section):
    """Messages above this sensitivity wait for a named authoriser."""

    enabled: bool = False
    special_category: bool = True
    min_people: int = Field(default=0, ge=0)


class PolicySettings(_Section):
    mode: Literal["enforce", "protect", "monitor"] = "enforce"
    subject_marking: str = Field(default="Private and Confidential", min_length=1)
    min_encryption: Literal["aes-128", "aes-256"] = "aes-128"
    require_read_only: bool = True
    require_purpose: bool = False
    # The shortest password the gateway holds and sends for an attachment
    # (one written in the message): NIST SP 800-63B's and the NCSC's floor
    # for a password with a deny-list.  0: no minimum (common ones still count).
    min_password_length: int = Field(default=8, ge=0, le=64)
    recipients_file: str = "recipients.csv"
    hold: HoldSettings = HoldSettings()


    @field_validator("subject_marking")
    @classmethod
    def _marking(cls, value: str) -> str:
        # Spaces alone are in every subject: the marking rule would be off.
        if not value.strip():
            raise ValueError("must have words in it (e.g. 'Private and Confidential')")
        return value


class MetricsSettings(_Section):
    listen: str = "127.0.0.1:9025"

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _check_listen(value) if value else value


# The shortest `[audit] retention` accepted.  A purge removes everything
# older, and "6m" (six minutes, not months) would empty the trail with
# verify still green; no records-management schedule keeps an audit of
# sharing decisions for less than a month.
MIN_RETENTION = timedelta(days=30)


def _long_enough_to_audit(value: timedelta) -> timedelta:
    if value < MIN_RETENTION:
        raise ValueError(
            f"must be at least {MIN_RETENTION.days}d: a purge removes every record older "
            "than this ('m' is minutes: six months is '183d')"
        )
    return value


class AuditSettings(_Section):
    retention: Annotated[PositiveDuration, AfterValidator(_long_enough_to_audit)] = timedelta(
        days=6 * 365)
    checkpoint_every: int = Field(default=1000, ge=1)
    # How often the gateway logs the chain's committed head (`audit_anchor`,
    # when it moved) for the logs to keep outside the database; "0s": never.
    anchor_interval: Duration = timedelta(hours=1)
    key_file: str = ""
    # The checkpoint signing key itself; normally from the environment
    # (GATEWAY_AUDIT_KEY arrives here as an override), never logged.
    key: str = Field(default="", repr=False)


class WebUser(_Section):
    name: str = Field(min_length=1)
    # The person's name, as the trail records an approver (`authorised_by`):
    # the same name the command line's `held approve --by` gives, so one
    # approver is counted once.  Empty: the account name.
    full_name: str = ""
    # Empty: the user signs in only through [web] trusted_header.
    password_hash: str = Field(default="", pattern=r"^(\$argon2(id|i|d)\$.*)?$", repr=False)
    role: Literal["auditor", "approver", "admin"]


class WebSettings(_Section):
    """The auditors' and approvers' console (gateway/web); off when listen is empty."""

    listen: str = ""
    users: list[WebUser] = []
    # A reverse proxy that has authenticated the user names them in this
    # header; honoured only from trusted_proxies, and only for names listed in
    # [[web.users]] (which give the role).
    trusted_header: str = ""
    trusted_proxies: list[str] = []
    session_timeout: PositiveDuration = timedelta(minutes=30)
    # Signs session cookies; random per process when empty (sessions then end
    # at restart and are not shared between replicas).
    session_secret: str = Field(default="", repr=False)
    # auto: Secure when the request came over HTTPS (directly, or per
    # X-Forwarded-Proto from a trusted proxy); always / never force it.
    cookie_secure: Literal["auto", "always", "never"] = "auto"

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _check_listen(value) if value else value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        return _check_networks(value)

    @model_validator(mode="after")
    def _users(self) -> WebSettings:
        names = [u.name for u in self.users]
        if len(names) != len(set(names)):
            raise ValueError("users: a name is listed twice")
        if bool(self.trusted_header) != bool(self.trusted_proxies):
            raise ValueError("trusted_header and trusted_proxies must be set together")
        if not self.trusted_header and any(not u.password_hash for u in self.users):
            raise ValueError("users: password_hash is needed unless trusted_header is set")
        return self


class Settings(_Section):
    server: ServerSettings = ServerSettings()
    upstream: RouteSettings = RouteSettings()
    queue: QueueSettings = QueueSettings()
    database: DatabaseSettings = DatabaseSettings()
    receipts: ReceiptSettings = ReceiptSettings()
    passwords: PasswordSettings = PasswordSettings()
    policy: PolicySettings = PolicySettings()
    metrics: MetricsSettings = MetricsSettings()
    routes: dict[str, RouteSettings] = {}
    audit: AuditSettings = AuditSettings()
    web: WebSettings = WebSettings()
    users: list[User] = []
    # Where the file was read from; relative paths above are resolved against it.
    config_dir: Path = Path(".")

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.config_dir / candidate

    @property
    def recipients_path(self) -> Path:
        return self.resolve(self.policy.recipients_file)

    @property
    def all_routes(self) -> dict[str, RouteSettings]:
        """Every smarthost by the name a route is chosen by: `upstream`
        (the default) and each [routes.NAME]."""
        return {"upstream": self.upstream, **self.routes}

    def route_sections(self) -> dict[str, RouteSettings]:
        """The same, by where each is configured (`upstream`, `routes.NAME`):
        what a message about the configuration names."""
        return {"upstream": self.upstream,
                **{f"routes.{name}": route for name, route in self.routes.items()}}

    def warnings(self) -> list[str]:
        """What is allowed but unsafe: `check-config` prints it, `serve` logs it."""
        found = [
            f"{name}.tls is none and {name}.host {route.host} is not this machine: mail, "
            "the separate password emails among it, crosses the network in clear "
            "(use starttls-verify or implicit)"
            for name, route in self.route_sections().items() if route.in_clear_off_this_machine
        ]
        found += [
            f"{name}.username is set and {name}.tls is {route.tls}: the username and password "
            f"can cross the network to {route.host} in clear (AUTH PLAIN or LOGIN "
            f"{'always' if route.tls == 'none' else 'whenever STARTTLS is not offered'}; "
            "use starttls-verify or implicit)"
            for name, route in self.route_sections().items() if route.credentials_exposed
        ]
        return found + self._open_relay() + self._users_without_tls() + self._open_to_others()

    def _users_without_tls(self) -> list[str]:
        """[[users]] whom nothing lets sign in: the listener offers AUTH only
        after STARTTLS.  (With require_auth it is an error: nobody could send.)"""
        if not self.users or self.server.tls_cert or self.server.require_auth:
            return []
        return ["[[users]] are configured but server.tls_cert is not set: AUTH is offered "
                "only after STARTTLS, so they can never sign in (set server.tls_cert and "
                "server.tls_key)"]

    def _open_relay(self) -> list[str]:
        """Trusted networks that take in every address: anyone who can reach
        the port may send through the gateway (authentication aside)."""
        return [
            f"server.trusted_networks has {network}: every address may relay through the "
            "gateway without signing in (an open relay); list the networks of your mail "
            "servers and staff instead"
            for network in self.server.trusted_networks
            if ipaddress.ip_network(network, strict=False).prefixlen == 0
        ]

    def _open_to_others(self) -> list[str]:
        """Secret files, and the SQLite database (queued mail, the trail),
        that every account on the machine may read or change.  Group access
        is left alone: a Kubernetes Secret mounted 0440 is how it should be."""
        private = [(key, self.resolve(value)) for key, value in (
            ("server.tls_key", self.server.tls_key),
            ("passwords.key_file", self.passwords.key_file),
            ("audit.key_file", self.audit.key_file),
            ("receipts.key_file", self.receipts.key_file),
        ) if value]
        database = self.database.sqlite_path
        if database is not None:
            private += [("database.url", Path(f"{database}{suffix}"))
                        for suffix in ("", "-wal", "-shm")]
        found = []
        for key, path in private:
            try:
                mode = path.stat().st_mode & 0o777
            except OSError:
                continue  # missing files are _check_files' to report, or not made yet
            if mode & 0o007:
                found.append(f"{key}: {path} can be read or changed by every account on this "
                             f"machine (mode {mode:04o}): chmod o-rwx {path}")
        return found


_SECTIONS = {
    name for name, info in Settings.model_fields.items() if name not in {"config_dir", "users"}
}


def _takes_text(section: str, key: str) -> bool:
    """Is `section.key` a string?  Its variable's value is then its text as
    written: an all-digit worker id or password, or one that reads as a
    TOML date or boolean, is still that text."""
    model = RouteSettings if section == "routes" else Settings.model_fields[section].annotation
    fields = getattr(model, "model_fields", {})
    return key in fields and fields[key].annotation is str


def _env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


# GATEWAY_* variables that are not <SECTION>_<KEY> overrides (keys, the
# config path, the container's health check).
_NOT_OVERRIDES = frozenset({
    "GATEWAY_CONFIG", "GATEWAY_PASSWORD_KEY", "GATEWAY_AUDIT_KEY", "GATEWAY_RECEIPTS_KEY",
    "GATEWAY_HEALTHCHECK_URL",
})


def misspelt_sections(environ: dict[str, str]) -> list[str]:
    """GATEWAY_* variables whose section is not one but nearly is
    (`GATEWAY_DATABSE_URL`): an override an administrator meant, which would
    otherwise be ignored without a word while the file's value is used.
    Other GATEWAY_* names (a deployment's own, tests') are left alone."""
    problems = []
    for name in sorted(environ):
        if not name.startswith("GATEWAY_") or name in _NOT_OVERRIDES:
            continue
        section, _, key = name[len("GATEWAY_"):].lower().partition("_")
        if section in _SECTIONS or not key:
            continue
        near = difflib.get_close_matches(section, sorted(_SECTIONS), n=1, cutoff=0.75)
        if near:
            meant = f"GATEWAY_{near[0].upper()}_{key.upper()}"
            problems.append(f"{name}: no section {section!r} (did you mean {meant}?)")
    return problems


def _apply_env(
    data: dict[str, Any], environ: dict[str, str]
) -> tuple[dict[tuple[str, str], str], list[str]]:
    """Put the GATEWAY_<SECTION>_<KEY> overrides into `data`; returns which
    variable set each (section, key), for messages to name it (for a route,
    ("routes", "NAME.KEY")), and the variables that name no configured route."""
    overrides: dict[tuple[str, str], str] = {}
    problems: list[str] = []
    for name, raw in sorted(environ.items()):
        if not name.startswith("GATEWAY_"):
            continue
        rest = name[len("GATEWAY_") :].lower()
        section, _, key = rest.partition("_")
        if section not in _SECTIONS or not key:
            continue  # GATEWAY_CONFIG, GATEWAY_PASSWORD_KEY, GATEWAY_TEST_* are not overrides
        if section == "routes":
            problem = _apply_route_env(data, name, key, raw, overrides)
            if problem:
                problems.append(problem)
            continue
        table = data.setdefault(section, {})
        if isinstance(table, dict):
            table[key] = raw if _takes_text(section, key) else _env_value(raw)
            overrides[(section, key)] = name
    return overrides, problems


def _apply_route_env(
    data: dict[str, Any], name: str, rest: str, raw: str,
    overrides: dict[tuple[str, str], str],
) -> str | None:
    """GATEWAY_ROUTES_<NAME>_<KEY>: `rest` is "<name>_<key>" in lower case.

    Only a route the file configures can be overridden: a route made from
    the environment alone would send mail somewhere no file says, and a
    mistyped name would otherwise be ignored without a word while the
    file's route is used.  A name with underscores is matched whole (the
    longest configured name that fits)."""
    routes = data.get("routes")
    tables = routes if isinstance(routes, dict) else {}
    fits = [route for route in tables
            if rest.startswith(f"{route.lower()}_") and len(rest) > len(route) + 1]
    if not fits:
        if any(rest == route.lower() for route in tables):
            return f"{name}: no key named: write GATEWAY_ROUTES_<NAME>_<KEY>"
        route = rest.partition("_")[0]
        return (f"{name}: no route {route!r} is configured: an override changes a key of "
                f"a [routes.NAME] table in the file (GATEWAY_ROUTES_<NAME>_<KEY>)")
    route = max(fits, key=len)
    table = tables[route]
    if not isinstance(table, dict):
        return None  # the file's own value is not a table: validation says so
    key = rest[len(route) + 1 :]
    table[key] = raw if _takes_text("routes", key) else _env_value(raw)
    overrides[("routes", f"{route}.{key}")] = name
    return None


class _Origins:
    """Where a key's value came from, for a problem's first words: the
    environment variable that overrode it, else the file."""

    def __init__(self, source: str, overrides: dict[tuple[str, str], str]) -> None:
        self.source = source
        self.overrides = overrides

    def of(self, loc: str) -> str:
        section, _, rest = loc.partition(".")
        # A route's key (routes.NAME.KEY) is set by GATEWAY_ROUTES_<NAME>_<KEY>.
        depth = 2 if section == "routes" else 1
        variable = self.overrides.get((section, ".".join(rest.split(".")[:depth])))
        return f"{variable} ({loc})" if variable else f"{self.source}: {loc}"


def _format_error(origins: _Origins, error: Any) -> str:
    loc = ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-"))
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{origins.of(loc or '(top level)')}: {message}"


def _check_files(settings: Settings, origins: _Origins) -> list[str]:
    problems = []
    checks = [("policy.recipients_file", settings.policy.recipients_file)]
    if settings.server.tls_cert:
        checks += [
            ("server.tls_cert", settings.server.tls_cert),
            ("server.tls_key", settings.server.tls_key),
        ]
    if settings.passwords.key_file:
        checks.append(("passwords.key_file", settings.passwords.key_file))
    if settings.audit.key_file:
        checks.append(("audit.key_file", settings.audit.key_file))
    if settings.receipts.key_file:
        checks.append(("receipts.key_file", settings.receipts.key_file))
    for route_name, route in settings.route_sections().items():
        if route.ca_file:
            checks.append((f"{route_name}.ca_file", route.ca_file))
    for key, value in checks:
        path = settings.resolve(value)
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            problems.append(f"{origins.of(key)}: cannot read {path} ({exc.strerror})")
    return problems


def _check_together(settings: Settings, origins: _Origins) -> list[str]:
    """What each key allows alone but not with the others."""
    problems = []
    for name, route in settings.routes.items():
        if route.tls == "none":
            problems.append(
                f"{origins.of(f'routes.{name}.tls')}: a secure route must use TLS "
                "(starttls, starttls-verify or implicit)"
            )
    postmaster_domain = settings.server.postmaster_address.rpartition("@")[2]
    if postmaster_domain.lower().rstrip(".") == settings.receipts.domain.lower().rstrip("."):
        # Relayed there, it would come back to the gateway as its MX, round
        # and round until max_hops.
        problems.append(f"{origins.of('server.postmaster')}: the postmaster address cannot "
                        "be on the receipts domain")
    if settings.server.require_auth:
        # Nobody could send: every client refused at RCPT, trusted or not.
        if not settings.users:
            problems.append(f"{origins.of('server.require_auth')}: no [[users]] are "
                            "configured: nobody could send")
        # The listener offers AUTH only on a TLS connection (credentials
        # never cross the network in clear), so without TLS nobody can.
        if not settings.server.tls_cert:
            problems.append(f"{origins.of('server.require_auth')}: AUTH is offered only "
                            "after STARTTLS: set server.tls_cert and server.tls_key")
    return problems


# `[queue] lease` is at least this many of the longest route `timeout`:
# renewal (a third of the way through) keeps a long delivery's claim, but a
# lease shorter than one command's wait would lose it over one slow reply.
LEASE_TIMEOUTS = 1


def _seconds(value: timedelta) -> str:
    return f"{value.total_seconds():g}s"


def _check_lease(settings: Settings, origins: _Origins) -> list[str]:
    """A claim's lease is renewed while its delivery runs (a third of the
    way through it), but a lease shorter than a command the delivery waits
    on would give the message to another worker over one slow reply, or
    one renewal held up as long."""
    name, route = max(settings.route_sections().items(), key=lambda item: item[1].timeout)
    least = route.timeout * LEASE_TIMEOUTS
    if settings.queue.lease >= least:
        return []
    return [f"{origins.of('queue.lease')}: {_seconds(settings.queue.lease)} is shorter than "
            f"{name}.timeout ({_seconds(route.timeout)}): make it at least {_seconds(least)}"]


def _check_listeners(settings: Settings, origins: _Origins) -> list[str]:
    """Two listeners on one address: the second cannot start (or, with
    SO_REUSEPORT, takes half the other's connections)."""
    listeners = [("server.listen", settings.server.listen), ("metrics.listen",
                 settings.metrics.listen), ("web.listen", settings.web.listen)]
    taken: list[tuple[str, str, int]] = []
    problems = []
    for key, value in listeners:
        if not value:
            continue  # off
        host, port = _split_hostport(value)
        for other, other_host, other_port in taken:
            if port and port == other_port and (
                host == other_host or _ANY_ADDRESS & {host, other_host}
            ):
                problems.append(f"{origins.of(key)}: {value} is where {other} listens: "
                                "give each its own port")
        taken.append((key, host, port))
    return problems


_ANY_ADDRESS = frozenset({"0.0.0.0", "::", "*"})


def load_settings(
    path: str | Path | None = None,
    environ: dict[str, str] | None = None,
    check_files: bool = True,
) -> Settings:
    """Read, override and validate the configuration, or raise ConfigError."""
    env = dict(os.environ if environ is None else environ)
    config_path = Path(path or env.get("GATEWAY_CONFIG") or DEFAULT_CONFIG)
    source = str(config_path)
    try:
        data: dict[str, Any] = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    overrides, unapplied = _apply_env(data, env)
    origins = _Origins(source, overrides)
    data.pop("config_dir", None)
    data["config_dir"] = config_path.resolve().parent
    misspelt = misspelt_sections(env) + unapplied
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(misspelt + [_format_error(origins, e) for e in exc.errors()]) from None
    problems = misspelt + (_check_files(settings, origins) if check_files else [])
    problems += _check_together(settings, origins)
    problems += _check_lease(settings, origins) + _check_listeners(settings, origins)
    if problems:
        raise ConfigError(problems)
    return settings
