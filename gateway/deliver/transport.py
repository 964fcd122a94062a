"""The transport: one SMTP transaction to a smarthost, over pooled connections.

This is the strict cut-off between delivery logic and the network: workers
hand it (route, sender, recipients, content) and get per-recipient results
back.  Connections are kept open per route and reused: the next MAIL
follows a transaction that ended in a 2xx to the end of DATA directly (no
RSET round trip on the happy path); after any other ending (a refusal at
MAIL, RCPT or DATA) RSET is sent before the connection goes back to the
pool, and a connection that does not answer it 250 is closed, as Postfix
does: an upstream that leaves its transaction open after refusing DATA
(aiosmtpd when its handler fails) would otherwise answer the next
message's MAIL `503 nested MAIL command`.  A connection whose state is not
known (an exception mid-transaction) is closed, never pooled.  A 503 (bad
sequence of commands) to MAIL, RCPT or DATA is the connection's state, not the
recipient's: on a reused connection those recipients go again at once on
a new one, and a 503 there too is a temporary failure, never a bounce.  A
reused connection found closed at that MAIL is replaced by a new one at
once, since nothing of the message was sent on it.  The envelope is passed on
exactly: SMTPUTF8, BODY=8BITMIME and the DSN parameters go upstream when the
upstream advertises them.  A line longer than SMTP allows is broken as
Postfix breaks it (gateway.wire.fold_long_lines).  A small body is written in one piece; a large
one in pieces of about 1 MiB, each dot-stuffed as it goes and written when
the connection has room (never a second whole copy of the message).  The
reply to the end of DATA is awaited for the route's `data_done_timeout`
(10 minutes), not its per-command `timeout`: a smarthost slow to answer
it has usually committed the message, and giving up would send it twice.
A 552 to RCPT is taken as 452, as RFC 5321 4.5.3.1.10 asks and Postfix does.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import aiosmtplib
import structlog
from aiosmtplib.email import quote_address

from gateway.deliver.failures import why_unreachable
from gateway.model import DeliveryResult, RecipientResult
from gateway.settings import RouteSettings
from gateway.wire import (
    DOT_LINE,
    UNLOCKED_FROM,
    fold_long_lines,
    line_endings_clean,
    line_endings_clean_unlocked,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OutboundRecipient:
    address: str
    notify: tuple[str, ...] = ()
    orcpt: str | None = None


@dataclass(frozen=True, slots=True)
class Outbound:
    """One SMTP transaction to make."""

    mail_from: str
    recipients: tuple[OutboundRecipient, ...]
    content: bytes
    ret: str | None = None
    envid: str | None = None
    smtputf8: bool = False
    body_8bit: bool = False
    # The content's line endings are known clean (checked on receipt and
    # untouched since): not checked again before the dot-stuffing.
    line_endings_checked: bool = False


class Transport(Protocol):
    async def send(self, route: str, outbound: Outbound) -> DeliveryResult: ...

    async def close(self) -> None: ...


def _tls_context(route: RouteSettings, base_dir: str) -> ssl.SSLContext | None:
    if route.tls == "none":
        return None
    if route.tls == "starttls":
        # Opportunistic: encrypt, but do not insist on a verified certificate.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    cafile = None
    if route.ca_file:
        cafile = route.ca_file if route.ca_file.startswith("/") else f"{base_dir}/{route.ca_file}"
    return ssl.create_default_context(cafile=cafile)


class _Pool:
    def __init__(self, route: RouteSettings, hostname: str, base_dir: str) -> None:
        self.route = route
        self.hostname = hostname
        self.tls_context = _tls_context(route, base_dir)
        self.idle: list[aiosmtplib.SMTP] = []
        self.slots = asyncio.Semaphore(route.pool_size)
        self.relay = f"{route.host}:{route.port}"

    async def connect(self) -> aiosmtplib.SMTP:
        route = self.route
        client = aiosmtplib.SMTP(
            hostname=route.host,
            port=route.port,
            local_hostname=self.hostname,
            timeout=route.timeout.total_seconds(),
            use_tls=route.tls == "implicit",
            # "starttls" is opportunistic (None: use it when offered);
            # "starttls-verify" insists on it, with a verified certificate.
            start_tls=None if route.tls == "starttls" else route.tls == "starttls-verify",
            tls_context=self.tls_context,
            validate_certs=route.tls in ("starttls-verify", "implicit"),
            username=route.username or None,
            password=route.password or None,
        )
        await client.connect()
        # aiosmtplib sends EHLO lazily (at MAIL), but the MAIL options depend
        # on the extensions EHLO announces: greet now, or the first message
        # on every new connection would lose SMTPUTF8, BODY and DSN options.
        if client.is_ehlo_or_helo_needed:
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await client.helo()
        return client

    def reuse(self) -> aiosmtplib.SMTP | None:
        """An idle connection still open, or None."""
        while self.idle:
            client = self.idle.pop()
            if client.is_connected:
                return client
        return None

    def give_back(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected:
            self.idle.append(client)

    async def finish(self, client: aiosmtplib.SMTP, after: _After) -> None:
        """Pool `client` after a transaction, or close it: RSET first when
        the transaction did not end in a 2xx to the end of DATA, and closed
        when RSET is not answered 250 (its state is then not known)."""
        if after is _After.RESET:
            try:
                await client.rset()
            except Exception as exc:
                log.info("upstream_connection_closed", relay=self.relay,
                         reason=f"RSET refused or failed ({why_unreachable(exc)})")
                client.close()
                return
            except BaseException:
                client.close()
                raise
        elif after is _After.UNKNOWN:
            client.close()
            return
        self.give_back(client)

    async def close(self) -> None:
        idle, self.idle = self.idle, []
        for client in idle:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.quit(), 2)
            client.close()


class SmtpTransport:
    """aiosmtplib, a connection pool per route."""

    def __init__(
        self, routes: dict[str, RouteSettings], hostname: str, base_dir: str = "."
    ) -> None:
        self._pools = {name: _Pool(route, hostname, base_dir) for name, route in routes.items()}
        # Whether each route's smarthost offered DSN when last connected to:
        # without it, a sender's NOTIFY=SUCCESS goes no further, and the
        # workers tell the sender so (RFC 3461 5.2.2, "relayed").
        self._dsn: dict[str, bool] = {}

    def has_route(self, name: str) -> bool:
        return name in self._pools

    def offers_dsn(self, name: str) -> bool | None:
        """Did the route's smarthost offer DSN on its last connection (None: not known)?"""
        return self._dsn.get(name)

    async def send(self, route: str, outbound: Outbound) -> DeliveryResult:
        pool = self._pools[route]
        async with pool.slots:
            data_done = pool.route.data_done_timeout.total_seconds()
            # Results had on a reused connection, for recipients not sent again.
            done: dict[str, RecipientResult] = {}
            todo = outbound
            reused = pool.reuse()
            if reused is not None:
                try:
                    sent = await _transaction(reused, outbound, data_done)
                except _ClosedBeforeMail:
                    reused.close()  # closed while idle: a new connection below
                except BaseException:
                    reused.close()
                    raise
                else:
                    if not sent.out_of_step:
                        return await self._finish(route, pool, reused, sent, outbound, done)
                    # 503 to MAIL or RCPT: the connection was not where the
                    # gateway thought it was.  It is closed, and the
                    # recipients it answered so (nothing was sent to them)
                    # go again at once on a new one.
                    log.info("upstream_out_of_step", route=route, relay=pool.relay,
                             recipients=len(sent.out_of_step))
                    reused.close()
                    done = {r.address: r for r in sent.results
                            if r.address not in sent.out_of_step}
                    todo = replace(outbound, recipients=tuple(
                        r for r in outbound.recipients if r.address in sent.out_of_step))
            try:
                client = await pool.connect()
                try:
                    sent = await _transaction(client, todo, data_done)
                except BaseException:
                    client.close()
                    raise
            except Exception as exc:
                if not done:
                    raise  # the caller defers every recipient (connection_failure)
                # Others of the message's recipients have their results
                # (delivered, perhaps): the failure is only these ones'.
                log.info("upstream_unavailable", route=route, relay=pool.relay,
                         error=type(exc).__name__, reason=why_unreachable(exc))
                for result in connection_failure(todo.recipients, exc, route).recipients:
                    done[result.address] = result
                return DeliveryResult(
                    recipients=tuple(done[r.address] for r in outbound.recipients), route=route)
            if sent.out_of_step:
                # Out of step on a new connection too: still the upstream's
                # state, not the recipients'.  Temporary, and not pooled.
                text = f"{OUT_OF_STEP} (reply 503 from {route} on a new connection)"
                sent = _Sent(
                    tuple(RecipientResult(r.address, 451, text, by_gateway=True)
                          if r.address in sent.out_of_step else r for r in sent.results),
                    _After.UNKNOWN,
                )
            return await self._finish(route, pool, client, sent, outbound, done)

    async def _finish(
        self,
        route: str,
        pool: _Pool,
        client: aiosmtplib.SMTP,
        sent: _Sent,
        outbound: Outbound,
        done: dict[str, RecipientResult],
    ) -> DeliveryResult:
        """The results of `outbound`: `done`'s and `sent`'s; `client` is
        pooled or closed as `sent` left it."""
        self._dsn[route] = client.supports_extension("dsn")
        tls = client.get_transport_info("sslcontext") is not None
        await pool.finish(client, sent.after)
        results = {**done, **{r.address: r for r in sent.results}}
        return DeliveryResult(
            recipients=tuple(results[r.address] for r in outbound.recipients),
            route=route, tls=tls,
        )

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()


