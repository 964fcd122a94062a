"""/healthz, /readyz (database and upstream) and /metrics over HTTP."""

from __future__ import annotations

import asyncio
import base64
import re

import aiosmtplib
from gwtest import SmtpConn, make_message


async def http_get(port: int, path: str, method: str = "GET") -> tuple[int, str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    status = int(head.split()[1])
    content_type = re.search(r"(?im)^Content-Type: (.*)$", head).group(1).strip()
    return status, content_type, body


def metric(text: str, name: str, **labels: str) -> float:
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(label_text) + r"\}" if labels else "")
    match = re.search(rf"(?m)^{pattern} ([0-9.e+-]+)$", text)
    assert match, f"{name} {labels} not in metrics"
    return float(match.group(1))


async def test_healthz(gateway):
    assert await http_get(gateway.metrics_port, "/healthz") == (200, "text/plain", "ok\n")


async def test_readyz_checks_database_and_upstream(gateway_factory, sink, tmp_path):
    key = tmp_path / "password.key"
    key.write_text(base64.b64encode(bytes(range(32))).decode() + "\n", encoding="ascii")
    gateway = await gateway_factory({"passwords": {"key_file": str(key)}})
    status, _, body = await http_get(gateway.metrics_port, "/readyz")
    assert status == 200
    assert "database: ok" in body and "upstream: ok" in body
    sink.stop()
    status, _, body = await http_get(gateway.metrics_port, "/readyz")
    assert status == 503
    assert "database: ok" in body and "upstream: failing" in body
    sink.start()
    assert (await http_get(gateway.metrics_port, "/readyz"))[0] == 200


async def test_readyz_fails_without_a_password_key(gateway, sink):
    """Without one, every message whose password must be held is answered
    451 4.3.0 for ever: the probe said ready all the same."""
    status, _, body = await http_get(gateway.metrics_port, "/readyz")
    assert status == 503
    assert body.splitlines() == ["database: ok", "upstream: ok", "passwords: no key"]


async def test_readyz_fails_without_a_database(gateway_factory, tmp_path):
    from test_relay_receive import cut_connections

    gw = await gateway_factory({"queue": {"poll_interval": "1h"}})
    await cut_connections(gw)
    db_folder = tmp_path / "db"
    hidden = tmp_path / "db-away"
    if db_folder.exists():  # SQLite: the file cannot be opened any more
        db_folder.rename(hidden)
        db_folder.write_text("not a folder")
        try:
            status, _, body = await http_get(gw.metrics_port, "/readyz")
        finally:
            await cut_connections(gw)
            db_folder.unlink()
            hidden.rename(db_folder)
        assert status == 503 and "database: failing" in body
    else:  # PostgreSQL: a URL to a port where nothing listens
        from sqlalchemy.ext.asyncio import create_async_engine

        real = gw.engine
        gw.engine = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
        try:
            status, _, body = await http_get(gw.metrics_port, "/readyz")
        finally:
            await gw.engine.dispose()
            gw.engine = real
        assert status == 503 and "database: failing" in body


async def test_other_paths_and_methods(gateway):
    assert (await http_get(gateway.metrics_port, "/nope"))[0] == 404
    assert (await http_get(gateway.metrics_port, "/metrics", method="POST"))[0] == 405


async def test_head_answers_as_get_without_a_body(gateway):
    """`curl -I /healthz` and load balancers' HEAD probes (a black-box
    administrator got 405)."""
    for path in ("/healthz", "/metrics", "/readyz"):
        status, _, body = await http_get(gateway.metrics_port, path, method="HEAD")
        assert (status, body) == ((await http_get(gateway.metrics_port, path))[0], "")


