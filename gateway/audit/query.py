"""Reading the audit trail: search, one record, export stream, report.

Searches on multi-valued fields (recipient, organisation, information type,
reason) are driven by audit_record_terms, whose index (field, value,
received_at, record_seq) answers "this recipient, newest first, between these
dates" as one index range; single-valued fields are columns of audit_records.
Values match case-insensitively; a `*` in a value is a wildcard.  Results are
the DESIGN.md record documents with their events in chain order.

A record is written once and never changed, so what happens to a message
later is an event: the approver of a held message (`gateway held
approve --by`, the console) is named by its `approved` event, and every
reader shows that approver as the record's `authorised_by` (`authoriser`);
what the message itself said stays in the document, and readers that show
both call it `authorised_by_stated`.  The view audit_records_v says the
same (migration 0011).  A held message the approver refused (`gateway held
reject`, its `rejected` event naming them `by`) was authorised by no one:
its `authorised_by` is empty, `outcome` "refused" and `decided_by` the
approver, and `--verdict reject` finds it beside the messages refused on
arrival (`decision`).  The view says the same (migration 0014).  A held
message nobody has decided yet was authorised by no one either: it is held
precisely because what it said (`authorised_by_stated`) is not enough, so
its `authorised_by` stays empty until an approver approves it
(`awaiting_approval`; the view: migration 0016).

Events are asked about as the recipient searched for had them: with
`--recipient`, `--event` counts the events of that recipient (those whose
detail names it) and the message's own (received, held, approved, ...),
not another recipient's (migration 0012).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Select,
    and_,
    case,
    cast,
    column,
    exists,
    func,
    or_,
    select,
    table,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit.chain import term_key
from gateway.audit.record import EventType, utc
from gateway.audit.soundness import unsound_rows
from gateway.db.engine import read_one_snapshot
from gateway.db.schema import audit_events, audit_record_terms, audit_records
from gateway.receipts.schema import receipt_requests

_r = audit_records
_e = audit_events
_t = audit_record_terms
# The auditors' view, for its `authorised_by` (migrations 0011, 0014, 0016):
# the one place the database works out who authorised a record.
_v = table("audit_records_v", column("id"), column("authorised_by"))

# The order in which a term filter is picked to drive the query: the most
# selective field first (an address picks a handful of records, a type many).
_DRIVING_ORDER = ("recipient", "organisation", "reason", "type")
SOME_NEVER = "some-never"


@dataclass(frozen=True, slots=True)
class EventFilter:
    """`has:TYPE`: the message had the event; `never:TYPE`: it never did (with
    `--recipient`, that recipient's); `some-never:TYPE`: some recipient it
    was relayed to never did, whoever else did ("which shares did some
    recipient never confirm": `never:` answers "no recipient confirmed",
    and a message never sent has no recipient to confirm)."""

    type: str
    present: bool  # has:TYPE (True) or never:TYPE / some-never:TYPE (False)
    each: bool = False  # some-never:TYPE: asked of each recipient relayed to

    @classmethod
    def parse(cls, text: str) -> EventFilter:
        """`has:read_confirmed`, `never:delivery_confirmed`, or a bare type (has)."""
        kind, sep, name = text.partition(":")
        if not sep:
            return cls(kind.strip().lower(), True)
        kind = kind.strip().lower()
        if kind not in {"has", "never", SOME_NEVER}:
            raise ValueError(f"{text!r}: use has:TYPE or never:TYPE, or {SOME_NEVER}:TYPE")
        return cls(name.strip().lower(), kind == "has", each=kind == SOME_NEVER)


@dataclass(frozen=True, slots=True)
class SearchFilter:
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    sender: str | None = None
    recipient: str | None = None
    organisation: str | None = None
    information_type: str | None = None
    marking: str | None = None
    verdict: str | None = None
    reason: str | None = None
    purpose: str | None = None  # text contained in the purpose
    # Text contained in who authorised it, as the readers and the view
    # audit_records_v say it (`authoriser`): a held message's approver, and
    # no one for a refusal or a message still awaiting approval.
    authorised_by: str | None = None
    events: tuple[EventFilter, ...] = ()
    # Messages the gateway asked delivery/read receipts for (True) or not
    # (False): see `_receipts_requested`.
    receipts_requested: bool | None = None

    def terms(self) -> list[tuple[str, str]]:
        pairs = [("recipient", self.recipient), ("organisation", self.organisation),
                 ("type", self.information_type), ("reason", self.reason)]
        return [(f, term_key(v.strip())) for f, v in pairs if v]


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _match(column: Any, value: str) -> ColumnElement[bool]:
    """Equality, or LIKE when the value has a `*` wildcard."""
    if "*" in value:
        pattern = "%".join(_escape_like(part) for part in value.split("*"))
        return column.like(pattern, escape="\\")  # type: ignore[no-any-return]
    return column == value  # type: ignore[no-any-return]


def _iso(value: Any) -> str:
    return utc(value).isoformat()


def _record_columns() -> list[Any]:
    return [_r.c.seq, _r.c.id, _r.c.document, _r.c.events]


# The events a record was written with are kept in its row (`events`, JSON,
# migration 0007); the later ones are rows of audit_events.  A question about
# a record's events asks both.

def _kept(dialect: str) -> Any:
    """The elements of each record's `events`, as a table joinable to it
    (column `value`; SQLite's json_each may refer to the tables before it).

    Text that is not a JSON array (edited outside the gateway; `verify`
    names the record) has no elements here rather than failing the whole
    query: on PostgreSQL a constraint refuses it (migration 0008), SQLite
    cannot add one to an existing table."""
    if dialect == "postgresql":
        elements = func.json_array_elements(cast(_r.c.events, JSON))
        return elements.table_valued("value").lateral("kept")
    readable = case((func.json_valid(_r.c.events),
                     case((func.json_type(_r.c.events) == "array", _r.c.events))))
    return func.json_each(readable).table_valued("value", "type").alias("kept")


def _kept_type(dialect: str, kept: Any) -> Any:
    if dialect == "postgresql":
        return kept.c.value.op("->>")("type")
    return case((kept.c.type == "object", func.json_extract(kept.c.value, "$.type")))


def _event_recipient(dialect: str, events: Any = _e) -> Any:
    """The recipient an event of audit_events (`events`, an alias of it)
    concerns, as its detail names it; NULL for an event of the whole message
    (received, held, approved, ...) and for a detail that is not JSON
    (verify names it)."""
    detail = events.c.detail
    if dialect == "postgresql":
        return func.audit_event_recipient(detail)  # migration 0012
    # CASE, not AND: SQLite does not promise to test json_valid first.
    return case((func.json_valid(detail), func.json_extract(detail, "$.recipient")))


# Receipt events that say what became of a message.  Before
# `receipt_unverified` (2026-11-29) a report without the receipt's token,
# which anyone who saw the queue id could write, was recorded as one of
# these with `"authenticated": false`: it never counts as a confirmation or
# a failure (the desk never released a password for it either).
_RECEIPT_TYPES = (EventType.DELIVERY_CONFIRMED.value, EventType.READ_CONFIRMED.value,
                  EventType.DELIVERY_FAILED.value)
# Event details are JSON with sorted keys and no spaces (gateway.audit.trail).
_UNVERIFIED = '%"authenticated":false%'


def _counts(event: Any) -> ColumnElement[bool]:
    """The event row (of `event`, audit_events or an alias) counts as what
    its type says: not a token-less report recorded before
    `receipt_unverified` existed."""
    return or_(event.c.type.not_in(_RECEIPT_TYPES), event.c.detail.is_(None),
               event.c.detail.not_like(_UNVERIFIED))


def counts_as_said(event: dict[str, Any]) -> bool:
    """`_counts` for an event of a document (its `type` and `detail`)."""
    detail = event.get("detail")
    return not (event.get("type") in _RECEIPT_TYPES and isinstance(detail, dict)
                and detail.get("authenticated") is False)


def _has_event(dialect: str, type_: str, recipient: str | None = None) -> ColumnElement[bool]:
    """The record (`_r`) has an event of `type_`, kept in its row or after.

    With `recipient` (lowered; `*` a wildcard) only that recipient's events
    count, and the message's own: "never delivery_confirmed" for X asks
    whether X confirmed, whoever else did.  The events kept in the record's
    row are all the message's own."""
    whose: list[ColumnElement[bool]] = []
    if recipient is not None:
        named = _event_recipient(dialect)
        whose.append(or_(named.is_(None),
                         _match(_lower(dialect, named, recipient), recipient)))
    # Its own event rows, never an enclosing query's (the report's by_event
    # reads audit_events too).
    later = exists().where(_e.c.record_id == _r.c.id, _e.c.type == type_, _counts(_e),
                           *whose).correlate_except(_e)
    return or_(_kept_has(dialect, type_), later)


def _kept_has(dialect: str, type_: str) -> ColumnElement[bool]:
    """The record (`_r`) kept an event of `type_` in its own row."""
    if dialect == "postgresql":
        return and_(
            _r.c.events.is_not(None), cast(_r.c.events, JSONB).contains([{"type": type_}])
        )
    each = _kept(dialect)
    # Its own elements, never an enclosing query's (the report joins them too).
    return exists().select_from(each).where(_kept_type(dialect, each) == type_) \
        .correlate_except(each)


def _some_recipient_never(dialect: str, type_: str) -> ColumnElement[bool]:
    """Some recipient the record's (`_r`) message was relayed to has no event
    of `type_`: neither one naming them nor one of the whole message.

    The recipients are the record's search terms (keys: addresses case-
    folded), so a message refused or still held, relayed to no one, never
    matches.  An event detail names its recipient as the message addressed
    it; lower() folds it as the key was (addresses are ASCII but for rare
    internationalised ones, which a message-wide event still covers)."""
    rcpt = _t.alias("rcpt")

    def for_recipient(kind: str) -> ColumnElement[bool]:
        ev = _e.alias(f"{kind}_ev")
        named = _event_recipient(dialect, ev)
        # The record and the recipient are the enclosing queries' own.
        return exists().where(ev.c.record_id == _r.c.id, ev.c.type == kind, _counts(ev),
                              or_(named.is_(None), func.lower(named) == rcpt.c.key)
                              ).correlate_except(ev)

    relayed = EventType.RELAYED.value
    return exists().where(
        rcpt.c.record_seq == _r.c.seq, rcpt.c.field == "recipient",
        or_(_kept_has(dialect, relayed), for_recipient(relayed)),
        ~for_recipient(type_),
    ) & ~_kept_has(dialect, type_)


def _verdict_matches(dialect: str, verdict: str) -> ColumnElement[bool]:
    """The record (`_r`) has `verdict`; `reject` also finds a held message
    the approver refused (never sent either)."""
    verdict = verdict.strip().lower()
    matched: ColumnElement[bool] = _r.c.verdict == verdict
    if verdict == REJECT:
        matched = or_(matched, and_(_r.c.verdict == HOLD,
                                    _has_event(dialect, EventType.REJECTED.value)))
    return matched


def _receipts_requested() -> ColumnElement[bool]:
    """The record's (`_r`) message asked for receipts.

    The record cannot say so itself: the desk asks (ReceiptDesk.
    wants_receipts) when the message was not refused and is, or may be,
    personal data (an encrypted attachment that could not be opened, content
    that could not be inspected: no information type for either), carries a
    marking or had a password held, and [receipts] asked for DSNs or MDNs
    then.  It writes a receipt_requests row per recipient in the message's
    enqueue transaction, keyed by the queue id the record is named by; those
    rows go only with the record (`gateway audit purge`)."""
    return exists().where(receipt_requests.c.queue_id == _r.c.id)


# SQLite's lower() folds ASCII letters only: the stored "ÉVALUATION" stays
# "Évaluation", and no text searched for, lowered in Python, equals it.
# PostgreSQL's lower() folds every letter.  On SQLite a text searched for
# that is not ASCII is matched against Python's lower() of the column, a
# function each search registers on its connection (one call; a function
# made at connect time would miss the pool's connections opened before).
# ASCII text keeps lower(), which the index on lower(sender) serves: stored
# letters outside ASCII do not lower into ASCII (but for the Kelvin sign and
# dotted capital I, which neither did before), so it finds what it found.
_UNICODE_LOWER = "gateway_unicode_lower"


def _lower(dialect: str, column: Any, searched: str) -> Any:
    """`column` lowered as the database compares it with `searched`, lowered."""
    if dialect == "sqlite" and not searched.isascii():
        return getattr(func, _UNICODE_LOWER)(column)
    return func.lower(column)


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


async def _unicode_lower_on(conn: AsyncConnection) -> None:
    if conn.dialect.name == "sqlite":
        raw = await conn.get_raw_connection()
        await raw.driver_connection.create_function(  # type: ignore[union-attr]
            _UNICODE_LOWER, 1, _unicode_lower, deterministic=True)


class AuditQuery:
    """Read-side of the trail over an engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # -- search ----------------------------------------------------------------

    def search_statement(self, f: SearchFilter, limit: int | None) -> Select[Any]:
        terms = f.terms()
        driving = next(
            (t for name in _DRIVING_ORDER for t in terms if t[0] == name and "*" not in t[1]),
            None,
        )
        conditions: list[ColumnElement[bool]] = []
        if driving is not None:
            t = _t.alias("drive")
            query = select(*_record_columns()).select_from(
                t.join(_r, _r.c.seq == t.c.record_seq)
            )
            # A record holds a key once per spelling (`value`): a message to
            # a@x and A@X has two rows of key a@x.  Only its first spelling
            # drives, so that LIMIT counts records.  The probe reads the
            # primary key (record_seq, field, value): a few rows of one
            # record per row driven.  The scan stays in the lookup index's
            # order and stops at LIMIT, as it did (EXPLAIN on both databases).
            spelling = _t.alias("spelling")
            conditions += [t.c.field == driving[0], t.c.key == driving[1], ~exists().where(
                spelling.c.record_seq == t.c.record_seq, spelling.c.field == t.c.field,
                spelling.c.key == t.c.key, spelling.c.value < t.c.value,
            )]
            time_column: Any = t.c.received_at
            order = [t.c.received_at.desc(), t.c.record_seq.desc()]
        else:
            query = select(*_record_columns())
            time_column = _r.c.received_at
            order = [_r.c.received_at.desc(), _r.c.seq.desc()]
        if f.since is not None:
            conditions.append(time_column >= utc(f.since))
        if f.until is not None:
            conditions.append(time_column < utc(f.until))
        for field, value in terms:
            if (field, value) == driving:
                continue
            other = _t.alias()
            conditions.append(exists().where(
                other.c.record_seq == _r.c.seq, other.c.field == field,
                _match(other.c.key, value),
            ))
        dialect = self.engine.dialect.name
        if f.sender:
            conditions.append(
                _match(_lower(dialect, _r.c.sender, f.sender), f.sender.strip().lower()))
        if f.marking:
            conditions.append(
                _match(_lower(dialect, _r.c.marking, f.marking), f.marking.strip().lower()))
        if f.verdict:
            conditions.append(_verdict_matches(dialect, f.verdict))
        if f.purpose:
            pattern = f"%{_escape_like(f.purpose.strip().lower())}%"
            conditions.append(
                _lower(dialect, _r.c.purpose, f.purpose).like(pattern, escape="\\"))
        if f.authorised_by:
            pattern = f"%{_escape_like(f.authorised_by.strip().lower())}%"
            conditions.append(exists().where(
                _v.c.id == _r.c.id,
                _lower(dialect, _v.c.authorised_by, f.authorised_by).like(pattern, escape="\\"),
            ))
        recipient = f.recipient.strip().lower() if f.recipient else None
        for event in f.events:
            if event.each:
                conditions.append(_some_recipient_never(dialect, event.type))
                continue
            has = _has_event(dialect, event.type, recipient)
            conditions.append(has if event.present else ~has)
        if f.receipts_requested is not None:
            asked = _receipts_requested()
            conditions.append(asked if f.receipts_requested else ~asked)
        query = query.where(and_(True, *conditions)).order_by(*order)
        if limit is not None:
            query = query.limit(limit)
        return query

    async def search(self, f: SearchFilter, limit: int | None = 100) -> list[dict[str, Any]]:
        """Matching records, newest first, each with its events."""
        async with self.engine.connect() as conn:
            await _unicode_lower_on(conn)
            rows = (await conn.execute(self.search_statement(f, limit))).all()
            return await _with_events(conn, rows, check_rows=True)

    async def count_matching(self, f: SearchFilter) -> int:
        """How many records `f` matches, however many a search's limit shows."""
        matching = self.search_statement(f, None).order_by(None).subquery()
        async with self.engine.connect() as conn:
            await _unicode_lower_on(conn)
            return int((await conn.execute(
                select(func.count()).select_from(matching))).scalar_one())

    async def organisation_named(self, organisation: str) -> bool:
        """Whether any record names `organisation` (as a search matches it)."""
        async with self.engine.connect() as conn:
            return (await conn.execute(select(exists().where(
                _t.c.field == "organisation", _match(_t.c.key, term_key(organisation.strip())),
            )))).scalar_one() is True

    async def organisations_containing(
        self, organisation: str, limit: int = 10
    ) -> tuple[list[str], bool]:
        """The organisations records name that contain the text (its `*`
        parts in order), as the allow-list spells them, and True: what a
        search for part of a name ("Constabulary") meant to ask for.  When
        none does, those the trail names (up to `limit`) and False.  Run
        only when a search by organisation found nothing: it reads the
        index's organisation keys."""
        parts = [_escape_like(p) for p in term_key(organisation.strip()).split("*") if p]
        named = [_t.c.field == "organisation"]
        async with self.engine.connect() as conn:
            for contains in ([_t.c.key.like(f"%{'%'.join(parts)}%", escape="\\")], []):
                found = [str(v) for v in (await conn.execute(
                    select(_t.c.value).where(*named, *contains).distinct()
                    .order_by(_t.c.value).limit(limit))).scalars()]
                if found or not contains:
                    return found, bool(contains)
        return [], False

    async def get(self, record_id: str) -> dict[str, Any] | None:
        """One record by its id.  The gateway's ids (queue ids) are made of
        upper-case letters and digits only, so an id typed in lower case is
        the same id; tried as typed first (ids written otherwise, such as a
        purge's, are found so)."""
        typed = record_id.strip()
        async with self.engine.connect() as conn:
            for candidate in dict.fromkeys((typed, typed.upper())):
                rows = (await conn.execute(
                    select(*_record_columns()).where(_r.c.id == candidate)
                )).all()
                if rows:
                    found = await _with_events(conn, rows, check_rows=True)
                    return found[0] if found else None
        return None

    # -- export ----------------------------------------------------------------

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(_r))).scalar_one())

    async def export(self, batch: int = 2000) -> AsyncIterator[dict[str, Any]]:
        """Every record in chain order with its events, read in keyset pages so
        that memory stays flat at any size and no long transaction is held."""
        after = -1
        while True:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(
                    select(*_record_columns()).where(_r.c.seq > after)
                    .order_by(_r.c.seq).limit(batch)
                )).all()
                if not rows:
                    return
                documents = await _with_events(conn, rows)
            after = int(rows[-1][0])
            for document in documents:
                yield document

    # -- report ----------------------------------------------------------------

    async def report(
        self, since: datetime | None, until: datetime | None, verdict: str | None = None
    ) -> dict[str, Any]:
        """Counts for an information-governance report over [since, until),
        of the records of `verdict` only when given (as `search --verdict`
        finds them: `reject` with the held messages the approver refused)."""

        def in_range(column: Any) -> list[ColumnElement[bool]]:
            out = []
            if since is not None:
                out.append(column >= utc(since))
            if until is not None:
                out.append(column < utc(until))
            return out

        async with self.engine.connect() as conn:
            # Every count of one moment: mail accepted (or a purge) while
            # the report runs must not make its figures disagree.
            await read_one_snapshot(conn)

            async def grouped(query: Select[Any]) -> dict[str, int]:
                rows = (await conn.execute(query)).all()
                pairs = [(str(k) if k is not None else "", int(n)) for k, n in rows]
                return dict(sorted(pairs, key=lambda kv: (-kv[1], kv[0])))

            dialect = conn.dialect.name
            records = in_range(_r.c.received_at)
            scoped: list[ColumnElement[bool]] = []
            if verdict:
                records.append(_verdict_matches(dialect, verdict))
                # The index's rows of those records: one probe of audit_records
                # (its primary key) per row of the period.
                scoped.append(exists().where(_r.c.seq == _t.c.record_seq,
                                             _verdict_matches(dialect, verdict))
                              .correlate_except(_r))
            total = int((await conn.execute(
                select(func.count()).select_from(_r).where(and_(True, *records))
            )).scalar_one())
            report: dict[str, Any] = {
                "since": _iso(since) if since else None,
                "until": _iso(until) if until else None,
                "verdict": verdict.strip().lower() if verdict else None,
                "records": total,
                "by_verdict": await grouped(
                    select(_r.c.verdict, func.count()).where(and_(True, *records))
                    .group_by(_r.c.verdict)
                ),
            }
            for key, field in (("by_reason", "reason"), ("by_information_type", "type"),
                               ("by_organisation", "organisation")):
                report[key] = await grouped(
                    select(_t.c.value, func.count()).where(
                        _t.c.field == field, *in_range(_t.c.received_at), *scoped
                    ).group_by(_t.c.value)
                )
            # Records none of whose recipients is on the allow-list have no
            # organisation: counted apart, so that the table accounts for
            # every record.
            report["not_on_allow_list"] = int((await conn.execute(
                select(func.count()).select_from(_r).where(
                    *records, ~exists().where(_t.c.record_seq == _r.c.seq,
                                              _t.c.field == "organisation"))
            )).scalar_one())
            # What became of the held messages: approved, refused by the
            # approver (their `rejected` event), or not decided yet.
            held = [_r.c.verdict == HOLD, *records]
            refused = _has_event(dialect, EventType.REJECTED.value)
            approved = _has_event(dialect, EventType.APPROVED.value)
            outcome = case((refused, REFUSED), (approved, APPROVED), else_=UNDECIDED)
            report["held_outcome"] = await grouped(
                select(outcome, func.count()).where(*held).group_by(outcome)
            )
            # Who authorised the shares, as `show` and the view say it: only a
            # held message's can differ from what the message said (an
            # approver, or no one), so the view, whose reading of the events
            # costs about 40 us a record, answers for the held ones alone.
            # The records that name no one (refused or awaiting approval, or
            # stating no authoriser) are counted apart, as those of no
            # organisation are.
            if dialect == "postgresql":
                # json, not jsonb: parsed for one key, not converted (a fifth less).
                stated: Any = cast(_r.c.document, JSON)["authorised_by"].as_string()
            else:
                stated = case((func.json_valid(_r.c.document),
                               func.json_extract(_r.c.document, "$.authorised_by")))
            held_by = select(_v.c.authorised_by).where(_v.c.id == _r.c.id).scalar_subquery()
            who = case((_r.c.verdict == HOLD, held_by), else_=stated)
            authorisers = await grouped(
                select(who, func.count()).where(and_(True, *records)).group_by(who))
            no_one = authorisers.pop("", 0)
            report["by_authoriser"] = authorisers
            report["authorised_by_no_one"] = no_one
            sender = func.lower(_r.c.sender)
            report["by_sender"] = await grouped(
                select(sender, func.count()).where(and_(True, *records)).group_by(sender)
            )
            # How many of these records reached each stage (e.g. how many were
            # never confirmed delivered): records with at least one such event.
            kept = _kept(dialect)
            events = union_all(
                select(_e.c.type.label("type"), _e.c.record_id.label("record_id"))
                .select_from(_e.join(_r, _r.c.id == _e.c.record_id))
                .where(_counts(_e), *records),
                select(_kept_type(dialect, kept).label("type"), _r.c.id.label("record_id"))
                .select_from(_r.join(kept, true()))
                .where(_r.c.events.is_not(None), *records),
            ).subquery("events")
            report["by_event"] = await grouped(
                select(events.c.type, func.count(func.distinct(events.c.record_id)))
                .where(events.c.type.is_not(None))  # an element edited out of shape
                .group_by(events.c.type)
            )
        return report