class _ClosedBeforeMail(aiosmtplib.SMTPServerDisconnected):
    """The connection was found closed at MAIL: nothing of this message went."""


class _After(enum.Enum):
    """Where a transaction left its connection."""

    READY = "ready"  # between transactions (2xx to the end of DATA): pooled as it is
    RESET = "reset"  # refused somewhere: RSET, then pooled if it answers 250
    UNKNOWN = "unknown"  # a transaction the gateway did not make may be open: closed


@dataclass(frozen=True, slots=True)
class _Sent:
    """One transaction's outcome: each recipient's result, where the
    connection was left, and the recipients refused with 503 (bad sequence
    of commands) at MAIL or RCPT, a reply about the connection's state."""

    results: tuple[RecipientResult, ...]
    after: _After
    out_of_step: frozenset[str] = field(default_factory=frozenset)


# A 503 to MAIL or RCPT even on a new connection: the upstream's state, so
# a temporary failure (RFC 3463 4.5.0, other protocol status), never a
# bounce.  The server's text is not quoted (it may carry addresses).
OUT_OF_STEP = "4.5.0 upstream answered out of sequence"


async def _within_line_limit(outbound: Outbound) -> Outbound:
    """`outbound` with no line longer than SMTP allows (gateway.wire): the
    next server may refuse such a line, and the message would bounce after
    the sender was told 250.  A large body is searched, and broken if it
    must be, in a worker thread (RE2 lets go of the GIL)."""
    content = outbound.content
    if len(content) < UNLOCKED_FROM:
        folded = fold_long_lines(content)
    else:
        folded = await asyncio.to_thread(fold_long_lines, content)
    if folded is content:
        return outbound
    return replace(outbound, content=folded)


