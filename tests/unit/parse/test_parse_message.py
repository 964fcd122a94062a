"""parse_message: parts, decoding, names, limits and ambiguity, table-driven."""

from __future__ import annotations

import base64

import pytest
from fixtures_content import NHS, mail

from gateway.parse import ContentLimits, decode_text, parse_message

CRLF = "\r\n"


def raw(*lines: str) -> bytes:
    return CRLF.join(lines).encode("utf-8", "surrogateescape")


def codes(message_bytes: bytes, limits: ContentLimits | None = None) -> set[str]:
    return {p.code for p in parse_message(message_bytes, limits or ContentLimits()).problems}


def test_plain_message_is_one_body_part() -> None:
    parsed = parse_message(mail("Hello there\n"), ContentLimits())
    assert parsed.subject == "Report"
    assert [(p.path, p.content_type, p.is_body) for p in parsed.parts] == [
        ("1", "text/plain", True)
    ]
    assert parsed.from_addresses == ("alex.carter@council.example.gov.uk",)
    assert parsed.to_addresses == ("sam.patel@trust.example.nhs.uk",)
    assert parsed.problems == ()


def test_nested_multiparts_and_attached_message_are_numbered_like_imap() -> None:
    message = raw(
        "From: a@example.org",
        "Subject: nest",
        'Content-Type: multipart/mixed; boundary="outer"',
        "",
        "--outer",
        'Content-Type: multipart/alternative; boundary="alt"',
        "",
        "--alt",
        "Content-Type: text/plain",
        "",
        "plain",
        "--alt",
        "Content-Type: text/html",
        "",
        "<p>html</p>",
        "--alt--",
        "--outer",
        "Content-Type: message/rfc822",
        "Content-Disposition: attachment",
        "",
        "Subject: inner subject",
        "From: b@example.org",
        'Content-Type: multipart/mixed; boundary="in"',
        "",
        "--in",
        "Content-Type: text/plain",
        "",
        "inner body",
        "--in",
        "Content-Type: text/csv; name=data.csv",
        "",
        "a,b",
        "--in--",
        "--outer--",
        "",
    )
    parsed = parse_message(message, ContentLimits())
    shape = [(p.path, p.content_type, p.is_body, p.filename) for p in parsed.parts]
    assert shape == [
        ("1.1", "text/plain", True, None),
        ("1.2", "text/html", True, None),
        ("2.HEADER", "text/rfc822-headers", False, None),
        ("2.1", "text/plain", False, None),
        ("2.2", "text/csv", False, "data.csv"),
    ]
    assert b"inner subject" in parsed.parts[2].payload
    assert parsed.problems == ()


@pytest.mark.parametrize(
    ("cte", "body", "expected"),
    [
        ("base64", "OTQzNDc2NTkxOQ==", NHS.encode()),
        ("quoted-printable", "94347=\r\n65919=3D", b"9434765919="),
        ("7bit", NHS, NHS.encode()),
        ("8bit", "caf\udce9", b"caf\xe9"),
    ],
)
def test_transfer_encodings_are_decoded(cte: str, body: str, expected: bytes) -> None:
    message = raw(
        "Subject: x", "Content-Type: text/plain", f"Content-Transfer-Encoding: {cte}", "", body
    )
    assert parse_message(message, ContentLimits()).parts[0].payload == expected


