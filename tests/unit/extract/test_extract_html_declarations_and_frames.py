"""Places in HTML that travel in clear though no reader sees them, which
the extractor used to skip while it read comments: a processing
instruction, a DOCTYPE's text, a CDATA section, an iframe's `srcdoc`
document and an object's `data:` URI.  The standard DOCTYPEs and the XML
declarations every page or Outlook writes add nothing."""

from __future__ import annotations

import base64
import html

import pytest
from faker import Faker

from gateway.extract import ExtractContext, build_registry
from gateway.extract.html import html_texts
from gateway.model import Problem
from gateway.parse import ContentLimits

REGISTRY = build_registry()
NHS = "083 016 6130"  # synthetic, valid check digit
_fake = Faker("en_GB")
_fake.seed_instance(2330)
NAME = _fake.name()
RECORD = f"{NAME}, NHS number {NHS}"


def extract(markup: str) -> tuple[str, list[Problem]]:
    ctx = ExtractContext.start(ContentLimits(), REGISTRY, "2")
    texts = REGISTRY.extract(markup.encode(), ctx)
    return "\n".join(t.text for t in texts), ctx.problems


def readings(markup: str) -> tuple[str, str]:
    ctx = ExtractContext.start(ContentLimits(), REGISTRY, "2")
    return html_texts(markup, ctx)


CASES = [
    ("processing instruction", f"<html><body><p>Hi</p><?{RECORD}?></body></html>"),
    ("xml namespace instruction", f'<html><body><?xml:namespace prefix="{RECORD}" ?><p>Hi</p>'),
    ("doctype", f'<!DOCTYPE html "{RECORD}"><html><body><p>Hi</p></body></html>'),
    (
        "doctype public identifier",
        f'<!DOCTYPE html PUBLIC "-//W3C//DTD HTML {RECORD}//EN"><html><body><p>Hi</p>',
    ),
    ("cdata", f"<html><body><p>Hi</p><![CDATA[{RECORD}]]></body></html>"),
    (
        "iframe srcdoc",
        f"<html><body><p>Hi</p><iframe srcdoc='{html.escape(f'<p>{RECORD}</p>')}'></iframe>",
    ),
    (
        "iframe srcdoc in srcdoc",
        "<html><body><iframe srcdoc='"
        + html.escape("<iframe srcdoc='" + html.escape(f"<b>{RECORD}</b>") + "'></iframe>")
        + "'></iframe>",
    ),
    (
        "object data uri",
        "<html><body><p>Hi</p><object data='data:text/html;base64,"
        + base64.b64encode(f"<p>{RECORD}</p>".encode()).decode()
        + "'></object>",
    ),
]


@pytest.mark.parametrize("markup", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_text_in_these_places_is_read(markup: str) -> None:
    text, problems = extract(markup)
    assert NHS in text
    assert NAME in text
    assert problems == []


def test_what_they_hold_is_hidden_text_not_the_visible_text() -> None:
    visible, hidden = readings(f"<p>Hi</p><?{RECORD}?><iframe srcdoc='<i>{NAME}</i>'></iframe>")
    assert visible == "Hi"
    assert NHS in hidden and NAME in hidden


@pytest.mark.parametrize(
    "start",
    [
        "<!DOCTYPE html>",
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">',
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">',
        '<?xml version="1.0" encoding="utf-8"?><!doctype html>',
        '<html><body><?xml:namespace prefix = o ns = "urn:schemas-microsoft-com:office:office" />',
        "<html><body><![if !supportLists]><span>1.</span><![endif]>",
    ],
)
def test_the_usual_declarations_add_no_hidden_text(start: str) -> None:
    visible, hidden = readings(f"{start}<p>Rota for May</p>")
    assert hidden == ""
    assert visible.split()[-3:] == ["Rota", "for", "May"]
