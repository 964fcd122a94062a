"""Whether the upstream smarthost answers as a delivery needs it (`/readyz`).

With `tls = "starttls-verify"` or `"implicit"` a delivery needs a TLS
handshake whose certificate verifies: a smarthost that answers a TCP
connection but whose certificate has expired, or was replaced by one from
another CA, defers every message while a bare connect says `ok`.  So for
those modes the check goes as far as a delivery does (SMTP greeting, EHLO,
STARTTLS, the certificate verified against the route's `ca_file` or the
system's CAs, then QUIT), and its result is kept for `ttl` seconds: a storm
of probes costs the smarthost one session per `ttl`, and probes at the same
moment share one check.  For "none" and "starttls" (opportunistic: a
delivery takes whatever certificate it gets) the TCP connection is the
check, as cheap as it was, and is not cached.

A failure comes with its reason ("smtp.example.org:587: certificate not
verified: certificate has expired"), which `/readyz` shows, and
is logged as a warning once each time the reason changes (not per probe,
not per message), `upstream_check_recovered` when it answers again.
"""

from __future__ import annotations

import asyncio
import errno
import os
import ssl
import stat
import tempfile
import time
from pathlib import Path

import aiosmtplib
import structlog

from gateway.deliver.failures import verification_error, why_unreachable
from gateway.settings import RouteSettings

log = structlog.get_logger(__name__)

# How long a verified-TLS check's result stands (seconds).
CHECK_TTL = 5.0

_VERIFIED = ("starttls-verify", "implicit")


def spool_folder_problem(folder: str) -> str | None:
    """Why no temporary file could be made in [server] spool_dir (`$TMPDIR`
    when empty) now, in `serve`'s words, or None.  For `/readyz`: a stat
    and an access check, nothing written (a probe every few seconds must
    not make files).  The folder deleted or made unwritable while the
    gateway runs answers every message over 1 MiB 451, for ever."""
    path = folder or tempfile.gettempdir()
    named = path if folder else f"{path} ($TMPDIR)"
    try:
        if not stat.S_ISDIR(os.stat(path).st_mode):  # gone: "No such file or directory"
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    except OSError as exc:
        return f"server.spool_dir: cannot make a temporary file in {named} ({exc.strerror})"
    return None


class UpstreamCheck:
    """`await check()`: True, or why the route's smarthost cannot take mail."""

    def __init__(
        self,
        route: RouteSettings,
        local_hostname: str,
        config_dir: Path,
        timeout: float = 5.0,
        ttl: float = CHECK_TTL,
    ) -> None:
        self._route = route
        self._local_hostname = local_hostname
        self._config_dir = config_dir
        self._timeout = timeout
        self._ttl = ttl
        self._where = f"{route.host}:{route.port}"
        # The last outcome: None (answered), or why not; for the log's changes.
        self._failing: str | None = None
        self._checked_at: float | None = None  # when a verified check last ended
        self._running: asyncio.Future[str | None] | None = None

    async def __call__(self) -> bool | str:
        if self._route.tls not in _VERIFIED:
            return self._note(await self._connect())
        if self._running is not None:  # a probe at the same moment: its answer
            return self._answer(await asyncio.shield(self._running))
        if self._checked_at is not None and time.monotonic() - self._checked_at < self._ttl:
            return self._answer(self._failing)
        self._running = asyncio.ensure_future(self._verified())
        try:
            failing = await asyncio.shield(self._running)
        finally:
            self._running = None
        self._checked_at = time.monotonic()
        return self._note(failing)

    async def _connect(self) -> str | None:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(self._route.host, self._route.port), self._timeout)
        except Exception as exc:
            return why_unreachable(exc)
        writer.close()
        return None

    async def _verified(self) -> str | None:
        """A session as far as a delivery's first command: greeting, EHLO,
        TLS (STARTTLS or from the start) with the certificate verified."""
        route = self._route
        try:
            # The CA file is read each time: replaced, it counts at once.
            context = ssl.create_default_context(cafile=self._ca_file())
        except (OSError, ssl.SSLError) as exc:
            return f"ca_file not usable: {why_unreachable(exc)}"
        client = aiosmtplib.SMTP(
            hostname=route.host, port=route.port, local_hostname=self._local_hostname,
            timeout=self._timeout, use_tls=route.tls == "implicit",
            start_tls=route.tls == "starttls-verify", tls_context=context,
            validate_certs=True,
        )
        verified = False
        try:
            async with asyncio.timeout(self._timeout):  # the whole session, QUIT too
                await client.connect()
                verified = True
                await client.quit()
        except Exception as exc:
            client.close()
            if verified:  # how the session ended is not the check
                return None
            if verification_error(exc) is not None:
                return f"certificate not verified: {why_unreachable(exc)}"
            return why_unreachable(exc)
        return None

    def _ca_file(self) -> str | None:
        if not self._route.ca_file:
            return None
        path = Path(self._route.ca_file)
        return str(path if path.is_absolute() else self._config_dir / path)

    def _note(self, failing: str | None) -> bool | str:
        """Log a change of outcome, once: a warning when the check starts
        failing or fails for another reason, info when it answers again."""
        if failing != self._failing:
            if failing is None:
                log.info("upstream_check_recovered", relay=self._where)
            else:
                log.warning("upstream_check_failed", relay=self._where, tls=self._route.tls,
                            reason=failing)
        self._failing = failing
        return self._answer(failing)

    def _answer(self, failing: str | None) -> bool | str:
        """What `/readyz` says: ok, or "failing (host:port: why)"."""
        return True if failing is None else f"failing ({self._where}: {failing})"


