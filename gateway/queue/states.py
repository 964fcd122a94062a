"""Every queue state is explicit (Postfix: incoming, active, deferred, hold)."""

from __future__ import annotations

from enum import StrEnum


class QueueState(StrEnum):
    QUEUED = "queued"  # accepted, waiting for its first attempt
    ACTIVE = "active"  # claimed by a worker (lease running)
    DEFERRED = "deferred"  # a temporary failure; next_attempt_at says when
    DELIVERED = "delivered"  # every recipient accepted by the upstream
    BOUNCED = "bounced"  # at least one recipient failed for good; sender told
    HELD = "held"  # waiting for a named authoriser
    REJECTED = "rejected"  # an authoriser refused it


# Nothing more will be done with a message in these states: its row stays
# for `gateway queue show` until [queue] keep_finished has passed.
FINISHED = (QueueState.DELIVERED, QueueState.BOUNCED, QueueState.REJECTED)


class RecipientState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
