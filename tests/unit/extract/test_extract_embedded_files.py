"""Files written out as text inside a text or HTML body, and bodies the
gateway read one way only; each used to leave its personal data in clear.

A uuencoded or yEnc file, a base64 block pasted into the text, a `data:`
URI in the text or in an HTML attribute: each is decoded and read as the
file it is.  A UTF-16 byte order mark on an 8-bit body no longer hides the
declared charset's reading, and a CSV cell Excel wrote as `9.434765919E+09`
is read as its digits too.  Ordinary text that only looks encoded (a PGP
signature, a hash, a long link) gains nothing and costs no problem; a
block that says it is a file but does not decode is a problem."""

from __future__ import annotations

import base64
import binascii
import importlib.util
import os
import random
import zlib
from pathlib import Path
from types import ModuleType

import pytest
from faker import Faker
from fixtures_content import Entry, build_zip, docx, pdf_with_text, png

from gateway.extract import ExtractContext, ExtractedText, build_registry
from gateway.extract.detect import CSV, HTML, TEXT
from gateway.model import Action, Envelope, InformationType, Problem
from gateway.parse import ContentLimits
from gateway.pipeline import Pipeline
from gateway.settings import Settings


def _synthetic_ids() -> ModuleType:
    """tests/unit/detect/synthetic_ids.py, which is not on this module's path."""
    path = Path(__file__).parents[1] / "detect" / "synthetic_ids.py"
    spec = importlib.util.spec_from_file_location("synthetic_ids_for_embedded", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NHS: str = _synthetic_ids().nhs_number(random.Random(20240611))  # "ddd ddd dddd"
NHS_DIGITS = NHS.replace(" ", "")
_FAKE = Faker("en_GB")
_FAKE.seed_instance(7)
NAME: str = _FAKE.name()
RECORD = f"Referral for {NAME}, NHS number {NHS}, seen at clinic last week.\n" * 3
REGISTRY = build_registry()


def extract(
    data: bytes, fmt: str, charset: str | None = None, limits: ContentLimits | None = None
) -> tuple[list[ExtractedText], list[Problem]]:
    ctx = ExtractContext.start(limits or ContentLimits(), REGISTRY, "1", charset=charset)
    return REGISTRY.extract(data, ctx, fmt), ctx.problems


def joined(texts: list[ExtractedText]) -> str:
    return "\n".join(t.text for t in texts)


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


# -- encoders, as the sending programs write them ---------------------------------------


def uuencode(data: bytes, name: str = "referral.txt") -> str:
    lines = [binascii.b2a_uu(data[at : at + 45], backtick=True).decode()
             for at in range(0, len(data), 45)]
    return f"begin 644 {name}\n" + "".join(lines) + "`\nend\n"


def yencode(data: bytes, name: str = "x.txt", line: int = 128) -> bytes:
    out = bytearray(f"=ybegin line={line} size={len(data)} name={name}\r\n".encode())
    column = 0
    for byte in data:
        code = (byte + 42) % 256
        if code in (0, 10, 13, 61) or (column == 0 and code in (9, 32, 46)):
            out += bytes((61, (code + 64) % 256))
            column += 2
        else:
            out.append(code)
            column += 1
        if column >= line:
            out += b"\r\n"
            column = 0
    if column:
        out += b"\r\n"
    crc = zlib.crc32(data)
    out += f"=yend size={len(data)} crc32={crc:08x}\r\n".encode()
    return bytes(out)


def base64_lines(data: bytes) -> str:
    return base64.encodebytes(data).decode()


# -- uuencode ---------------------------------------------------------------------------


def test_a_uuencoded_file_in_a_text_body_is_read() -> None:
    body = f"Hello,\n\nThe referral is below.\n\n{uuencode(RECORD.encode())}\nThanks\n"
    texts, problems = extract(body.encode(), TEXT)
    assert NHS in joined(texts)
    assert any(t.member == "(referral.txt)" for t in texts)
    assert problems == []


def test_a_uuencoded_file_in_base64_form_is_read() -> None:
    encoded = base64_lines(RECORD.encode())
    body = f"See below.\nbegin-base64 644 notes.txt\n{encoded}====\n"
    texts, problems = extract(body.encode(), TEXT)
    assert NHS in joined(texts)
    assert problems == []


def test_a_uuencoded_zip_is_opened() -> None:
    archive = build_zip([Entry("referral.csv", f"name,nhs\n{NAME},{NHS}\n".encode())])
    texts, problems = extract(uuencode(archive, "referral.zip").encode(), TEXT)
    assert NHS in joined(texts)
    assert problems == []


def test_a_truncated_uuencode_block_is_a_problem() -> None:
    encoded = uuencode(RECORD.encode())
    cut = encoded[: encoded.index("`\nend")]  # the mail was cut before `end`
    texts, problems = extract(f"Hi\n{cut}".encode(), TEXT)
    assert codes(problems) == ["malformed_document"]
    assert NHS not in problems[0].detail
    assert NHS in joined(texts)  # what was there is still read


def test_a_uuencode_block_that_does_not_decode_is_a_problem() -> None:
    body = "begin 644 referral.txt\nM" + "\u00e9" * 60 + "\n`\nend\n"
    _, problems = extract(body.encode(), TEXT)
    assert codes(problems) == ["malformed_document"]


# -- yEnc -------------------------------------------------------------------------------


def test_a_yenc_file_in_a_text_body_is_read() -> None:
    body = b"Hi, attached:\r\n" + yencode(RECORD.encode()) + b"Bye\r\n"
    texts, problems = extract(body, TEXT, "windows-1252")
    assert NHS in joined(texts)
    assert any(t.member == "(x.txt)" for t in texts)
    assert problems == []


def test_a_yenc_block_without_its_end_is_a_problem() -> None:
    encoded = yencode(RECORD.encode())
    body = encoded[: encoded.index(b"=yend")]
    _, problems = extract(b"Hi\r\n" + body, TEXT)
    assert codes(problems) == ["malformed_document"]


def test_a_yenc_block_of_the_wrong_size_is_a_problem() -> None:
    encoded = yencode(RECORD.encode()).replace(b"=yend size=", b"=yend size=1")
    _, problems = extract(encoded, TEXT)
    assert codes(problems) == ["malformed_document"]


# -- base64 blocks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(RECORD.encode(), id="text"),
        pytest.param(f"name,nhs number\n{NAME},{NHS}\n".encode() * 4, id="csv"),
        pytest.param(docx([[f"NHS number {NHS}"]]), id="docx"),
        pytest.param(build_zip([Entry("a.txt", RECORD.encode())]), id="zip"),
        pytest.param(RECORD.encode("utf-16"), id="utf-16-text"),
    ],
)
def test_a_base64_block_pasted_into_a_text_body_is_read(content: bytes) -> None:
    body = f"Hi,\n\nI copied the file here:\n\n{base64_lines(content)}\nRegards\n"
    texts, problems = extract(body.encode(), TEXT)
    assert NHS in joined(texts) or NHS_DIGITS in joined(texts)
    assert problems == []


