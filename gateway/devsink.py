"""A throwaway upstream for trying the gateway (`make sink`): an aiosmtpd
server that accepts everything and prints one line per message."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from aiosmtpd.smtp import SMTP


class _Printer:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        size = len(envelope.original_content or b"")
        print(f"sink: {envelope.mail_from} -> {', '.join(envelope.rcpt_tos)} ({size} bytes)",
              flush=True)
        return "250 2.0.0 OK"


async def _serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(_Printer(), enable_SMTPUTF8=True, hostname="sink"), host, port
    )
    print(f"sink: listening on {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> None:
    host, _, port = (argv[0] if argv else "127.0.0.1:2526").rpartition(":")
    asyncio.run(_serve(host or "127.0.0.1", int(port)))


if __name__ == "__main__":
    main(sys.argv[1:])
