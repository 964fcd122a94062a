"""JSON `\\uXXXX` escapes and XML character references are read as the
characters they stand for.

`{"nhs": "\\u0039\\u0034\\u0033 476 5919"}` is a number to anyone who loads
the file, and `<nhs>&#57;&#52;&#51; 476 5919</nhs>` to anyone who opens it
in a browser; both used to be read as plain text only, escapes and all.
JSON is parsed with the standard library (bounded: size, and nesting that
would exhaust the stack is a problem, not a crash); XML is parsed with
expat, or has its references decoded when it does not parse.  The raw
text is still read too, so context words stay next to the values.
"""

from __future__ import annotations

import codecs
import importlib
import json
import random
import sys
from pathlib import Path

import pytest
from faker import Faker
from fixtures_content import mail

from gateway.extract import ExtractContext, build_registry, detect_format
from gateway.model import Action, Envelope, InformationType, Problem
from gateway.parse import ContentLimits
from gateway.pipeline import Pipeline
from gateway.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "detect"))
from synthetic_ids import nhs_number

REGISTRY = build_registry()
NHS = nhs_number(random.Random(8259))
DIGITS = NHS.replace(" ", "")
_FAKE = Faker("en_GB")
_FAKE.seed_instance(8259)
NAME = _FAKE.name()


def escaped(text: str) -> str:
    """Every character as a JSON \\uXXXX escape."""
    return "".join(f"\\u{ord(c):04x}" for c in text)


def decimal_refs(text: str) -> str:
    return "".join(f"&#{ord(c)};" for c in text)


def hex_refs(text: str) -> str:
    return "".join(f"&#x{ord(c):x};" for c in text)


def extract(
    data: bytes, limits: ContentLimits | None = None
) -> tuple[str, list[str], list[Problem]]:
    ctx = ExtractContext.start(limits or ContentLimits(), REGISTRY, "2")
    texts = REGISTRY.extract(data, ctx)
    return "\n".join(t.text for t in texts), [t.text for t in texts], ctx.problems


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


# -- detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b'{"nhs": "1"}', "json"),
        (b'  \n{\n  "records": []\n}\n', "json"),
        (b"[{\"a\": 1}, {\"a\": 2}]", "json"),
        (b'["one", "two"]', "json"),
        (b"{}", "json"),
        (b'{"a": 1}\n{"a": 2}\n', "json"),  # JSON Lines
        (codecs.BOM_UTF8 + b'{"a": "b"}', "json"),
        (b'{"page": "<html><body><p>hi</p></body></html>"}', "json"),
        (b'<?xml version="1.0"?><patients/>', "xml"),
        (b"<patients>\n  <patient nhs=\"1\"/>\n</patients>\n", "xml"),
        (b"<!-- export -->\n<patients></patients>", "xml"),
        # Not these: text that merely starts with a bracket, and HTML.
        (b"[1] Introduction\nThe rota.\n", "text"),
        (b"{{name}} wrote this\n", "text"),
        (b"<John Smith> said hello\n", "text"),
        (b'<?xml version="1.0"?><html><body><p>hi</p></body></html>', "html"),
        # A data file's elements with HTML's names: XML all the same.
        (b'<?xml version="1.0"?><export><div><name>A</name></div></export>', "xml"),
        (b'<?xml version="1.0"?><patients><p name="A" nhs="1"/></patients>', "xml"),
        (b"<export>\n<td><nhs>1</nhs></td>\n</export>\n", "xml"),
        (b"<!-- x --><export><span>1</span></export>", "xml"),
        # Pages and fragments of pages stay HTML.
        (b"<div>Hello</div><div>The rota is attached.</div>", "html"),
        (b"<p>Hi Sam,</p><p>See you <span>Monday</span>.</p>", "html"),
        (b'<!DOCTYPE html>\n<export><div>hi</div></export>', "html"),
        (b"<meta charset=utf-8><div>hi</div>", "html"),
        (b"name,nhs\nAlex,1\nSam,2\n", "csv"),
    ],
)
def test_json_and_xml_are_recognised(data: bytes, fmt: str) -> None:
    assert detect_format(data) == fmt


# -- JSON ------------------------------------------------------------------------------