def test_a_quoted_base64_block_is_read() -> None:
    quoted = "".join(f"> {line}\n" for line in base64_lines(RECORD.encode()).splitlines())
    texts, problems = extract(f"On Monday you wrote:\n{quoted}".encode(), TEXT)
    assert NHS in joined(texts)
    assert problems == []


def test_a_file_found_twice_is_read_once() -> None:
    # A link whose text is its own address: the same file in the text the
    # reader sees and in the unseen attribute.
    uri = "data:text/plain;base64," + base64.b64encode(RECORD.encode()).decode()
    texts, problems = extract(f'<p><a href="{uri}">{uri}</a></p>'.encode(), HTML)
    assert len([t for t in texts if t.member]) == 1
    assert problems == []


def test_a_base64_block_in_an_html_body_is_read() -> None:
    lines = "<br>\n".join(base64_lines(RECORD.encode()).splitlines())
    markup = f"<html><body><p>Here it is:</p><div>{lines}</div></body></html>"
    texts, problems = extract(markup.encode(), HTML)
    assert NHS in joined(texts)
    assert problems == []


def test_a_base64_block_of_paragraphs_in_outlook_html_is_read() -> None:
    lines = "".join(f"<p class=MsoNormal>{line}</p>\n"
                    for line in base64_lines(RECORD.encode()).splitlines())
    texts, problems = extract(f"<html><body>{lines}</body></html>".encode(), HTML)
    assert NHS in joined(texts)
    assert problems == []


