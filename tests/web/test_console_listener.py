"""The console inside `gateway serve`: started with the gateway when
[web] listen is set, on the gateway's event loop, and stopped with it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx2 as httpx

from gateway.settings import Settings


async def test_gateway_serves_the_console(
    gateway_factory: Callable[..., Awaitable[Any]],
) -> None:
    gw = await gateway_factory({"web": {"listen": "127.0.0.1:0"}})
    assert gw.web_port > 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gw.web_port}") as client:
        page = await client.get("/signin")
        assert page.status_code == 200 and "Sign in" in page.text
        assert (await client.get("/dashboard")).status_code == 303
    await gw.web.stop()  # what Gateway.stop() does first
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gw.web_port}") as client:
        try:
            await client.get("/signin")
        except httpx.ConnectError:
            return
    raise AssertionError("the console still answers after stop()")


async def test_console_is_off_without_listen(
    gateway_factory: Callable[..., Awaitable[Any]],
) -> None:
    gw = await gateway_factory()
    assert gw.web is None and gw.web_port == 0


def test_busy_port_fails_clearly(tmp_path: Any) -> None:
    import asyncio
    import socket

    from gateway.web import WebConsole

    async def run() -> None:
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings.model_validate({
            "web": {"listen": f"127.0.0.1:{port}"},
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path}/x.db"},
        })
        from gateway.db import create_engine
        from gateway.queue import Writer

        engine = create_engine(settings.database.url)
        console = WebConsole(settings, engine, Writer(engine))
        try:
            try:
                await console.start()
            except OSError:
                return
            raise AssertionError("a busy port must fail start()")
        finally:
            taken.close()
            await engine.dispose()

    asyncio.run(run())