JSON_CASES = [
    pytest.param('{"nhs": "' + escaped(NHS[:3]) + NHS[3:] + '"}', id="value-partly-escaped"),
    pytest.param('{"nhs": "' + escaped(NHS) + '"}', id="value-all-escaped"),
    pytest.param('{"' + escaped(NHS) + '": true}', id="key-escaped"),
    pytest.param('[["' + escaped(NAME) + '", "' + escaped(NHS) + '"]]', id="nested-arrays"),
    pytest.param('{"a": {"b": {"c": ["x", {"nhs": "' + escaped(NHS) + '"}]}}}', id="deep-object"),
    pytest.param('{"n": "' + escaped(NHS[:4]) + NHS[4:] + '", "x": "\\"\\/\\n"}',
                 id="other-escapes-too"),
    pytest.param('{"a": 1}\n{"nhs": "' + escaped(NHS) + '"}\n', id="json-lines"),
    pytest.param('{"page": "<p>hi</p>", "nhs": "' + escaped(NHS) + '"}', id="markup-in-a-string"),
    pytest.param('{"nhs": "' + escaped(NHS) + '", "nhs": "replaced"}', id="repeated-name"),
    pytest.param('{"nhs": "' + escaped(NHS) + '", oops}', id="invalid-still-decoded"),
]


@pytest.mark.parametrize("document", JSON_CASES)
def test_json_escapes_are_decoded(document: str) -> None:
    text, _, problems = extract(document.encode())
    assert NHS in text
    assert problems == []


def test_json_keys_and_values_are_read_one_per_line() -> None:
    document = json.dumps({"patient": {"name": NAME, "nhs": NHS, "seen": [1, 2.5]}},
                          ensure_ascii=True)
    _, readings, _ = extract(document.encode())
    lines = {line.strip() for reading in readings for line in reading.splitlines()}
    assert f"nhs: {NHS}" in lines
    assert f"name: {NAME}" in lines
    assert {"1", "2.5"} <= lines


def test_json_numbers_are_read_as_their_digits() -> None:
    _, readings, problems = extract(
        b'{"nhs": ' + DIGITS.encode() + b', "big": 1e400, "exact": 0.10000000000000000001}'
    )
    structured = readings[-1]
    assert f"nhs: {DIGITS}" in structured
    assert "big: 1e400" in structured and "exact: 0.10000000000000000001" in structured
    assert problems == []


def test_json_raw_text_is_read_too() -> None:
    document = '{"NHS number": "' + NHS + '"}'
    _, readings, _ = extract(document.encode())
    assert document in readings


def test_json_in_utf16_is_decoded() -> None:
    document = '{"nhs": "' + escaped(NHS) + '"}'
    text, _, problems = extract(codecs.BOM_UTF16_LE + document.encode("utf-16-le"))
    assert NHS in text
    assert problems == []


def test_a_lone_surrogate_escape_does_not_break_the_text() -> None:
    text, _, problems = extract(b'{"a": "\\ud800x", "nhs": "' + escaped(NHS).encode() + b'"}')
    assert NHS in text
    text.encode("utf-8")  # nothing unencodable leaves the extractor
    assert problems == []


def test_invalid_json_is_read_as_text() -> None:
    text, _, problems = extract(b'{"nhs": "' + NHS.encode() + b'", oops}')
    assert NHS in text
    assert problems == []


def test_a_deep_nesting_bomb_is_a_problem_not_a_crash() -> None:
    text, _, problems = extract(b"[" * 100_000)
    assert "too_deep" in codes(problems)
    assert text.startswith("[[[")  # still read as text


def test_valid_json_nested_too_deeply_is_a_problem() -> None:
    depth = 50_000
    document = "[" * depth + '"' + escaped(NHS) + '"' + "]" * depth
    _, _, problems = extract(document.encode())
    assert "too_deep" in codes(problems)


def test_json_nested_deeply_but_within_bounds_is_read() -> None:
    depth = 150
    document = '{"a": ' * depth + '"' + escaped(NHS) + '"' + "}" * depth
    text, _, problems = extract(document.encode())
    assert NHS in text
    assert problems == []


def test_json_beyond_the_size_limit_is_a_limit() -> None:
    document = json.dumps({"rows": [escaped(NHS)] * 200})
    _, _, problems = extract(document.encode(), ContentLimits(max_text_chars=1000))
    assert any(p.code == "too_large" and "JSON" in p.detail for p in problems)


def test_json_over_the_time_limit_is_a_problem() -> None:
    _, _, problems = extract(b'{"a": "b"}', ContentLimits(extract_timeout_s=0.0))
    assert codes(problems) == ["timeout"]


# -- XML -------------------------------------------------------------------------------

