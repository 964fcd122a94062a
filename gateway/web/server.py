"""The console's listener inside `gateway serve`: uvicorn on the gateway's
own event loop, as one more task beside the SMTP listener.

The socket is bound here (so a busy port fails `start()` with an OSError
rather than uvicorn's sys.exit), uvicorn's signal handling is turned off
(SIGTERM belongs to the gateway, which stops the console as part of its
own orderly shutdown), and X-Forwarded-* headers are not applied by uvicorn:
the console decides itself which proxies it trusts ([web] trusted_proxies).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator

import structlog
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import AuditTrail
from gateway.queue import QueueStore, Writer
from gateway.settings import Settings
from gateway.web.app import create_app

log = structlog.get_logger(__name__)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class WebConsole:
    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        writer: Writer,
        store: QueueStore | None = None,
        trail: AuditTrail | None = None,
        on_release: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.app = create_app(settings, engine=engine, writer=writer, store=store, trail=trail,
                              on_release=on_release)
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self) -> int:
        """Listen on [web] listen; returns the port (useful with port 0)."""
        host, _, port = self.settings.web.listen.rpartition(":")
        sock = _bind(host.strip("[]") or "127.0.0.1", int(port))
        config = uvicorn.Config(
            self.app, lifespan="on", log_config=None, access_log=False, proxy_headers=False,
            server_header=False, timeout_graceful_shutdown=5,
        )
        server = _Server(config)
        self._server = server
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name="web-console")
        while not server.started:
            if self._task.done():
                sock.close()
                error = self._task.exception()
                raise OSError(f"the web console did not start ({error or 'lifespan failed'})")
            await asyncio.sleep(0.01)
        self.port = int(sock.getsockname()[1])
        log.info("web_console_started", port=self.port)
        return self.port

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = None
        self._task = None
        log.info("web_console_stopped")