@pytest.mark.parametrize(
    ("data", "declared", "expected"),
    [
        ("£5 café".encode(), "utf-8", "£5 café"),
        ("£5 café".encode("cp1252"), None, "£5 café"),
        ("£5 café".encode("cp1252"), "utf-8", "£5 café"),  # declared wrong: fall back
        ("£5 café".encode("cp1252"), "x-unknown-charset", "£5 café"),
        ("“quoted”".encode("cp1252"), "us-ascii", "“quoted”"),
        (b"\x81\x8d", None, "\x81\x8d"),  # not even cp1252: Latin-1 never fails
        (b"caf\\u00e9", "unicode_escape", "caf\\u00e9"),  # refused codec
    ],
)
def test_charset_fallbacks(data: bytes, declared: str | None, expected: str) -> None:
    assert decode_text(data, declared) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("=?utf-8?q?Caf=C3=A9_report?=", "Café report"),
        ("=?iso-8859-1?b?Q2Fm6Q==?= and more", "Café and more"),
        ("=?utf-8?q?split?=\r\n =?utf-8?q?_words?=", "split words"),
        ("=?bogus-charset?q?abc?=", "abc"),
        ("=?utf-8?b?aGkx1?=", "=?utf-8?b?aGkx1?="),  # broken word kept as written
        ("Caf\udce9 raw 8-bit", "Café raw 8-bit"),
    ],
)
def test_subjects_are_decoded(header: str, expected: str) -> None:
    parsed = parse_message(raw(f"Subject: {header}", "", "body"), ContentLimits())
    assert parsed.subject == expected


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('attachment; filename="plain.pdf"', "plain.pdf"),
        ("attachment; filename*=utf-8''%C2%A3%20report.pdf", "£ report.pdf"),
        ("attachment; filename*0*=utf-8''long%20; filename*1=name.csv", "long name.csv"),
        ('attachment; filename="=?utf-8?B?w6lsw6h2ZS5kb2N4?="', "élève.docx"),  # Outlook style
        ('attachment; filename="=?iso-8859-1?Q?r=E9sum=E9.pdf?="', "résumé.pdf"),
    ],
)
def test_attachment_names(disposition: str, expected: str) -> None:
    message = raw(
        "Subject: names",
        'Content-Type: multipart/mixed; boundary="b"',
        "",
        "--b",
        "Content-Type: application/octet-stream",
        f"Content-Disposition: {disposition}",
        "",
        "data",
        "--b--",
    )
    part = parse_message(message, ContentLimits()).parts[0]
    assert part.filename == expected
    assert not part.is_body


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (
            raw("Subject: x", "Content-Type: text/plain", "Content-Type: text/html", "", "body"),
            "ambiguous_mime",
        ),
        (
            raw(
                "Subject: x",
                "Content-Transfer-Encoding: base64",
                "Content-Transfer-Encoding: 7bit",
                "",
                "aGk=",
            ),
            "ambiguous_mime",
        ),
        (
            raw(
                "Subject: x",
                'Content-Type: multipart/mixed; boundary="a"; boundary="b"',
                "",
                "--a",
                "",
                "one",
                "--b",
                "",
                "two",
                "--b--",
            ),
            "ambiguous_mime",
        ),
        (raw("Subject: =?utf-8?q?hi=0D=0ABcc:_x@example.org?=", "", "body"), "ambiguous_mime"),
        (
            raw(
                "Subject: x",
                'Content-Type: multipart/mixed; boundary="b"',
                "",
                "--b",
                'Content-Disposition: attachment; filename="=?utf-8?q?a=0Ab.txt?="',
                "",
                "x",
                "--b--",
            ),
            "ambiguous_mime",
        ),
        (
            raw(
                "Subject: x",
                'Content-Type: multipart/mixed; boundary="b"',
                "Content-Transfer-Encoding: base64",
                "",
                "--b",
                "",
                "x",
                "--b--",
            ),
            "ambiguous_mime",
        ),
        (raw("Subject: x", "Content-Type: multipart/mixed", "", "no boundary"), "malformed_mime"),
        (raw("Subject: x", "Content-Transfer-Encoding: x-gzip64", "", "abc"), "malformed_mime"),
        (raw("Subject: x", "Content-Transfer-Encoding: base64", "", "aGVsbG8*#"), "malformed_mime"),
    ],
    ids=[
        "two-content-types",
        "two-transfer-encodings",
        "two-boundaries",
        "encoded-crlf-in-subject",
        "encoded-lf-in-filename",
        "encoded-multipart",
        "multipart-without-boundary",
        "unknown-transfer-encoding",
        "bad-base64",
    ],
)
def test_ambiguous_or_malformed_mime_is_a_problem(message: bytes, code: str) -> None:
    parsed = parse_message(message, ContentLimits())
    assert code in {p.code for p in parsed.problems}
    assert all("\n" not in value and "\r" not in value for _, value in parsed.headers)