# RFC 6531 section 3.4 (and Postfix's words): an internationalised
# envelope cannot be downgraded; it fails for good instead of being mangled.
SMTPUTF8_NOT_OFFERED = "5.6.7 SMTPUTF8 is required, but was not offered by host"


def too_many_recipients(result: RecipientResult) -> bool:
    """Did the server refuse this recipient only for the number of
    recipients in the transaction (RFC 5321 4.5.3.1.10: 452, "4.5.3")?
    Such a recipient is sent again in another transaction at once."""
    if result.by_gateway or result.code != 452:
        return False
    return result.message.startswith("4.5.3") or "too many recipients" in result.message.lower()


def _rcpt_reply(address: str, code: int, message: str) -> RecipientResult:
    """The result of a RCPT reply.  A 552 is a temporary failure: RFC 5321
    4.5.3.1.10 says to treat it as 452 (old servers gave it for too many
    recipients), and Postfix does, enhanced status included."""
    if code == 552:
        code = 452
        if message.startswith("5.") and message[:5].count(".") == 2:
            message = "4" + message[1:]
    return RecipientResult(address, code, message)


async def _transaction(
    client: aiosmtplib.SMTP, outbound: Outbound, data_done: float | None = None
) -> _Sent:
    outbound = await _within_line_limit(outbound)
    dsn = client.supports_extension("dsn")
    mail_options: list[str] = []
    if outbound.smtputf8 and not client.supports_extension("smtputf8") and not (
        outbound.mail_from.isascii() and all(r.address.isascii() for r in outbound.recipients)
    ):
        host = client.hostname or "upstream"
        text = f"{SMTPUTF8_NOT_OFFERED} {host}"
        # Nothing was sent: the connection is as it was.
        return _Sent(tuple(RecipientResult(r.address, 553, text, by_gateway=True)
                           for r in outbound.recipients), _After.READY)
    if outbound.smtputf8 and client.supports_extension("smtputf8"):
        mail_options.append("SMTPUTF8")
    if outbound.body_8bit and client.supports_extension("8bitmime"):
        mail_options.append("BODY=8BITMIME")
    if client.supports_extension("size"):
        mail_options.append(f"SIZE={len(outbound.content)}")
    if dsn and outbound.ret:
        mail_options.append(f"RET={outbound.ret}")
    if dsn and outbound.envid:
        mail_options.append(f"ENVID={outbound.envid}")
    encoding = "utf-8" if outbound.smtputf8 else "ascii"
    # Checked once, before anything is sent: the body goes by the
    # transport's own stuffing only when its line endings are all CRLF.
    clean = await _clean(outbound.content, outbound.line_endings_checked)
    if clean and client.supports_extension("pipelining"):
        pipelined = await _pipelined(client, outbound, mail_options, encoding, dsn, data_done)
        if pipelined is not None:
            return pipelined
    try:
        await client.mail(outbound.mail_from, options=mail_options, encoding=encoding)
    except aiosmtplib.SMTPServerDisconnected as exc:
        raise _ClosedBeforeMail(exc.message) from exc
    except aiosmtplib.SMTPResponseException as exc:
        return _Sent(
            tuple(RecipientResult(r.address, exc.code, exc.message) for r in outbound.recipients),
            _After.RESET,
            frozenset(r.address for r in outbound.recipients) if exc.code == 503 else frozenset(),
        )

    results: dict[str, RecipientResult] = {}
    accepted: list[str] = []
    for rcpt in outbound.recipients:
        try:
            response = await client.rcpt(
                rcpt.address, options=_rcpt_options(rcpt, dsn), encoding=encoding
            )
        except aiosmtplib.SMTPResponseException as exc:
            results[rcpt.address] = _rcpt_reply(rcpt.address, exc.code, exc.message)
            continue
        accepted.append(rcpt.address)
        results[rcpt.address] = RecipientResult(rcpt.address, response.code, response.message)
    out_of_step = frozenset(a for a, result in results.items() if result.code == 503)

    if not accepted:
        return _Sent(tuple(results[r.address] for r in outbound.recipients), _After.RESET,
                     out_of_step)
    after = _After.READY
    try:
        response = await _data(client, outbound.content, clean, data_done)
        code, message = response.code, response.message
    except aiosmtplib.SMTPResponseException as exc:
        code, message = exc.code, exc.message
        after = _After.RESET
    for address in accepted:
        results[address] = RecipientResult(address, code, message)
    return _Sent(tuple(results[r.address] for r in outbound.recipients), after,
                 _with_data_out_of_step(out_of_step, code, accepted))