# -- data: URIs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("data:text/plain;base64," + base64.b64encode(RECORD.encode()).decode(),
                     id="text-base64"),
        pytest.param("data:application/pdf;base64,"
                     + base64.b64encode(pdf_with_text(f"NHS number {NHS}")).decode(), id="pdf"),
        pytest.param("data:text/plain;charset=utf-8,NHS%20number%20"
                     + NHS.replace(" ", "%20"), id="percent-encoded"),
        pytest.param("DATA:text/csv;name=list.csv;BASE64,"
                     + base64.b64encode(f"nhs\n{NHS}\n".encode()).decode(), id="parameters"),
    ],
)
def test_a_data_uri_in_a_text_body_is_read(uri: str) -> None:
    texts, problems = extract(f"Please open {uri} to see it.\n".encode(), TEXT)
    assert NHS in joined(texts)
    assert problems == []


def test_a_data_uri_wrapped_over_lines_is_read_whole() -> None:
    encoded = base64_lines(RECORD.encode())
    texts, problems = extract(f"Link: data:text/plain;base64,{encoded}\nBye\n".encode(), TEXT)
    assert NHS in joined(texts)
    assert problems == []


@pytest.mark.parametrize(
    "markup",
    [
        '<p>Scan: <img src="data:application/pdf;base64,{pdf}" alt="scan"></p>',
        '<p><a href="data:text/plain;base64,{text}">the notes</a></p>',
        "<p><a href='data:text/plain,NHS%20number%20{percent}'>the notes</a></p>",
        '<p><a href=" data:text/plain;base64,{wrapped} ">the notes</a></p>',
    ],
    ids=["img-src-pdf", "a-href-text", "a-href-percent", "a-href-wrapped"],
)
def test_a_data_uri_in_an_html_attribute_is_read(markup: str) -> None:
    filled = markup.format(
        pdf=base64.b64encode(pdf_with_text(f"NHS number {NHS}")).decode(),
        text=base64.b64encode(RECORD.encode()).decode(),
        percent=NHS.replace(" ", "%20"),
        wrapped=base64_lines(RECORD.encode()).replace("\n", "&#10;"),
    )
    texts, problems = extract(filled.encode(), HTML)
    assert NHS in joined(texts)
    assert problems == []


def test_a_data_uri_picture_is_not_a_problem() -> None:
    logo = png(pixels=os.urandom(600))
    markup = f'<p>Logo <img src="data:image/png;base64,{base64.b64encode(logo).decode()}"></p>'
    texts, problems = extract(markup.encode(), HTML)
    assert problems == []
    assert joined(texts).startswith("Logo")


def test_a_web_font_in_a_style_sheet_is_not_a_problem() -> None:
    font = b"wOF2" + os.urandom(900)
    markup = ("<html><head><style>@font-face {font-family: x; src: url(data:font/woff2;base64,"
              f"{base64.b64encode(font).decode()})}}</style></head><body><p>Hello</p></body></html>")
    texts, problems = extract(markup.encode(), HTML)
    assert problems == []
    assert texts[0].text == "Hello"


