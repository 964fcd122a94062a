"""What every page needs: the Console (shared services), `require` (who may
see this), `render` (a template with the common context) and form helpers."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from gateway.audit import AuditQuery, AuditTrail, visible
from gateway.policy.recipients import RecipientList, RecipientsFile
from gateway.queue import QueueStore, Writer
from gateway.settings import Settings
from gateway.web.activity import Activity, ConsoleEvent
from gateway.web.auth import Authenticator, ConsoleUser, NotSignedIn, csrf_token
from gateway.web.integrity import Integrity
from gateway.web.queries import Dashboard

TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class Console:
    settings: Settings
    engine: AsyncEngine
    writer: Writer
    store: QueueStore
    query: AuditQuery
    trail: AuditTrail
    auth: Authenticator
    activity: Activity
    integrity: Integrity
    recipients: RecipientsFile | None
    on_release: Callable[[], None] | None = None
    # days -> dashboard; aggregate counts are rebuilt at most once a minute.
    dashboards: dict[int, Dashboard] = field(default_factory=dict)

    def now(self) -> datetime:
        """The console's clock (the one session timeouts and its events use)."""
        return datetime.fromtimestamp(self.auth.clock(), UTC)

    def allow_list(self) -> RecipientList:
        return self.recipients.current() if self.recipients is not None else RecipientList()


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def client_address(request: Request) -> str:
    """Where a request came from, as the trail records it: behind a trusted
    proxy, the address the proxy says it served (the proxy's own address
    would name the same machine for everyone), else the TCP peer."""
    return console_of(request).auth.client(request)


async def require(request: Request, permission: str | None = None) -> ConsoleUser:
    """The signed-in user, who must hold `permission`; NotSignedIn or 403."""
    console = console_of(request)
    auth = console.auth
    proxied = auth.header_name(request)
    try:
        user = auth.session_user(request)
        if proxied is not None and (user.name != proxied or user.via != "trusted_header"):
            raise NotSignedIn()
    except NotSignedIn:
        if proxied is None:
            raise
        user = await _proxy_sign_in(request, console, proxied)
    if permission is not None and not user.can(permission):
        raise HTTPException(403, "Your role does not allow this page.")
    request.state.user = user
    return user


async def _proxy_sign_in(request: Request, console: Console, name: str) -> ConsoleUser:
    configured = console.auth.users.get(name)
    session = request.session
    if configured is None:
        if session.get("refused") != name:  # audit a refused name once per session
            session.clear()
            session["refused"] = name
            await console.activity.record(ConsoleEvent.SIGN_IN_FAILED, name=name[:200],
                                          via="trusted_header", client=client_address(request))
        raise HTTPException(403, "The name your sign-in proxy gave is not a console user.")
    user = ConsoleUser(configured.name, configured.role, "trusted_header")
    console.auth.start_session(session, user)
    await console.activity.record(ConsoleEvent.SIGNED_IN, user=user.name, role=user.role,
                                  via="trusted_header", client=client_address(request))
    return user


# -- templates -------------------------------------------------------------------


def _when(value: Any) -> str:
    """An ISO time or epoch seconds as 'YYYY-MM-DD HH:MM:SS UTC'."""
    if value in (None, ""):
        return "—"
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, datetime):
        moment = value.astimezone(UTC)
    else:
        try:
            moment = datetime.fromisoformat(str(value)).astimezone(UTC)
        except ValueError:
            return str(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _ago(epoch: float | None) -> str:
    return "never" if epoch is None else f"{_span(time.time() - epoch)} ago"


def _until(epoch: float) -> str:
    left = epoch - time.time()
    return f"in {_span(left)}" if left >= 0 else f"{_span(left)} overdue"


def _shown(value: Any) -> Any:
    """Every value a page prints, before escaping: text from mail with its
    controls and bidirectional overrides named (gateway.audit.display).
    Markup (a str too) is the console's own HTML and passes as it is."""
    return visible(value) if type(value) is str else value


def make_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        finalize=_shown,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=_when, ago=_ago, until=_until)
    return Jinja2Templates(env=env)


_TEMPLATES = make_templates()


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    user: ConsoleUser | None = getattr(request.state, "user", None)
    values: dict[str, Any] = {
        "user": user,
        "csrf": csrf_token(request),
        "flash": request.session.pop("flash", None),
        "path": request.url.path,
    }
    values.update(context or {})
    return _TEMPLATES.TemplateResponse(request, name, values, status_code=status)


def flash(request: Request, message: str) -> None:
    request.session["flash"] = message


def form_text(value: Any, limit: int = 200) -> str:
    """A form field as trimmed text (file uploads are refused by the parser)."""
    return value.strip()[:limit] if isinstance(value, str) else ""


def safe_next(target: str | None) -> str:
    """A local path to return to after sign-in; never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