def _rcpt_options(rcpt: OutboundRecipient, dsn: bool) -> list[str]:
    options: list[str] = []
    if dsn and rcpt.notify:
        options.append("NOTIFY=" + ",".join(rcpt.notify))
    if dsn and rcpt.orcpt:
        options.append(f"ORCPT={rcpt.orcpt}")
    return options


# An address that aiosmtplib's quoting (email.utils.parseaddr) would give
# back as it is: no quotes, brackets, comments, spaces or list separators.
# The receive stage has refused everything stranger before it was queued;
# anything that still is goes through aiosmtplib's own quoting.
_PLAIN_ADDRESS = re.compile(r'[^\s"<>(),;:\\\[\]]*\Z')


def _path(address: str, encoding: str) -> bytes:
    if _PLAIN_ADDRESS.match(address):
        return b"<" + address.encode(encoding) + b">"
    return quote_address(address).encode(encoding)


async def _reply(protocol: Any, timeout: float | None) -> aiosmtplib.SMTPResponse:
    """The next reply of a pipelined group, in order.

    aiosmtplib's protocol takes one reply from what arrives into a waiting
    future and keeps the rest in its buffer; data arriving while that
    future holds a reply not yet picked up is dropped.  Its read_response
    picks the reply up through wait_for, two turns of the loop later, by
    which time the next reply of a group may have come and gone.  So the
    future is awaited here directly (the task resumes before the loop reads
    again), and a new one is put in place at once, as read_response does;
    a reply left in the buffer is taken from there.
    """
    waiter = protocol._response_waiter
    if waiter is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    if not waiter.done():
        buffered: aiosmtplib.SMTPResponse | None = protocol._read_response_from_buffer()
        if buffered is not None:
            return buffered
    protocol._response_pending = True
    try:
        async with asyncio.timeout(timeout):
            response: aiosmtplib.SMTPResponse = await waiter
    except TimeoutError as exc:
        raise aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response") from exc
    finally:
        protocol._response_pending = False
        protocol._response_waiter = (
            None if protocol.transport is None else protocol._loop.create_future()
        )
    return response


