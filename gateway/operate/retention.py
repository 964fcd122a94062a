"""What `gateway audit purge` removes besides the trail: the rows the other
stages keep about messages that are finished and past `[audit] retention`.

A message leaves rows of its own outside the audit trail:

- The queue keeps a delivered, bounced or refused message's row (its
  envelope: sender, recipients, DSN parameters) and its recipients' rows
  for `gateway queue show`, after the content is cleared.  The gateway
  removes them itself after [queue] keep_finished (30 days by default);
  what a longer setting, or a gateway that was not running, left is
  removed here.
- The receipts desk keeps a row per recipient whose receipts were asked
  for, with the allow-list's name and telephone.
- The password store keeps a row per recipient after the password itself
  was released, expired or destroyed.

All of it is personal data about the same shares as the records purged,
and none of it is needed once the message is finished, so it goes with
them, in the purge's transaction and under its audit: the `purged` event
says how many rows of each went.  Without this, a purge left every
address, name and telephone number of the years it removed in these
tables, and they grew for ever.

Only finished messages go: a message still queued, deferred or held,
however old, keeps its rows, and so do its receipt requests and held
passwords.  A receipt request or a held password whose message row is
already gone goes once it is past retention itself.  A password still
held is never removed here: its TTL expires it first.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, exists, func, not_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db.schema import queue_messages, queue_recipients
from gateway.passwords.schema import held_passwords
from gateway.passwords.store import HeldState
from gateway.queue.states import FINISHED
from gateway.receipts.schema import receipt_requests

__all__ = ["remove_finished"]


async def remove_finished(conn: AsyncConnection, cutoff: datetime, dry_run: bool) -> dict[str, int]:
    """Remove (with `dry_run`: count) the rows of finished messages accepted
    before `cutoff`; rows removed per table, for the purge's audit."""
    before = cutoff.timestamp()  # queue, receipt and password times are epoch seconds
    m = queue_messages.c
    old_finished = and_(m.state.in_([s.value for s in FINISHED]), m.created_at < before)

    def message_stays(queue_id: ColumnElement[str]) -> ColumnElement[bool]:
        """Its message stays: its receipt requests and held passwords too."""
        return exists().where(m.id == queue_id, not_(old_finished))

    r, h = receipt_requests.c, held_passwords.c
    targets = (
        (receipt_requests, and_(r.created_at < before, not_(message_stays(r.queue_id)))),
        # A password still held, or on its way (its email may yet fail and
        # hold it again), stays.
        (held_passwords, and_(h.created_at < before,
                              h.state.not_in([HeldState.HELD.value, HeldState.QUEUED.value]),
                              not_(message_stays(h.queue_id)))),
        # Recipients before their message (the foreign key), counted apart.
        (queue_recipients, queue_recipients.c.message_id.in_(
            select(m.id).where(old_finished).scalar_subquery())),
        (queue_messages, old_finished),
    )
    removed: dict[str, int] = {}
    for table, condition in targets:
        if dry_run:
            found = await conn.execute(select(func.count()).select_from(table).where(condition))
            removed[table.name] = int(found.scalar_one())
        else:
            result = await conn.execute(delete(table).where(condition))
            removed[table.name] = int(result.rowcount or 0)
    return removed