def _nested(depth: int) -> bytes:
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth)
    )
    tail = "".join(f"\r\n--b{i}--\r\n" for i in reversed(range(depth)))
    return f"Subject: deep\r\n{head}Content-Type: text/plain\r\n\r\nleaf{tail}".encode()


@pytest.mark.parametrize(
    ("message", "limits", "code"),
    [
        (_nested(25), ContentLimits(), "too_deep"),
        (_nested(3000), ContentLimits(), "too_deep"),
        (
            mail(attachments=[(f"f{i}.txt", b"x", "text/plain") for i in range(12)]),
            ContentLimits(max_parts=5),
            "too_many_parts",
        ),
        (b"Subject: " + b"x" * 300_000 + b"\r\n\r\nbody", ContentLimits(), "header_too_large"),
        (
            mail(attachments=[("big.bin", b"x" * 5000, "application/octet-stream")]),
            ContentLimits(max_decoded_bytes=1000),
            "too_large",
        ),
    ],
    ids=["depth-25", "depth-3000", "parts", "header", "decoded-size"],
)
def test_limits_give_clear_problems(message: bytes, limits: ContentLimits, code: str) -> None:
    assert code in codes(message, limits)


def test_nesting_within_limit_is_fine() -> None:
    parsed = parse_message(_nested(10), ContentLimits())
    assert parsed.problems == ()
    assert parsed.parts[0].payload == b"leaf"


def test_inline_and_attached_parts() -> None:
    message = mail(
        "text body",
        html="<p>html body</p>",
        attachments=[("notes.txt", b"attached text", "text/plain")],
    )
    parts = parse_message(message, ContentLimits()).parts
    assert [(p.content_type, p.is_body) for p in parts] == [
        ("text/plain", True),
        ("text/html", True),
        ("text/plain", False),
    ]


@pytest.mark.parametrize(
    "cte_line",
    ["Content-Transfer-Encoding: base64 ", "Content-Transfer-Encoding: base64\t",
     "Content-Transfer-Encoding:\r\n base64", "Content-Transfer-Encoding: BASE64 "],
    ids=["trailing-space", "trailing-tab", "folded", "upper-case-space"],
)
@pytest.mark.parametrize("multipart", [False, True], ids=["single", "attachment"])
def test_a_transfer_encoding_with_white_space_around_it_is_still_decoded(
    cte_line: str, multipart: bool
) -> None:
    # Every mail reader decodes these; the stdlib compared the value
    # unstripped and handed the base64 text over undecoded.
    encoded = base64.encodebytes(f"name,nhs\r\nAlex Carter,{NHS}\r\n".encode()).decode()
    part = f"Content-Type: text/plain\r\n{cte_line}\r\n\r\n{encoded}"
    head = "From: a@example.org\r\nTo: b@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
    if multipart:
        message = (head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
                   "Content-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n" + part + "\r\n--b--\r\n")
    else:
        message = head + part
    parsed = parse_message(message.encode(), ContentLimits())
    assert any(NHS.encode() in p.payload for p in parsed.parts)
    assert parsed.problems == ()


def test_a_message_too_deep_to_take_apart_keeps_its_top_headers() -> None:
    """The body failed, not the header block: the subject, the Message-ID
    and the other top headers are still the message's (the sender of a
    marked message nested 3,000 deep was told its subject was unmarked)."""
    raw = b"Message-ID: <deep@council.example>\r\n" + _nested(3000)
    parsed = parse_message(raw, ContentLimits())
    assert [p.code for p in parsed.problems] == ["too_deep"]
    assert parsed.parts == ()
    assert parsed.subject == "deep"
    assert parsed.message_id == "<deep@council.example>"
    assert ("Subject", "deep") in parsed.headers