async def _pipelined(
    client: aiosmtplib.SMTP,
    outbound: Outbound,
    mail_options: list[str],
    encoding: str,
    dsn: bool,
    data_done: float | None = None,
) -> _Sent | None:
    """RFC 2920: MAIL, every RCPT and DATA in one write, then their replies
    in order; the body (CRLF line endings only: `_clean`) after a 354.  None
    when aiosmtplib's connection is not one this can drive (its own
    commands are used instead).

    Two round trips fewer per message than one command at a time, and one
    write instead of three.  Every reply is read, whatever the ones before
    it said, so the connection stays in step; a DATA accepted although no
    recipient was gets a lone dot (RFC 2920 section 3.1), which delivers
    nothing.  A DATA accepted although MAIL was refused is not ended: the
    server then holds a transaction the gateway did not make (an open one
    it answered `503 nested MAIL` about, to which the RCPTs were added),
    and a dot might deliver it; the connection is closed instead.
    """
    protocol = client.protocol
    lock = getattr(protocol, "_command_lock", None)
    if protocol is None or lock is None or not all(
        hasattr(protocol, name)
        for name in ("_read_response_from_buffer", "_response_waiter", "_loop")
    ):
        return None
    commands = [b" ".join([b"MAIL FROM:" + _path(outbound.mail_from, encoding),
                           *(o.encode("ascii") for o in mail_options)])]
    for rcpt in outbound.recipients:
        commands.append(b" ".join([b"RCPT TO:" + _path(rcpt.address, encoding),
                                   *(o.encode("ascii") for o in _rcpt_options(rcpt, dsn))]))
    commands.append(b"DATA")
    timeout = client.timeout
    async with lock:
        protocol._response_pending = True
        try:
            protocol.write(b"\r\n".join(commands) + b"\r\n")
            mail = await _reply(protocol, timeout)
        except aiosmtplib.SMTPServerDisconnected as exc:
            # Nothing of the message has been accepted: it may go again at once.
            raise _ClosedBeforeMail(exc.message) from exc
        rcpts = [await _reply(protocol, timeout) for _ in outbound.recipients]
        data = await _reply(protocol, timeout)
        if mail.code != 250:
            results = {r.address: RecipientResult(r.address, mail.code, mail.message)
                       for r in outbound.recipients}
        else:
            results = {r.address: _rcpt_reply(r.address, reply.code, reply.message)
                       for r, reply in zip(outbound.recipients, rcpts, strict=True)}
        out_of_step = frozenset(a for a, result in results.items() if result.code == 503)
        # As aiosmtplib's rcpt(): 250 and 251 accept a recipient.
        accepted = [a for a, result in results.items() if result.code in (250, 251)]
        if data.code != 354:
            for address in accepted:
                results[address] = RecipientResult(address, data.code, data.message)
            # Reset before the connection is pooled (SmtpTransport.send).
            return _Sent(tuple(results[r.address] for r in outbound.recipients), _After.RESET,
                         _with_data_out_of_step(out_of_step, data.code, accepted))
        if mail.code != 250:
            return _Sent(tuple(results[r.address] for r in outbound.recipients),
                         _After.UNKNOWN, out_of_step)
        if not accepted:
            protocol._response_pending = True
            protocol.write(b".\r\n")
            await _reply(protocol, timeout)
            return _Sent(tuple(results[r.address] for r in outbound.recipients), _After.RESET,
                         out_of_step)
        final = await _body(client, protocol, outbound.content, data_done)
    for address in accepted:
        results[address] = RecipientResult(address, final.code, final.message)
    after = _After.READY if 200 <= final.code < 300 else _After.RESET
    return _Sent(tuple(results[r.address] for r in outbound.recipients), after,
                 _with_data_out_of_step(out_of_step, final.code, accepted))