def test_a_data_uri_of_bytes_of_no_known_format_is_a_problem() -> None:
    blob = base64.b64encode(random.Random(9).randbytes(600)).decode()
    _, problems = extract(f"Here: data:application/octet-stream;base64,{blob}\n".encode(), TEXT)
    assert codes(problems) == ["unsupported_format"]


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"Open data:text/plain;base64,QUJDRE%%%%VGhpcyBpcyBub3Q= now\n", TEXT),
        (b"Open data:text/plain;base64,QUJDRUZHSElKS0xNTk9QUVJTVFVW1 now\n", TEXT),
        (b'<p><a href="data:application/pdf;base64,JVBERi0x!!!broken">x</a></p>', HTML),
    ],
    ids=["text-bad-characters", "text-cut-short", "html-attribute"],
)
def test_a_data_uri_with_broken_base64_is_a_problem(data: bytes, fmt: str) -> None:
    _, problems = extract(data, fmt)
    assert codes(problems) == ["malformed_document"]


# -- bounds -----------------------------------------------------------------------------


def test_a_block_beyond_the_size_limit_is_a_limit_problem() -> None:
    body = f"Hi\n{base64_lines(RECORD.encode() * 40)}".encode()
    limits = ContentLimits(max_archive_total=2_000)
    _, problems = extract(body, TEXT, limits=limits)
    assert codes(problems) == ["too_large"]


def test_more_encoded_files_than_the_limit_is_a_limit_problem() -> None:
    body = "".join(
        f"{index} data:text/plain;base64,{base64.b64encode(f'hello {index}'.encode()).decode()}\n"
        for index in range(50)
    ).encode()
    _, problems = extract(body, TEXT, limits=ContentLimits(max_archive_entries=10))
    assert codes(problems) == ["too_large"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("begin 644 x\n" * 100_000 + "====\n" * 100_000, id="headers-then-closings"),
        pytest.param("begin 644 x\nM\n" * 100_000, id="headers-without-end"),
        pytest.param("data:, data:,%41 " * 200_000, id="data-uris"),
        pytest.param("=ybegin line=128 size=1 name=x\n" * 100_000, id="yenc-headers"),
        pytest.param("Understandingly\nABCDEFGHIJKLMNOPQRSTUV\n" * 100_000, id="word-lines"),
    ],
)
def test_hostile_text_is_read_in_one_pass(text: str) -> None:
    # Each header or line looked for its block's end again from where it
    # stands: quadratic.  The pytest timeout catches that.
    texts, _ = extract(text.encode(), TEXT)
    assert texts


# -- what only looks encoded ------------------------------------------------------------


def _armoured(kind: str, seed: int) -> str:
    blob = base64.b64encode(random.Random(seed).randbytes(540)).decode()
    lines = "\n".join(blob[at : at + 64] for at in range(0, len(blob), 64))
    return f"-----BEGIN {kind}-----\n\n{lines}\n=Xz8b\n-----END {kind}-----\n"


NOT_ENCODED = [
    pytest.param(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSee you at the meeting.\n"
        + _armoured("PGP SIGNATURE", 1), id="pgp-signed"),
    pytest.param("My key:\n" + _armoured("PGP PUBLIC KEY BLOCK", 2), id="pgp-key"),
    pytest.param("Download: https://files.example.org/share/"
                 + base64.urlsafe_b64encode(random.Random(3).randbytes(240)).decode()
                 + "?download=1\n", id="long-url"),
    pytest.param("Checksum: " + "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
                 + "\n", id="sha-256"),
    pytest.param("sha256 sums:\n" + "".join(
        f"{random.Random(seed).randbytes(32).hex()}\n" for seed in range(6)), id="hex-lines"),
    pytest.param("Thanks,\n\n-- \nJo Bloggs\nSenior Practitioner\nChildren's Services\n"
                 "Tel 01632 960001\nhttps://www.example.gov.uk\n", id="signature"),
    pytest.param("DKIM-Signature: v=1; a=rsa-sha256; d=example.org; b=\n"
                 + "".join(f"\t{line}\n" for line in base64_lines(
                     random.Random(4).randbytes(256)).splitlines()), id="forwarded-dkim"),
    pytest.param("Stuff:\n" + base64_lines(random.Random(5).randbytes(400)), id="random-bytes"),
    pytest.param("Notes\nHello\nThanks\nRegards\nAlways\nSometimes\nUnderstood\n" * 20,
                 id="one-word-lines"),
    pytest.param("Plan\nbegin 2023 with a new team\nand end the year well\nend\n",
                 id="begin-in-prose"),
    pytest.param("The data: see the attached form, then data:none,really.\n",
                 id="data-in-prose"),
]


