"""The durable outbound queue.

Flow: the receive stage hands an accepted message to `QueueStore.enqueue`,
which writes the message, its recipients and its audit record in one
transaction through the group-commit `Writer` (many concurrent enqueues share
one commit/fsync) and returns only once that transaction is durable.  The
message comes back claimed by this process, so delivery starts at once
without a database round trip.  Delivery workers report each attempt with
`record_attempt`; `claim_due` picks up deferred messages and the claims of
crashed processes whose lease ran out (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so several processes share one database and each message is
delivered once).
"""

from gateway.queue.backoff import next_delay
from gateway.queue.states import QueueState, RecipientState
from gateway.queue.store import NewMessage, QueuedMessage, QueuedRecipient, QueueStore
from gateway.queue.writer import Writer

__all__ = [
    "NewMessage",
    "QueueState",
    "QueueStore",
    "QueuedMessage",
    "QueuedRecipient",
    "RecipientState",
    "Writer",
    "next_delay",
]
