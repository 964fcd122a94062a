"""TNEF (winmail.dat) MAPI properties: every string an Outlook item carries
is read, wherever it sits.

The subject, the conversation topic, named properties (categories,
keywords), the recipient table and an attachment's own properties travel
in attMAPIProps / attAttachment blocks, not in the body; an attachment's
data may be a PR_ATTACH_DATA_OBJ object (an embedded message, or a file
behind its interface identifier).  A property block that does not parse is
a problem, never skipped.  The builder below writes MS-OXTNEF by hand so
each test says exactly what is in the stream.
"""

from __future__ import annotations

import random
import struct
import sys
import uuid
from pathlib import Path

import compressed_rtf  # type: ignore[import-untyped]
import pytest
from faker import Faker
from fixtures_content import mail, tnef

from gateway.extract import ExtractContext, build_registry
from gateway.model import Action, Envelope, InformationType, Problem
from gateway.parse import ContentLimits
from gateway.pipeline import Pipeline
from gateway.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "detect"))
from synthetic_ids import nhs_number

REGISTRY = build_registry()
NHS = nhs_number(random.Random(9003))
_FAKE = Faker("en_GB")
_FAKE.seed_instance(9003)
NAME = _FAKE.name()
RECORD = f"{NAME}, NHS number {NHS}"

# -- an MS-OXTNEF writer -------------------------------------------------------------

PT_SHORT, PT_LONG, PT_BOOLEAN, PT_SYSTIME, PT_CLSID = 0x0002, 0x0003, 0x000B, 0x0040, 0x0048
PT_OBJECT, PT_STRING8, PT_UNICODE, PT_BINARY = 0x000D, 0x001E, 0x001F, 0x0102
MV = 0x1000

PR_SUBJECT, PR_CONVERSATION_TOPIC, PR_BODY, PR_BODY_HTML = 0x0037, 0x0070, 0x1000, 0x1013
PR_RTF_COMPRESSED, PR_INTERNET_CPID, PR_MESSAGE_FLAGS = 0x1009, 0x3FDE, 0x0E07
PR_DISPLAY_NAME, PR_EMAIL_ADDRESS, PR_RECIPIENT_TYPE = 0x3001, 0x3003, 0x0C15
PR_ATTACH_DATA, PR_ATTACH_LONG_FILENAME, PR_ATTACH_METHOD = 0x3701, 0x3707, 0x3705

IID_IMESSAGE = uuid.UUID("00020307-0000-0000-c000-000000000046").bytes_le
IID_ISTREAM = uuid.UUID("0000000c-0000-0000-c000-000000000046").bytes_le
PS_PUBLIC_STRINGS = uuid.UUID("00020329-0000-0000-c000-000000000046").bytes_le

ATT_SUBJECT, ATT_BODY, ATT_MAPI_PROPS, ATT_RECIP_TABLE = 0x00018004, 0x0002800C, 0x00069003, 0x00069004
ATT_MESSAGE_CLASS, ATT_OEM_CODEPAGE, ATT_TNEF_VERSION = 0x00078008, 0x00069007, 0x00089006
ATT_ATTACH_REND_DATA, ATT_ATTACH_TITLE, ATT_ATTACH_DATA = 0x00069002, 0x00018010, 0x0006800F
ATT_ATTACHMENT = 0x00069005