async def _with_events(
    conn: AsyncConnection, rows: Sequence[Any], check_rows: bool = False
) -> list[dict[str, Any]]:
    """Documents of `rows` (seq, id, document, events) with `events` in chain
    order: those kept in the record's row, then its later ones.

    Stored text that is not what the gateway wrote (not JSON, or JSON of
    another shape) can only come from an edit outside the gateway, which
    `verify` reports.  Such a record is still shown, with what its columns
    say and `damaged` naming the unreadable parts, rather than failing the
    whole search or export.  With `check_rows` (a record shown, a search's
    page) every row shown is also checked against its hash and the next
    row's link (gateway.audit.soundness): an edit that leaves readable text
    is `damaged` too.  Not for an export or a period's count, which read the
    whole trail: `verify` is the check of that."""
    documents: dict[str, dict[str, Any]] = {}
    record_seqs: dict[int, str] = {}
    event_seqs: dict[int, tuple[str, str]] = {}
    for seq, record_id, document, kept in rows:
        record_seqs[int(seq)] = str(record_id)
        damaged: list[str] = []
        doc = _document(document)
        if doc is None:
            damaged.append("document")
            doc = _unreadable_document(str(record_id))
        kept_events = _kept_events(kept)
        if kept_events is None:
            damaged.append("events")
            kept_events = []
        doc["events"] = kept_events
        if damaged:
            doc["damaged"] = damaged
        documents[str(record_id)] = doc
    ids = list(documents)
    for start in range(0, len(ids), 500):  # stay under bind-parameter limits
        chunk = ids[start:start + 500]
        events = (await conn.execute(
            select(_e.c.seq, _e.c.record_id, _e.c.at, _e.c.type, _e.c.detail)
            .where(_e.c.record_id.in_(chunk)).order_by(_e.c.seq)
        )).all()
        for seq, record_id, at, type_, detail in events:
            event_seqs[int(seq)] = (str(record_id), str(type_))
            doc = documents[str(record_id)]
            parsed = _detail(detail)
            if parsed is None and "event detail" not in doc.setdefault("damaged", []):
                doc["damaged"].append("event detail")
            doc["events"].append({"at": _iso(at), "type": type_, "detail": parsed})
    if check_rows:
        unsound = await unsound_rows(conn, list(record_seqs), list(event_seqs))
        for seq, what in sorted(unsound.items()):
            if seq in record_seqs:
                doc = documents[record_seqs[seq]]
            else:
                record_id, type_ = event_seqs[seq]
                doc, what = documents[record_id], f"event {type_}"
            # A record already shown in part is marked so: its unreadable
            # text is the edit this check finds too.
            if not doc.get("damaged"):
                doc["damaged"] = [what]
    damaged_ids = [i for i in ids if "document" in documents[i].get("damaged", ())]
    if damaged_ids:
        await _from_columns(conn, damaged_ids, documents)
    for doc in documents.values():
        doc["authorised_by_stated"] = doc.get("authorised_by")
        doc["outcome"], doc["decided_by"] = decision(doc)
        doc["authorised_by"] = authoriser(doc)
    return [documents[i] for i in ids]


