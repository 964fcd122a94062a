"""A replica whose clock is off the database's refuses to start or fails
/readyz (PostgreSQL).

Leases are written and judged by each process's clock: two replicas on one
database, one of them three minutes ahead with a one-minute lease, took
each other's claims mid-delivery and sent every message twice, silently.
The process's clock is moved here for the check alone (fault injection:
`gateway.operate.clock.process_clock`, which the check reads it through);
the machine's clock cannot be changed under a test.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

import pytest
from structlog.testing import capture_logs
from test_relay_operate import http_get

import gateway.operate.clock as clock
from gateway.errors import ConfigError

pytestmark = pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)

LEASE = {"queue": {"lease": "1m"}}


def _ahead(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    monkeypatch.setattr(clock, "process_clock", lambda: time.time() + seconds)


async def test_a_clock_off_by_more_than_half_the_lease_refuses_the_start(
    gateway_factory: Any, sink: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ahead(monkeypatch, 180)
    with pytest.raises(ConfigError) as refused:
        await gateway_factory(LEASE)
    assert refused.value.problems == [
        "clock differs from the database's by 180 s: leases cannot be judged; "
        "sync the clock (NTP)"]


async def test_a_clock_off_by_a_quarter_of_the_lease_fails_readiness(
    gateway_factory: Any, sink: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", base64.b64encode(secrets.token_bytes(32)).decode())
    _ahead(monkeypatch, -20)  # behind: the others would take this one's claims
    with capture_logs() as logs:
        gw = await gateway_factory(LEASE)
    (logged,) = [entry for entry in logs if entry["event"] == "clock_skew"]
    assert logged["log_level"] == "error"
    status, _, body = await http_get(gw.metrics_port, "/readyz")
    assert status == 503
    assert ("clock: clock differs from the database's by 20 s: leases cannot be judged; "
            "sync the clock (NTP)") in body.splitlines()
    # Synced again: the next measure (once a minute) passes the probe.
    _ahead(monkeypatch, 0)
    await gw._clock_check.measure()
    assert (await http_get(gw.metrics_port, "/readyz"))[0] == 200


async def test_a_clock_in_step_starts_and_is_ready(
    gateway_factory: Any, sink: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", base64.b64encode(secrets.token_bytes(32)).decode())
    _ahead(monkeypatch, 5)  # within a quarter of the lease: NTP's worst is far less
    gw = await gateway_factory(LEASE)
    status, _, body = await http_get(gw.metrics_port, "/readyz")
    assert status == 200, body