def _with_data_out_of_step(
    out_of_step: frozenset[str], code: int, accepted: Sequence[str]
) -> frozenset[str]:
    """A 503 in DATA (to the command, or after the body) about recipients
    the server had just accepted is the connection's state too, as at MAIL
    and RCPT: nothing was delivered to them, so they go again on a new
    connection rather than bounce."""
    return out_of_step | frozenset(accepted) if code == 503 else out_of_step


def _stuff_inside(piece: bytes) -> bytes:
    """Dot-stuff `piece`, which continues a line (no dot added at its start)."""
    # The RE2 search first: most mail has no line starting with a dot, and
    # then the piece goes as it is, neither searched again nor copied.
    return piece.replace(b"\r\n.", b"\r\n..") if DOT_LINE.search(piece) else piece


# Bodies up to this size are stuffed and written in one piece; larger ones
# in pieces of about this size, cut after a CRLF.
_PIECE = 1024 * 1024


def _stuff(piece: bytes) -> bytes:
    """Dot-stuff `piece`, which starts at the start of a line."""
    stuffed = _stuff_inside(piece)
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed


def _pieces(content: bytes) -> Iterator[bytes]:
    """`content` in pieces of about `_PIECE` bytes, each cut just after a
    CRLF (so each starts a line), or at `_PIECE` in a line longer than that
    (the next piece then continues that line: no dot is added to it)."""
    view = memoryview(content)
    start = 0
    end_all = len(content)
    while start < end_all:
        end = start + _PIECE
        if end >= end_all:
            end = end_all
        else:
            cut = content.rfind(b"\r\n", start, end)
            if cut > start:
                end = cut + 2
            elif content[end - 1] == 13:
                end += 1  # never between the CR and LF of a line's end
        yield bytes(view[start:end])
        start = end


