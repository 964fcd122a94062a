"""The SMTP listener: aiosmtpd's protocol, hardened for a relay.

Flow per connection: EHLO (SIZE, 8BITMIME, SMTPUTF8, PIPELINING,
ENHANCEDSTATUSCODES, DSN, STARTTLS when configured, AUTH only after TLS) ->
MAIL (address checked, DSN RET/ENVID kept; never refused for want of AUTH;
an authenticated user kept to its `[[users]] senders`) -> RCPT (address
checked; relay permission: AUTH, a trusted network unless `require_auth`,
or an open (receipts) domain for anyone; the domainless `postmaster` taken
from anyone and sent to `[server] postmaster`; recipient limit, DSN
NOTIFY/ORCPT kept) -> DATA (read in chunks up to the terminator, checked
and unstuffed as it streams, spooled to a temporary file when large; bare
CR/LF or NUL refused; see `data`) -> the `Acceptor` given by the composition
root decides and answers.  This module knows nothing about
detection or policy: the acceptor returns the reply line.  Content refused
here after DATA (bare line endings, too big) is told to the composition
root's `RefusalRecorder` before the 550 or 552 goes out (every message
received gets its audit record there); when it cannot record it, 451.
Content that could not be kept (the spool's disk full, its folder gone) is
451 too, after the rest of DATA was read; each 451 this stage gives itself
is told to the composition root (`failed`), which counts it with its own.

Paths are taken as Postfix takes them by default: a quoted local part
(`"john smith"@example.org`, judged by `addresses`) and, without angle
brackets, `MAIL FROM:user@domain` (strict_rfc821_envelopes = no).  AUTH
inside a transaction is refused (RFC 4954).

Replies to pipelined commands go out together, in one write, as Postfix's
smtpd sends them (see `GatewaySMTP.push`).  Any exception while handling a
command answers 451 4.3.0 without detail (aiosmtpd's default would answer
500 with the exception text).

ENHANCEDSTATUSCODES is advertised, so every reply but the greeting and
HELO's and EHLO's 250 carries an RFC 3463 code (RFC 2034), from `replies`:
the commands aiosmtpd answers with bare texts (NOOP, RSET, QUIT, STARTTLS,
AUTH's refusals, HELP, VRFY, EXPN, "send HELO first") are overridden here,
and the few texts it writes from inside its command loop are replaced on
their way out (`GatewaySMTP.push`).  An idle client is told 421 4.4.2
before the connection closes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Protocol

import structlog
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, Session

from gateway.model import Envelope, ReasonCode, RecipientDsn
from gateway.receive import replies
from gateway.receive.addresses import address_problem, canonical
from gateway.receive.data import (
    SPOOL_THRESHOLD,
    DataCollector,
    MessageContent,
    SpooledBody,
    read_data,
)

log = structlog.get_logger(__name__)

# Failed AUTH attempts one session may make before it is told 421 and
# closed (`[server] max_auth_failures`, default this): Postfix's
# smtpd_hard_error_limit idea, so a password is not guessed at leisure.
MAX_AUTH_FAILURES: Final = 3


class Acceptor(Protocol):
    """Takes a transaction's envelope and content; returns the reply line.

    The content is bytes, or spooled to a temporary file when large; the
    spool file is closed (and so deleted) once the acceptor returns.  With
    `ListenerConfig.read_ahead`, `ahead` is what that made of the content,
    when it ran (None otherwise).
    """

    def __call__(
        self, envelope: Envelope, content: MessageContent, ahead: object = None
    ) -> Awaitable[str]: ...


class RefusalRecorder(Protocol):
    """Records a transaction whose content this stage refused after DATA,
    for `reason`, before the refusal goes out; `size` is the content bytes
    read.  The content itself is not handed over: it was not kept.  Raising
    means nothing was recorded: the client is then told 451, to try again,
    never refused without the record.
    """

    def __call__(self, envelope: Envelope, reason: ReasonCode, size: int) -> Awaitable[None]: ...


Authenticator = Callable[[str, str], bool]

_XTEXT = re.compile(r"^(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*$")
_NOTIFY_VALUES = {"NEVER", "SUCCESS", "FAILURE", "DELAY"}
# ORCPT is xtext, or under SMTPUTF8 UTF-8 text (RFC 6533): neither holds a
# control character, and a NUL cannot be stored (PostgreSQL's text) nor
# written into the Original-Recipient field of a report.
_ORCPT_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
# DATA is read in chunks of this size (the StreamReader's limit while DATA
# runs; it buffers at most about twice this per connection).
_DATA_CHUNK = 256 * 1024
# Replies never held back to go out with the next one (see GatewaySMTP.push).
_NEVER_HELD = frozenset({b"220", b"221", b"334", b"354", b"421"})
# aiosmtpd's own reply texts that reach `push` from places no method or hook
# can supply the text (its command loop `_handle_client`; STARTTLS's 220,
# sent in the middle of the TLS set-up), each with the gateway's reply that
# carries an enhanced status code (HELO's and EHLO's 501 without a host
# name too).  Exact texts only: a reply that has a code already, an EHLO
# line, 354 or AUTH's 334 is never one of them.
_AIOSMTPD_REPLIES: Final = MappingProxyType({
    "500 Command line too long": replies.S500_LINE_TOO_LONG,
    "500 Error: bad syntax": replies.S500_BAD_SYNTAX,  # an empty or non-ASCII command
    "220 Ready to start TLS": replies.S220_TLS_READY,
    "501 Syntax: HELO hostname": replies.S501_SYNTAX_HELO,
    "501 Syntax: EHLO hostname": replies.S501_SYNTAX_EHLO,
    # `handle_exception` itself failed: still no detail for the client.
    "500 Error: Cannot describe error": replies.S451_INTERNAL,
})
# `500 Error: command "FOO" not recognized` echoes the client's text.
_AIOSMTPD_UNRECOGNISED = re.compile(r'500 Error: command ".*" not recognized', re.DOTALL)
# `500 Error: (ValueError) <text>`: `handle_exception` itself failed.
_AIOSMTPD_EXCEPTION = re.compile(r"500 Error: \(\w+\) ")
# DATA's refusals of the content itself, each with the reason it is recorded
# under (`RefusalRecorder`).  Not 451 (a spool that failed is the gateway's
# problem, and the client tries again).
_REFUSAL_REASONS: Final = MappingProxyType({
    replies.S550_BARE_LINE_ENDING: ReasonCode.MALFORMED_MESSAGE,
    replies.S552_TOO_BIG: ReasonCode.MESSAGE_TOO_LARGE,
})


@dataclass
class _Transaction:
    """What one MAIL..DATA transaction collected beyond aiosmtpd's Envelope."""

    mail_from: str | None = None
    ret: str | None = None
    envid: str | None = None
    smtputf8: bool = False
    body_8bit: bool = False
    recipients: list[str] = field(default_factory=list)
    rcpt_dsn: list[RecipientDsn] = field(default_factory=list)


