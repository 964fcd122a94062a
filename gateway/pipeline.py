"""The content stages, composed: parse/inspect -> detect -> decide -> transform.

`Pipeline.run` is synchronous and free of I/O so it can run in the event
loop for small messages and in a worker thread for large ones.  Its result,
a `Decision`, carries everything the composition root needs to commit: the
verdict, the bytes to deliver, each recipient's route, and the audit facts.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from datetime import datetime

from gateway.model import Action, Envelope, Verdict
from gateway.policy import decide
from gateway.settings import Settings


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    content: bytes = field(repr=False)
    routes: tuple[str, ...]
    subject: str = ""
    message_id: str | None = None


def received_header(
    envelope: Envelope, hostname: str, queue_id: str, when: datetime, tls: bool = False
) -> bytes:
    """The trace header the gateway adds (RFC 5321 section 4.4)."""
    protocol = "UTF8SMTP" if envelope.smtputf8 else "ESMTP"
    if tls:
        protocol += "S"
    if envelope.auth_user:
        protocol += "A"
    helo = "".join(ch for ch in envelope.helo if ch.isprintable() and ch not in "()\\")[:100]
    recipient = f"\r\n\tfor <{envelope.rcpt_tos[0]}>" if len(envelope.rcpt_tos) == 1 else ""
    line = (
        f"Received: from {helo or 'unknown'} ([{envelope.peer}])\r\n"
        f"\tby {hostname} (secure-sharing gateway) with {protocol} id {queue_id}"
        f"{recipient};\r\n\t{email.utils.format_datetime(when)}\r\n"
    )
    return line.encode("utf-8")


class Pipeline:
    """Built once at start-up from the settings; `run` is called per message."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run(self, envelope: Envelope, content: bytes) -> Decision:
        verdict = decide(envelope, None, (), self.settings)
        routes = tuple("upstream" for _ in envelope.rcpt_tos)
        outbound = content if verdict.action != Action.REJECT else b""
        return Decision(verdict=verdict, content=outbound, routes=routes)
