"""`[server] event_loop`: `gateway serve` relays the same on uvloop and on
asyncio's own loop -- STARTTLS and AUTH (aiosmtpd swaps the transport's
protocol for TLS), a message large enough to be read in several chunks and
spooled, and a smuggling attempt refused with the connection kept in step."""

from __future__ import annotations

import json
import smtplib
import ssl

import pytest
from argon2 import PasswordHasher
from gwtest import make_message, strip_received

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _started(log: str) -> dict[str, object]:
    for line in log.splitlines():
        if '"gateway_started"' in line:
            started: dict[str, object] = json.loads(line)
            return started
    raise AssertionError("no gateway_started event in the log")


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_serve_relays_on_either_event_loop(gateway_process, sink, db_url, tls_files, loop):
    password = "correct horse battery"
    gw = gateway_process({
        "server": {"event_loop": loop, "trusted_networks": ["10.0.0.0/8"],
                   "max_message_size": 4_000_000, **tls_files.server_settings},
        "users": [{"name": "scanner", "password_hash": PasswordHasher(
            time_cost=1, memory_cost=8192, parallelism=1).hash(password)}],
    })
    assert _started(gw.log_path.read_text())["event_loop"] == loop

    small = make_message(subject="small")
    # About 2.4 MB with stuffed dots throughout: several DATA chunks, spooled.
    large = make_message(subject="large", body="".join(
        f".line {n} of a long synthetic report\r\n" for n in range(60_000)))
    context = ssl.create_default_context(cafile=str(tls_files.ca_file))
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as client:
        client.starttls(context=context)
        client.login("scanner", password)
        client.sendmail("alice@sender.example", ["bob@recipient.example"], small)
        client.sendmail("alice@sender.example", ["bob@recipient.example"], large)
        # A bare LF before "." CRLF: refused, and the next command is read as one.
        client.mail("alice@sender.example")
        client.rcpt("bob@recipient.example")
        code, _ = client.docmd("DATA")
        assert code == 354
        client.send(make_message(subject="smuggled") + b"\n.\r\nRSET\r\n.\r\n")
        code, reply = client.getreply()
        assert (code, reply[:5]) == (550, b"5.5.2")
        assert client.noop()[0] == 250

    got = sink.wait_sync(2)
    bodies = sorted((strip_received(m.content)[1] for m in got), key=len)
    assert bodies == [small, large]
