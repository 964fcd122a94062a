"""The revisions `gateway serve` checks the schema against are Alembic's,
and the serving process does not import Alembic to know them."""

from __future__ import annotations

import subprocess
import sys

from alembic.script import ScriptDirectory

from gateway.db.migrate import MIGRATIONS
from gateway.db.schema_check import HEAD, REVISIONS


def test_the_listed_revisions_are_alembics_in_order() -> None:
    script = ScriptDirectory(str(MIGRATIONS))
    oldest_first = [revision.revision for revision in script.walk_revisions()][::-1]
    assert list(REVISIONS) == oldest_first
    assert script.get_current_head() == HEAD


def test_the_serving_process_does_not_load_alembic() -> None:
    # What `gateway serve` imports before it starts (gateway.cli.core._serve).
    probe = (
        "import sys, gateway.cli, gateway.app, gateway.db.engine, "
        "gateway.operate.logging, gateway.operate.memory\n"
        "print(','.join(m for m in ('alembic', 'mako') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert loaded.stdout.strip() == ""
