"""A bare `GatewaySMTP` listener on a real socket, with a capturing acceptor."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import pytest
from receive_listener import Captured, Listener

import gateway.receive.server as server_module
from gateway.receive.server import GatewaySMTP, ListenerConfig, start_listener


@pytest.fixture
async def listener(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Listener]:
    servers: list[asyncio.Server] = []

    async def make(chunk: int = 16, **config: Any) -> tuple[int, Captured]:
        monkeypatch.setattr(server_module, "_DATA_CHUNK", chunk)
        settings: dict[str, Any] = {
            "hostname": "gw.test.example",
            "trusted_networks": [ipaddress.ip_network("127.0.0.0/8")],
            "max_message_size": 10_000,
            "max_recipients": 10,
            "idle_timeout": 5.0,
            "data_timeout": 20.0,
            **config,
        }
        captured = Captured()
        listen_config = ListenerConfig(**settings)
        srv = await start_listener(
            "127.0.0.1", 0, lambda: GatewaySMTP(listen_config, captured, lambda: False,
                                                failed=lambda: captured.failures.append(None))
        )
        servers.append(srv)
        return int(srv.sockets[0].getsockname()[1]), captured

    yield make
    for srv in servers:
        srv.close()
        await srv.wait_closed()
