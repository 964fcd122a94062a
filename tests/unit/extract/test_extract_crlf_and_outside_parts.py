"""Mail as it arrives over SMTP, and text MIME keeps outside its parts; each
used to leave personal data in clear, or refuse ordinary mail.

- A base64 block pasted into a body with CRLF line ends (every message
  received over SMTP) was never decoded: its marker's `$` does not match
  before "\\r".  `gateway scan` of the same message saved with LF line ends
  refused it, the live gateway delivered it.  CRLF, LF and CR bodies now
  give the same reading, for every encoding a file can be written out in.
- A multipart's preamble (before the first boundary) and epilogue (after the
  closing one, where a whole part can be written) were relayed unread.  They
  are read as message text; a part after the closing boundary is also a
  problem (a lenient reader may take it for a part).  Protecting the message
  drops them rather than keeping them beside the protected file.
- A forwarded message attached as message/rfc822 in base64 (RFC 2046 forbids
  it, some mail programs do it) was read as a damaged text file and refused;
  it is decoded and read as the attached message it is.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import quopri
import random
from pathlib import Path
from types import ModuleType

import pytest
from faker import Faker
from fixtures_content import aes_zip

from gateway.extract import ExtractContext, ExtractedText, build_registry
from gateway.extract.detect import HTML, TEXT
from gateway.inspect import inspect_message
from gateway.model import Action, Envelope, InformationType, Problem, ReasonCode
from gateway.parse import ContentLimits, parse_message
from gateway.pipeline import Pipeline
from gateway.settings import Settings


def _synthetic_ids() -> ModuleType:
    """tests/unit/detect/synthetic_ids.py, which is not on this module's path."""
    path = Path(__file__).parents[1] / "detect" / "synthetic_ids.py"
    spec = importlib.util.spec_from_file_location("synthetic_ids_for_crlf", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_IDS = _synthetic_ids()
_RNG = random.Random(20261129)
_FAKE = Faker("en_GB")
_FAKE.seed_instance(1129)
PEOPLE = [
    (_FAKE.first_name() + " " + _FAKE.last_name(),
     _FAKE.date_of_birth(minimum_age=4, maximum_age=15).strftime("%d/%m/%Y"),
     _IDS.nhs_number(_RNG).replace(" ", ""))
    for _ in range(6)
]
NHS = PEOPLE[0][2]
NHS_SPACED = f"{NHS[:3]} {NHS[3:6]} {NHS[6:]}"
CSV = "Name,Date of birth,NHS number\r\n" + "".join(
    f"{name},{born},{nhs}\r\n" for name, born, nhs in PEOPLE
)
RECORD = f"Referral for {PEOPLE[0][0]}, NHS number {NHS_SPACED}, seen last week.\n" * 3
REGISTRY = build_registry()
ENVELOPE = Envelope("worker@council.example", ("team@recipient.example",))
RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
)
HEAD = (
    "From: worker@council.example\r\nTo: team@recipient.example\r\nSubject: Update\r\n"
    "Message-ID: <crlf-1@council.example>\r\nMIME-Version: 1.0\r\n"
)
LINE_ENDS = [
    pytest.param("\r\n", id="crlf"),
    pytest.param("\n", id="lf"),
    pytest.param("\r", id="cr"),
]


def extract(data: bytes, fmt: str) -> tuple[list[ExtractedText], list[Problem]]:
    ctx = ExtractContext.start(ContentLimits(), REGISTRY, "1")
    return REGISTRY.extract(data, ctx, fmt), ctx.problems


def joined(texts: list[ExtractedText]) -> str:
    return "\n".join(t.text for t in texts)


def with_ends(text: str, end: str) -> str:
    return end.join(text.splitlines()) + end


def pasted_base64(data: bytes) -> str:
    """A file copied into a body as `base64` wraps it: 76 columns."""
    return base64.encodebytes(data).decode()


def pipeline(tmp_path: Path, mode: str = "enforce") -> Pipeline:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    return Pipeline(
        Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": mode}})
    )


def multipart(body: str, *, preamble: str = "", epilogue: str = "") -> bytes:
    return (
        f"{HEAD}Content-Type: multipart/mixed; boundary=\"B0UNDARY\"\r\n\r\n{preamble}"
        f"--B0UNDARY\r\nContent-Type: text/plain\r\n\r\n{body}\r\n"
        f"--B0UNDARY--\r\n{epilogue}"
    ).encode()


