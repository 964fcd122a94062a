"""The web console for auditors and approvers (`[web] listen`).

- `app`: create_app -> the Starlette application (routes, middleware, lifespan);
- `server`: WebConsole runs it with uvicorn on the gateway's event loop;
- `auth`, `session`: sign-in (password or trusted proxy), roles, CSRF,
  signed session cookies with an idle timeout;
- `pages`: the handlers; `queries`, `held`, `integrity`: what they read and do;
- `activity`: the console's own audit events; `charts`: SVG bar charts.

No page shows message content or a password: pages read audit records (which
hold neither) and queue rows without their content.
"""

from gateway.web.app import create_app
from gateway.web.server import WebConsole

__all__ = ["WebConsole", "create_app"]
