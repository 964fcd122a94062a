"""The console's pages.  Each handler starts with `require(...)`: nothing is
read before the user and their role are known.

    /signin /signout                     everyone / signed in
    /dashboard /audit /audit/records/ID  auditor, admin
    /audit/download /integrity           auditor, admin
    /activity                            auditor, admin
    /held /held/ID                       approver, admin
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from gateway.audit import EventFilter, EventType, SearchFilter
from gateway.audit.query import NOT_SENT, SOME_NEVER, recipient_outcomes
from gateway.audit.verify import parse_anchor
from gateway.cli.audit import (
    CSV_COLUMNS,
    RECEIPTS,
    VERDICTS,
    authorised_text,
    csv_row,
    known_value,
    method_text,
    organisation_hint,
    parse_when,
    public,
)
from gateway.model import InformationType, ReasonCode
from gateway.queue import QueueState
from gateway.queue.held import NOTE_LIMIT
from gateway.web import charts
from gateway.web.activity import RECORD_PREFIX, ConsoleEvent, record_id_for
from gateway.web.auth import Busy, checked_form
from gateway.web.console import (
    client_address,
    console_of,
    flash,
    form_text,
    render,
    require,
    safe_next,
)
from gateway.web.held import decide, held_messages
from gateway.web.queries import (
    Cursor,
    console_events,
    dashboard,
    passwords_expiring,
    search_all,
    search_page,
)

PAGE_SIZE = 50
DASHBOARD_DAYS = (7, 30, 90)
DASHBOARD_TTL = 60.0
# The stages of a message's life shown across the top of its timeline.
STAGES = (
    ("received", "Received"),
    ("relayed", "Relayed"),
    ("delivery_confirmed", "Delivery confirmed"),
    ("read_confirmed", "Read"),
    ("password_released", "Password released"),
)
FILTER_FIELDS = ("since", "until", "sender", "recipient", "organisation", "type", "marking",
                 "verdict", "reason", "purpose", "authorised_by", "receipts")
# Checked as `gateway audit search --type/--reason` checks them (any case, `*`
# wildcards): an unknown one found nothing and said "No record matches".
_KNOWN_VALUES = {"type": known_value("type", InformationType),
                 "reason": known_value("reason", ReasonCode)}


# -- sign-in -------------------------------------------------------------------------


async def home(request: Request) -> Response:
    user = await require(request)
    return RedirectResponse("/dashboard" if user.can("audit") else "/held", 303)


async def signin_form(request: Request) -> Response:
    return render(request, "signin.html", {
        "next": safe_next(request.query_params.get("next")),
        "expired": request.query_params.get("expired") == "1",
        "error": None, "name": "",
    })


async def signin(request: Request) -> Response:
    console = console_of(request)
    form = await checked_form(request)
    name = form_text(form.get("name"))
    password = form.get("password")
    target = safe_next(form_text(form.get("next"), 2000))
    # The trail names a configured user only: what else was typed as a name
    # may be a password typed in the wrong field, and the trail keeps it for ever.
    known = name in console.auth.users
    tried = {"name": name if known else None, "known_user": known, "via": "password",
             "client": client_address(request)}
    throttle = console.auth.throttle
    client = console.auth.client(request)
    if throttle.blocked(client, name):
        await console.activity.record(ConsoleEvent.SIGN_IN_FAILED, **tried, throttled=True)
        return render(request, "signin.html", {
            "next": target, "expired": False, "name": name,
            "error": "Too many failed attempts. Try again in 15 minutes.",
        }, status=429)
    user = None
    if name and isinstance(password, str) and password:
        try:
            user = await console.auth.check_password(name, password[:1024])
        except Busy:
            # No password was checked: nothing to count against anyone.
            await console.activity.record(ConsoleEvent.SIGN_IN_FAILED, **tried, busy=True)
            response = render(request, "signin.html", {
                "next": target, "expired": False, "name": name,
                "error": "The console is busy. Try again in a minute.",
            }, status=503)
            response.headers["Retry-After"] = "60"
            return response
    if user is None:
        throttle.failed(client, name)
        await console.activity.record(ConsoleEvent.SIGN_IN_FAILED, **tried)
        return render(request, "signin.html", {
            "next": target, "expired": False, "name": name,
            "error": "The name or password is not right.",
        }, status=401)
    throttle.succeeded(client, name)
    reference = console.auth.start_session(request.session, user)
    await console.activity.record(ConsoleEvent.SIGNED_IN, user=user.name, role=user.role,
                                  via="password", session=reference,
                                  client=client_address(request))
    return RedirectResponse(target, 303)


async def signout(request: Request) -> Response:
    user = await require(request)
    await checked_form(request)
    console = console_of(request)
    # Recorded before the browser's copy is cleared: this event, with the
    # session's reference, is what refuses every other copy of the cookie.
    await console.activity.record(ConsoleEvent.SIGNED_OUT, user=user.name,
                                  session=console.auth.reference(request.session),
                                  client=client_address(request))
    request.session.clear()
    return RedirectResponse("/signin", 303)


# -- audit search ----------------------------------------------------------------------


def parse_search(params: QueryParams) -> tuple[SearchFilter, dict[str, Any], list[str]]:
    """The search form's fields -> a SearchFilter (as `gateway audit search`)."""
    values: dict[str, Any] = {k: params.get(k, "").strip()[:200] for k in FILTER_FIELDS}
    values["event"] = [e.strip()[:60] for e in params.getlist("event") if e.strip()][:5]
    errors: list[str] = []
    times: dict[str, datetime | None] = {"since": None, "until": None}
    for key in times:
        if values[key]:
            try:
                times[key] = parse_when(values[key], end=key == "until")
            except argparse.ArgumentTypeError as exc:
                errors.append(f"{key}: {exc}")
    if values["verdict"] and values["verdict"] not in VERDICTS:
        errors.append(f"verdict: one of {', '.join(VERDICTS)}")
        values["verdict"] = ""
    for key, check in _KNOWN_VALUES.items():
        if values[key]:
            try:
                check(values[key])
            except argparse.ArgumentTypeError as exc:
                errors.append(f"{key}: {exc}")
    if values["receipts"] and values["receipts"] not in RECEIPTS:
        errors.append(f"receipts: unknown receipts {values['receipts']!r} "
                      f"(one of: {', '.join(RECEIPTS)})")
    events = []
    known = {t.value for t in EventType}
    for text in values["event"]:
        try:
            event = EventFilter.parse(text)
        except ValueError as exc:
            errors.append(f"event: {exc}")
            continue
        if event.type not in known:
            errors.append(f"event: unknown event type {event.type!r}")
            continue
        events.append(event)
    search = SearchFilter(
        since=times["since"], until=times["until"], sender=values["sender"] or None,
        recipient=values["recipient"] or None, organisation=values["organisation"] or None,
        information_type=values["type"] or None, marking=values["marking"] or None,
        verdict=values["verdict"] or None, reason=values["reason"] or None,
        purpose=values["purpose"] or None, authorised_by=values["authorised_by"] or None,
        events=tuple(events),
        receipts_requested=RECEIPTS.get(values["receipts"]),
    )
    return search, values, errors