def _object(text: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text is not None else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _detail(text: str) -> dict[str, Any] | None:
    return _object(text)


# The document's keys of each shape (AuditRecord.document), which every
# reader (the CLI, the console, exports) relies on.
_DOCUMENT_LISTS = ("recipients", "reasons", "attachments")  # of objects
_DOCUMENT_TEXTS = ("information_types",)  # lists of strings
_DOCUMENT_VALUES = ("subject", "consent", "authorised_by", "method")  # strings or null


HOLD = "hold"
REJECT = "reject"
# What an approver decided about a held message (`decision`, `outcome`).
APPROVED = "approved"
REFUSED = "refused"
UNDECIDED = "undecided"


def decision(document: dict[str, Any]) -> tuple[str | None, str | None]:
    """What the approver decided about the record's held message, and who:
    ("approved", name), ("refused", name), or (None, None) when no one has
    (not held, or still waiting).  A refusal is a `rejected` event naming
    its approver `by` (gateway.queue.held); one written as a message
    arrived names no one and is not a decision."""
    found: tuple[str | None, str | None] = (None, None)
    for event in document.get("events") or []:
        detail = event.get("detail") or {}
        if event.get("type") == EventType.APPROVED.value:
            by = detail.get("authorised_by") or detail.get("by")
            found = (APPROVED, str(by) if by else None)
        elif event.get("type") == EventType.REJECTED.value and detail.get("by"):
            found = (REFUSED, str(detail["by"]))
    return found


def awaiting_approval(document: dict[str, Any]) -> bool:
    """The record's message is held and no approver has decided it yet."""
    return document.get("verdict") == HOLD and decision(document)[0] is None


def authoriser(document: dict[str, Any]) -> str | None:
    """Who authorised the record's message: the approver its last `approved`
    event names, else whoever the message said (X-Authorised-By or an
    `Authorised by:` line); no one when the approver refused it (it was
    never sent), nor while it waits for one (what it said is why it was
    held, not an authorisation).  `document` is a stored one, with its
    events; a document `_with_events` read has this as `authorised_by`
    already."""
    outcome, by = decision(document)
    if outcome == REFUSED or awaiting_approval(document):
        return None
    named = document.get("authorised_by_stated", document.get("authorised_by"))
    if outcome == APPROVED and by:
        named = by
    return str(named) if named else None


def _document(text: str | None) -> dict[str, Any] | None:
    """A record's document, or None when it is not the shape it is written in."""
    document = _object(text)
    if document is None:
        return None
    for key in _DOCUMENT_LISTS:
        items = document.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return None
    for key in _DOCUMENT_TEXTS:
        items = document.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            return None
    if not all(isinstance(document.get(key), str | None) for key in _DOCUMENT_VALUES):
        return None
    return document


def _unreadable_document(record_id: str) -> dict[str, Any]:
    """What only the document holds, for one that cannot be read: the keys
    every reader expects, empty (not made up)."""
    document: dict[str, Any] = {"id": record_id}
    document.update(dict.fromkeys(_DOCUMENT_VALUES))
    document.update((key, []) for key in (*_DOCUMENT_LISTS, *_DOCUMENT_TEXTS))
    return document


def _kept_events(text: str | None) -> list[dict[str, Any]] | None:
    """The events kept in a record's row (chain.ts times), or None when
    they cannot be read."""
    if not text:
        return []
    try:
        events = [
            {"at": _iso(datetime.fromisoformat(e["at"])), "type": str(e["type"]),
             "detail": e["detail"]}
            for e in json.loads(text)
        ]
    except (ValueError, TypeError, KeyError):
        return None
    return events if all(isinstance(e["detail"], dict) for e in events) else None


async def _from_columns(
    conn: AsyncConnection, ids: list[str], documents: dict[str, dict[str, Any]]
) -> None:
    """What the columns of records with an unreadable document still say."""
    rows = (await conn.execute(
        select(_r.c.id, _r.c.message_id, _r.c.received_at, _r.c.sender, _r.c.verdict,
               _r.c.marking, _r.c.purpose).where(_r.c.id.in_(ids))
    )).all()
    for record_id, message_id, received_at, sender, verdict, marking, purpose in rows:
        documents[str(record_id)].update({
            "message_id": message_id, "received_at": _iso(received_at), "sender": sender,
            "verdict": verdict, "marking": marking, "purpose": purpose,
        })


# What became of the message for one recipient, most telling first: a read
# receipt says more than a delivery one, a deletion unread more than
# either; a failure counts only without a later receipt of arrival.
_RECIPIENT_OUTCOMES = (
    (EventType.DELETED_UNREAD.value, "deleted unread"),
    (EventType.READ_CONFIRMED.value, "read"),
    (EventType.DELIVERY_CONFIRMED.value, "delivered"),
    (EventType.DELIVERY_FAILED.value, "failed"),
    (EventType.RELAYED.value, "no receipt"),
)
NOT_SENT = "not sent"
NOT_RELAYED = "not relayed yet"


def recipient_outcomes(document: dict[str, Any]) -> list[str]:
    """For each of the record's recipients, in the order of its recipients:
    delivered, read, deleted unread, failed, no receipt (relayed, and no
    receipt said more), not relayed yet, or not sent (refused on arrival,
    refused by the approver, or still held).  From the events' details: an
    event naming no recipient is the whole message's and counts for each."""
    recipients = [str(r.get("address") or "") for r in document.get("recipients") or []]
    outcome, _ = decision(document)
    if document.get("verdict") == REJECT or outcome == REFUSED or awaiting_approval(document):
        return [NOT_SENT] * len(recipients)
    had: dict[str, set[str]] = {}
    for event in document.get("events") or []:
        if not counts_as_said(event):
            continue
        detail = event.get("detail") or {}
        named = detail.get("recipient")
        key = named.casefold() if isinstance(named, str) else ""
        had.setdefault(key, set()).add(str(event.get("type")))
    whole = had.get("", set())
    found = []
    for address in recipients:
        types = whole | had.get(address.casefold(), set())
        found.append(next((said for kind, said in _RECIPIENT_OUTCOMES if kind in types),
                          NOT_RELAYED))
    return found


_IDENTITY = ("name", "job_title", "department", "organisation", "telephone")


def recipient_identity(recipient: dict[str, Any]) -> str:
    """Who a recipient of a record is, as the allow-list said: "Name, Job
    title, ..."; "allowed by the row for @domain: ..." when a domain's row
    allowed the address (its name and job title are that row's, not
    necessarily this person's); "not on the allow-list".  A record written
    before the gateway kept `listed_as` is listed when it has an identity."""
    who = ", ".join(str(recipient[k]) for k in _IDENTITY if recipient.get(k))
    listed = recipient.get("listed_as")
    if not isinstance(listed, str) or not listed:
        if "listed_as" in recipient or not who:
            return "not on the allow-list"
        return who
    if listed.startswith("@"):
        return f"allowed by the row for {listed}" + (f": {who}" if who else "")
    return who or "on the allow-list"