def _padded(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _counted(value: bytes) -> bytes:
    return struct.pack("<I", len(value)) + _padded(value)


def _tag(kind: int, pid: int, name: str | int | None) -> bytes:
    tag = struct.pack("<HH", kind, pid)
    if name is None:
        return tag
    if isinstance(name, int):
        return tag + PS_PUBLIC_STRINGS + struct.pack("<II", 0, name)
    encoded = name.encode("utf-16-le") + b"\x00\x00"
    return tag + PS_PUBLIC_STRINGS + struct.pack("<I", 1) + _counted(encoded)


def unicode(pid: int, text: str, name: str | int | None = None) -> bytes:
    return _tag(PT_UNICODE, pid, name) + struct.pack("<I", 1) + _counted(
        text.encode("utf-16-le") + b"\x00\x00"
    )


def string8(pid: int, text: str, name: str | int | None = None) -> bytes:
    return _tag(PT_STRING8, pid, name) + struct.pack("<I", 1) + _counted(
        text.encode("cp1252") + b"\x00"
    )


def multi_unicode(pid: int, texts: list[str], name: str | int | None = None) -> bytes:
    values = b"".join(_counted(t.encode("utf-16-le") + b"\x00\x00") for t in texts)
    return _tag(PT_UNICODE | MV, pid, name) + struct.pack("<I", len(texts)) + values


def multi_string8(pid: int, texts: list[str]) -> bytes:
    values = b"".join(_counted(t.encode("cp1252") + b"\x00") for t in texts)
    return _tag(PT_STRING8 | MV, pid, None) + struct.pack("<I", len(texts)) + values


def binary(pid: int, data: bytes) -> bytes:
    return _tag(PT_BINARY, pid, None) + struct.pack("<I", 1) + _counted(data)


def obj(pid: int, iid: bytes, data: bytes) -> bytes:
    return _tag(PT_OBJECT, pid, None) + struct.pack("<I", 1) + _counted(iid + data)


def long(pid: int, value: int) -> bytes:
    return _tag(PT_LONG, pid, None) + struct.pack("<i", value)


def fixed_values() -> list[bytes]:
    """Properties of every fixed width, so the strings after them are only
    found when each width and its padding are right."""
    return [
        _tag(PT_SHORT, 0x0017, None) + struct.pack("<hxx", 1),
        _tag(PT_BOOLEAN, 0x0057, None) + struct.pack("<Hxx", 1),
        _tag(PT_SYSTIME, 0x0039, None) + struct.pack("<Q", 132_000_000_000_000_000),
        _tag(PT_CLSID, 0x0E0A, None) + PS_PUBLIC_STRINGS,
        _tag(PT_SHORT | MV, 0x6801, None) + struct.pack("<I", 3) + struct.pack("<hxx", 7) * 3,
        long(PR_MESSAGE_FLAGS, 1),
    ]


def block(*properties: bytes) -> bytes:
    return struct.pack("<I", len(properties)) + b"".join(properties)


def attribute(level: int, attribute_id: int, data: bytes) -> bytes:
    name, kind = attribute_id & 0xFFFF, attribute_id >> 16
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", checksum)


def message(*attributes: bytes, body: str = "Please see the notes.") -> bytes:
    return (
        struct.pack("<IH", 0x223E9F78, 0x0001)
        + attribute(1, ATT_TNEF_VERSION, struct.pack("<I", 0x00010000))
        + attribute(1, ATT_OEM_CODEPAGE, struct.pack("<II", 1252, 0))
        + attribute(1, ATT_MESSAGE_CLASS, b"IPM.Microsoft Mail.Note\x00")
        + attribute(1, ATT_BODY, body.encode("cp1252"))
        + b"".join(attributes)
    )


def props(*properties: bytes) -> bytes:
    return attribute(1, ATT_MAPI_PROPS, block(*properties))


def attachment(*properties: bytes, title: str = "notes.txt", data: bytes | None = None) -> bytes:
    out = attribute(2, ATT_ATTACH_REND_DATA, b"\x01\x00" + b"\xff" * 12)
    out += attribute(2, ATT_ATTACH_TITLE, title.encode("cp1252") + b"\x00")
    if data is not None:
        out += attribute(2, ATT_ATTACH_DATA, data)
    return out + attribute(2, ATT_ATTACHMENT, block(*properties))


# -- helpers ---------------------------------------------------------------------------


def extract(data: bytes, limits: ContentLimits | None = None) -> tuple[str, list[Problem]]:
    ctx = ExtractContext.start(limits or ContentLimits(), REGISTRY, "2")
    texts = REGISTRY.extract(data, ctx)
    return "\n".join(t.text for t in texts), ctx.problems


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


# -- message properties ------------------------------------------------------------------

READ = [
    pytest.param(props(unicode(PR_SUBJECT, RECORD)), id="subject-unicode"),
    pytest.param(props(string8(PR_SUBJECT, RECORD)), id="subject-string8"),
    pytest.param(props(unicode(PR_CONVERSATION_TOPIC, RECORD)), id="conversation-topic"),
    pytest.param(props(*fixed_values(), unicode(PR_SUBJECT, RECORD)), id="after-fixed-widths"),
    pytest.param(props(unicode(0x8001, RECORD, name="Keywords")), id="named-by-string"),
    pytest.param(props(string8(0x8002, RECORD, name=0x8501)), id="named-by-id"),
    pytest.param(props(multi_unicode(0x8003, ["Urgent", RECORD], name="Keywords")),
                 id="named-multi-unicode"),
    pytest.param(props(multi_string8(0x6802, ["one", RECORD])), id="multi-string8"),
    pytest.param(
        attribute(1, ATT_RECIP_TABLE, struct.pack("<I", 1) + block(
            unicode(PR_DISPLAY_NAME, RECORD),
            unicode(PR_EMAIL_ADDRESS, "duty@recipient.example"),
            long(PR_RECIPIENT_TYPE, 1),
        )),
        id="recipient-table",
    ),
    # An attachment's own properties, beyond its file name.
    pytest.param(attachment(unicode(PR_DISPLAY_NAME, RECORD), data=b"hello"),
                 id="attachment-display-name"),
    pytest.param(attachment(unicode(0x8004, RECORD, name="Comments"), data=b"hello"),
                 id="attachment-named-property"),
    pytest.param(attachment(data=b"hello") + attribute(2, ATT_MAPI_PROPS, block(
        unicode(PR_DISPLAY_NAME, RECORD))), id="attachment-level-mapi-props"),
    # The file inside a PR_ATTACH_DATA_OBJ object that is not a message.
    pytest.param(attachment(obj(PR_ATTACH_DATA, IID_ISTREAM, f"name,nhs\n{RECORD}\n".encode())),
                 id="attachment-object-stream"),
]


@pytest.mark.parametrize("attributes", READ)
def test_a_string_property_is_read(attributes: bytes) -> None:
    text, problems = extract(message(attributes))
    assert NHS in text
    assert problems == []


# Already read before the MAPI properties were: kept so they stay read.
ALREADY_READ = [
    pytest.param(attribute(1, ATT_SUBJECT, RECORD.encode("cp1252") + b"\x00"), id="attSubject"),
    pytest.param(props(unicode(PR_BODY, RECORD)), id="body-property"),
    pytest.param(props(unicode(PR_BODY_HTML, f"<p>{RECORD}</p>")), id="html-body-unicode"),
    pytest.param(props(binary(PR_BODY_HTML, f"<p>{RECORD}</p>".encode()),
                       long(PR_INTERNET_CPID, 65001)), id="html-body-binary"),
    pytest.param(props(binary(PR_RTF_COMPRESSED, compressed_rtf.compress(
        b"{\\rtf1\\ansi " + RECORD.encode() + b"\\par}"))), id="compressed-rtf"),
    pytest.param(attachment(unicode(PR_ATTACH_LONG_FILENAME, f"{RECORD}.txt"), data=b"x"),
                 id="attachment-long-filename"),
    pytest.param(attachment(binary(PR_ATTACH_DATA, RECORD.encode())), id="attachment-data-bin"),
    pytest.param(attachment(data=RECORD.encode()), id="attAttachData"),
]


@pytest.mark.parametrize("attributes", ALREADY_READ)
def test_what_was_read_before_still_is(attributes: bytes) -> None:
    text, problems = extract(message(attributes))
    assert NHS in text
    assert problems == []


def test_the_body_attribute_is_read() -> None:
    text, problems = extract(message(body=RECORD))
    assert NHS in text
    assert problems == []


def test_the_shared_fixture_still_reads() -> None:
    text, problems = extract(tnef(f"body {NHS}", {"list.csv": f"{NAME},{NHS}".encode()}))
    assert f"body {NHS}" in text and f"{NAME},{NHS}" in text and "list.csv" in text
    assert problems == []


def test_an_embedded_message_is_read() -> None:
    inner = message(props(unicode(PR_SUBJECT, RECORD)), body="inner body")
    outer = message(attachment(obj(PR_ATTACH_DATA, IID_IMESSAGE, inner), long(PR_ATTACH_METHOD, 5),
                               title="Fwd: notes"))
    text, problems = extract(outer)
    assert NHS in text and "inner body" in text
    assert problems == []


def test_embedded_messages_nest_only_so_deep() -> None:
    data = message(props(unicode(PR_SUBJECT, RECORD)))
    for _ in range(12):
        data = message(attachment(obj(PR_ATTACH_DATA, IID_IMESSAGE, data)))
    _, problems = extract(data)
    assert "too_deep" in codes(problems)


def test_binary_properties_are_not_read_as_text() -> None:
    # An entry identifier is not text: nothing of it is shown or reported.
    text, problems = extract(message(props(binary(0x0FFF, b"\x00\x01\x02" * 8),
                                           unicode(PR_SUBJECT, "Rota"))))
    assert "Rota" in text
    assert problems == []


# -- what does not parse -----------------------------------------------------------------

MALFORMED = [
    pytest.param(attribute(1, ATT_MAPI_PROPS, block(unicode(PR_SUBJECT, RECORD))[:-6]),
                 id="value-cut-short"),
    pytest.param(attribute(1, ATT_MAPI_PROPS, struct.pack("<I", 2) + unicode(PR_SUBJECT, "x")),
                 id="fewer-properties-than-counted"),
    pytest.param(attribute(1, ATT_MAPI_PROPS, block(unicode(PR_SUBJECT, "x")) + b"\x00" * 8),
                 id="bytes-after-the-properties"),
    pytest.param(attribute(1, ATT_MAPI_PROPS, block(struct.pack("<HH", 0x00FB, 0x6000) + b"\x00" * 8)),
                 id="unknown-type"),
    pytest.param(attribute(1, ATT_MAPI_PROPS, block(
        struct.pack("<HHI", PT_UNICODE, PR_SUBJECT, 1) + struct.pack("<I", 0x7FFFFFF0))),
        id="value-longer-than-the-block"),
    pytest.param(attribute(1, ATT_MAPI_PROPS, block(
        struct.pack("<HHI", PT_UNICODE | MV, PR_SUBJECT, 0xFFFFFFFF))), id="huge-value-count"),
    pytest.param(attribute(1, ATT_RECIP_TABLE, struct.pack("<I", 3) + block(
        unicode(PR_DISPLAY_NAME, "x"))), id="fewer-recipients-than-counted"),
    pytest.param(attachment(obj(PR_ATTACH_DATA, b"\x01\x02", b"")), id="object-without-iid"),
    pytest.param(attribute(2, ATT_ATTACHMENT, b"\x05\x00"), id="attachment-block-too-short"),
]


@pytest.mark.parametrize("attributes", MALFORMED)
def test_a_property_block_that_does_not_parse_is_a_problem(attributes: bytes) -> None:
    _, problems = extract(message(attributes, body=RECORD))
    assert "malformed_document" in codes(problems)


def test_a_cut_short_stream_is_a_problem() -> None:
    data = message(props(unicode(PR_SUBJECT, "Rota")))
    _, problems = extract(data[:-5])
    assert "malformed_document" in codes(problems)


def test_bytes_after_the_last_attribute_are_a_problem() -> None:
    _, problems = extract(message() + NHS.replace(" ", "").encode())
    assert "malformed_document" in codes(problems)


def test_the_strings_before_a_broken_property_are_still_read() -> None:
    broken = struct.pack("<HH", 0x00FB, 0x6000)
    text, problems = extract(message(attribute(1, ATT_MAPI_PROPS, block(
        unicode(PR_SUBJECT, RECORD), broken))))
    assert NHS in text
    assert "malformed_document" in codes(problems)


def test_too_many_properties_is_a_limit() -> None:
    many = attribute(1, ATT_MAPI_PROPS, block(*[long(0x6000, n) for n in range(50)]))
    _, problems = extract(message(many), ContentLimits(max_archive_entries=20))
    assert "too_large" in codes(problems)


def test_too_many_attributes_is_a_limit() -> None:
    many = b"".join(attribute(1, ATT_SUBJECT, b"x\x00") for _ in range(50))
    _, problems = extract(message(many), ContentLimits(max_archive_entries=20))
    assert "too_large" in codes(problems)


def test_a_hostile_stream_of_tiny_attributes_is_read_quickly() -> None:
    # Each attribute used to cost a copy of the rest of the stream.
    tiny = attribute(1, 0x00068050, b"") * 9000
    text, problems = extract(message(tiny))
    assert "Please see the notes." in text
    assert problems == []


def test_text_over_the_limit_is_a_problem() -> None:
    _, problems = extract(message(props(unicode(PR_SUBJECT, "x" * 5000))),
                          ContentLimits(max_text_chars=1000))
    assert "too_large" in codes(problems)


# -- the whole pipeline ------------------------------------------------------------------

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
)


