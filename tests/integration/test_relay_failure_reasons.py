"""A delivery that fails before any server's reply says why, in the log's
`reason` and the queue's last error, naming the route it went by.

A black-box mail administrator pinned a recipient to a route that requires
STARTTLS, in front of a relay that does not offer it, and configured AUTH
against a relay that offers none: both showed only "connection to upstream
failed (SMTPException)", for days, while the gateway knew the reason."""

from __future__ import annotations

import aiosmtplib
from gwtest import RECIPIENTS_CSV, make_message, wait_state
from structlog.testing import capture_logs

SENDER = "jo.bloggs@sender.example"


async def _send(port: int, to: str) -> str:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    await client.connect()
    response = (await client.sendmail(SENDER, [to], make_message(sender=SENDER, to=to)))[1]
    await client.quit()
    return response.split()[-1]


async def _deferred(gw, to: str) -> tuple[str, dict]:
    with capture_logs() as logs:
        queue_id = await _send(gw.port, to)
        message = await wait_state(gw, queue_id, "deferred")
    (down,) = [e for e in logs if e["event"] == "upstream_unavailable"]
    return str(message.last_error), down


async def test_a_route_that_requires_starttls_names_it(gateway_factory, sink, tmp_path):
    (tmp_path / "recipients.csv").write_text(
        RECIPIENTS_CSV + "ref.secure@health.example.nhs.uk,Referrals,Clinician,,"
                         "Health Trust,01632 960002,nhsmail\n", encoding="utf-8")
    gw = await gateway_factory({
        "queue": {"retry": ["1h"]},
        "routes": {"nhsmail": {"host": "127.0.0.1", "port": sink.port,
                               "tls": "starttls-verify", "timeout": "5s"}},
    })
    last_error, down = await _deferred(gw, "ref.secure@health.example.nhs.uk")
    assert last_error == "4.4.1 connection to nhsmail failed (STARTTLS not offered)"
    assert (down["route"], down["reason"]) == ("nhsmail", "STARTTLS not offered")
    assert sink.snapshot() == []  # never in clear


async def test_auth_to_a_relay_that_offers_none_names_it(gateway_factory, sink):
    gw = await gateway_factory({
        "queue": {"retry": ["1h"]},
        "upstream": {"username": "relay", "password": "not-used-here"},
    })
    last_error, down = await _deferred(gw, "team@recipient.example")
    assert "connection to upstream failed (AUTH not offered" in last_error
    assert down["reason"].startswith("AUTH not offered")
    assert "not-used-here" not in repr(down) + last_error


async def test_a_relay_that_is_down_still_says_so(gateway_factory, sink):
    gw = await gateway_factory({"queue": {"retry": ["1h"]}})
    sink.stop()
    last_error, down = await _deferred(gw, "team@recipient.example")
    assert last_error == "4.4.1 connection to upstream failed (Connection refused)"
    assert down["reason"] == "Connection refused"
