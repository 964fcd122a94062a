"""Robustness: real-world oddities and generated abuse all go through inspect_message.

Every message in CPython's own `test_email` data folder, seeded random
truncations and byte mutations of a few representative messages, and MIME
bombs (10,000 parts, 1,000-deep nesting, huge headers, a deep attached-message
chain, archive bombs) must be inspected without an exception, within
pytest-timeout's per-test limit, and fail closed: a bomb yields a Problem.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from fixtures_content import (
    NHS,
    aes_zip,
    docx,
    encrypted_pdf,
    mail,
    nested_bomb,
    pdf_with_text,
    ratio_bomb,
    xlsx,
)

from gateway.inspect import inspect_message
from gateway.model import Inspection


def _email_test_data() -> Path | None:
    try:
        import test.test_email as email_tests
    except ImportError:
        return None
    folder = Path(os.path.dirname(email_tests.__file__)) / "data"
    return folder if folder.is_dir() else None


DATA = _email_test_data()
EMAIL_FILES = sorted(DATA.iterdir()) if DATA else []


def check(raw: bytes) -> Inspection:
    inspection = inspect_message(raw)
    assert "internal_error" not in {p.code for p in inspection.problems}
    return inspection


@pytest.mark.skipif(
    DATA is None,
    reason="this Python has no test.test_email data folder (the test package is absent)",
)
@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", EMAIL_FILES, ids=lambda p: p.name)
def test_cpython_email_test_data(path: Path) -> None:
    check(path.read_bytes())


def _seeds() -> list[bytes]:
    return [
        mail(f"Dear Sam,\nNHS {NHS}\nPassword: Blue42\n", html="<p>943<span>476</span>5919</p>"),
        mail(attachments=[("a.docx", docx([[f"NHS {NHS}"]]), "application/octet-stream")]),
        mail(attachments=[("a.xlsx", xlsx([["NHS", 9434765919]]), "application/octet-stream")]),
        mail(attachments=[("a.zip", aes_zip(256, {"a.csv": NHS.encode()}), "application/zip")]),
        mail(attachments=[("a.pdf", pdf_with_text(f"NHS {NHS}"), "application/pdf")]),
        mail(attachments=[("b.pdf", encrypted_pdf("x", "AES-128"), "application/pdf")]),
    ]


def _mutations(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out: list[bytes] = []
    for base in _seeds():
        for _ in range(15):
            data = bytearray(base)
            choice = rng.random()
            if choice < 0.3:
                data = data[: rng.randrange(len(data))]
            elif choice < 0.7:
                for _ in range(rng.randrange(1, 20)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
            else:
                start = rng.randrange(len(data))
                chunk = data[start : start + rng.randrange(1, 200)]
                insert_at = rng.randrange(len(data))
                data[insert_at:insert_at] = chunk * rng.randrange(1, 5)
            out.append(bytes(data))
    return out


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", range(4))
def test_random_truncations_and_mutations(seed: int) -> None:
    for raw in _mutations(seed):
        check(raw)


def _many_parts(count: int) -> bytes:
    parts = "".join(f"--b\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(count))
    return f'Subject: many\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n{parts}--b--\r\n'.encode()


def _deep(depth: int) -> bytes:
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth)
    )
    tail = "".join(f"\r\n--b{i}--\r\n" for i in reversed(range(depth)))
    return f"Subject: deep\r\n{head}Content-Type: text/plain\r\n\r\nleaf{tail}".encode()


def _deep_messages(depth: int) -> bytes:
    raw = b"Subject: leaf\r\n\r\nleaf body\r\n"
    for _ in range(depth):
        raw = b"Subject: wrap\r\nContent-Type: message/rfc822\r\n\r\n" + raw
    return raw


BOMBS = {
    "10000-parts": (_many_parts(10_000), "too_many_parts"),
    "1000-deep": (_deep(1000), "too_deep"),
    "200-deep-messages": (_deep_messages(200), "too_deep"),
    "huge-header": (
        b"Subject: x\r\nX-Junk: " + b"a" * 2_000_000 + b"\r\n\r\nbody",
        "header_too_large",
    ),
    "many-headers": (
        b"".join(b"X-H%d: v\r\n" % i for i in range(100_000)) + b"\r\nbody",
        "header_too_large",
    ),
    "long-folded-subject": (b"Subject: " + b"=?utf-8?q?a?=\r\n " * 15_000 + b"\r\n\r\nbody", None),
    "zip-ratio": (mail(attachments=[("z.zip", ratio_bomb(), "application/zip")]), "archive_bomb"),
    "zip-nested": (mail(attachments=[("z.zip", nested_bomb(), "application/zip")]), "too_deep"),
    "html-unclosed": (mail(html="<p>" + "<!--" * 50_000 + "x" * 100_000), None),
    "html-open-tags": (mail(html="<p>" + "<a " * 200_000), None),
    "html-charrefs": (mail(html="<p>" + "&#" * 300_000 + "</p>" + "<![CDATA[" * 50_000), None),
    "html-declarations": (mail(html="<p>" + "<!x" * 100_000 + "<?" * 100_000), None),
    "rtf-braces": (
        mail(attachments=[("a.rtf", b"{\\rtf1" + b"{" * 100_000, "application/rtf")]),
        "malformed_document",
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(BOMBS))
def test_mime_and_archive_bombs(name: str) -> None:
    raw, code = BOMBS[name]
    inspection = check(raw)
    if code is not None:
        assert code in {p.code for p in inspection.problems}


# Inputs the fuzzers found once; each made inspection fail with an internal
# error instead of an answer.
FOUND = sorted((Path(__file__).parent / "found").glob("*.eml"))


@pytest.mark.parametrize("path", FOUND, ids=lambda p: p.name)
def test_inputs_found_by_fuzzing_are_inspected(path: Path) -> None:
    inspection = inspect_message(path.read_bytes())
    assert not [p for p in inspection.problems if p.code == "internal_error"]


def _single_part_edges() -> list[bytes]:
    body = b"Dear Sam,\r\n.\r\nline\rbare CR\nbare LF\r\n\xe9 8-bit\r\n"
    return [
        b"Subject: a\r\n\r\n" + body,
        b"Subject: a\n\n" + body,
        b"Subject: a\r\n\n" + body,
        b"Subject: a\n\r\n" + body,
        b"Subject: a\r\r\n\r\n" + body,  # bare CR ends the headers earlier
        b"Subject: a\r\nnot a header\r\nX: b\r\n\r\n" + body,  # non-header line
        b" folded first\r\nSubject: a\r\n\r\n" + body,
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Type: text/html\r\n\r\n" + body,
        b"Content-Type: multipart/mixed\r\n\r\n" + body,  # no boundary
        b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\n" + body,
        b"Content-Type: text\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8=\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nA=3D1=\r\n2\r\n",
        b"Subject: =?utf-8?q?a=0D=0Ab?=\r\n\r\n" + body,
        b"Subject: only headers\r\n",
        b"Subject: a\r\n\r\n",
    ]


def _corpus_files() -> list[Path]:
    folder = Path(__file__).resolve().parents[1] / "data" / "corpus"
    return sorted(folder.rglob("*.eml")) if folder.is_dir() else []


def test_single_part_shortcut_parses_exactly_as_the_feed_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The body-not-split shortcut for single-part messages (gateway.parse.parser
    `_single_part`) must give what parsing the whole message gives, byte for
    byte: parts, headers, problems."""
    from gateway.parse import parser

    inputs = [p.read_bytes() for p in EMAIL_FILES + _corpus_files()]
    inputs += _single_part_edges() + _mutations(0)
    shortcut = [parser.parse_message(raw) for raw in inputs]
    used = sum(
        parser._single_part(raw, parser._HEADER_END.search(raw)) is not None for raw in inputs
    )
    monkeypatch.setattr(parser, "_single_part", lambda raw, header_end: None)
    whole = [parser.parse_message(raw) for raw in inputs]
    assert used > 50  # the shortcut was really taken for many of them
    for raw, fast, full in zip(inputs, shortcut, whole, strict=True):
        assert fast == full, raw[:200]
