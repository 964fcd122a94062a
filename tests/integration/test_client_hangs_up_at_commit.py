"""A client that hangs up while its message is committed.

Its session task is cancelled where it waits: often for the commit, which
goes on in the Writer.  The message is then queued, and claimed for the
dispatcher at that commit; the hand-over to the dispatcher came after the
wait, so it never happened, and the message waited for its lease (five
minutes by default) before anything sent it.  Now the commit and the
hand-over finish together whatever the client does.
"""

from __future__ import annotations

import asyncio
import socket

from gwtest import dot_stuff, make_message, wait_state
from sqlalchemy import select

from gateway.db import queue_messages


def send_and_hang_up(port: int, subject: str) -> None:
    """MAIL, RCPT, DATA and the content in one write, then close at once."""
    content = make_message(subject=subject)
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.recv(1024)  # the greeting
        conn.sendall(b"EHLO client.example\r\n")
        conn.recv(4096)
        conn.sendall(b"MAIL FROM:<alice@sender.example>\r\nRCPT TO:<bob@recipient.example>\r\n"
                     b"DATA\r\n")
        seen = b""
        while b"354" not in seen:
            seen += conn.recv(4096)
        conn.sendall(dot_stuff(content) + b".\r\n")


async def test_messages_whose_client_hung_up_go_out_without_waiting_for_the_lease(
    gateway_factory, sink
):
    gw = await gateway_factory({"queue": {"lease": "10m"}})
    subjects = [f"hang-up {n}" for n in range(8)]
    for subject in subjects:
        await asyncio.to_thread(send_and_hang_up, gw.port, subject)
    await asyncio.sleep(1.0)
    async with gw.engine.connect() as conn:
        ids = [row.id for row in await conn.execute(select(queue_messages.c.id))]
    assert ids, "no message was committed before its client hung up"
    # Whichever the gateway committed before it saw the hang-up are sent
    # now, not ten minutes later.
    for queue_id in ids:
        await wait_state(gw, queue_id, "delivered", timeout=20)
    delivered = await sink.wait(len(ids), timeout=20)
    assert len(delivered) == len(ids)
