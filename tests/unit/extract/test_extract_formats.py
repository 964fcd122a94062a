"""Format detection from content, and the text each extractor gives, table-driven."""

from __future__ import annotations

import gzip

import pytest
from fixtures_content import (
    NHS,
    Entry,
    build_zip,
    docx,
    mail,
    odt,
    pdf_with_text,
    pptx,
    rtf,
    tnef,
    xlsx,
)

from gateway.extract import (
    ExtractContext,
    ExtractedText,
    Extractor,
    ExtractorRegistry,
    build_registry,
    detect_format,
)
from gateway.model import Problem
from gateway.parse import ContentLimits

REGISTRY = build_registry()


def extract(data: bytes, limits: ContentLimits | None = None) -> tuple[str, list[Problem]]:
    ctx = ExtractContext.start(limits or ContentLimits(), REGISTRY, "2")
    texts = REGISTRY.extract(data, ctx)
    return "\n".join(t.text for t in texts), ctx.problems


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"Name,NHS number\nAlex,9434765919\nSam,4010232137\n", "csv"),
        (b"Name;DOB\nAlex;01/02/2010\nSam;03/04/2011\n", "csv"),
        (b"just a note\nwith two lines\n", "text"),
        (b"<html><body><p>hi</p></body></html>", "html"),
        (b"<div>943<span>476</span>5919</div>", "html"),
        (b"From: a@example.org\r\nSubject: hi\r\n\r\nbody", "eml"),
        (pdf_with_text("hello"), "pdf"),
        (docx([["hello"]]), "docx"),
        (xlsx([["a", 1]]), "xlsx"),
        (pptx(["slide"]), "pptx"),
        (odt(["para"]), "odf"),
        (build_zip([Entry("a.txt")]), "zip"),
        (rtf("hello\\par"), "rtf"),
        (tnef("body", {}), "tnef"),
        (gzip.compress(b"hello"), "gzip"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "image"),
        (b"7z\xbc\xaf\x27\x1c" + b"\x00" * 20, "archive"),
        (b"-----BEGIN PGP MESSAGE-----\nabc\n", "pgp"),
        (b"\x00\x01\x02\x03" * 64, "binary"),
        (b"GIF89a" + b"\x00" * 20 + build_zip([Entry("hidden.txt")]), "image"),
        (b"\x00junk" * 10 + build_zip([Entry("hidden.txt")]), "zip"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_format_comes_from_content(data: bytes, fmt: str) -> None:
    assert detect_format(data) == fmt


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (f"Patient NHS {NHS}\n".encode(), f"Patient NHS {NHS}"),
        (b'Name,NHS\n"Alex Carter","943 476 5919"\n', "Alex Carter\t943 476 5919"),
        (b"<p>NHS 943<span>476</span>5919</p>", f"NHS {NHS}"),
        (b"<b>943</b><i>476</i><font>5919</font>", NHS),
        (b"<p>one</p><p>two</p>", "one\n\ntwo"),
        (b"line<br>next", "line\nnext"),
        (b"<p>a&nbsp;b &amp; &#57;&#x34;</p>", "a b & 94"),
        (b"<td>Name</td><td>Alex</td>", "\tName\t\tAlex\t"),
        (b"<style>p{color:red}</style><p>shown</p>", "shown"),
        (b"<!-- hidden 9434765919 --><p>x</p>", "hidden 9434765919"),
        (b'<img alt="Alex Carter photo">', "Alex Carter photo"),
        ("943\u200b476\u200b5919".encode(), NHS),
        (pdf_with_text(f"NHS number {NHS}"), f"NHS number {NHS}"),
        (
            docx([["NHS ", "943", "476", "5919"], ["second paragraph"]]),
            f"NHS {NHS}\nsecond paragraph",
        ),
        (
            xlsx([["Name", "NHS number"], ["Alex Carter", 9434765919]]),
            f"Name\tNHS number\t\nAlex Carter\t{NHS}",
        ),
        (pptx(["Slide about", f"pupil {NHS}"]), f"pupil {NHS}"),
        (odt(["Alex Carter", f"NHS {NHS}"]), f"Alex Carter\nNHS {NHS}"),
        (rtf("{\\b NHS} 943\\'34765919\\par Caf\\'e9 \\u8364?5"), f"NHS {NHS}\nCafé €5"),
        (rtf("{\\*\\generator Hidden Writer;}visible"), "visible"),
        (build_zip([Entry("pupils.csv", f"Alex,{NHS}\n".encode())]), f"Alex,{NHS}"),
        (build_zip([Entry("inner.zip", build_zip([Entry("deep.txt", NHS.encode())]))]), NHS),
        (gzip.compress(f"gz {NHS}".encode()), f"gz {NHS}"),
        (mail(f"inner body {NHS}", subject="Fwd: Alex Carter"), "Subject: Fwd: Alex Carter"),
        (mail(f"inner body {NHS}"), f"inner body {NHS}"),
        (tnef(f"tnef body {NHS}", {"list.csv": f"Alex,{NHS}".encode()}), f"tnef body {NHS}"),
        (tnef("body", {"list.csv": f"Alex,{NHS}".encode()}), f"Alex,{NHS}"),
        (tnef("body", {"list.csv": b"x"}), "list.csv"),
    ],
)
def test_extracted_text(data: bytes, expected: str) -> None:
    text, problems = extract(data)
    assert expected in text
    assert [p for p in problems if p.code != "partial_extraction"] == []


