"""A password written with characters that draw nothing between its own is
found where the reader sees it: in the subject, a file name, a header and
the body, as the password itself ("V\u200bq\u200b7..." is "Vq7...")."""

from __future__ import annotations

import pytest
from fixtures_content import NHS, PASSWORD, aes_zip, mail

from gateway.inspect import inspect_message, scan_text

INVISIBLE = {
    "zero-width-space": "\u200b",
    "zero-width-non-joiner": "\u200c",
    "zero-width-joiner": "\u200d",
    "word-joiner": "\u2060",
    "soft-hyphen": "\u00ad",
    "byte-order-mark": "\ufeff",
    "left-to-right-mark": "\u200e",
}


@pytest.mark.parametrize("mark", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_a_statement_reads_the_password_without_them(mark: str) -> None:
    assert [value for value, _ in scan_text(f"Password: {mark.join(PASSWORD)}.")] == [PASSWORD]
    middle = PASSWORD[:4] + mark + PASSWORD[4:]
    assert [value for value, _ in scan_text(f"The password is {middle}")] == [PASSWORD]


@pytest.mark.parametrize("mark", INVISIBLE.values(), ids=INVISIBLE.keys())
@pytest.mark.parametrize(
    ("place", "location", "removable"),
    [("body", "body", True), ("subject", "subject", False),
     ("filename", "filename", False), ("header", "header", False)],
)
def test_the_password_is_found_where_it_is_written(
    mark: str, place: str, location: str, removable: bool
) -> None:
    written = mark.join(PASSWORD)
    name = "report.zip"
    kwargs: dict[str, object] = {}
    if place == "body":
        kwargs["body"] = f"Hello,\nPassword: {written}\n"
    elif place == "subject":
        kwargs["subject"] = f"Report - password: {written}"
    elif place == "filename":
        name = f"report - password {written}.zip"
    else:
        kwargs["headers"] = {"X-Sharing-Purpose": f"Referral, password {written}"}
    archive = aes_zip(256, {"a.csv": NHS.encode()})
    inspection = inspect_message(
        mail(attachments=[(name, archive, "application/zip")], **kwargs)  # type: ignore[arg-type]
    )
    assert inspection.attachments[0].password_opens
    openers = [c for c in inspection.passwords if c.opens]
    assert [(c.location, c.removable, c.value) for c in openers] == [
        (location, removable, PASSWORD)
    ]