@pytest.mark.parametrize("body", NOT_ENCODED)
def test_text_that_only_looks_encoded_gains_nothing(body: str) -> None:
    texts, problems = extract(body.encode(), TEXT)
    assert problems == []
    assert [t.member for t in texts] == [None]


def test_a_pgp_signed_html_message_gains_nothing() -> None:
    markup = f"<html><body><pre>{NOT_ENCODED[0].values[0]}</pre></body></html>"
    texts, problems = extract(str(markup).encode(), HTML)
    assert problems == []
    assert all(t.member is None for t in texts)


# -- a UTF-16 byte order mark on an 8-bit body ------------------------------------------


@pytest.mark.parametrize("declared", ["windows-1252", "utf-8", "iso-8859-1"])
@pytest.mark.parametrize("bom", [b"\xff\xfe", b"\xfe\xff"])
def test_an_8bit_body_behind_a_utf16_bom_is_read_as_declared(declared: str, bom: bytes) -> None:
    data = bom + RECORD.encode()
    texts, problems = extract(data, TEXT, declared)
    assert NHS in joined(texts)
    assert problems == []
    assert len(texts) == 2  # the byte order mark's reading is still there


def test_an_8bit_html_body_behind_a_utf16_bom_is_read_as_declared() -> None:
    data = b"\xff\xfe" + f"<p>{RECORD}</p>".encode()
    texts, _ = extract(data, HTML, "windows-1252")
    assert NHS in joined(texts)


def test_a_real_utf16_body_is_read_once() -> None:
    data = RECORD.encode("utf-16")
    texts, problems = extract(data, TEXT, "windows-1252")
    assert [t.text for t in texts] == [RECORD]
    assert problems == []


def test_a_utf8_bom_gives_one_reading() -> None:
    texts, _ = extract(b"\xef\xbb\xbf" + "Café\n".encode(), TEXT, "windows-1252")
    assert [t.text for t in texts] == ["Café\n"]


# -- CSV numbers in scientific notation -------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    [f"{NHS_DIGITS[0]}.{NHS_DIGITS[1:]}E+09", f"{NHS_DIGITS[0]}.{NHS_DIGITS[1:]}e9",
     f"{NHS_DIGITS}.0", f"{NHS_DIGITS}.00", f'"{NHS_DIGITS[0]}.{NHS_DIGITS[1:]}E+09"'],
    ids=["excel", "lower-e", "float", "float-two-places", "quoted"],
)
def test_a_number_in_scientific_notation_is_read_as_its_digits(cell: str) -> None:
    data = f"ref,nhs number,seen\n1,{cell},yes\n2,12,no\n".encode()
    texts, problems = extract(data, CSV)
    original, expanded = (t.text for t in texts)
    assert cell.strip('"') in original
    assert f"1\t{NHS_DIGITS}\tyes" in expanded
    assert problems == []


@pytest.mark.parametrize(
    "cell",
    ["9.43477E+09", "1.5", "3.0", "1.0E+15", "12345678.0", "-9.434765919E+09", "1.2E+999999",
     "0.000000001"],
    ids=["rounded-by-excel", "fraction", "small", "too-many-digits", "eight-digits", "negative",
         "huge-exponent", "tiny"],
)
def test_other_numbers_are_not_expanded(cell: str) -> None:
    texts, _ = extract(f"a,b\n1,{cell}\n".encode(), CSV)
    assert len(texts) == 1