# -- pasted base64 with any line ends ----------------------------------------------------


@pytest.mark.parametrize("end", LINE_ENDS)
def test_a_pasted_base64_csv_is_read_whatever_the_line_ends(end: str) -> None:
    body = with_ends(f"Attached below:\n\n{pasted_base64(CSV.encode())}\nThanks", end)
    texts, problems = extract(body.encode(), TEXT)
    assert NHS in joined(texts)
    assert any(t.member == "(base64 block)" for t in texts)
    assert problems == []


@pytest.mark.parametrize("end", LINE_ENDS)
def test_a_pasted_base64_block_in_html_is_read_whatever_the_line_ends(end: str) -> None:
    html = with_ends(f"<p>Below:</p>\n<pre>\n{pasted_base64(CSV.encode())}</pre>", end)
    texts, problems = extract(html.encode(), HTML)
    assert NHS in joined(texts)
    assert problems == []


def _uuencoded(data: bytes) -> str:
    lines = [binascii.b2a_uu(data[at : at + 45], backtick=True).decode()
             for at in range(0, len(data), 45)]
    return "begin 644 notes.txt\n" + "".join(lines) + "`\nend\n"


def _yencoded(data: bytes) -> str:
    out = [f"=ybegin line=128 size={len(data)} name=notes.txt"]
    line = ""
    for byte in data:
        code = (byte + 42) % 256
        line += f"={chr((code + 64) % 256)}" if code in (0, 10, 13, 61) else chr(code)
        if len(line) >= 128:
            out.append(line)
            line = ""
    out += [line, f"=yend size={len(data)} crc32={binascii.crc32(data):08x}"]
    return "\n".join(out) + "\n"


WRITTEN_OUT = [
    pytest.param(_uuencoded(RECORD.encode()), id="uuencode"),
    pytest.param("begin-base64 644 notes.txt\n" + pasted_base64(RECORD.encode()) + "====\n",
                 id="begin-base64"),
    pytest.param(_yencoded(RECORD.encode()), id="yenc"),
    pytest.param("see data:text/plain;base64," + base64.b64encode(RECORD.encode()).decode()
                 + " please\n", id="data-uri"),
]


@pytest.mark.parametrize("end", LINE_ENDS)
@pytest.mark.parametrize("written", WRITTEN_OUT)
def test_every_file_written_out_is_read_whatever_the_line_ends(written: str, end: str) -> None:
    if end == "\r" and written.startswith("=ybegin"):
        pytest.skip("yEnc lines end in LF or CRLF; a bare CR is data to it")
    body = with_ends(f"Hi,\n{written}Bye", end)
    texts, problems = extract(body.encode("latin-1"), TEXT)
    assert NHS_SPACED in joined(texts)
    assert problems == []


@pytest.mark.parametrize("end", [pytest.param("\r\n", id="crlf"), pytest.param("\n", id="lf")])
def test_a_pasted_base64_csv_is_refused_through_the_pipeline(tmp_path: Path, end: str) -> None:
    body = with_ends(f"Attached below:\n\n{pasted_base64(CSV.encode())}\nThanks", end)
    raw = f"{HEAD}Content-Type: text/plain\r\n\r\n".encode() + body.encode()
    decision = pipeline(tmp_path).run(ENVELOPE, raw)
    assert decision.verdict.action == Action.REJECT
    found = decision.verdict.information_types
    assert InformationType.UK_NHS_NUMBER in found
    assert InformationType.DATE_OF_BIRTH in found


def test_crlf_and_lf_copies_of_a_message_are_judged_alike(tmp_path: Path) -> None:
    body = f"Attached below:\n\n{pasted_base64(CSV.encode())}\nThanks\n"
    lf = f"{HEAD}Content-Type: text/plain\r\n\r\n{body}".replace("\r\n", "\n").encode()
    crlf = lf.replace(b"\n", b"\r\n")
    run = pipeline(tmp_path).run
    assert run(ENVELOPE, crlf).verdict.information_types == run(
        ENVELOPE, lf
    ).verdict.information_types


# -- text outside the parts ---------------------------------------------------------------


def _outside(raw: bytes) -> dict[str, bytes]:
    return {
        p.path: p.payload for p in parse_message(raw).parts
        if p.path.endswith(("PREAMBLE", "EPILOGUE"))
    }


