"""The console in a real browser: headless Chromium (Debian's `chromium`)
driven by Playwright, against a real gateway with the console on.

A real SMTP message goes through the gateway (smtplib); an auditor-admin
signs in, searches for its record, opens its timeline; a held message
(queued through the queue API with its audit record, as the acceptor does)
is approved, and the upstream sink receives it.  Screenshots of every page go
to tests/artifacts/ (gitignored) for a person to look at.

Skipped, with the reason, when Playwright or /usr/bin/chromium is missing;
Playwright's own browser download is never used.
"""

from __future__ import annotations

import asyncio
import smtplib
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from gwtest import Sink, make_message

from gateway.audit import AuditEvent, AuditRecipient, AuditRecord, EventType
from gateway.model import Envelope
from gateway.queue import NewMessage, QueueState, QueueStore

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"

async_api = pytest.importorskip("playwright.async_api",
                                reason="Playwright (pip install playwright) is not installed")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)", allow_module_level=True)

PASSWORD = "console-browser-test"
HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


def send(port: int, sender: str) -> str:
    message = make_message(sender=sender, to="team@recipient.example",
                           subject="Browser test: weekly figures")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("browser.test")
        client.mail(sender)
        client.rcpt("team@recipient.example")
        code, reply = client.data(message)
    assert code == 250, reply
    return reply.decode().rsplit(" ", 1)[-1]  # "Queued as <id>"


async def hold_one(gw: Any) -> str:
    """A held message with its audit record, as the acceptor writes it."""
    held_id = f"HELDBROWSER{uuid.uuid4().hex[:5].upper()}"
    now = datetime.now(UTC)
    record = AuditRecord(
        id=held_id, message_id=f"<{held_id}@council.example>", received_at=now,
        sender="social.worker@council.example",
        recipients=(AuditRecipient("team@recipient.example"),),
        subject="Private and Confidential: safeguarding referral", verdict="hold",
        purpose="Safeguarding referral", information_types=("special_category", "uk_nhs_number"),
        method="email", queue_id=held_id,
    )
    envelope = Envelope(mail_from="social.worker@council.example",
                        rcpt_tos=("team@recipient.example",))
    content = make_message(sender="social.worker@council.example", to="team@recipient.example",
                           subject="Private and Confidential: safeguarding referral")
    store = QueueStore(gw.engine, gw.writer)
    await store.enqueue(
        NewMessage(envelope=envelope, content=content, state=QueueState.HELD,
                   audit_id=held_id, id=held_id),
        also=[gw.audit.record_op(record, [AuditEvent(EventType.RECEIVED, now),
                                          AuditEvent(EventType.HELD, now)])],
        claim=False,
    )
    return held_id


async def test_console_in_chromium(
    gateway_factory: Callable[..., Awaitable[Any]], sink: Sink, db_url: str
) -> None:
    if "postgresql" in db_url:
        pytest.skip("one database is enough for the browser walk-through")
    ARTIFACTS.mkdir(exist_ok=True)
    gw = await gateway_factory({
        "web": {"listen": "127.0.0.1:0",
                "users": [{"name": "ig.lead", "password_hash": HASH, "role": "admin"}]},
    })
    base = f"http://127.0.0.1:{gw.web_port}"
    sender = f"browser.{uuid.uuid4().hex[:8]}@council.example"
    queue_id = await asyncio.to_thread(send, gw.port, sender)
    held_id = await hold_one(gw)

    async with async_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                          args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 1360, "height": 900})
            await page.goto(f"{base}/audit")
            assert "/signin" in page.url  # nothing before signing in
            await page.screenshot(path=str(ARTIFACTS / "console-01-signin.png"), full_page=True)
            await page.fill("input[name=name]", "ig.lead")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{base}/audit")

            # Search for the record of the real SMTP message.
            await page.fill("input[name=sender]", sender)
            await page.click("form.filters button[type=submit]")
            await page.wait_for_selector(f"a[href='/audit/records/{queue_id}']")
            rows = await page.locator("table.results tbody tr").count()
            assert rows == 1
            await page.screenshot(path=str(ARTIFACTS / "console-02-search.png"), full_page=True)

            # Its timeline, once the sink has it (received -> relayed).
            deadline = time.monotonic() + 20
            while not any(m.mail_from == sender for m in sink.messages):
                assert time.monotonic() < deadline, "the message never reached the sink"
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.3)  # the relayed event commits right after the sink's 250
            await page.click(f"a[href='/audit/records/{queue_id}']")
            await page.wait_for_selector("ol.stages")
            assert await page.locator("ol.stages li.done strong").all_inner_texts() == [
                "Received", "Relayed"]
            assert sender in await page.inner_text("main")
            await page.screenshot(path=str(ARTIFACTS / "console-03-timeline.png"),
                                  full_page=True)

            # Approve the held message.
            await page.goto(f"{base}/held")
            await page.screenshot(path=str(ARTIFACTS / "console-04-held-list.png"),
                                  full_page=True)
            await page.click(f"a[href='/held/{held_id}']")
            await page.wait_for_selector("textarea[name=note]")
            text = await page.inner_text("main")
            assert "special category data" in text and "Recipient Team" in text
            await page.fill("textarea[name=note]", "Referral agreed with the duty manager")
            await page.screenshot(path=str(ARTIFACTS / "console-05-held-detail.png"),
                                  full_page=True)
            await page.click("button[value=approve]")
            await page.wait_for_selector(".flash")
            assert "approved" in await page.inner_text(".flash")
            await page.screenshot(path=str(ARTIFACTS / "console-06-approved.png"),
                                  full_page=True)

            deadline = time.monotonic() + 20
            while not any(m.mail_from == "social.worker@council.example" for m in sink.messages):
                assert time.monotonic() < deadline, "the approved message was not delivered"
                await asyncio.sleep(0.1)

            await page.goto(f"{base}/audit/records/{held_id}")
            main = await page.inner_text("main")
            assert "ig.lead" in main and "approved" in main

            await page.goto(f"{base}/dashboard")
            await page.wait_for_selector("svg.chart")
            await page.screenshot(path=str(ARTIFACTS / "console-07-dashboard.png"),
                                  full_page=True)
            await page.goto(f"{base}/integrity")
            await page.wait_for_selector("p.status.ok", timeout=30_000)
            await page.screenshot(path=str(ARTIFACTS / "console-08-integrity.png"),
                                  full_page=True)
        finally:
            await browser.close()
