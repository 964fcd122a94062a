"""audit recipient listed_as: which allow-list row a recipient's identity comes from

Revision ID: 0018
Revises: 0017

A record names each recipient as the allow-list did: name, job title,
organisation, telephone.  An `@domain` row allows every address of its
domain, and its name and job title are IT's words for the domain (a team,
an office), not the person the mail went to; the record read the same
either way.  A record's recipients now carry `listed_as`: the row's
address (the recipient's own, or "@domain"), null when not listed.

audit_recipients_v gets it as a last column, `listed_as` (NULL for records
written before, which did not keep it); every other column keeps its name
and place.  PostgreSQL replaces the view in place (CREATE OR REPLACE keeps
its grants); SQLite makes it anew.  Downgrade puts 0008's view back.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

VIEW = "audit_recipients_v"


def _migration(name: str) -> ModuleType:
    """An earlier migration's module (its view builders)."""
    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(f"gateway_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _view_0008(postgres: bool) -> str:
    m8 = _migration("0008_audit_json_checked.py")
    views = m8._postgres_views() if postgres else m8._sqlite_views()
    (view,) = (v for v in views if f"CREATE VIEW {VIEW} " in v)
    return str(view)


def _with_listed_as(view: str, postgres: bool) -> str:
    """0008's view with `listed_as` after `telephone`, its last column."""
    last = ("x.v->>'telephone' AS telephone" if postgres
            else "json_extract(x.value, '$.telephone') AS telephone")
    listed = ("x.v->>'listed_as' AS listed_as" if postgres
              else "json_extract(x.value, '$.listed_as') AS listed_as")
    assert view.count(last) == 1, "0008's view changed: the migration must follow it"
    return view.replace(last, f"{last},\n               {listed}")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    view = _with_listed_as(_view_0008(postgres), postgres)
    if postgres:
        op.execute(view.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1))
        return
    op.execute(f"DROP VIEW {VIEW}")
    op.execute(view)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(f"DROP VIEW {VIEW}")
    op.execute(_view_0008(postgres))
    if postgres:
        m8 = _migration("0008_audit_json_checked.py")
        # A view made anew has lost its grants: 0008's, for this view too.
        m8._grant_views()
