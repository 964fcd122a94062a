"""A record says which allow-list row each recipient's identity comes from.

An `@domain` row allows every address of its domain; its name and job title
are IT's words for the domain (an office, a team), not the person the mail
went to.  The record, `audit show`, the CSV and the view audit_recipients_v
say so (`listed_as`: the row's address, "@domain", or null when the address
is not on the allow-list), through a real gateway on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import re

import aiosmtplib
from gwtest import make_message
from sqlalchemy import text
from test_audit_relay import wait_for_event

from gateway.cli.audit import CSV_COLUMNS, _csv_cells, format_record

ALLOW_LIST = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "duty.sw@children.example.gov.uk,Sam Okafor,Duty social worker,Children's Services,"
    "Northshire Council,01632 960101,\n"
    "@school.example.sch.uk,School office,Office,,St Anne's Primary,01632 960202,\n"
)


async def test_each_recipient_says_the_row_that_allowed_it(gateway_factory, sink, tmp_path):
    (tmp_path / "recipients.csv").write_text(ALLOW_LIST, encoding="utf-8")
    gw = await gateway_factory()
    to = ["Duty.SW@children.example.gov.uk", "head@school.example.sch.uk",
          "someone@elsewhere.example"]
    _, reply = await aiosmtplib.send(
        make_message(subject="Team meeting notes"), sender="alice@sender.example",
        recipients=to, hostname="127.0.0.1", port=gw.port)
    queue_id = re.search(r"Queued as (\S+)", reply).group(1)
    document = await wait_for_event(gw, queue_id, "relayed")

    assert [(r["address"], r["name"], r["listed_as"]) for r in document["recipients"]] == [
        ("Duty.SW@children.example.gov.uk", "Sam Okafor", "duty.sw@children.example.gov.uk"),
        ("head@school.example.sch.uk", "School office", "@school.example.sch.uk"),
        ("someone@elsewhere.example", "", None),
    ]

    shown = format_record(document)
    assert ("head@school.example.sch.uk  (allowed by the row for @school.example.sch.uk: "
            "School office, Office, St Anne's Primary, 01632 960202)") in shown
    assert ("Duty.SW@children.example.gov.uk  (Sam Okafor, Duty social worker, "
            "Children's Services, Northshire Council, 01632 960101)") in shown
    assert "someone@elsewhere.example  (not on the allow-list)" in shown

    out = io.StringIO()
    csv.writer(out).writerows([CSV_COLUMNS, _csv_cells(document)])
    (row,) = csv.DictReader(io.StringIO(out.getvalue()))
    assert row["recipient_listed_as"] == (
        "duty.sw@children.example.gov.uk; @school.example.sch.uk; ")

    async with gw.engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT address, name, listed_as FROM audit_recipients_v"
            " WHERE record_id = :id ORDER BY position"), {"id": queue_id})).all()
    assert [tuple(r) for r in rows] == [
        (r["address"], r["name"], r["listed_as"]) for r in document["recipients"]]


def test_a_record_written_before_listed_as_reads_as_it_did() -> None:
    """Records written before the key existed: an identity means listed."""
    old = {"recipients": [
        {"address": "a@x.example", "name": "A Person", "job_title": "GP", "department": "",
         "organisation": "Practice", "telephone": "01632 960303"},
        {"address": "b@y.example", "name": "", "job_title": "", "department": "",
         "organisation": "", "telephone": ""},
    ], "events": []}
    shown = format_record(old)
    assert "a@x.example  (A Person, GP, Practice, 01632 960303)" in shown
    assert "b@y.example  (not on the allow-list)" in shown