def test_a_normal_csv_is_read_once_unchanged() -> None:
    data = f"name,nhs number,dob\n{NAME},{NHS},14/03/2011\n".encode()
    texts, problems = extract(data, CSV)
    # Besides the table, only its rows as records (gateway.extract.tabular):
    # no float's digits.
    assert [t.text for t in texts] == [
        f"name\tnhs number\tdob\n{NAME}\t{NHS}\t14/03/2011\n",
        f"Name: {NAME}\tnhs number: {NHS}\tDate of birth: 14/03/2011\n",
    ]
    assert problems == []


# -- the whole pipeline -----------------------------------------------------------------

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
)
HEAD = (
    "From: worker@council.example\r\nTo: team@recipient.example\r\nSubject: Notes\r\n"
    "Message-ID: <embedded-1@council.example>\r\nMIME-Version: 1.0\r\n"
)
MULTIPART = "multipart/mixed; boundary=XYZ"


def _csv_attachment() -> bytes:
    return (
        "--XYZ\r\nContent-Type: text/plain\r\n\r\nSee the list.\r\n--XYZ\r\n"
        "Content-Type: text/csv\r\nContent-Disposition: attachment; filename=list.csv\r\n\r\n"
        f"ref,nhs number\r\n1,{NHS_DIGITS[0]}.{NHS_DIGITS[1:]}E+09\r\n--XYZ--\r\n"
    ).encode()


IN_CLEAR = [
    pytest.param("text/plain", f"Hi\n\n{uuencode(RECORD.encode())}".encode(), id="uuencode"),
    pytest.param("text/plain; charset=windows-1252", yencode(RECORD.encode()), id="yenc"),
    pytest.param("text/plain", f"File:\n{base64_lines(RECORD.encode())}".encode(),
                 id="base64-block"),
    pytest.param("text/plain", ("see data:text/plain;base64,"
                 + base64.b64encode(RECORD.encode()).decode() + " thanks").encode(),
                 id="data-uri-text"),
    pytest.param("text/html", ('<p>see <a href="data:application/pdf;base64,'
                 + base64.b64encode(pdf_with_text(f"NHS number {NHS}")).decode()
                 + '">the scan</a></p>').encode(), id="data-uri-html"),
    pytest.param("text/plain; charset=windows-1252", b"\xff\xfe" + RECORD.encode(),
                 id="utf16-bom-on-8bit"),
    pytest.param(MULTIPART, _csv_attachment(), id="csv-scientific"),
]


@pytest.mark.parametrize(("content_type", "body"), IN_CLEAR)
def test_the_message_is_not_delivered_in_clear(
    tmp_path: Path, content_type: str, body: bytes
) -> None:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    settings = Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": "enforce"}})
    raw = f"{HEAD}Content-Type: {content_type}\r\n\r\n".encode() + body + b"\r\n"
    decision = Pipeline(settings).run(
        Envelope("worker@council.example", ("team@recipient.example",)), raw
    )
    assert decision.verdict.action != Action.DELIVER
    assert decision.verdict.reasons
    assert InformationType.UK_NHS_NUMBER in decision.verdict.information_types


def test_a_broken_uuencode_block_is_not_delivered(tmp_path: Path) -> None:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    settings = Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": "enforce"}})
    encoded = uuencode(RECORD.encode())
    raw = (f"{HEAD}Content-Type: text/plain\r\n\r\nHi\r\n"
           f"{encoded[: encoded.index('`')]}").encode()
    decision = Pipeline(settings).run(
        Envelope("worker@council.example", ("team@recipient.example",)), raw
    )
    assert decision.verdict.action != Action.DELIVER
    assert decision.verdict.reasons


def test_a_pgp_signed_message_is_still_delivered(tmp_path: Path) -> None:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    settings = Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": "enforce"}})
    body = str(NOT_ENCODED[0].values[0]).replace("\n", "\r\n")
    raw = f"{HEAD}Content-Type: text/plain\r\n\r\n{body}".encode()
    decision = Pipeline(settings).run(
        Envelope("worker@council.example", ("team@recipient.example",)), raw
    )
    assert decision.verdict.action == Action.DELIVER
    assert decision.verdict.reasons == ()
