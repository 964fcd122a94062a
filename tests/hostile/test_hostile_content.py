"""Hostile content: header injection through encoded words, MIME bombs, zip
bombs, malformed PDFs and Office files.

Two checks for each input:
- through the gateway: a clear SMTP reply (250, 550 or 552; 451 only for
  an internal limit), bounded time, no crash, and the next connection is
  served; whatever is delivered carries no injected header;
- through the content stages and the policy (`inspect_message` + `decide`,
  enforce mode): a fail-closed verdict, never treated as clean.
"""

from __future__ import annotations

import email
import email.policy
import io
import zipfile
from pathlib import Path

import pytest
from fixtures_content import (
    NHS,
    Entry,
    build_zip,
    docx,
    mail,
    mismatched_zip,
    nested_bomb,
    overlapping_zip,
    pdf_with_text,
    ratio_bomb,
    xlsx,
)
from gwtest import gateway_config, make_message, strip_received
from hostile_support import send_data, still_serves

from gateway.inspect import inspect_message
from gateway.model import Action, Envelope
from gateway.policy import decide
from gateway.settings import Settings

pytestmark = pytest.mark.timeout(60)
# The gateway tests need one database only: SQLite keeps `make test` fast.
SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

ENVELOPE = Envelope(mail_from="alice@sender.example", rcpt_tos=("bob@recipient.example",))


@pytest.fixture
def enforce_settings(tmp_path: Path) -> Settings:
    data = gateway_config(tmp_path, "sqlite+aiosqlite:///unused.db", 25,
                          {"policy": {"mode": "enforce"}})
    data["config_dir"] = tmp_path
    return Settings.model_validate(data)


def verdict_of(raw: bytes, settings: Settings):
    inspection = inspect_message(raw)
    assert "internal_error" not in {p.code for p in inspection.problems}
    return inspection, decide(ENVELOPE, inspection, (), settings)


# --------------------------------------------------------------------------
# header injection through encoded words

INJECTIONS = {
    "subject-q": ("Subject", "=?utf-8?q?foo=0D=0ABcc:_x@evil.example?="),
    "subject-b": ("Subject", "=?utf-8?b?Zm9vDQpCY2M6IHhAZXZpbC5leGFtcGxl?="),
    "subject-lf-only": ("Subject", "=?utf-8?q?foo=0ABcc:_x@evil.example?="),
    "from-q": ("From", "=?utf-8?q?Alice=0D=0ABcc:_x@evil.example?= <alice@sender.example>"),
    "subject-two-words": ("Subject", "=?utf-8?q?a=0D?= =?utf-8?q?=0ATo:_x@evil.example?="),
}


def _injected(name: str, value: str) -> bytes:
    lines = [
        f"From: {value}" if name == "From" else "From: alice@sender.example",
        "To: bob@recipient.example",
        f"Subject: {value}" if name == "Subject" else "Subject: hello",
        "Message-ID: <inject@sender.example>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "A synthetic body.",
        "",
    ]
    return "\r\n".join(lines).encode()


def _header_names(content: bytes) -> list[str]:
    parsed = email.message_from_bytes(content, policy=email.policy.compat32)
    return [k.lower() for k in parsed]


@SQLITE
@pytest.mark.parametrize("case", list(INJECTIONS))
async def test_encoded_word_header_injection_creates_no_header(gateway, sink, case):
    name, value = INJECTIONS[case]
    raw = _injected(name, value)
    code, text = await send_data(gateway.port, raw)
    assert code in (250, 550), text
    if code == 250:
        (got,) = await sink.wait(1)
        _, relayed = strip_received(got.content)
        names = _header_names(relayed)
        assert "bcc" not in names and names.count("to") == 1, names
        assert names.count(name.lower()) == 1
        # the header travels intact, as one header, still encoded
        assert f"{name}: {value}".encode() in relayed
        assert b"\r\nBcc:" not in relayed and b"\nBcc:" not in relayed
    await still_serves(gateway, sink)


@pytest.mark.parametrize("case", list(INJECTIONS))
def test_encoded_word_injection_is_one_header_after_parsing(case):
    name, value = INJECTIONS[case]
    inspection = inspect_message(_injected(name, value))
    names = [k.lower() for k, _ in inspection.message.headers]
    assert "bcc" not in names and names.count("to") == 1
    assert names.count(name.lower()) == 1
    decoded = dict((k.lower(), v) for k, v in inspection.message.headers)[name.lower()]
    assert "\n" not in decoded and "\r" not in decoded, decoded
    if name == "Subject":
        assert "\n" not in inspection.message.subject and "\r" not in inspection.message.subject


# --------------------------------------------------------------------------
# bombs and malformed files


def _many_parts(count: int) -> bytes:
    parts = "".join(
        f"--b\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(count)
    )
    return (
        "From: alice@sender.example\r\nTo: bob@recipient.example\r\nSubject: many\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n{parts}--b--\r\n'
    ).encode()


