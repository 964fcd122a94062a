"""Gateway subprocesses: SIGKILL mid-load loses nothing that got 250; two
processes on one PostgreSQL database deliver each message exactly once;
SIGTERM stops cleanly.  The upstream sink runs in a thread of the test
process, so it survives the gateway being killed."""

from __future__ import annotations

import asyncio
import collections
import json
import re
import smtplib
import socket
import threading
import time

import aiosmtplib
import pytest
from gwtest import Sink, make_message, run_cli

MESSAGE_ID = re.compile(rb"^Message-ID: <([^>]+)>", re.M | re.I)


def message_ids(sink: Sink) -> collections.Counter[str]:
    ids: collections.Counter[str] = collections.Counter()
    for message in sink.snapshot():
        match = MESSAGE_ID.search(message.content.split(b"\r\n\r\n", 1)[0])
        if match:
            ids[match.group(1).decode()] += 1
    return ids


def wait_for_ids(sink: Sink, wanted: set[str], timeout: float) -> collections.Counter[str]:
    deadline = time.monotonic() + timeout
    while True:
        got = message_ids(sink)
        if wanted <= set(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


class Client(threading.Thread):
    """Sends its messages over one smtplib connection, reconnecting after a
    failure and resending the message whose reply it did not get."""

    def __init__(self, port: int, numbers: list[int], accepted: set[str], lock: threading.Lock):
        super().__init__(daemon=True)
        self.port = port
        self.numbers = numbers
        self.accepted = accepted
        self.lock = lock
        self.failures = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _connect(self) -> smtplib.SMTP:
        deadline = time.monotonic() + 90
        while True:
            try:
                client = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
                client.ehlo("load.sender.example")
                return client
            except (OSError, smtplib.SMTPException):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _run(self) -> None:
        client = self._connect()
        pending = list(self.numbers)
        while pending:
            number = pending[0]
            message_id = f"load-{number}@sender.example"
            try:
                client.sendmail(
                    "alice@sender.example", [f"r{number % 7}@recipient.example"],
                    make_message(subject=f"load {number}", message_id=f"<{message_id}>"),
                )
            except (OSError, smtplib.SMTPException):
                # No 250: the message is in doubt; send it again when the
                # gateway is back (as a real client would).
                self.failures += 1
                try:
                    client.close()
                finally:
                    client = self._connect()
                continue
            with self.lock:
                self.accepted.add(message_id)
            pending.pop(0)
        client.quit()


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigkill_mid_load_loses_no_accepted_message(gateway_process, sink, db_url, capsys):
    total, connections = 2000, 8
    gw = gateway_process({"queue": {"workers": 8}, "upstream": {"pool_size": 4}})
    accepted: set[str] = set()
    lock = threading.Lock()
    clients = [
        Client(gw.port, list(range(n, total, connections)), accepted, lock)
        for n in range(connections)
    ]
    for client in clients:
        client.start()

    deadline = time.monotonic() + 120
    while len(accepted) < total * 0.4 and time.monotonic() < deadline:
        time.sleep(0.01)
    accepted_before_kill = len(accepted)
    delivered_before_kill = len(message_ids(sink))
    gw.kill()
    time.sleep(0.5)
    gw.start()

    for client in clients:
        client.join(180)
        assert not client.is_alive()
        assert client.error is None, client.error
    assert len(accepted) == total

    got = wait_for_ids(sink, accepted, timeout=120)
    lost = accepted - set(got)
    twice = sum(1 for count in got.values() if count > 1)
    extra = sum(count - 1 for count in got.values())
    figures = (
        f"crash test: {total} messages, killed with SIGKILL after {accepted_before_kill} "
        f"got 250 ({delivered_before_kill} delivered by then); client retries "
        f"{sum(c.failures for c in clients)}; accepted {len(accepted)}, delivered "
        f"{len(got)} distinct, lost {len(lost)}, delivered twice {twice} "
        f"({extra} extra copies)"
    )
    with capsys.disabled():
        print("\n" + figures)
    assert not lost, f"{len(lost)} accepted messages never arrived: {sorted(lost)[:5]}"
    assert gw.log_path.read_text().count('"gateway_started"') == 2  # really restarted


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_processes_on_one_postgres_deliver_each_message_once(
    gateway_process, sink, db_url, capsys
):
    total, connections = 5000, 20
    # Some recipients are deferred at their first attempts, so that both
    # processes' pollers compete for the same deferred rows (SKIP LOCKED).
    sink.fail("rcpt", "451 4.3.0 try again", match="defer", times=300)
    overrides = {"queue": {"workers": 8, "retry": ["300ms"]}, "upstream": {"pool_size": 4}}
    gateways = await asyncio.gather(
        asyncio.to_thread(gateway_process, overrides, name="gw-a"),
        asyncio.to_thread(gateway_process, overrides, name="gw-b"),
    )
    counter = iter(range(total))

    async def client(port: int) -> list[str]:
        sent = []
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
        await smtp.connect()
        for number in counter:
            message_id = f"multi-{number}@sender.example"
            rcpt = f"defer{number}@recipient.example" if number % 10 == 0 else \
                f"r{number}@recipient.example"
            await smtp.sendmail(
                "alice@sender.example", [rcpt],
                make_message(subject=f"multi {number}", message_id=f"<{message_id}>"),
            )
            sent.append(message_id)
        await smtp.quit()
        return sent

    results = await asyncio.gather(
        *[client(gateways[n % 2].port) for n in range(connections)]
    )
    sent = {mid for batch in results for mid in batch}
    assert len(sent) == total

    got = await asyncio.to_thread(wait_for_ids, sink, sent, 150)
    await asyncio.sleep(2)  # anything delivered a second time would show by now
    got = message_ids(sink)
    missing = sent - set(got)
    twice = {mid: n for mid, n in got.items() if n > 1}
    with capsys.disabled():
        print(f"\ntwo processes: sent {total}, delivered {len(got)} distinct, "
              f"missing {len(missing)}, twice {len(twice)}")
    assert not missing
    assert not twice
    assert set(got) == sent

    listing = await asyncio.to_thread(
        run_cli, "queue", "list", "--json", "--all", "--limit", "100000",
        config=gateways[0].config
    )
    assert listing.returncode == 0, listing.stderr
    states = collections.Counter(json.loads(line)["state"] for line in listing.stdout.splitlines())
    assert states == {"delivered": total}

    codes = await asyncio.gather(*[asyncio.to_thread(g.terminate) for g in gateways])
    assert codes == [0, 0]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigterm_stops_cleanly_and_keeps_accepted_messages(gateway_process, sink, db_url):
    sink.stop()  # accepted messages stay in the queue
    gw = gateway_process()
    ids = []
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as client:
        for n in range(5):
            message_id = f"term-{n}@sender.example"
            client.sendmail("alice@sender.example", ["bob@recipient.example"],
                            make_message(message_id=f"<{message_id}>"))
            ids.append(message_id)

    # A session between commands, in the middle of a transaction.
    idle = socket.create_connection(("127.0.0.1", gw.port), timeout=30)
    idle.recv(1024)
    idle.sendall(b"EHLO idle.example\r\n")
    while b"250 " not in idle.recv(4096):
        pass
    idle.sendall(b"MAIL FROM:<alice@sender.example>\r\n")
    assert idle.recv(1024).startswith(b"250")

    assert gw.terminate() == 0
    log = gw.log_tail(50)
    assert "shutdown_requested" in log and "gateway_stopped" in log

    # It is told why the connection closes (RFC 5321 3.8), unasked: it was
    # closed with no word, and its client could only guess.
    said = b""
    while chunk := idle.recv(1024):
        said += chunk
    assert said == b"421 4.3.2 Service shutting down, try again later\r\n"
    idle.close()
    # New connections are refused.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", gw.port), timeout=2).close()

    # Nothing is left claimed; everything is still queued ...
    listing = run_cli("queue", "list", "--json", "--all", config=gw.config)
    assert listing.returncode == 0, listing.stderr
    rows = [json.loads(line) for line in listing.stdout.splitlines()]
    assert len(rows) == 5
    assert {row["state"] for row in rows} <= {"queued", "deferred"}

    # ... and delivered once the gateway is back (its own claims come back).
    sink.start()
    gw.start()
    got = wait_for_ids(sink, set(ids), timeout=30)
    assert set(ids) <= set(got)
    assert gw.terminate() == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigterm_during_a_transaction_answers_421_or_finishes(gateway_process, sink, db_url):
    gw = gateway_process()
    client = smtplib.SMTP("127.0.0.1", gw.port, timeout=30)
    client.ehlo("client.example")
    client.mail("alice@sender.example")
    client.rcpt("bob@recipient.example")
    gw.proc.send_signal(15)
    time.sleep(0.3)
    try:
        code, _ = client.data(make_message())
        accepted = code == 250
        assert code in (250, 421)
    except (smtplib.SMTPServerDisconnected, smtplib.SMTPDataError, OSError) as exc:
        accepted = False
        if isinstance(exc, smtplib.SMTPDataError):
            assert exc.smtp_code == 421
    client.close()
    assert gw.proc.wait(30) == 0
    if accepted:  # then it must be delivered after a restart
        gw.start()
        sink.wait_sync(1, timeout=20)
        assert gw.terminate() == 0