def test_names_inside_encrypted_zip_are_text() -> None:
    archive = build_zip([Entry(f"Alex Carter {NHS}.pdf", b"secret", password=b"pw")])
    text, _ = extract(archive)
    assert f"Alex Carter {NHS}.pdf" in text
    assert "secret" not in text


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"%PDF-1.4 broken beyond repair", "malformed_document"),
        (b"PK\x03\x04" + b"\x00" * 40, "malformed_archive"),
        (rtf("{" * 2000 + "x" + "}" * 2000), "malformed_document"),
        (
            build_zip(
                [
                    Entry("[Content_Types].xml", b"<Types/>"),
                    Entry("word/document.xml", b'<!DOCTYPE x [<!ENTITY a "aaaa">]><w>&a;</w>'),
                ]
            ),
            "malformed_document",
        ),
        (b"7z\xbc\xaf\x27\x1c" + b"\x00" * 20, "unsupported_format"),
        (build_zip([Entry("inner.pdf", b"%PDF-1.4\n" + b"x" * 10)]), "malformed_document"),
    ],
    ids=["pdf", "zip", "rtf-depth", "xml-entities", "7z", "nested-pdf"],
)
def test_failures_become_problems(data: bytes, code: str) -> None:
    _, problems = extract(data)
    assert code in {p.code for p in problems}


def test_text_limit_truncates_with_a_problem() -> None:
    text, problems = extract(b"x" * 5000, ContentLimits(max_text_chars=100))
    assert len(text) == 100
    assert [p.code for p in problems] == ["too_large"]


def test_time_limit_is_a_problem() -> None:
    _, problems = extract(b"<p>" * 100_000, ContentLimits(extract_timeout_s=0.0))
    assert [p.code for p in problems] == ["timeout"]


class _Echo(Extractor):
    name = "text"
    content_type = "text/plain"

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        raise RuntimeError("boom")


def test_registry_is_explicit_and_typed() -> None:
    registry = ExtractorRegistry()
    with pytest.raises(TypeError):
        registry.register(object())  # type: ignore[arg-type]
    registry.register(_Echo())
    with pytest.raises(ValueError, match="already registered"):
        registry.register(_Echo())
    ctx = ExtractContext.start(ContentLimits(), registry, "1")
    assert registry.extract(b"hello", ctx) == []
    assert [p.code for p in ctx.problems] == ["extract_failed"]
    assert set(build_registry().names()) >= {
        "text",
        "csv",
        "html",
        "pdf",
        "zip",
        "docx",
        "xlsx",
        "pptx",
        "odf",
        "rtf",
        "eml",
        "tnef",
    }


@pytest.mark.parametrize(
    ("markup", "shown"),
    [
        # A line break in the source is a space on screen: the number is whole.
        (f"<p>NHS {NHS[:3]}\r\n{NHS[3:6]}\r\n{NHS[6:]}</p>".encode(),
         f"NHS {NHS[:3]} {NHS[3:6]} {NHS[6:]}"),
        (b"<p>Kind regards,<br>\r\n  Jo Bloggs <br>\r\n Head of Year 9</p>",
         "Kind regards,\nJo Bloggs\nHead of Year 9"),
        (b"<html><body>\r\n<p>one</p>\r\n</div><div><p>two</p>\r\n</body></html>\r\n",
         "one\n\ntwo"),
        (b"a<br><br><br><br>b", "a\n\nb"),
        # Gmail and Apple Mail: a div per line, <div><br></div> a blank line.
        (b"<div>Kind regards,</div><div>Jo Bloggs<br></div><div><br></div><div>SENCo</div>",
         "Kind regards,\nJo Bloggs\n\nSENCo"),
        (b"<html><body><ul><li>one</li><li>two</li></ul>after", "one\ntwo\n\nafter"),
        (b"<p>before</p><pre>  kept\n   as is</pre>after", "before\n\n  kept\n   as is\n\nafter"),
        (b"<p>a <b>bold</b>\tword</p>", "a bold word"),
    ],
)
def test_html_white_space_is_what_a_browser_shows(markup: bytes, shown: str) -> None:
    text, problems = extract(markup)
    assert text == shown
    assert problems == []


def test_an_html_alternative_reads_like_its_plain_twin() -> None:
    plain = "Hello Jo,\n\nThe rota is attached.\n\nKind regards,\nSam Carter\nSENCo\nTel: 0113 496 0000"
    markup = "<html><body>\r\n" + "".join(
        "<p>" + "<br>\r\n".join(block.split("\n")) + "</p>\r\n" for block in plain.split("\n\n")
    ) + "</body></html>\r\n"
    text, _ = extract(markup.encode())
    assert text == plain
