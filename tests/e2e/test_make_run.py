"""The set-up promise: on a fresh clone, `make run` starts a gateway that
relays a message (here sent with swaks when installed, else smtplib).

Slow: it creates the clone's own .venv and installs the project into it.
"""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import socket
import subprocess
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)  # type: ignore[attr-defined]
        )
        return "250 2.0.0 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"make run exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"nothing listened on {port} within {seconds}s")


@pytest.mark.timeout(600)
def test_make_run_on_a_fresh_clone_relays_a_message(tmp_path: Path) -> None:
    if shutil.which("make") is None or shutil.which("git") is None:
        pytest.skip("make and git are needed for the set-up promise test")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    assert not (clone / ".venv").exists()

    recorder = _Recorder()
    sink = Controller(recorder, hostname="127.0.0.1", port=_free_port())
    sink.start()
    smtp_port, metrics_port = _free_port(), _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "VIRTUAL_ENV"))},
        "GATEWAY_SERVER_LISTEN": f"127.0.0.1:{smtp_port}",
        "GATEWAY_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
        "GATEWAY_UPSTREAM_PORT": str(sink.port),
    }
    log = (tmp_path / "make-run.log").open("wb")
    proc = subprocess.Popen(
        ["make", "run"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_for_port(smtp_port, proc, 540)
        sender, recipient = "alice@council.example.gov.uk", "duty.team@childrens.example.gov.uk"
        if shutil.which("swaks"):
            result = subprocess.run(
                ["swaks", "--server", f"127.0.0.1:{smtp_port}", "--from", sender,
                 "--to", recipient, "--header", "Subject: Private and Confidential: agenda",
                 "--body", "The agenda for Thursday is attached."],
                capture_output=True, text=True, timeout=60,
            )
            assert "250 2.0.0 Queued as" in result.stdout, result.stdout
        else:
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
                client.sendmail(sender, [recipient],
                                b"Subject: Private and Confidential: agenda\r\n\r\nThe agenda.\r\n")
        deadline = time.monotonic() + 30
        while not recorder.messages and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [(m[0], m[1]) for m in recorder.messages] == [(sender, [recipient])]
        assert (clone / "var" / "gateway.db").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        sink.stop()
        log.close()