def _deep(depth: int) -> bytes:
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth)
    )
    tail = "".join(f"\r\n--b{i}--\r\n" for i in reversed(range(depth)))
    return (
        "From: alice@sender.example\r\nTo: bob@recipient.example\r\nSubject: deep\r\n"
        f"MIME-Version: 1.0\r\n{head}Content-Type: text/plain\r\n\r\nleaf{tail}"
    ).encode()


def _zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _corrupt_pdf() -> bytes:
    good = pdf_with_text(f"NHS {NHS}")
    return good[: len(good) // 2] + b"\x00garbage" * 50


def _pdf_loop() -> bytes:
    # an object that refers to itself, a page tree that loops
    return (
        b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [2 0 R] /Count 1 >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def _docx_broken_xml() -> bytes:
    return _zip_of({
        "[Content_Types].xml": b"<Types",
        "word/document.xml": b"<w:document><w:body>" + b"<w:p>" * 50_000,
    })


def _xlsx_billion_laughs() -> bytes:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "' % n + (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10 + b'">'
            for n in range(1, 10)
        )
        + b']><sst><si><t>&lol9;</t></si></sst>'
    )
    base = zipfile.ZipFile(io.BytesIO(xlsx([["a", 1]])))
    files = {name: base.read(name) for name in base.namelist()}
    files["xl/sharedStrings.xml"] = laughs
    return _zip_of(files)


def _truncated(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


def _attach(name: str, data: bytes, ctype: str) -> bytes:
    return mail(f"see attached {name}", attachments=[(name, data, ctype)])


HOSTILE = {
    "10000-parts": lambda: _many_parts(10_000),
    "1000-deep": lambda: _deep(1000),
    "zip-42-style-nesting": lambda: _attach("42.zip", nested_bomb(6, 4), "application/zip"),
    "zip-overlapping-entries": lambda: _attach("o.zip", overlapping_zip(), "application/zip"),
    "zip-high-ratio": lambda: _attach("r.zip", ratio_bomb(), "application/zip"),
    "zip-mismatched-headers": lambda: _attach("m.zip", mismatched_zip(), "application/zip"),
    "zip-many-entries": lambda: _attach(
        "n.zip", build_zip([Entry(f"f{i}.txt", b"x") for i in range(20_000)]), "application/zip"
    ),
    "zip-truncated": lambda: _attach(
        "t.zip", _truncated(_zip_of({"a.csv": f"NHS,{NHS}\n".encode() * 2000})),
        "application/zip",
    ),
    "pdf-corrupt": lambda: _attach("c.pdf", _corrupt_pdf(), "application/pdf"),
    "pdf-self-referencing": lambda: _attach("l.pdf", _pdf_loop(), "application/pdf"),
    "pdf-header-only": lambda: _attach("h.pdf", b"%PDF-1.4\n" + b"\xff" * 5000, "application/pdf"),
    "docx-truncated": lambda: _attach(
        "t.docx", _truncated(docx([[f"NHS {NHS}"]] * 200)), "application/octet-stream"
    ),
    "docx-broken-xml": lambda: _attach("b.docx", _docx_broken_xml(), "application/octet-stream"),
    "xlsx-billion-laughs": lambda: _attach(
        "l.xlsx", _xlsx_billion_laughs(), "application/octet-stream"
    ),
    "doc-fake-ole": lambda: _attach(
        "f.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4000, "application/msword"
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_content_gets_a_fail_closed_verdict(case, enforce_settings):
    inspection, verdict = verdict_of(HOSTILE[case](), enforce_settings)
    assert inspection.problems or inspection.message.problems, "nothing noticed"
    assert verdict.action in (Action.REJECT, Action.HOLD), (verdict.action, verdict.reasons)
    assert verdict.reasons, "refused without saying why"


@SQLITE
@pytest.mark.parametrize("case", list(HOSTILE))
async def test_hostile_content_through_the_gateway(gateway_factory, sink, case):
    gw = await gateway_factory({"server": {"max_message_size": 5_000_000, "inspect_timeout": "5s"}})
    raw = HOSTILE[case]()
    code, text = await send_data(gw.port, raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    assert code in (250, 550, 552), (code, text)
    if code == 250:
        audit_id = text.split()[-1]
        async with gw.engine.connect() as db:
            from sqlalchemy import select

            from gateway.db import audit_records

            row = (await db.execute(
                select(audit_records.c.verdict).where(audit_records.c.id == audit_id)
            )).first()
        assert row is not None, "250 without an audit record"
    await still_serves(gw, sink)


def test_policy_still_delivers_a_clean_message(enforce_settings):
    """The control case: the fail-closed checks above are not 'refuse everything'."""
    _, verdict = verdict_of(make_message(body="Lunch at one?\r\n"), enforce_settings)
    assert verdict.action == Action.DELIVER
