"""The console gives the account `gateway audit` gives: a held message
nobody has decided is authorised by no one yet and not sent; a search by
part of an organisation's name that finds nothing names the organisations
that contain it; the CSV download opens in a spreadsheet as UTF-8 and says
each recipient's outcome; the record page says it per recipient."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from console_support import HELD_ID, Console


def get(console: Console, path: str, user: str = "alice") -> Any:
    client = console.client()
    client.__enter__()
    try:
        console.sign_in(client, user)
        return client.get(path)
    finally:
        client.__exit__(None, None, None)


def test_a_held_message_nobody_decided_is_authorised_by_no_one_yet(console: Console) -> None:
    page = get(console, f"/audit/records/{HELD_ID}")
    assert page.status_code == 200
    assert re.search(r"<dt>Authorised by</dt><dd>no one yet: awaiting approval</dd>", page.text)
    assert re.search(r"<dt>How shared</dt><dd>not sent yet: held for authorisation "
                     r"\(it would go: email\)</dd>", page.text)


def test_no_match_by_organisation_names_those_that_contain_it(console: Console) -> None:
    page = get(console, "/audit?organisation=Riverside")
    assert page.status_code == 200
    assert "No record matches." in page.text
    assert ("no record names organisation &#34;Riverside&#34;; did you mean: "
            "&#34;Riverside NHS Trust&#34; (--organisation &#39;*Riverside*&#39;)") in page.text
    assert 'href="/audit?organisation=%2ARiverside%2A"' in page.text
    found = get(console, "/audit?organisation=*Riverside*")
    assert "REC-DELIVERED" in found.text and "did you mean" not in found.text


def test_csv_download_has_a_byte_order_mark_and_recipient_outcomes(console: Console) -> None:
    response = get(console, "/audit/download?verdict=protect&format=csv")
    assert response.status_code == 200
    assert response.content.startswith(b"\xef\xbb\xbfid,")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row["id"] for row in rows] == ["REC-DELIVERED"]
    assert list(rows[0])[-3:] == ["recipient_outcomes", "recipient_listed_as", "damaged"]
    # Its events name no recipient: the whole message's, read.
    assert rows[0]["recipient_outcomes"] == "read"
    held = get(console, "/audit/download?verdict=hold&format=csv")
    (row,) = csv.DictReader(io.StringIO(held.content.decode("utf-8-sig")))
    assert row["recipient_outcomes"] == "not sent; not sent"
    assert row["authorised_by"] == ""


def test_the_record_page_says_each_recipients_outcome(console: Console) -> None:
    page = get(console, f"/audit/records/{HELD_ID}").text
    assert re.search(r"<td>dr.jones@nhs.example</td>.*?<td>not sent</td>", page, re.S)
    page = get(console, "/audit/records/REC-DELIVERED").text
    assert re.search(r"<td>dr.jones@nhs.example</td>.*?<td>read</td>", page, re.S)