async def _data(
    client: aiosmtplib.SMTP, content: bytes, clean: bool, data_done: float | None = None
) -> aiosmtplib.SMTPResponse:
    """DATA with the body dot-stuffed by byte replaces.

    aiosmtplib's own DATA runs two regular expressions over the body (line
    ending normalisation and dot-stuffing): most of the CPU a 200 KB message
    costs.  Everything the gateway queues has CRLF line endings already
    (receive refuses bare CR/LF), so when that holds the body is stuffed with
    plain byte replaces; otherwise aiosmtplib's path is used.  A body up to
    `_PIECE` goes in one write; a larger one piece by piece, waiting for the
    connection's write buffer to drain, so neither a stuffed copy of the
    whole message nor a whole copy in the transport's buffer is ever made.
    """
    protocol = client.protocol
    lock = getattr(protocol, "_command_lock", None)
    if protocol is None or lock is None or not clean:
        # aiosmtplib's DATA has one timeout for all of it: the longer one,
        # so that its final reply is not given up on early.
        return await client.data(content, timeout=data_done or client.timeout)
    async with lock:
        # aiosmtplib marks a reply as expected before each write, so that a
        # reply is never mistaken for unsolicited data (see its protocol).
        protocol._response_pending = True
        protocol.write(b"DATA\r\n")
        start = await protocol.read_response(timeout=client.timeout)
        if start.code != 354:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
        response = await _body(client, protocol, content, data_done)
    if response.code != 250:
        raise aiosmtplib.SMTPDataError(response.code, response.message)
    return response


async def _clean(content: bytes, checked: bool) -> bool:
    """Has `content` CRLF line endings only (so it may be stuffed by replaces)?"""
    if checked:
        return True
    if len(content) <= _PIECE:
        # On the loop: about 0.16 ms for 200 KB, where a hop to a thread and
        # back waits 10-25 ms on a busy loop (and the worker with it).
        return line_endings_clean(content)
    # A large body is checked in a worker thread, by the search that lets
    # go of the GIL: the event loop goes on meanwhile.
    return await asyncio.to_thread(line_endings_clean_unlocked, content)


async def _body(
    client: aiosmtplib.SMTP, protocol: Any, content: bytes, data_done: float | None = None
) -> aiosmtplib.SMTPResponse:
    """Write the stuffed body and its end after a 354; the final reply,
    awaited for `data_done` seconds (the per-command timeout when None).
    The caller holds the protocol's command lock."""
    drain = getattr(protocol, "_drain_helper", None)
    timeout = client.timeout
    protocol._response_pending = True
    ending = b".\r\n" if content.endswith(b"\r\n") or not content else b"\r\n.\r\n"
    if len(content) <= _PIECE or drain is None:
        protocol.write(_stuff(content) + ending)
    else:
        line_start = True
        for piece in _pieces(content):
            protocol.write(_stuff(piece) if line_start else _stuff_inside(piece))
            line_start = piece.endswith(b"\r\n")
            del piece
            await asyncio.wait_for(drain(), timeout)
        protocol.write(ending)
    response: aiosmtplib.SMTPResponse = await protocol.read_response(
        timeout=data_done or timeout)
    return response


def connection_failure(
    recipients: Sequence[OutboundRecipient], exc: BaseException, route: str = "upstream"
) -> DeliveryResult:
    """A transport-level failure counts as a temporary failure for everyone.

    No receiving system gave this reply: it is the gateway's own
    (`by_gateway`), so a bounce never quotes it as a server's `smtp;`
    diagnostic.  4.4.1: no answer from the host (RFC 3463).  It names the
    route and why (gateway.deliver.failures), which `queue show` gives as
    the message's last error: "STARTTLS not offered" on a route that
    requires TLS is the administrator's to fix, not a host that is down."""
    text = f"4.4.1 connection to {route} failed ({why_unreachable(exc)})"
    return DeliveryResult(recipients=tuple(
        RecipientResult(r.address, 451, text, by_gateway=True) for r in recipients
    ))
