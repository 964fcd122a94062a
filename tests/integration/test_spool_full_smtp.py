"""The whole gateway with its spool folder filling up during a large
message's DATA: one 451 4.3.0, counted as a refusal at stage "error";
nothing of the body (dot-stuffed SMTP commands from a forged sender) is
taken as a command, queued or relayed; the next transaction on the same
connection is relayed as any other."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from gwtest import SmtpConn, dot_stuff, full_spool, make_message

from gateway.receive import replies
from gateway.receive.data import SPOOL_THRESHOLD

pytestmark = pytest.mark.timeout(120)

SMUGGLED = (
    b".x\r\n"
    b"RSET\r\n"
    b"MAIL FROM:<forged@evil.example>\r\n"
    b"RCPT TO:<smuggled@victim.example>\r\n"
    b"DATA\r\n"
    b"From: forged@evil.example\r\nTo: smuggled@victim.example\r\nSubject: SMUGGLED\r\n\r\n"
    b"smuggled body\r\n"
)


def metric(text: str, name: str, **labels: str) -> float:
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
                   if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{want} not in /metrics")


async def test_a_full_spool_is_451_counted_and_nothing_is_smuggled(
    gateway_factory: Any, sink: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    spool = tmp_path / "spool"
    spool.mkdir()
    gw = await gateway_factory({"server": {"max_message_size": 8_000_000,
                                           "spool_dir": str(spool)}})
    # The disk fills a little after the message is first spooled.
    full_spool(monkeypatch, SPOOL_THRESHOLD + 200_000)
    large = make_message(subject="monthly figures", body="") + SMUGGLED * (
        1_700_000 // len(SMUGGLED))
    conn = await SmtpConn.open(gw.port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    assert (await conn.cmd("MAIL FROM:<alice@sender.example>"))[0] == 250
    assert (await conn.cmd("RCPT TO:<bob@recipient.example>"))[0] == 250
    assert (await conn.cmd("DATA"))[0] == 354
    await conn.send(dot_stuff(large) + b".\r\n")
    code, text = await conn.reply(timeout=60)
    assert f"{code} {text}" == replies.S451_INTERNAL
    # The same connection, the next transaction: answered as sent.
    assert await conn.cmd("MAIL FROM:<alice@sender.example>") == (250, "2.1.0 Sender OK")
    assert (await conn.cmd("RCPT TO:<carol@recipient.example>"))[0] == 250
    assert (await conn.cmd("DATA"))[0] == 354
    code, text = await conn.cmd(dot_stuff(make_message(subject="second")) + b".")
    assert code == 250, text
    await conn.send(b"QUIT\r\n")
    assert await conn.reply() == (221, "2.0.0 Bye")
    with pytest.raises(ConnectionError):  # nothing more was answered
        await conn.reply()
    (relayed,) = await sink.wait(1, timeout=30)
    assert relayed.rcpt_tos == ("carol@recipient.example",)
    for _ in range(100):
        depth = await gw.store.depth_by_state()
        if depth.get("delivered") == 1:
            break
        await asyncio.sleep(0.05)
    assert sum(depth.values()) == 1  # the second message, and nothing smuggled
    metrics = gw.metrics.render().decode()
    assert metric(metrics, "gateway_messages_refused_total", stage="error") == 1
    assert metric(metrics, "gateway_messages_rejected_total", reason="internal_error") == 1
    assert metric(metrics, "gateway_messages_received_total") == 1