def test_the_preamble_and_epilogue_are_parts_of_text() -> None:
    raw = multipart("See attached.", preamble=f"NHS number {NHS_SPACED}\r\n\r\n",
                    epilogue=f"Born {PEOPLE[0][1]}\r\n")
    outside = _outside(raw)
    assert NHS_SPACED.encode() in outside["PREAMBLE"]
    assert PEOPLE[0][1].encode() in outside["EPILOGUE"]
    parts = [p for p in parse_message(raw).parts if p.path in outside]
    assert all(p.is_body and p.content_type not in ("text/plain", "text/html") for p in parts)


@pytest.mark.parametrize(
    ("preamble", "epilogue"),
    [
        pytest.param(f"NHS number {NHS_SPACED}\r\n", "", id="preamble"),
        pytest.param("", f"NHS number {NHS_SPACED}\r\n", id="epilogue"),
        pytest.param("", f"--B0UNDARY\r\nContent-Type: text/plain\r\n\r\nNHS number {NHS_SPACED}"
                     "\r\n--B0UNDARY--\r\n", id="part-after-close"),
        pytest.param("This is a multi-part message in MIME format.\r\n\r\n",
                     with_ends(_uuencoded(RECORD.encode()), "\r\n"), id="uuencode-in-epilogue"),
    ],
)
def test_personal_data_outside_the_parts_is_refused(
    tmp_path: Path, preamble: str, epilogue: str
) -> None:
    raw = multipart("See attached.", preamble=preamble, epilogue=epilogue)
    decision = pipeline(tmp_path).run(ENVELOPE, raw)
    assert decision.verdict.action == Action.REJECT
    assert InformationType.UK_NHS_NUMBER in decision.verdict.information_types


def test_a_part_after_the_closing_boundary_is_a_problem() -> None:
    epilogue = "--B0UNDARY\r\nContent-Type: text/plain\r\n\r\nSee you.\r\n--B0UNDARY--\r\n"
    problems = parse_message(multipart("Hi", epilogue=epilogue)).problems
    assert [(p.code, p.detail) for p in problems] == [
        ("ambiguous_mime", "a part after the closing boundary")
    ]


def test_a_second_closing_delimiter_is_no_problem() -> None:
    assert parse_message(multipart("Hi", epilogue="--B0UNDARY--\r\n")).problems == ()


def test_ordinary_mail_with_a_preamble_is_delivered(tmp_path: Path) -> None:
    raw = multipart("See you at one.",
                    preamble="This is a multi-part message in MIME format.\r\n\r\n")
    decision = pipeline(tmp_path).run(ENVELOPE, raw)
    assert decision.verdict.action == Action.DELIVER
    assert decision.content == raw
    # Text outside the parts is no attachment.
    assert inspect_message(raw).attachments == ()


def test_an_attached_messages_preamble_is_read_and_is_no_attachment(tmp_path: Path) -> None:
    inner = (
        "From: someone@council.example\r\nSubject: Notes\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=INNER\r\n\r\n"
        f"NHS number {NHS_SPACED}\r\n--INNER\r\nContent-Type: text/plain\r\n\r\nHello\r\n"
        "--INNER--\r\n"
    )
    raw = (
        f"{HEAD}Content-Type: multipart/mixed; boundary=OUTER\r\n\r\n--OUTER\r\n"
        "Content-Type: text/plain\r\n\r\nForwarding.\r\n--OUTER\r\n"
        "Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
        f"{inner}--OUTER--\r\n"
    ).encode()
    assert NHS_SPACED.encode() in _outside(raw)["2.PREAMBLE"]
    assert [a.part_path for a in inspect_message(raw).attachments] == ["2.1"]
    assert pipeline(tmp_path).run(ENVELOPE, raw).verdict.action == Action.REJECT


def test_protecting_drops_the_text_outside_the_parts(tmp_path: Path) -> None:
    other = PEOPLE[1][2]
    raw = multipart(f"NHS number {other}", preamble=f"NHS number {NHS_SPACED}\r\n\r\n",
                    epilogue=f"NHS number {NHS_SPACED}\r\n")
    decision = pipeline(tmp_path, "protect").run(ENVELOPE, raw)
    assert decision.verdict.action == Action.PROTECT
    assert decision.content
    assert other.encode() not in decision.content
    assert NHS_SPACED.encode() not in decision.content


