"""`create_app(settings, ...)`: the console as a Starlette application.

Inside the gateway (`gateway serve` with `[web] listen` set) the app shares
the gateway's engine, Writer and queue store, so its audit events and
decisions go through the process's one group-commit writer.  Alone (tests,
or an operator running it beside a gateway) it makes its own in the
lifespan, i.e. on the event loop that will serve it.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.audit import AuditKeys, AuditQuery, AuditTrail
from gateway.db import create_engine
from gateway.db.engine import database_failed
from gateway.errors import StoreError
from gateway.policy.recipients import RecipientsFile
from gateway.queue import QueueStore, Writer
from gateway.settings import Settings
from gateway.web import pages
from gateway.web.activity import Activity, ConsoleEvent
from gateway.web.auth import Authenticator, NotSignedIn
from gateway.web.console import Console, render
from gateway.web.integrity import Integrity, IntegrityResult
from gateway.web.session import SecurityHeadersMiddleware, SessionMiddleware

log = structlog.get_logger(__name__)

STATIC = Path(__file__).parent / "static"
# How old the integrity result may be before a page view starts a new check.
VERIFY_MAX_AGE = 3600.0

ROUTES = [
    Route("/", pages.home),
    Route("/signin", pages.signin_form, methods=["GET"]),
    Route("/signin", pages.signin, methods=["POST"]),
    Route("/signout", pages.signout, methods=["POST"]),
    Route("/dashboard", pages.dashboard_page),
    Route("/audit", pages.audit_search),
    Route("/audit/download", pages.audit_download),
    Route("/audit/records/{record_id}", pages.audit_record),
    Route("/audit/records/{record_id}/download", pages.audit_record_download),
    Route("/integrity", pages.integrity_page, methods=["GET"]),
    Route("/integrity/check", pages.integrity_check, methods=["POST"]),
    Route("/activity", pages.activity_page),
    Route("/held", pages.held_list),
    Route("/held/{message_id}", pages.held_detail, methods=["GET"]),
    Route("/held/{message_id}/decide", pages.held_decide, methods=["POST"]),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]


async def _not_signed_in(request: Request, exc: Exception) -> Response:
    # Anonymous visitors see nothing: pages send them to sign in, anything
    # else (a POST, a download by a script) gets a bare 401.
    expired = isinstance(exc, NotSignedIn) and exc.expired
    if request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = {"next": target, **({"expired": "1"} if expired else {})}
        return RedirectResponse(f"/signin?{urlencode(query)}", 303)
    return PlainTextResponse("Sign in first.", 401)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "Something went wrong."
    titles = {400: "Not understood", 401: "Sign in first", 403: "Not allowed",
              404: "Not found", 405: "Not allowed"}
    return render(request, "error.html", {"status": status, "title": titles.get(status, "Error"),
                                          "detail": detail}, status=status)


async def _database_error(request: Request, exc: Exception) -> Response:
    """The database down (or the Writer's commit failing): a page that says
    so, 503, where Starlette answered a bare "Internal Server Error".  Its
    log line names the error's type only: SQLAlchemy's text would carry
    the statement."""
    if not (isinstance(exc, StoreError) or database_failed(exc)):
        raise exc
    log.error("console_database_error", path=request.url.path, error=type(exc).__name__)
    return render(request, "error.html", {
        "status": 503, "title": "The database could not be reached",
        "detail": "Nothing was changed. Try again in a minute; if it goes on, tell IT "
                  "(the gateway's log says console_database_error).",
    }, status=503)


def create_app(
    settings: Settings,
    engine: AsyncEngine | None = None,
    writer: Writer | None = None,
    store: QueueStore | None = None,
    trail: AuditTrail | None = None,
    on_release: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The console app.  `clock` drives session timeouts (tests move it)."""
    web = settings.web
    auth = Authenticator(web, clock)
    keys = AuditKeys.from_settings(settings)
    audit_trail = trail or AuditTrail(keys, settings.audit.checkpoint_every)
    # Without a configured secret, a random one: sessions end at restart.
    secret = web.session_secret or secrets.token_urlsafe(32)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own_engine = engine is None
        db = engine or create_engine(settings.database.url, settings.database.pool_size)
        own_writer = writer is None
        db_writer = writer or Writer(db)
        if own_writer:
            db_writer.start()
        activity = Activity(db_writer, audit_trail, lambda: datetime.fromtimestamp(clock(), UTC))

        async def verified(result: IntegrityResult, requested_by: str | None) -> None:
            if requested_by is None:
                return  # the periodic check is not a user's action
            report = result.report
            await activity.record(
                ConsoleEvent.VERIFIED, user=requested_by,
                ok=bool(report and report.ok), error=result.error,
                rows=report.rows if report else None,
                problems=len(report.problems) if report else None,
            )

        recipients = None
        try:
            recipients = RecipientsFile(settings.recipients_path, settings.routes.keys(),
                                        strict=False)
        except OSError as exc:  # approvers then see every recipient as not allowed
            log.error("console_recipients_unreadable", error=type(exc).__name__)
        console = Console(
            settings=settings, engine=db, writer=db_writer,
            store=store or QueueStore(db, db_writer),
            query=AuditQuery(db), trail=audit_trail, auth=auth, activity=activity,
            integrity=Integrity(settings.database.url, keys, VERIFY_MAX_AGE, verified,
                                settings.audit.checkpoint_every),
            recipients=recipients, on_release=on_release,
        )
        app.state.console = console
        try:
            yield
        finally:
            await console.integrity.stop()
            if own_writer:
                await db_writer.stop()
            if own_engine:
                await db.dispose()

    async def signed_out(session: dict[str, Any]) -> bool:
        console: Console = app.state.console
        return await auth.signed_out(console.engine, session)

    app = Starlette(
        routes=ROUTES,
        middleware=[
            Middleware(SecurityHeadersMiddleware),
            # The database errors of the sign-out check get the same 503 page
            # as a page's own (the middleware runs outside exception_handlers).
            Middleware(SessionMiddleware, secret=secret,
                       max_age=max(60.0, web.session_timeout.total_seconds() * 2),
                       secure=auth.secure_cookie, ended=signed_out, failed=_database_error),
        ],
        exception_handlers={NotSignedIn: _not_signed_in, HTTPException: _http_error,
                            SQLAlchemyError: _database_error, StoreError: _database_error,
                            OSError: _database_error},
        lifespan=lifespan,
    )
    return app
