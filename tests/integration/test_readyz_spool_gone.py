"""/readyz fails while [server] spool_dir is gone or cannot be written.

`serve` refuses to start without a spool folder it can use; deleted while
the gateway runs (a cleanup job, a tmpfs remounted), every message over
1 MiB was answered 451 for ever while the probe said 200, so the load
balancer kept sending mail to the one replica that could not take it.
The probe says why, in `serve`'s words, and passes again once the folder
is back.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import Any

import pytest
from test_relay_operate import http_get


async def test_readiness_fails_while_the_spool_folder_is_gone(
    gateway_factory: Any, sink: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", base64.b64encode(secrets.token_bytes(32)).decode())
    spool = tmp_path / "spool"
    spool.mkdir()
    gw = await gateway_factory({"server": {"spool_dir": str(spool)}})
    status, _, body = await http_get(gw.metrics_port, "/readyz")
    assert status == 200
    assert "spool" not in body
    spool.rmdir()
    status, _, body = await http_get(gw.metrics_port, "/readyz")
    assert status == 503
    assert (f"spool: server.spool_dir: cannot make a temporary file in {spool}"
            " (No such file or directory)") in body.splitlines()
    spool.write_text("not a folder")  # in its place
    status, _, body = await http_get(gw.metrics_port, "/readyz")
    assert status == 503
    assert (f"spool: server.spool_dir: cannot make a temporary file in {spool}"
            " (Not a directory)") in body.splitlines()
    spool.unlink()
    spool.mkdir()
    assert (await http_get(gw.metrics_port, "/readyz"))[0] == 200