def test_a_password_outside_the_parts_is_not_taken_for_removable(tmp_path: Path) -> None:
    # The transform edits body parts only: a password stated in the preamble
    # would leave beside its attachment while the gateway says it holds it.
    password = "Kettle-Orange-42"
    archive = aes_zip(256, {"notes.txt": RECORD.encode()}, password, read_only=True)
    raw = (
        f"{HEAD}Content-Type: multipart/mixed; boundary=B0UNDARY\r\n\r\n"
        f"Password: {password}\r\n\r\n--B0UNDARY\r\nContent-Type: text/plain\r\n\r\n"
        "See attached.\r\n--B0UNDARY\r\nContent-Type: application/zip; name=notes.zip\r\n"
        "Content-Disposition: attachment; filename=notes.zip\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + base64.encodebytes(archive).replace(b"\n", b"\r\n") + b"--B0UNDARY--\r\n"
    decision = pipeline(tmp_path, "protect").run(ENVELOPE, raw)
    assert decision.verdict.action == Action.REJECT
    assert ReasonCode.PASSWORD_IN_MESSAGE in [r.code for r in decision.verdict.reasons]
    assert password.encode() not in decision.content


# -- an attached message in a transfer encoding -----------------------------------------------


def _forward(inner: bytes, cte: str) -> bytes:
    encoded = {
        "base64": lambda: base64.encodebytes(inner).replace(b"\n", b"\r\n"),
        "quoted-printable": lambda: quopri.encodestring(inner).replace(b"\n", b"\r\n"),
    }[cte]()
    return (
        f"{HEAD}Content-Type: multipart/mixed; boundary=OUTER\r\n\r\n--OUTER\r\n"
        "Content-Type: text/plain\r\n\r\nForwarding.\r\n--OUTER\r\n"
        "Content-Type: message/rfc822\r\n"
        'Content-Disposition: attachment; filename="Rota.eml"\r\n'
        f"Content-Transfer-Encoding: {cte}\r\n\r\n"
    ).encode() + encoded + b"--OUTER--\r\n"


def _inner(body: str) -> bytes:
    return (
        "From: Bob <bob@council.example>\nTo: worker@council.example\nSubject: Rota\n"
        "Message-ID: <inner-1@council.example>\nMIME-Version: 1.0\n"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}\n"
    ).encode()


@pytest.mark.parametrize("cte", ["base64", "quoted-printable"])
def test_an_encoded_forwarded_message_is_read_as_a_message(tmp_path: Path, cte: str) -> None:
    raw = _forward(_inner("The rota for December is attached. Caf\u00e9 at ten."), cte)
    parsed = parse_message(raw)
    assert parsed.problems == ()
    assert {p.path: p.payload for p in parsed.parts}["2.1"].startswith(b"The rota for")
    assert b"Subject: Rota" in {p.path: p.payload for p in parsed.parts}["2.HEADER"]
    decision = pipeline(tmp_path).run(ENVELOPE, raw)
    assert decision.verdict.action == Action.DELIVER
    assert decision.verdict.reasons == ()


@pytest.mark.parametrize("cte", ["base64", "quoted-printable"])
def test_personal_data_in_an_encoded_forwarded_message_is_found(
    tmp_path: Path, cte: str
) -> None:
    raw = _forward(_inner(f"NHS number {NHS_SPACED}"), cte)
    decision = pipeline(tmp_path).run(ENVELOPE, raw)
    assert decision.verdict.action == Action.REJECT
    assert InformationType.UK_NHS_NUMBER in decision.verdict.information_types
    assert all(r.code != ReasonCode.UNINSPECTABLE_CONTENT for r in decision.verdict.reasons)


def test_an_attached_message_in_base64_that_does_not_decode_is_a_problem() -> None:
    raw = _forward(b"", "base64").replace(b"\r\n\r\n--OUTER--", b"\r\n\r\nAB$=CD\r\n--OUTER--")
    problems = parse_message(raw).problems
    assert [p.code for p in problems] == ["malformed_mime"]


@pytest.mark.parametrize("text", ["a\nb", "a\n", "", "\n", "a\n\n", "a",
                                  "x\r\ny\rz\x85w\u2028", "\r\n\r\n", "q\x0bw\x1ce"])
def test_lines_cut_out_when_read_are_the_texts_lines(text: str) -> None:
    """The lines of a text read for files written out in it are cut out of
    it one at a time (a 25 MB body of base64 made a third of a million
    strings at once): the same lines as `str.splitlines`."""
    from gateway.extract.embedded import _Lines

    lines = _Lines(text)
    assert list(lines) == text.splitlines()
    assert lines[0:2] == text.splitlines()[0:2]