def _filters_for_audit(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v}


def _query_string(values: dict[str, Any], **extra: str) -> str:
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        if isinstance(value, list):
            pairs.extend((key, v) for v in value)
        elif value:
            pairs.append((key, str(value)))
    pairs.extend(extra.items())
    return str(QueryParams(pairs))


async def audit_search(request: Request) -> Response:
    await require(request, "audit")
    console = console_of(request)
    search, values, errors = parse_search(request.query_params)
    cursor = Cursor.decode(request.query_params.get("after", ""))
    page = None
    hint = hint_query = None
    started = time.perf_counter()
    if not errors:
        page = await search_page(console.query, search, cursor, PAGE_SIZE)
        if not page.documents and cursor is None and search.organisation:
            # "No record matches" alone reads as "nothing was sent to them"
            # when the organisation was typed otherwise than the allow-list
            # spells it: `gateway audit search`'s hint, and its search.
            hint = await organisation_hint(console.query, search.organisation)
            if hint is not None and "did you mean" in hint:
                wildcard = "*" + "*".join(p for p in search.organisation.split("*") if p) + "*"
                hint_query = _query_string({**values, "organisation": wildcard})
    elapsed = time.perf_counter() - started
    return render(request, "audit_search.html", {
        "values": values, "errors": errors, "page": page, "elapsed_ms": elapsed * 1000,
        "first_page": cursor is None,
        "query": _query_string(values),
        "next_query": _query_string(values, after=page.next.encode())
        if page is not None and page.next is not None else None,
        "verdicts": VERDICTS, "types": [t.value for t in InformationType],
        "reasons": [r.value for r in ReasonCode], "event_types": [t.value for t in EventType],
        "receipt_choices": list(RECEIPTS), "event_kinds": ("has", "never", SOME_NEVER),
        "organisation_hint": hint, "organisation_hint_query": hint_query,
    }, status=400 if errors else 200)


