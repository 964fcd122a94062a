"""What the receive tests share: the capturing acceptor and the fixture's type."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from gateway.model import Envelope
from gateway.receive.data import MessageContent, SpooledBody


class Captured:
    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, bytes, bool]] = []
        self.spooled_open: list[bool] = []
        self.aheads: list[object] = []  # what ListenerConfig.read_ahead made, per message
        self.failures: list[None] = []  # each 451 the listener gave itself (`failed`)

    async def __call__(
        self, envelope: Envelope, content: MessageContent, ahead: object = None
    ) -> str:
        self.aheads.append(ahead)
        if isinstance(content, SpooledBody):
            data = await asyncio.to_thread(content.read)
            self.messages.append((envelope, data, True))
            self.spooled_open.append(not content.file.closed)
        else:
            self.messages.append((envelope, content, False))
        return "250 2.0.0 captured"


Listener = Callable[..., Awaitable[tuple[int, Captured]]]
