"""SIGHUP, what `systemctl reload` and `kill -HUP` send: `gateway serve`
reads its allow-list again at once and carries on (without a handler the
signal ended the process, with none of SIGTERM's orderly stop)."""

from __future__ import annotations

import json
import signal
import time

import pytest

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _events(log: str, name: str) -> list[dict[str, object]]:
    found = []
    for line in log.splitlines():
        if f'"{name}"' in line:
            found.append(json.loads(line))
    return found


def _wait_for(gw, name: str, count: int, timeout: float = 10) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _events(gw.log_path.read_text(), name)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no {name} in the log:\n{gw.log_tail()}")


def test_sighup_rereads_the_allow_list_and_the_gateway_keeps_running(
    gateway_process, tmp_path
):
    gw = gateway_process()
    assert gw.proc is not None
    gw.proc.send_signal(signal.SIGHUP)
    (first,) = _wait_for(gw, "reload_requested", 1)
    assert first["recipients_changed"] is False
    assert gw.proc.poll() is None  # still serving

    recipients = tmp_path / "recipients.csv"
    recipients.write_text(
        recipients.read_text(encoding="utf-8")
        + "new.person@partner.example,New Person,Social Worker,,Partner Council,01632 960002,\n",
        encoding="utf-8",
    )
    gw.proc.send_signal(signal.SIGHUP)
    second = _wait_for(gw, "reload_requested", 2)[1]
    # Read now, not at the next periodic check (every 2 s): it took effect.
    assert second["recipients_changed"] is True
    assert gw.proc.poll() is None
    gw.proc.send_signal(signal.SIGTERM)
    assert gw.proc.wait(30) == 0