def _csv_lines(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    async def lines() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        # A download is opened in a spreadsheet: the byte-order mark makes
        # Excel read it as UTF-8, as `audit export --output` writes a file.
        yield "\ufeff" + buffer.getvalue()
        async for document in rows:
            buffer.seek(0)
            buffer.truncate()
            writer.writerow(csv_row(document))
            yield buffer.getvalue()

    return lines()


def _json_lines(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    async def lines() -> AsyncIterator[str]:
        async for document in rows:
            yield json.dumps(public(document), ensure_ascii=False) + "\n"

    return lines()


async def audit_download(request: Request) -> Response:
    user = await require(request, "audit")
    console = console_of(request)
    search, values, errors = parse_search(request.query_params)
    fmt = request.query_params.get("format", "csv")
    if errors or fmt not in {"csv", "json"}:
        raise HTTPException(400, "; ".join(errors) or "format: csv or json")
    # Audited before the first byte: what was asked for, by whom.
    await console.activity.record(ConsoleEvent.EXPORTED, user=user.name, format=fmt,
                                  filters=_filters_for_audit(values),
                                  client=client_address(request))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    rows = search_all(console.query, search)
    if fmt == "csv":
        body, media, name = _csv_lines(rows), "text/csv; charset=utf-8", f"audit-{stamp}.csv"
    else:
        body, media, name = _json_lines(rows), "application/x-ndjson", f"audit-{stamp}.jsonl"
    return StreamingResponse(body, media_type=media,
                             headers={"content-disposition": f'attachment; filename="{name}"'})


def _timeline(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's stages, each when it first happened, and for the stages
    of each recipient (relayed, confirmed, read) how many of them reached
    it: "Delivery confirmed" for a message to two, one of whom never
    confirmed, is not the whole story.  A message that was never sent
    (refused, or held and not approved) has no stage after receipt to wait
    for: `pending` says so rather than "not yet"."""
    first: dict[str, str] = {}
    reached: dict[str, set[str]] = {}
    for event in record.get("events") or []:
        first.setdefault(event["type"], event["at"])
        named = (event.get("detail") or {}).get("recipient")
        reached.setdefault(event["type"], set()).add(
            named.casefold() if isinstance(named, str) else "")
    recipients = {str(r.get("address") or "").casefold() for r in record.get("recipients") or []}
    never = bool(recipients) and all(o == NOT_SENT for o in recipient_outcomes(record))
    stages = []
    for key, label in STAGES:
        stage: dict[str, Any] = {"type": key, "label": label, "at": first.get(key),
                                 "pending": "never: not sent" if never else "not yet",
                                 "of": None}
        if key in _PER_RECIPIENT and stage["at"] and len(recipients) > 1 \
                and "" not in reached.get(key, set()):
            stage["of"] = f"{len(reached[key] & recipients)} of {len(recipients)} recipients"
        stages.append(stage)
    return stages


_PER_RECIPIENT = frozenset({"relayed", "delivery_confirmed", "read_confirmed"})


def _visible_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """Event detail for display; details never hold passwords, and anything
    named like one is masked all the same."""
    return {k: ("(hidden)" if "password" in k.lower() and k.lower() != "password_id" else v)
            for k, v in sorted(detail.items())}


async def audit_record(request: Request) -> Response:
    await require(request, "audit")
    record = await console_of(request).query.get(request.path_params["record_id"])
    if record is None:
        raise HTTPException(404, "There is no audit record with that id.")
    events = [dict(e, detail=_visible_detail(e.get("detail") or {}))
              for e in record.get("events") or []]
    # A record that reads well can still have lost events to a deletion
    # only the whole chain shows: an auditor reading this timeline after a
    # failed check must not take it for the whole story.
    last = console_of(request).integrity.last
    altered = last if last is not None and last.report is not None and not last.report.ok \
        else None
    return render(request, "audit_record.html", {
        "record": record, "events": events, "stages": _timeline(record),
        "altered": altered,
        # The approver once approved (gateway.audit.query.authoriser) and what
        # the message itself said, in the words of `gateway audit show`.
        "authorised_by": authorised_text(record),
        "method": method_text(record),
        # What became of it for each recipient (the CSV's recipient_outcomes).
        "recipients": list(zip(record.get("recipients") or [], recipient_outcomes(record),
                               strict=True)),
    })


async def audit_record_download(request: Request) -> Response:
    user = await require(request, "audit")
    console = console_of(request)
    record_id = request.path_params["record_id"]
    record = await console.query.get(record_id)
    if record is None:
        raise HTTPException(404, "There is no audit record with that id.")
    await console.activity.record(ConsoleEvent.EXPORTED, user=user.name, format="json",
                                  record=record_id, client=client_address(request))
    out: dict[str, Any] = {}
    for key, value in public(record).items():
        out[key] = value
        if key == "authorised_by":
            # Added beside it: the approver above, what the message said here.
            out["authorised_by_stated"] = record.get("authorised_by_stated")
    out["events"] = record["events"]  # with their detail, as `gateway audit show --format json`
    safe_id = "".join(c for c in record_id if c.isalnum() or c in "-_")[:64]
    return Response(json.dumps(out, ensure_ascii=False, indent=2), media_type="application/json",
                    headers={"content-disposition": f'attachment; filename="audit-{safe_id}.json"'})


# -- integrity -------------------------------------------------------------------------------


async def integrity_page(request: Request) -> Response:
    await require(request, "audit")
    integrity = console_of(request).integrity
    integrity.refresh_if_stale()
    return render(request, "integrity.html", {"integrity": integrity})


async def integrity_check(request: Request) -> Response:
    user = await require(request, "audit")
    form = await checked_form(request)
    given = form.get("anchors")
    try:
        anchors = [parse_anchor(line) for line in str(given or "").splitlines() if line.strip()]
    except ValueError as exc:
        flash(request, f"Nothing was checked: an anchor is {exc}.")
        return RedirectResponse("/integrity", 303)
    started = console_of(request).integrity.start(requested_by=user.name, anchors=anchors)
    if not started:
        flash(request, "A verification is already running.")
    else:
        flash(request, f"Verification started, with {len(anchors)} anchor(s)." if anchors
              else "Verification started.")
    return RedirectResponse("/integrity", 303)


# -- dashboard ---------------------------------------------------------------------------------


async def dashboard_page(request: Request) -> Response:
    await require(request, "audit")
    console = console_of(request)
    try:
        days = int(request.query_params.get("days", "30"))
    except ValueError:
        days = 30
    if days not in DASHBOARD_DAYS:
        days = 30
    data = console.dashboards.get(days)
    if data is None or time.time() - data.built_at > DASHBOARD_TTL:
        data = await dashboard(console.engine, days)
        console.dashboards[days] = data
    verdicts = [v for v in VERDICTS if v in data.totals] or list(VERDICTS)
    reasons = sorted({r for day in data.by_reason.values() for r in day})
    awaiting_filter = SearchFilter(
        since=datetime.now(UTC) - timedelta(days=7),
        events=(EventFilter("relayed", True), EventFilter("delivery_confirmed", False),
                EventFilter("read_confirmed", False)),
        # Ordinary mail never asked for a receipt: it is not awaiting one.
        receipts_requested=True,
    )
    awaiting = await console.query.search(awaiting_filter, limit=10)
    expiring = await passwords_expiring(console.engine, timedelta(hours=48))
    depth = await console.store.depth_by_state()
    console.integrity.refresh_if_stale()
    return render(request, "dashboard.html", {
        "days": days, "choices": DASHBOARD_DAYS, "data": data,
        "verdict_chart": charts.stacked_columns(
            f"Messages per day by verdict, last {days} days", data.days, data.by_verdict,
            verdicts, charts.VERDICT_COLOURS, width=1000, height=300),
        "reason_chart": charts.stacked_columns(
            f"Reasons per day, last {days} days", data.days, data.by_reason, reasons),
        "rejected_chart": charts.horizontal_bars(
            f"Top reasons for rejection, last {days} days", data.top_rejected),
        "has_reasons": bool(reasons),
        "awaiting": awaiting,
        "awaiting_query": _query_string({"since": "7d", "receipts": "requested", "event": [
            "has:relayed", "never:delivery_confirmed", "never:read_confirmed"]}),
        "expiring": expiring,
        "held_count": depth.get(QueueState.HELD.value, 0),
        "integrity": console.integrity,
    })


# -- console activity ---------------------------------------------------------------------------


def _day_from(moment: datetime, days: int) -> str | None:
    """The day `days` from `moment`, None past the calendar's ends (years 1 to 9999)."""
    try:
        return (moment + timedelta(days=days)).date().isoformat()  # 0001-01-02, not 1-01-02
    except OverflowError:
        return None


async def activity_page(request: Request) -> Response:
    await require(request, "audit")
    day = request.query_params.get("day", "")
    try:
        moment = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        moment = console_of(request).now()
    record_id = record_id_for(moment)
    events = await console_events(console_of(request).engine, record_id)
    return render(request, "activity.html", {
        "day": moment.date().isoformat(),
        "previous": _day_from(moment, -1),
        "following": _day_from(moment, 1),
        "events": [dict(e, detail=_visible_detail(e["detail"])) for e in events],
        "record_id": record_id, "prefix": RECORD_PREFIX,
    })


# -- held messages --------------------------------------------------------------------------------


async def held_list(request: Request) -> Response:
    await require(request, "held")
    console = console_of(request)
    messages = await held_messages(console.store, console.query, console.allow_list(),
                                   console.settings.policy.hold)
    return render(request, "held_list.html", {"messages": messages})


async def held_detail(request: Request) -> Response:
    await require(request, "held")
    console = console_of(request)
    found = await held_messages(console.store, console.query, console.allow_list(),
                                console.settings.policy.hold,
                                ids=[request.path_params["message_id"]])
    if not found:
        raise HTTPException(404, "That message is not held (it may have been decided).")
    return render(request, "held_detail.html", {"held": found[0], "note_limit": NOTE_LIMIT})


async def held_decide(request: Request) -> Response:
    user = await require(request, "held")
    console = console_of(request)
    form = await checked_form(request)
    decision = form_text(form.get("decision"))
    if decision not in {"approve", "reject"}:
        raise HTTPException(400, "Choose approve or reject.")
    message_id = request.path_params["message_id"]
    note = form_text(form.get("note"), NOTE_LIMIT)
    error = await decide(console.store, console.trail, message_id, decision == "approve",
                         user.person, note, account=user.name,
                         hostname=console.settings.server.hostname)
    if error is not None:
        flash(request, error)
        return RedirectResponse("/held", 303)
    if console.on_release is not None:
        console.on_release()  # deliver now (the message, or the sender's notice)
    outcome = ("approved: it will be delivered" if decision == "approve"
               else "rejected: it will not be delivered")
    flash(request, f"{message_id} {outcome}.")
    return RedirectResponse("/held", 303)