@dataclass(frozen=True)
class ListenerConfig:
    hostname: str
    trusted_networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]
    max_message_size: int
    max_recipients: int
    idle_timeout: float = 300.0
    data_timeout: float = 600.0
    inspect_timeout: float = 60.0
    require_auth: bool = False
    tls_context: ssl.SSLContext | None = None
    # Mail to these domains is accepted from anyone (inbound receipts).
    open_domains: frozenset[str] = frozenset()
    # Content above this many bytes is spooled to a temporary file in
    # `spool_dir` (the system's temporary folder when empty) as it arrives.
    spool_threshold: int = SPOOL_THRESHOLD
    spool_dir: str = ""
    # Work on a message's content that may run in the worker thread where a
    # large in-memory message's line endings are checked (`DataCollector.
    # settle`); what it returns goes to the acceptor as `ahead`.  Opaque here.
    read_ahead: Callable[[bytes], object] | None = None
    # AUTH attempts refused in one session before it is closed (421 4.7.0).
    max_auth_failures: int = MAX_AUTH_FAILURES
    # Sessions one untrusted address may have open at once; 0: no limit.
    max_connections_per_client: int = 0
    # Where `RCPT TO:<postmaster>` (no domain, any case) goes: RFC 5321
    # 4.5.1 asks every SMTP server to take it, from anyone.  Empty: refused
    # as any other address without a domain.
    postmaster: str = ""
    # `[[users]] senders`: each user's MAIL FROM addresses as one pattern
    # (`sender_pattern`); a user not here may use any.
    senders: Mapping[str, re.Pattern[str]] = field(default_factory=dict)