async def test_metrics_count_messages_deliveries_and_queue_depth(gateway, sink):
    for n in range(3):
        await aiosmtplib.send(make_message(subject=f"m{n}"), sender="alice@sender.example",
                              recipients=["bob@recipient.example"], hostname="127.0.0.1",
                              port=gateway.port)
    # one refused at DATA for smuggling: read, not accepted
    conn = await SmtpConn.open(gateway.port)
    await conn.cmd("EHLO x.example")
    await conn.cmd("MAIL FROM:<alice@sender.example>")
    await conn.cmd("RCPT TO:<bob@recipient.example>")
    await conn.cmd("DATA")
    assert (await conn.cmd(b"bad\nline\r\n."))[0] == 550
    await conn.close()
    await sink.wait(3)
    for _ in range(100):
        status, content_type, text = await http_get(gateway.metrics_port, "/metrics")
        if metric(text, "gateway_queue_depth", state="delivered") == 3:
            break
        await asyncio.sleep(0.05)
    assert status == 200 and content_type.startswith("text/plain")
    assert metric(text, "gateway_messages_received_total") == 3
    assert metric(text, "gateway_messages_accepted_total", verdict="deliver") == 3
    assert metric(text, "gateway_delivery_results_total", outcome="delivered") == 3
    assert metric(text, "gateway_queue_depth", state="delivered") == 3
    assert metric(text, "gateway_queue_depth", state="deferred") == 0
    assert metric(text, "gateway_data_reply_seconds_count") == 3
    assert "gateway_data_reply_seconds_bucket" in text
    # Group commit: each message was queued, then its delivery recorded,
    # each a write; commits at least one and at most one per write.
    commits = metric(text, "gateway_db_commits_total")
    operations = metric(text, "gateway_db_committed_operations_total")
    assert operations >= 6 and 1 <= commits <= operations
    # The Writer's own totals at the scrape (more writes may have come since).
    assert commits <= gateway.writer.batches and operations <= gateway.writer.operations
    assert "bob@recipient.example" not in text


async def test_internal_failures_are_counted(gateway, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(gateway.pipeline, "run", explode)
    conn = await SmtpConn.open(gateway.port)
    await conn.cmd("EHLO x.example")
    await conn.cmd("MAIL FROM:<alice@sender.example>")
    await conn.cmd("RCPT TO:<bob@recipient.example>")
    await conn.cmd("DATA")
    assert (await conn.cmd(make_message() + b"."))[0] == 451
    await conn.close()
    _, _, text = await http_get(gateway.metrics_port, "/metrics")
    assert metric(text, "gateway_messages_rejected_total", reason="internal_error") == 1
    assert metric(text, "gateway_messages_refused_total", stage="error") == 1


async def test_a_message_refused_for_several_reasons_is_one_refused_message(gateway_factory):
    """gateway_messages_rejected_total counts reasons: with it a monitor
    could not tell how many messages were refused (45 messages, 107)."""
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    conn = await SmtpConn.open(gw.port)
    await conn.cmd("EHLO x.example")
    await conn.cmd("MAIL FROM:<alice@sender.example>")
    await conn.cmd("RCPT TO:<stranger@elsewhere.example>")
    await conn.cmd("DATA")
    body = "Referral for Harriet Quenby, NHS number 943 476 5919.\r\n"
    assert (await conn.cmd(make_message(to="stranger@elsewhere.example", body=body) + b"."))[0] == 550
    # Refused as it arrived (bare LF): the receive stage's refusal, once.
    await conn.cmd("MAIL FROM:<alice@sender.example>")
    await conn.cmd("RCPT TO:<bob@recipient.example>")
    await conn.cmd("DATA")
    assert (await conn.cmd(b"Subject: x\r\n\r\nbare\nline\r\n."))[0] == 550
    await conn.close()
    _, _, text = await http_get(gw.metrics_port, "/metrics")
    reasons = re.findall(r'^gateway_messages_rejected_total\{reason="([a-z_]+)"\} 1\.0$', text,
                         re.MULTILINE)
    assert len(reasons) >= 3, reasons  # the refused message's reasons, and the bare line's
    assert metric(text, "gateway_messages_refused_total", stage="policy") == 1
    assert metric(text, "gateway_messages_refused_total", stage="arrival") == 1


async def test_an_upstream_reached_in_clear_is_logged_at_start(gateway_factory):
    """`serve` says at start what `check-config` warns of: the log store
    keeps it where IT looks."""
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        await gateway_factory({"upstream": {"host": "smarthost.example.org", "tls": "none"}})
    (warning,) = [e for e in logs if e["event"] == "config_warning"]
    assert warning["log_level"] == "warning"
    assert "upstream.host smarthost.example.org is not this machine" in warning["warning"]
    started = [e["event"] for e in logs if e["event"] in {"config_warning", "gateway_started"}]
    assert started == ["config_warning", "gateway_started"]


async def test_an_upstream_on_this_machine_gives_no_warning(gateway_factory):
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        await gateway_factory()  # the sink, on 127.0.0.1, tls none
    assert [e for e in logs if e["event"] == "config_warning"] == []
    assert [e for e in logs if e["event"] == "gateway_started"]
