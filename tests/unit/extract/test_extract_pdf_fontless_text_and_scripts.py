"""PDF text pypdf used to return nothing for: a page whose font is missing
from its resources (a viewer such as MuPDF draws it with a font of its own)
and the source of JavaScript actions (the document's open action and
additional actions, the /Names /JavaScript tree, a link's action, a page's
and each action's /Next).  A plain PDF reads exactly as it did."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from faker import Faker
from fixtures_content import pdf_of_objects, pdf_with_text

from gateway.extract import ExtractContext, build_registry
from gateway.extract.base import ExtractedText
from gateway.model import Problem
from gateway.parse import ContentLimits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "detect"))
from synthetic_ids import nhs_number

REGISTRY = build_registry()
NHS = nhs_number(random.Random(1807))
_fake = Faker("en_GB")
_fake.seed_instance(1807)
NAME = _fake.name()
RECORD = f"Patient {NAME}, NHS number {NHS}"


def extract(data: bytes) -> tuple[list[ExtractedText], list[Problem]]:
    ctx = ExtractContext.start(ContentLimits(), REGISTRY, "2")
    texts = REGISTRY.extract(data, ctx)
    return texts, ctx.problems


def all_text(texts: list[ExtractedText]) -> str:
    return "\n".join(t.text for t in texts)


def literal(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"({escaped})".encode("latin-1")


def page_pdf(content: bytes, resources: bytes, *, parent_resources: bytes = b"") -> bytes:
    """One page drawing `content` with `resources` (and the page tree's own,
    which the page inherits); a Helvetica font is object 5 either way."""
    return pdf_of_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 " + parent_resources + b">>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            + resources
            + b">>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


# ---------------------------------------------------------------- a font not there


FONTLESS = [
    ("no resources", b"BT /F1 12 Tf 72 700 Td " + literal(RECORD) + b" Tj ET", b""),
    (
        "another font only",
        b"BT /F2 12 Tf 72 700 Td " + literal(RECORD) + b" Tj ET",
        b"/Resources << /Font << /F1 5 0 R >> >> ",
    ),
    ("no font selected, none there", b"BT 72 700 Td " + literal(RECORD) + b" Tj ET", b""),
    (
        "TJ array and hex string",
        b"BT /F1 12 Tf 72 700 Td [" + literal(f"Patient {NAME}, NHS ") + b" -50 (number) ] TJ "
        b"0 -14 Td <" + NHS.encode().hex().encode() + b"> Tj ET",
        b"",
    ),
    (
        "quote operators",
        b"BT /F9 12 Tf 14 TL " + literal(f"Patient {NAME}") + b" ' 0 0 "
        + literal(f"NHS number {NHS}") + b' " ET',
        b"/Resources << >> ",
    ),
]


@pytest.mark.parametrize(
    ("content", "resources"), [c[1:] for c in FONTLESS], ids=[c[0] for c in FONTLESS]
)
def test_text_drawn_with_a_font_the_page_lacks_is_read(content: bytes, resources: bytes) -> None:
    texts, problems = extract(page_pdf(content, resources))
    text = all_text(texts)
    assert NHS in text
    assert NAME in text
    assert problems == []


@pytest.mark.parametrize(
    ("content", "resources", "parent_resources"),
    [
        (b"BT /F1 12 Tf 72 700 Td " + literal(RECORD) + b" Tj ET", b"",
         b"/Resources << /Font << /F1 5 0 R >> >> "),
        (b"BT 72 700 Td " + literal(RECORD) + b" Tj ET",
         b"/Resources << /Font << /F1 5 0 R >> >> ", b""),
    ],
    ids=["inherited font", "no font selected, one there"],
)
def test_text_pypdf_reads_is_not_read_again(
    content: bytes, resources: bytes, parent_resources: bytes
) -> None:
    texts, _ = extract(page_pdf(content, resources, parent_resources=parent_resources))
    assert all_text(texts).count(NHS) == 1  # pypdf's reading, not again raw


def test_a_plain_pdf_reads_as_it_did() -> None:
    texts, problems = extract(pdf_with_text(RECORD))
    assert [t.text.strip() for t in texts if t.text.strip()] == [RECORD]
    assert problems == []


# ---------------------------------------------------------------- JavaScript


def js_string(source: str) -> bytes:
    return b"/S /JavaScript /JS " + literal(source)


def scripted_pdf(catalog: bytes, extra: list[bytes], page: bytes = b"") -> bytes:
    """A one-page PDF ("Referral") whose catalog and page carry these
    entries; `extra` objects are numbered from 6."""
    content = b"BT /F1 12 Tf 72 720 Td (Referral) Tj ET"
    return pdf_of_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R " + catalog + b">>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> " + page + b">>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            *extra,
        ]
    )


SCRIPT = f'var patient = "{RECORD}";'
STREAMED = SCRIPT.encode()
SCRIPTED = [
    ("open action", scripted_pdf(b"/OpenAction << " + js_string(SCRIPT) + b" >> ", [])),
    (
        "open action as a stream",
        scripted_pdf(
            b"/OpenAction << /S /JavaScript /JS 6 0 R >> ",
            [b"<< /Length %d >>\nstream\n" % len(STREAMED) + STREAMED + b"\nendstream"],
        ),
    ),
    (
        "document additional action",
        scripted_pdf(b"/AA << /WC << " + js_string(SCRIPT) + b" >> >> ", []),
    ),
    (
        "names tree",
        scripted_pdf(
            b"/Names << /JavaScript 6 0 R >> ",
            [
                b"<< /Kids [7 0 R] >>",
                b"<< /Names [(init) << " + js_string(SCRIPT) + b" >>] >>",
            ],
        ),
    ),
    (
        "link action",
        scripted_pdf(
            b"",
            [b"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /A << "
             + js_string(SCRIPT) + b" >> >>"],
            page=b"/Annots [6 0 R] ",
        ),
    ),
    (
        "page additional action",
        scripted_pdf(b"", [], page=b"/AA << /O << " + js_string(SCRIPT) + b" >> >> "),
    ),
    (
        "next in a chain",
        scripted_pdf(
            b"/OpenAction 6 0 R ",
            [
                b"<< /S /GoTo /D [3 0 R /Fit] /Next [7 0 R] >>",
                b"<< " + js_string(SCRIPT) + b" /Next 6 0 R >>",  # a loop back
            ],
        ),
    ),
]


@pytest.mark.parametrize("data", [c[1] for c in SCRIPTED], ids=[c[0] for c in SCRIPTED])
def test_a_javascript_actions_source_is_read(data: bytes) -> None:
    texts, problems = extract(data)
    scripts = [t for t in texts if t.member == "(JavaScript)"]
    assert len(scripts) == 1
    assert NHS in scripts[0].text and NAME in scripts[0].text
    assert problems == []


def test_an_open_action_that_is_a_destination_adds_nothing() -> None:
    texts, problems = extract(scripted_pdf(b"/OpenAction [3 0 R /Fit] ", []))
    assert [t.text.strip() for t in texts if t.text.strip()] == ["Referral"]
    assert problems == []