class ClientConnections:
    """How many sessions each client address has open, shared by the
    listener's sessions: Postfix's anvil for `smtpd_client_connection_count_
    limit`.  Trusted networks are not counted (Postfix exempts `$mynetworks`
    too): the organisation's own mail server opens as many as its load
    needs.  What it bounds is the receipts domain's MX, open to anyone, and
    an untrusted client guessing AUTH passwords on many connections at once."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}

    def opened(self, client: str) -> int:
        """Count a new session from `client`; return how many are open."""
        count = self._open.get(client, 0) + 1
        self._open[client] = count
        return count

    def closed(self, client: str) -> None:
        count = self._open.get(client, 0) - 1
        if count > 0:
            self._open[client] = count
        else:
            self._open.pop(client, None)


class _Session(Session):
    """aiosmtpd's Session without the warning its deprecated `login_data`
    logs each time aiosmtpd's own AUTH sets it: a plain-text line in the
    JSON log at every client's first AUTH.  The gateway reads `auth_data`."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class GatewaySMTP(SMTP):
    """aiosmtpd's SMTP with the relay's own MAIL, RCPT and DATA handling."""

    def __init__(
        self,
        config: ListenerConfig,
        acceptor: Acceptor,
        is_shutting_down: Callable[[], bool],
        authenticator: Authenticator | None = None,
        refusals: RefusalRecorder | None = None,
        connections: ClientConnections | None = None,
        failed: Callable[[], None] | None = None,
    ) -> None:
        self._config = config
        # Told of each transaction this stage answers 451 at DATA itself.
        self._failed = failed
        self._connections = connections
        self._counted: str | None = None  # the client address counted in `connections`
        self._too_many = False  # over max_connections_per_client: 421 for the greeting
        self._acceptor = acceptor
        self._refusals = refusals
        self._is_shutting_down = is_shutting_down
        self._check_password = authenticator
        self._txn = _Transaction()
        self._answering_data = False
        self._in_data = False  # from 354 to DATA's reply: the message is on its way
        self._deciding = False  # the acceptor (or the refusal's record) is at work
        self._held: list[bytes] = []  # replies waiting for the next (see push)
        self._auth_failures = 0  # AUTH attempts refused in this session
        super().__init__(
            _Hooks(),
            data_size_limit=config.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=config.hostname,
            ident="secure-sharing gateway",
            tls_context=config.tls_context,
            timeout=config.idle_timeout,
            # `require_auth` is enforced here, not by aiosmtpd: its
            # auth_required refuses MAIL itself, and the receipts domain
            # must take mail from anyone (see check_auth_needed).
            auth_required=False,
            auth_require_tls=True,
            authenticator=self._check_credentials if authenticator else None,
            auth_exclude_mechanism=["CRAM-MD5"],
        )
        # aiosmtpd writes this greeting itself (`_handle_client`); `push`
        # puts replies.S220_READY in its place.
        self._aiosmtpd_greeting = f"220 {self.hostname} {self.__ident__}"

    # -- aiosmtpd integration ------------------------------------------------

    def _create_session(self) -> Session:
        return _Session(self.loop)

    def _client(self) -> dict[str, object]:
        """The client's address and port, for a log line: what a mail
        administrator matches against Postfix's client=host[ip] (an IP
        address is operational data, not the personal data mail carries)."""
        peer = self.session.peer if self.session is not None else None
        if isinstance(peer, tuple) and len(peer) >= 2:
            return {"client": str(peer[0]), "client_port": peer[1]}
        return {"client": str(peer or "")}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None  # not the TLS layer after STARTTLS
        super().connection_made(transport)
        if not first or self._connections is None or self._peer_trusted():
            return
        limit = self._config.max_connections_per_client
        client = str(self._client()["client"])
        self._counted = client
        if limit and self._connections.opened(client) > limit:
            self._too_many = True  # the greeting becomes 421 (`push`)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted is not None and self._connections is not None:
            self._connections.closed(self._counted)
            self._counted = None
        super().connection_lost(error)

    def _set_post_data_state(self) -> None:
        super()._set_post_data_state()  # type: ignore[no-untyped-call]
        self._txn = _Transaction()

    async def handle_exception(self, error: Exception) -> str:
        log.error("smtp_command_failed", error=type(error).__name__)
        self._count_failure()
        return replies.S451_INTERNAL

    def _count_failure(self) -> None:
        """A 451 this stage gives itself, told to the composition root."""
        if self._failed is not None:
            self._failed()

    @property
    def in_data(self) -> bool:
        """A message is being received or answered: shutting down waits for it."""
        return self._in_data

    def shut_down(self) -> None:
        """The gateway is stopping: a session between commands is told 421
        and closed now (RFC 5321 3.8), not left to find the connection gone
        at its next command.  One inside DATA is left to finish: its reply
        (a committed message must get its 250), then 421 at its next
        command (`push`), or this again when the wait for it is over."""
        if self._in_data or self.transport is None or self.transport.is_closing():
            return  # a session told 421 already (`push`) is closing
        self._send(replies.S421_SHUTTING_DOWN.encode("ascii"))
        self.transport.close()

    def _timeout_cb(self) -> None:
        """Nothing from the client for `idle_timeout` (or DATA stalled): tell
        it 421 4.4.2 before closing, as Postfix does.  aiosmtpd closes
        without a word, which a client cannot tell from a crash.

        Not while the message is being decided: the decision has bounds of
        its own, and it may have committed the message already.  A timer
        that fires then (late, after the loop was busy for longer than the
        decision's allowance) would tell the client 421 for a message that
        is queued, and the client would send it again: the timer waits for
        the answer instead."""
        if self._deciding:
            log.warning("session_timer_waits_for_decision")
            self._reset_timeout(self._config.idle_timeout)
            return
        if self.transport is not None and not self.transport.is_closing():
            log.info("session_timed_out")
            self._send(replies.S421_TIMEOUT.format(hostname=self.hostname).encode("utf-8"))
        super()._timeout_cb()  # type: ignore[no-untyped-call]

    def _with_enhanced_code(self, status: str) -> str:
        """`status`, or the gateway's reply in place of aiosmtpd's own text
        (see _AIOSMTPD_REPLIES); any other reply goes out as it is."""
        if status == self._aiosmtpd_greeting:  # first: a host name may start "2."
            if self._too_many:
                log.warning("client_connections_exceeded", **self._client(),
                            limit=self._config.max_connections_per_client)
                return replies.S421_TOO_MANY_CONNECTIONS.format(
                    client=self._client()["client"])
            return replies.S220_READY.format(hostname=self.hostname)
        if status[4:6] in ("2.", "4.", "5."):
            return status  # has its code already: most replies, on every message
        ours = _AIOSMTPD_REPLIES.get(status)
        if ours is not None:
            if ours == replies.S451_INTERNAL:  # `handle_exception` itself failed
                self._count_failure()
            return ours
        if _AIOSMTPD_UNRECOGNISED.fullmatch(status):
            return replies.S502_UNRECOGNISED
        if _AIOSMTPD_EXCEPTION.match(status):
            self._count_failure()
            return replies.S451_INTERNAL
        return status

    async def push(self, status: Any) -> None:
        # aiosmtpd's own bare texts get an enhanced status code here: the
        # one chokepoint every reply passes, for the few it writes where no
        # override can reach (see _AIOSMTPD_REPLIES).
        if isinstance(status, str):
            status = self._with_enhanced_code(status)
        # Shutting down: every further command gets 421, then the connection
        # closes.  Not the answer to a DATA already handled: a committed
        # message must get its 250, or the client would send it again.
        if (
            self._is_shutting_down()
            and not self._answering_data
            and isinstance(status, str)
            and not status.startswith("221")
        ):
            self._send(replies.S421_SHUTTING_DOWN.encode("ascii"))
            await self._writer.drain()
            if self.transport is not None:
                self.transport.close()
            return
        reply = status.encode("utf-8") if isinstance(status, str) else bytes(status)
        if self._may_hold(reply):
            self._held.append(reply + b"\r\n")
            return
        self._send(reply)
        await self._writer.drain()
        if reply[:3] == b"421" and self.transport is not None:
            # 421 closes the session (RFC 5321 3.8): DATA's answer while
            # shutting down, too many AUTH failures.  Left open, `shut_down`
            # would tell the client 421 a second time.
            self.transport.close()

    def _may_hold(self, reply: bytes) -> bool:
        """May this reply wait to go out with the next one?

        RFC 2920: the replies to pipelined commands may be sent together, and
        a server should send them in one write when it can, as Postfix's
        smtpd does (it flushes only when it has read everything the client
        sent).  So a reply waits only while the client's next command is
        already in the read buffer: it will be answered without waiting for
        the network, and its reply carries this one with it.  The lines of a
        multi-line reply (EHLO's) wait for its last line.  Replies after
        which the client or the server does something other than send the
        next command are never held: 220 (STARTTLS: the TLS handshake
        follows), 221 and 421 (the connection closes), 334 (AUTH's
        challenge) and 354 (the message follows).
        """
        if reply[3:4] == b"-":
            return True
        if reply[:3] in _NEVER_HELD:
            return False
        buffered = getattr(self._reader, "_buffer", b"")  # asyncio's StreamReader
        return b"\n" in buffered

    def _send(self, reply: bytes) -> None:
        """Write the held replies and `reply`, in one write."""
        if self._held:
            self._held.append(reply + b"\r\n")
            data = b"".join(self._held)
            self._held.clear()
        else:
            data = reply + b"\r\n"
        self._writer.write(data)

    async def check_helo_needed(self, helo: str = "HELO") -> bool:
        """aiosmtpd's gate before MAIL, RCPT, DATA ("HELO") and AUTH ("EHLO")."""
        assert self.session is not None
        if self.session.host_name:
            return False
        await self.push(replies.S503_SEND_EHLO if helo == "EHLO" else replies.S503_SEND_HELO)
        return True

    async def check_auth_needed(self, caller_method: str) -> bool:
        """aiosmtpd's gate before HELP, VRFY, MAIL, RCPT and DATA.

        With `require_auth`, MAIL and DATA go on without AUTH: an
        unauthenticated client may only name recipients in the open
        (receipts) domains, which RCPT decides (`_may_relay`), and DATA
        needs an accepted RCPT.  Refused at MAIL, a recipient's MTA could
        never return the receipt that releases a held password."""
        if caller_method in ("MAIL", "RCPT", "DATA") or not self._config.require_auth:
            return False
        if self.session is not None and self.session.authenticated:
            return False
        await self.push(replies.S530_AUTH_REQUIRED)
        return True

    def _check_credentials(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self._check_password is None:
            return AuthResult(success=False, handled=False)
        try:
            login = auth_data.login.decode("utf-8")
            password = auth_data.password.decode("utf-8")
        except UnicodeDecodeError:
            log.info("auth_checked", success=False, mechanism=mechanism, **self._client())
            return self._auth_failed()
        ok = self._check_password(login, password)
        # The user name tried, never the password: what a fail2ban rule or
        # an incident review needs (Postfix logs sasl_username).
        log.info("auth_checked", success=ok, user=login, mechanism=mechanism, **self._client())
        if ok:
            return AuthResult(success=True, handled=False, auth_data=login)
        return self._auth_failed()

    def _auth_failed(self) -> AuthResult:
        """A refused AUTH: 535, or 421 once the session has used up its
        `max_auth_failures` (the connection then closes: `push`)."""
        self._auth_failures += 1
        if self._auth_failures < self._config.max_auth_failures:
            return AuthResult(success=False, handled=False)
        log.warning("auth_failures_exceeded", failures=self._auth_failures, **self._client())
        return AuthResult(success=False, handled=False, message=replies.S421_AUTH_FAILURES)

    # -- permission ----------------------------------------------------------

    def _peer_trusted(self) -> bool:
        if self.session is None or not self.session.peer:
            return False
        peer = self.session.peer
        host = peer[0] if isinstance(peer, tuple) else str(peer)
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self._config.trusted_networks)

    def _sender_not_owned(self, address: str) -> str | None:
        """The authenticated user's name when `address` is not among its
        `[[users]] senders` (Postfix's reject_sender_login_mismatch); None
        when it is, the user has no such list, or no one authenticated."""
        session = self.session
        if session is None or not session.authenticated:
            return None
        user = str(session.auth_data)
        pattern = self._config.senders.get(user)
        if pattern is None or pattern.fullmatch(address.lower()):
            return None
        return user

    def _may_relay(self) -> bool:
        authenticated = bool(self.session is not None and self.session.authenticated)
        if self._config.require_auth:
            return authenticated
        return authenticated or self._peer_trusted()

    # -- commands ------------------------------------------------------------

    # aiosmtpd's own commands whose replies lack an enhanced code; the rest of
    # their behaviour is aiosmtpd's.

    async def smtp_NOOP(self, arg: str | None) -> None:
        await self.push(replies.S250_OK)

    async def smtp_RSET(self, arg: str | None) -> None:
        if arg:
            await self.push(replies.S501_SYNTAX.format(syntax=replies.COMMAND_SYNTAX["RSET"]))
            return
        self._set_rset_state()  # type: ignore[no-untyped-call]
        await self.push(replies.S250_OK)

    async def smtp_QUIT(self, arg: str | None) -> None:
        if arg:
            await self.push(replies.S501_SYNTAX.format(syntax=replies.COMMAND_SYNTAX["QUIT"]))
            return
        await self.push(replies.S221_BYE)
        assert self._handler_coroutine is not None and self.transport is not None
        self._handler_coroutine.cancel()
        self.transport.close()

    async def smtp_STARTTLS(self, arg: str | None) -> None:
        if arg:
            await self.push(replies.S501_SYNTAX.format(syntax=replies.COMMAND_SYNTAX["STARTTLS"]))
        elif self.tls_context is None:
            # Not advertised: aiosmtpd's 454 would say "try again later".
            await self.push(replies.S502_NOT_IMPLEMENTED)
        elif self._tls_protocol is not None:
            # aiosmtpd would start a second TLS layer inside the first.
            await self.push(replies.S554_TLS_ACTIVE)
        else:
            await super().smtp_STARTTLS("")

    async def smtp_AUTH(self, arg: str | None) -> None:
        """aiosmtpd's AUTH; its refusals without an enhanced code answered
        here first (its 538 before TLS, 504 and 535 carry one)."""
        if await self.check_helo_needed("EHLO"):
            return
        assert self.session is not None
        refusal: str | None = None
        if not self.session.extended_smtp:
            refusal = replies.S502_UNRECOGNISED  # AUTH is an ESMTP command
        elif self._tls_protocol is not None:  # before TLS: aiosmtpd's 538 5.7.11
            if self.session.authenticated:
                refusal = replies.S503_ALREADY_AUTHENTICATED
            elif self._txn.mail_from is not None:
                refusal = replies.S503_AUTH_IN_TRANSACTION
            elif not arg or len(arg.split()) > 2:
                refusal = replies.S501_SYNTAX.format(syntax=replies.COMMAND_SYNTAX["AUTH"])
        if refusal is not None:
            await self.push(refusal)
            return
        # The last refused attempt is answered 421 4.7.0 (`_auth_failed`),
        # which closes the connection (`push`).
        await super().smtp_AUTH(arg or "")

    async def smtp_HELP(self, arg: str | None) -> None:
        if await self.check_auth_needed("HELP"):
            return
        offered = self._offered_commands()
        if not arg:
            await self.push(replies.S214_COMMANDS.format(commands=" ".join(offered)))
        elif arg.upper() in offered:
            syntax = replies.COMMAND_SYNTAX[arg.upper()]
            await self.push(replies.S214_SYNTAX.format(syntax=syntax))
        else:
            await self.push(replies.S501_HELP_UNKNOWN.format(commands=" ".join(offered)))

    def _offered_commands(self) -> list[str]:
        """The commands this session can use now, for HELP: STARTTLS while
        it is offered, AUTH once TLS is up and users are configured."""
        tls_up = self._tls_protocol is not None
        hidden = set()
        if self.tls_context is None or tls_up:
            hidden.add("STARTTLS")
        if self._check_password is None or not tls_up:
            hidden.add("AUTH")
        return sorted(name for name in replies.COMMAND_SYNTAX if name not in hidden)

    async def smtp_VRFY(self, arg: str | None) -> None:
        # Nothing is verified, and the client's address is not echoed back.
        if await self.check_auth_needed("VRFY"):
            return
        if not arg:
            await self.push(replies.S501_SYNTAX.format(syntax=replies.COMMAND_SYNTAX["VRFY"]))
            return
        await self.push(replies.S252_CANNOT_VRFY)

    async def smtp_EXPN(self, arg: str | None) -> None:
        await self.push(replies.S502_NOT_IMPLEMENTED)

    # The relay's own transaction.

    async def smtp_MAIL(self, arg: str | None) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("MAIL"):
            return
        if self._txn.mail_from is not None:
            await self.push(replies.S503_NESTED_MAIL)
            return
        rest = self._strip_command_keyword("FROM:", arg or "")
        if rest is None:
            await self.push(replies.S501_SYNTAX_MAIL)
            return
        parsed = _split_path(rest)
        if parsed is None:
            await self.push(replies.S501_BAD_ADDRESS)
            return
        address, params_text = parsed
        params = _parse_params(params_text)
        if params is None:
            await self.push(replies.S501_SYNTAX_MAIL)
            return
        txn = _Transaction()
        for name, value in params.items():
            if name == "SIZE":
                if value is None or not value.isdigit():
                    await self.push(replies.S501_BAD_PARAMETER.format(name=name))
                    return
                if int(value) > self._config.max_message_size:
                    await self.push(replies.S552_TOO_BIG)
                    return
            elif name == "BODY":
                if value is None or value.upper() not in ("7BIT", "8BITMIME"):
                    await self.push(replies.S501_BAD_PARAMETER.format(name=name))
                    return
                txn.body_8bit = value.upper() == "8BITMIME"
            elif name == "SMTPUTF8":
                if value is not None:
                    await self.push(replies.S501_BAD_PARAMETER.format(name=name))
                    return
                txn.smtputf8 = True
            elif name == "RET":
                if value is None or value.upper() not in ("FULL", "HDRS"):
                    await self.push(replies.S501_BAD_PARAMETER.format(name=name))
                    return
                txn.ret = value.upper()
            elif name == "ENVID":
                if value is None or not _XTEXT.match(value) or len(value) > 100:
                    await self.push(replies.S501_BAD_PARAMETER.format(name=name))
                    return
                txn.envid = value
            elif name == "AUTH":
                continue  # RFC 4954 AUTH=<> on MAIL: accepted, not trusted
            else:
                await self.push(replies.S555_UNKNOWN_PARAMETER.format(name=name))
                return
        if address:
            problem = address_problem(address, allow_utf8=txn.smtputf8)
            if problem:
                await self.push(replies.S553_BAD_ADDRESS.format(why=problem))
                return
            address = canonical(address)
            user = self._sender_not_owned(address)
            if user is not None:
                log.info("sender_refused", user=user, **self._client())
                await self.push(replies.S553_SENDER_NOT_OWNED.format(user=user))
                return
        txn.mail_from = address
        self._txn = txn
        assert self.envelope is not None
        self.envelope.mail_from = address or "<>"
        await self.push(replies.S250_SENDER_OK)

    async def smtp_RCPT(self, arg: str | None) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("RCPT"):
            return
        if self._txn.mail_from is None:
            await self.push(replies.S503_NEED_MAIL)
            return
        rest = self._strip_command_keyword("TO:", arg or "")
        if rest is None:
            await self.push(replies.S501_SYNTAX_RCPT)
            return
        parsed = _split_path(rest)
        if parsed is None or not parsed[0]:
            await self.push(replies.S501_BAD_ADDRESS)
            return
        address, params_text = parsed
        params = _parse_params(params_text)
        if params is None:
            await self.push(replies.S501_SYNTAX_RCPT)
            return
        notify: tuple[str, ...] = ()
        orcpt: str | None = None
        for name, value in params.items():
            if name == "NOTIFY":
                values = tuple(v.strip().upper() for v in (value or "").split(","))
                if not values or any(v not in _NOTIFY_VALUES for v in values) or (
                    "NEVER" in values and len(values) > 1
                ):
                    await self.push(replies.S501_BAD_PARAMETER.format(name=name))
                    return
                notify = values
            elif name == "ORCPT":
                if (value is None or ";" not in value or len(value) > 500
                        or _ORCPT_CONTROLS.search(value)):
                    await self.push(replies.S501_BAD_PARAMETER.format(name=name))
                    return
                orcpt = value
            else:
                await self.push(replies.S555_UNKNOWN_PARAMETER.format(name=name))
                return
        postmaster = address.lower() == "postmaster" and bool(self._config.postmaster)
        if postmaster:
            address = self._config.postmaster
        problem = address_problem(address, allow_utf8=self._txn.smtputf8)
        if problem:
            await self.push(replies.S553_BAD_ADDRESS.format(why=problem))
            return
        address = canonical(address)
        domain = address.rpartition("@")[2].lower().rstrip(".")
        # The domainless postmaster is taken from anyone (RFC 5321 4.5.1):
        # it goes to the one address IT named, so it relays nothing else.
        if not postmaster and domain not in self._config.open_domains and not self._may_relay():
            helo = self.session.host_name if self.session is not None else None
            log.info("relay_denied", helo=helo or "", **self._client())
            await self.push(replies.S530_AUTH_REQUIRED if self._config.require_auth
                            else replies.S550_RELAY_DENIED)
            return
        if _same_mailbox_listed(address, self._txn.recipients):
            # A repeated RCPT is one recipient: relaying it twice would
            # deliver twice (Postfix's cleanup drops duplicates too).
            await self.push(replies.S250_RECIPIENT_OK)
            return
        if len(self._txn.recipients) >= self._config.max_recipients:
            await self.push(replies.S452_TOO_MANY_RECIPIENTS)
            return
        self._txn.recipients.append(address)
        self._txn.rcpt_dsn.append(RecipientDsn(notify, orcpt))
        assert self.envelope is not None
        self.envelope.rcpt_tos.append(address)
        await self.push(replies.S250_RECIPIENT_OK)

    async def smtp_DATA(self, arg: str | None) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        if self._txn.mail_from is None:
            await self.push(replies.S503_NEED_MAIL)
            return
        if not self._txn.recipients:
            await self.push(replies.S503_NEED_RCPT)
            return
        if arg:
            await self.push(replies.S501_SYNTAX.format(syntax=replies.COMMAND_SYNTAX["DATA"]))
            return
        await self.push(replies.S354_START)
        self._in_data = True
        try:
            await self._receive_message()
        finally:
            self._in_data = False

    async def _receive_message(self) -> None:
        """DATA after its 354: the content, the acceptor's answer, the reply."""
        started = time.monotonic()
        content, ahead, status, size = await self._read_data(
            started + self._config.data_timeout)
        if status is not None:
            await self._refuse(status, size)
            return
        assert content is not None
        try:
            reply = await self._accept(content, ahead)
        finally:
            if isinstance(content, SpooledBody):
                content.close()  # committed or refused by now: the spool goes
        log.debug("data_answered", seconds=round(time.monotonic() - started, 4))
        self._answering_data = True
        try:
            await self.push(reply)
        finally:
            self._answering_data = False
            self._reset_timeout()

    async def _refuse(self, status: str, size: int) -> None:
        """Answer DATA with the refusal `status`, once the refusal is
        recorded (see `RefusalRecorder`); 451 when it could not be."""
        reason = _REFUSAL_REASONS.get(status)
        envelope = self._envelope()
        self._set_post_data_state()
        if reason is not None and self._refusals is not None:
            # The record's commit, not the client, is waited for now.
            self._reset_timeout(self._config.inspect_timeout + 30)
            self._deciding = True
            try:
                await self._refusals(envelope, reason, size)
            except Exception as exc:  # never a refusal without its record
                log.error("refusal_not_recorded", error=type(exc).__name__)
                status = replies.S451_INTERNAL
            finally:
                self._deciding = False
        if status == replies.S451_INTERNAL:
            self._count_failure()
        # DATA's own answer, even while shutting down: a refusal recorded but
        # told 421 would come again, and be recorded again.
        self._answering_data = True
        try:
            await self.push(status)
        finally:
            self._answering_data = False
            self._reset_timeout()

    def _content_not_kept(self, error: Exception | None) -> None:
        """Log why a message's content could not be kept (it is answered
        451): for the spool, the folder and the system's words for what
        failed ("No space left on device"); never the content, nor the
        message's own words."""
        if isinstance(error, OSError):
            log.error("data_spool_failed", error=type(error).__name__,
                      reason=error.strerror or "",
                      spool_dir=self._config.spool_dir or tempfile.gettempdir())
        else:
            log.error("data_not_kept", error=type(error).__name__)

    def _envelope(self) -> Envelope:
        """The transaction as the client gave it, for the acceptor."""
        session = self.session
        peer = session.peer if session is not None else ""
        return Envelope(
            mail_from=self._txn.mail_from or "",
            rcpt_tos=tuple(self._txn.recipients),
            rcpt_dsn=tuple(self._txn.rcpt_dsn),
            dsn_ret=self._txn.ret,
            dsn_envid=self._txn.envid,
            smtputf8=self._txn.smtputf8,
            body_8bit=self._txn.body_8bit,
            peer=peer[0] if isinstance(peer, tuple) else str(peer),
            helo=(session.host_name or "") if session is not None else "",
            auth_user=(str(session.auth_data) if session and session.authenticated else None),
            tls=session is not None and session.ssl is not None,
        )

    async def _accept(self, content: MessageContent, ahead: object = None) -> str:
        """Hand the transaction to the acceptor; its reply line."""
        envelope = self._envelope()
        self._set_post_data_state()
        # The decision's own bound, plus, for a spooled message, the wait for
        # its turn among the large ones (`large_message_concurrency`).
        inspect = self._config.inspect_timeout
        self._reset_timeout(inspect * (2 if isinstance(content, SpooledBody) else 1) + 30)
        self._deciding = True
        try:
            return await self._acceptor(envelope, content, ahead)
        except Exception as exc:  # never 250 without a durable commit
            log.error("message_accept_failed", error=type(exc).__name__)
            return replies.S451_INTERNAL
        finally:
            self._deciding = False

    def _data_progress(self, deadline: float) -> None:
        """DATA is moving: restart the idle timer, never past `deadline`.

        aiosmtpd's timer only restarts on a command.  During DATA it restarts
        per chunk received, so a steady upload of any size is never cut while
        a client dribbling less than a chunk per `idle_timeout` is; the whole
        transfer is bounded by `data_timeout` however fast it moves.
        """
        remaining = deadline - time.monotonic()
        self._reset_timeout(max(0.001, min(self._config.idle_timeout, remaining)))

    async def _read_data(
        self, deadline: float
    ) -> tuple[MessageContent | None, object, str | None, int]:
        """Read DATA to its terminator, in chunks.  Returns (content, what
        `read_ahead` made of it or None, error reply, content bytes read).

        The content keeps its CRLF line endings, dot-unstuffed (see
        `read_data`): bytes, or a `SpooledBody` above the spool threshold
        that the caller closes.  The stream's limit is kept at one chunk
        while DATA runs; what follows the terminator (pipelined commands)
        stays in the stream.  A bare CR or LF or a NUL anywhere is refused
        (SMTP smuggling), and so is content past `max_message_size`, after
        reading on to the real terminator so nothing in it is taken as a
        command.
        """
        reader = self._reader
        config = self._config
        collector = DataCollector(config.max_message_size, config.spool_threshold,
                                  config.spool_dir, config.read_ahead)
        # The stream's limit is aiosmtpd's line limit; one chunk for DATA,
        # put back for command lines.
        saved_limit = getattr(reader, "_limit")  # noqa: B009
        setattr(reader, "_limit", _DATA_CHUNK)  # noqa: B010
        self._data_progress(deadline)
        try:
            await read_data(reader, collector, _DATA_CHUNK, lambda: self._data_progress(deadline))
            if collector.oversize:
                log.info("data_refused", reason="too_big", **self._client())
                return None, None, replies.S552_TOO_BIG, collector.size
            if collector.bare_line_ending:
                # The client's address finds the scanner or program sending it.
                log.warning("data_refused", reason="bare_line_ending", **self._client())
                return None, None, replies.S550_BARE_LINE_ENDING, collector.size
            content = collector.result()
            if content is None:
                self._content_not_kept(collector.error)
                return None, None, replies.S451_INTERNAL, collector.size
            return content, collector.ahead, None, collector.size
        finally:
            setattr(reader, "_limit", saved_limit)  # noqa: B010
            collector.close()  # a spooled result was handed over already


