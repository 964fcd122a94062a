"""Held messages for the approvers' pages: why each is held, and the decision.

The decision is the same transaction as `gateway held approve|reject`
(gateway/cli/held.py): the queue row leaves HELD only if it is still HELD
(two approvers cannot both decide), and the `approved` / `rejected` audit
event on the message's own record is committed with it.  Approval names the
console user as `authorised_by`; rejection wipes the content, which will
never be sent.  It runs on the gateway's own Writer rather than the CLI's
(which opens an engine per call), so on SQLite the process keeps one writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.audit import AuditQuery, AuditTrail
from gateway.model import RecipientEntry
from gateway.policy.recipients import RecipientList
from gateway.queue import QueuedMessage, QueueState, QueueStore
from gateway.queue.held import decide_held
from gateway.settings import HoldSettings


@dataclass(frozen=True, slots=True)
class HeldRecipient:
    address: str
    entry: RecipientEntry | None  # the allow-list row, None when not allowed


@dataclass(frozen=True, slots=True)
class HeldMessage:
    message: QueuedMessage
    record: dict[str, Any]  # the audit record document ({} when missing)
    recipients: tuple[HeldRecipient, ...]
    why: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.message.id

    @property
    def held_since(self) -> datetime:
        return datetime.fromtimestamp(self.message.created_at, UTC)


def hold_explanation(record: dict[str, Any], hold: HoldSettings) -> tuple[str, ...]:
    """Why the policy held it, in words, from what the record says was found.

    Only a rule that matched is named (gateway.policy.needs_hold).  The
    record keeps the information types, not how many people the findings
    are about, so the people rule is named only when it must have matched:
    the message was held and the special category rule did not apply."""
    types = record.get("information_types") or []
    out = []
    special = hold.special_category and "special_category" in types
    if special:
        out.append("special category data (health, safeguarding, ethnicity, religion, "
                   "sexuality…) was found, which needs a named authoriser")
    elif hold.min_people and types:
        out.append(f"it holds personal data about {hold.min_people} or more people, "
                   "which needs a named authoriser")
    if record.get("marking"):
        out.append(f"it carries the protective marking {record['marking']}")
    for reason in record.get("reasons") or []:
        out.append(f"{reason.get('code')}: {reason.get('text')}")
    return tuple(out) or ("the hold rule matched the personal data found",)


async def held_messages(
    store: QueueStore,
    query: AuditQuery,
    allow_list: RecipientList,
    hold: HoldSettings,
    ids: Sequence[str] | None = None,
    limit: int = 200,
) -> list[HeldMessage]:
    """Held messages (oldest first), each with its record and allow-list rows."""
    if ids is None:
        messages = await store.list([QueueState.HELD], limit)
    else:
        found = [await store.get(i) for i in ids]
        messages = [m for m in found if m is not None and m.state == QueueState.HELD.value]
    out = []
    for message in messages:
        record = await query.get(message.audit_id or message.id) or {}
        record.pop("events", None)
        recipients = tuple(HeldRecipient(r.address, allow_list.match(r.address))
                           for r in message.recipients)
        out.append(HeldMessage(message, record, recipients, hold_explanation(record, hold)))
    return out


async def decide(
    store: QueueStore,
    trail: AuditTrail,
    message_id: str,
    approve: bool,
    by: str,
    note: str,
    account: str | None = None,
    hostname: str | None = None,
) -> str | None:
    """Approve or reject a held message; None when done, else why not.
    `by` is the approver's name (`[[web.users]] full_name`), `account` the
    console account that decided."""
    return await decide_held(store, trail, message_id, approve, by, note, via="web console",
                             account=account, hostname=hostname)
