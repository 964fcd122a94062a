"""/readyz says why a dependency fails when the check gives its words
("passwords: no key"), and answers 503 for it as for a plain failure."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from gateway.operate.metrics import HealthServer, Metrics


async def _get(port: int, path: str) -> tuple[str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    answer = (await reader.read()).decode()
    writer.close()
    head, _, body = answer.partition("\r\n\r\n")
    return head.splitlines()[0], body


def _readyz(checks: Mapping[str, bool | str]) -> tuple[str, str]:
    async def readiness() -> Mapping[str, bool | str]:
        return checks

    async def refresh() -> None:
        return None

    async def run() -> tuple[str, str]:
        server = HealthServer(Metrics(), readiness, refresh)
        port = await server.start("127.0.0.1", 0)
        try:
            return await _get(port, "/readyz")
        finally:
            await server.stop()

    return asyncio.run(run())


def test_a_check_with_words_fails_readiness_and_says_them():
    status, body = _readyz({"database": True, "upstream": True, "passwords": "no key"})
    assert status == "HTTP/1.1 503 Service Unavailable"
    assert body.splitlines() == ["database: ok", "upstream: ok", "passwords: no key"]


def test_plain_checks_read_as_before():
    assert _readyz({"database": True, "upstream": True}) == (
        "HTTP/1.1 200 OK", "database: ok\nupstream: ok\n")
    status, body = _readyz({"database": True, "upstream": False})
    assert status == "HTTP/1.1 503 Service Unavailable"
    assert "upstream: failing" in body