class _Hooks:
    """aiosmtpd handler hooks: only EHLO, to advertise the extensions."""

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        extra = ["250-PIPELINING", "250-ENHANCEDSTATUSCODES", "250-DSN"]
        return [*responses[:-1], *extra, responses[-1]]


def sender_pattern(patterns: Sequence[str]) -> re.Pattern[str] | None:
    """One user's `[[users]] senders` as one pattern over a lower-cased
    address: `*` stands for any text, nothing else is special
    (`*@council.example`, `scanner@council.example`).  None for an empty
    list: the user may send as any address (as before the list existed)."""
    if not patterns:
        return None
    parts = (re.escape(p.lower()).replace(r"\*", ".*") for p in patterns)
    return re.compile("|".join(f"(?:{part})" for part in parts), re.DOTALL)


def _same_mailbox_listed(address: str, listed: Sequence[str]) -> bool:
    """Is `address` already among `listed`?  The domain is compared without
    case; the local part exactly (RFC 5321 lets the receiving host decide)."""
    local, _, domain = address.rpartition("@")
    key = (local, domain.lower().rstrip("."))
    for other in listed:
        other_local, _, other_domain = other.rpartition("@")
        if (other_local, other_domain.lower().rstrip(".")) == key:
            return True
    return False


# A reverse- or forward-path and what follows it (RFC 5321 4.1.2): in angle
# brackets, where a quoted local part is read as one string (a ">" or a
# space inside it ends nothing); or, as Postfix takes it with its default
# strict_rfc821_envelopes = no, a bare address without brackets, up to the
# first space (old printers' scan-to-email and line-of-business programs
# write `MAIL FROM:user@domain`).  Either way the address itself is then
# judged by `address_problem`, the same for both forms.
_PATH = re.compile(r'<(?P<address>(?:"[^"]*")?[^<>"]*)>(?P<rest>.*)', re.DOTALL)
_BARE_PATH = re.compile(r'(?P<address>[^<>"\s]+)(?:\s+(?P<rest>.*))?', re.DOTALL)


def _split_path(text: str) -> tuple[str, str] | None:
    """'<addr> PARAMS' or 'addr PARAMS' -> (addr, 'PARAMS')."""
    text = text.strip()
    if text.startswith("<") and '"' not in text:
        # Nearly every path: what _PATH would match, without the regex.
        end = text.find(">")
        if end < 0 or "<" in text[1:end]:
            return None
        return text[1:end], text[end + 1 :].strip()
    match = _PATH.fullmatch(text) or _BARE_PATH.fullmatch(text)
    if match is None:
        return None
    return match["address"], (match["rest"] or "").strip()


def _parse_params(text: str) -> dict[str, str | None] | None:
    params: dict[str, str | None] = {}
    for item in text.split():
        name, eq, value = item.partition("=")
        if not name.isalnum() or (eq and not value) or name.upper() in params:
            return None
        params[name.upper()] = value if eq else None
    return params


async def start_listener(
    host: str,
    port: int,
    make_protocol: Callable[[], GatewaySMTP],
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(make_protocol, host=host, port=port, reuse_address=True)