def decide(tmp_path: Path, winmail: bytes) -> tuple[Action, list[InformationType]]:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    settings = Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": "enforce"}})
    raw = mail("Please see the attached.", subject="Notes",
               attachments=[("winmail.dat", winmail, "application/ms-tnef")])
    decision = Pipeline(settings).run(
        Envelope("worker@council.example", ("team@recipient.example",)), raw
    )
    assert decision.verdict.action == Action.DELIVER or decision.verdict.reasons
    return decision.verdict.action, list(decision.verdict.information_types)


PIPELINE = [
    pytest.param(props(unicode(PR_SUBJECT, RECORD)), id="subject"),
    pytest.param(props(unicode(0x8001, RECORD, name="Keywords")), id="named-property"),
    pytest.param(attachment(unicode(PR_DISPLAY_NAME, RECORD), data=b"hello"),
                 id="attachment-property"),
    pytest.param(attachment(obj(PR_ATTACH_DATA, IID_ISTREAM, RECORD.encode())),
                 id="attachment-object"),
]


@pytest.mark.parametrize("attributes", PIPELINE)
def test_a_winmail_dat_with_personal_data_in_its_properties_is_not_delivered(
    tmp_path: Path, attributes: bytes
) -> None:
    action, types = decide(tmp_path, message(attributes))
    assert action != Action.DELIVER
    assert InformationType.UK_NHS_NUMBER in types


def test_a_broken_property_block_is_not_delivered(tmp_path: Path) -> None:
    broken = attribute(1, ATT_MAPI_PROPS, block(unicode(PR_SUBJECT, "Rota"))[:-6])
    action, _ = decide(tmp_path, message(broken))
    assert action != Action.DELIVER


def test_a_clean_winmail_dat_is_delivered(tmp_path: Path) -> None:
    clean = message(props(*fixed_values(), unicode(PR_SUBJECT, "Rota for next month"),
                          unicode(0x8001, "Planning", name="Keywords")),
                    attachment(unicode(PR_ATTACH_LONG_FILENAME, "rota.txt"), data=b"Mon: Sam"))
    action, types = decide(tmp_path, clean)
    assert action == Action.DELIVER
    assert types == []