XML_CASES = [
    pytest.param(f'<?xml version="1.0"?><patient><nhs>{decimal_refs(NHS[:3])}{NHS[3:]}</nhs>'
                 "</patient>", id="decimal"),
    pytest.param(f"<patient><nhs>{hex_refs(NHS)}</nhs></patient>", id="hex"),
    pytest.param(f"<patient><nhs>&#X{ord(NHS[0]):X};{NHS[1:]}</nhs></patient>", id="hex-upper"),
    pytest.param(f'<patient nhs="{decimal_refs(NHS)}"/>', id="attribute"),
    pytest.param(f"<patient><nhs>{NHS[:5]}<!-- x -->{NHS[5:]}</nhs></patient>",
                 id="split-by-a-comment"),
    pytest.param(f"<patient><nhs><![CDATA[{NHS[:5]}]]>{decimal_refs(NHS[5:])}</nhs></patient>",
                 id="cdata"),
    # Not well-formed, or with a DOCTYPE expat is not allowed to read: the
    # references are still decoded.
    pytest.param(f"<patient><nhs>{decimal_refs(NHS)}</nhs>", id="unclosed"),
    pytest.param(f'<?xml version="1.0"?>\n<!DOCTYPE patient SYSTEM "patient.dtd">\n'
                 f"<patient><nhs>{hex_refs(NHS)}</nhs></patient>", id="doctype"),
]


@pytest.mark.parametrize("document", XML_CASES)
def test_xml_character_references_are_decoded(document: str) -> None:
    text, _, problems = extract(document.encode())
    assert NHS in text or DIGITS in text
    assert problems == []


@pytest.mark.parametrize("encoding", ["Shift_JIS", "no-such-encoding"])
def test_xml_in_an_encoding_expat_cannot_read_has_its_references_decoded(encoding: str) -> None:
    document = f'<?xml version="1.0" encoding="{encoding}"?><nhs>{decimal_refs(NHS)}</nhs>'
    text, _, problems = extract(document.encode())
    assert NHS in text
    assert problems == []


def test_xml_element_and_attribute_names_stay_beside_their_values() -> None:
    _, readings, problems = extract(
        f'<patients><patient id="{hex_refs("7")}"><nhs>{decimal_refs(DIGITS)}</nhs></patient>'
        "</patients>".encode()
    )
    assert f"nhs {DIGITS}" in readings[-1]
    assert "id 7" in readings[-1]
    assert problems == []


def test_xml_named_entities_are_decoded() -> None:
    _, readings, problems = extract(
        b"<note><to>&lt;Sam&gt; &amp; &quot;Jo&quot; &apos;x&apos;</to></note>"
    )
    assert any("<Sam> & \"Jo\" 'x'" in r for r in readings)
    assert problems == []


def test_xml_references_are_decoded_when_it_does_not_parse() -> None:
    _, readings, problems = extract(
        b"<note><to>&lt;Sam&gt; &amp; &#57;&#x34; &bogus; &#1114112; &#0;</wrong></note>"
    )
    assert any("<Sam> & 94 &bogus; \ufffd \ufffd" in r for r in readings)
    assert problems == []


def test_xml_raw_text_is_read_too() -> None:
    document = f"<patient><nhs>{NHS}</nhs></patient>"
    _, readings, _ = extract(document.encode())
    assert document in readings


def test_xml_entity_declarations_are_a_problem() -> None:
    document = (
        f'<?xml version="1.0"?><!DOCTYPE n [<!ENTITY a "{NHS[:5]}"><!ENTITY b "{NHS[5:]}">]>'
        "<n>&a;&b;</n>"
    )
    text, _, problems = extract(document.encode())
    assert "malformed_document" in codes(problems)
    assert NHS[:5] in text  # still read as text


def test_xml_over_the_text_limit_is_a_problem() -> None:
    document = "<rows>" + f"<r>{decimal_refs(NHS)}</r>" * 100 + "</rows>"
    _, _, problems = extract(document.encode(), ContentLimits(max_text_chars=1000))
    assert "too_large" in codes(problems)


def test_a_deeply_nested_xml_document_is_no_crash() -> None:
    depth = 100_000
    text, _, _ = extract(("<a>" * depth + decimal_refs(NHS) + "</a>" * depth).encode())
    assert NHS in text


# -- the whole pipeline ------------------------------------------------------------------

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
)


def decide(tmp_path: Path, raw: bytes) -> tuple[Action, list[InformationType]]:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    settings = Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": "enforce"}})
    decision = Pipeline(settings).run(
        Envelope("worker@council.example", ("team@recipient.example",)), raw
    )
    assert decision.verdict.action == Action.DELIVER or decision.verdict.reasons
    return decision.verdict.action, list(decision.verdict.information_types)


def attached(name: str, data: bytes, content_type: str) -> bytes:
    return mail("Please see the attached.", subject="Notes",
                attachments=[(name, data, content_type)])


PIPELINE = [
    pytest.param("patients.json", '{"nhs": "' + escaped(NHS[:3]) + NHS[3:] + '"}',
                 "application/json", id="json-attachment"),
    pytest.param("export.dat", '[{"patient": "' + escaped(NHS) + '"}]',
                 "application/octet-stream", id="json-without-its-type"),
    pytest.param("patients.xml", f"<patients><nhs>{decimal_refs(NHS[:3])}{NHS[3:]}</nhs>"
                 "</patients>", "application/xml", id="xml-decimal"),
    pytest.param("patients.xml", f'<?xml version="1.0"?><patients><nhs>{hex_refs(NHS)}</nhs>'
                 "</patients>", "text/xml", id="xml-hex"),
    # Unspaced digits need a context word: here only the element's name.
    pytest.param("patients.xml", f"<patients><nhs>{hex_refs(DIGITS)}</nhs></patients>",
                 "application/xml", id="xml-hex-unspaced"),
    pytest.param("patients.xml", f"<patients><nhs>{DIGITS[:4]}<!-- x -->{DIGITS[4:]}</nhs>"
                 "</patients>", "application/xml", id="xml-split-by-a-comment"),
    pytest.param("patients.json", '{"nhs": "' + escaped(DIGITS) + '"}', "application/json",
                 id="json-unspaced"),
    # Records whose elements carry HTML's names were read as a page, their
    # element names (the only context) dropped.
    *(pytest.param("export.xml", f'<?xml version="1.0"?><export><{tag}><name>{NAME}</name>'
                   f"<nhs>{DIGITS}</nhs><dob>14/06/2013</dob></{tag}></export>",
                   "application/xml", id=f"xml-{tag}-records") for tag in ("div", "span", "td")),
    pytest.param("export.xml", f'<?xml version="1.0"?><patients><p name="{NAME}" nhs="{DIGITS}"'
                 ' dob="14/06/2013"/></patients>', "application/xml", id="xml-p-attributes"),
    pytest.param("export.xml", f"<export><div><name>{NAME}</name><nhs>{DIGITS}</nhs></div>"
                 "</export>", "application/xml", id="xml-div-no-declaration"),
]


@pytest.mark.parametrize(("name", "document", "content_type"), PIPELINE)
def test_an_escaped_number_in_an_attachment_is_not_delivered(
    tmp_path: Path, name: str, document: str, content_type: str
) -> None:
    action, types = decide(tmp_path, attached(name, document.encode(), content_type))
    assert action != Action.DELIVER
    assert InformationType.UK_NHS_NUMBER in types


def test_an_escaped_number_in_a_json_part_is_not_delivered(tmp_path: Path) -> None:
    body = '{"nhs": "' + escaped(NHS) + '"}'
    raw = (
        "From: worker@council.example\r\nTo: team@recipient.example\r\nSubject: Notes\r\n"
        "Message-ID: <json-part-1@council.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=XYZ\r\n\r\n"
        "--XYZ\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n"
        f"--XYZ\r\nContent-Type: application/json\r\n\r\n{body}\r\n--XYZ--\r\n"
    ).encode()
    action, types = decide(tmp_path, raw)
    assert action != Action.DELIVER
    assert InformationType.UK_NHS_NUMBER in types


@pytest.mark.parametrize(
    ("name", "document", "content_type"),
    [
        ("rota.json", '{"rota": ["Mon", "Tue"], "team": "duty desk \\u0026 calls"}',
         "application/json"),
        ("rota.xml", "<rota><day>Mon &amp; Tue</day><day>&#87;ed</day></rota>",
         "application/xml"),
        ("rota.html", "<div>Rota for December</div><div><span>Mon</span> Sam Carter</div>"
         "<div><span>Tue</span> Alex Jones</div>", "text/html"),
        ("rota.xml", '<?xml version="1.0"?><rota><div><day>Mon</day><who>Sam Carter</who>'
         "</div></rota>", "application/xml"),
    ],
    ids=["json", "xml", "html-divs", "xml-divs"],
)
def test_a_clean_json_or_xml_attachment_is_delivered(
    tmp_path: Path, name: str, document: str, content_type: str
) -> None:
    action, types = decide(tmp_path, attached(name, document.encode(), content_type))
    assert action == Action.DELIVER
    assert types == []


def test_a_long_json_has_its_escapes_decoded_without_being_parsed(monkeypatch):
    """Past _PARSE_AT_MOST characters the document is not built in memory
    (a parsed document costs many times its text); its escapes are still
    decoded where they stand."""
    jsontext = importlib.import_module("gateway.extract.jsontext")
    loads: list[int] = []
    real = jsontext._load
    monkeypatch.setattr(jsontext, "_load", lambda text: loads.append(len(text)) or real(text))
    escaped = "".join(f"\\u{ord(c):04x}" for c in "943") + " 476 5919"
    document = ('{"filler": "' + "x" * 1_000_100 + '", "nhs": "' + escaped + '"}').encode()
    ctx = ExtractContext.start(ContentLimits(), build_registry(), "2")
    texts = build_registry().extract(document, ctx)
    assert loads == []
    assert any("943 476 5919" in t.text for t in texts)
