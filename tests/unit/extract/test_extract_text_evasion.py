"""Text that a reader sees whole but the gateway used to read in pieces:
HTML comments and hidden elements between the halves of a number,
format=flowed soft line breaks, and a declared charset that turns an ASCII
file into gibberish."""

from __future__ import annotations

import pytest

from gateway.extract import ExtractContext, build_registry
from gateway.extract.detect import CSV, HTML, TEXT
from gateway.extract.html import hiding_rules
from gateway.extract.text import unflow
from gateway.parse import ContentLimits
from gateway.parse.charsets import decode_readings
from gateway.transform import outbound as outbound_module
from gateway.transform.mime import HtmlText

REGISTRY = build_registry()
NHS = "083 016 6130"  # synthetic, valid check digit
HALF, REST = NHS[:6], NHS[6:]


def readings(data: bytes, fmt: str, charset: str | None = None) -> list[str]:
    ctx = ExtractContext.start(ContentLimits(), REGISTRY, "1", charset=charset)
    texts = REGISTRY.extract(data, ctx, fmt)
    assert ctx.problems == []
    return [t.text for t in texts]


# -- HTML ------------------------------------------------------------------------------

HIDING = [
    pytest.param("<!-- x -->", "x", id="comment"),
    pytest.param('<span style="display:none">zz</span>', "zz", id="display-none"),
    pytest.param("<span style='color:red; DISPLAY : none !important'>zz</span>", "zz",
                 id="display-none-spaced"),
    pytest.param('<span style="visibility:hidden">zz</span>', "zz", id="visibility-hidden"),
    pytest.param('<span style="font-size:0px">zz</span>', "zz", id="font-size-zero"),
    pytest.param('<span style="mso-hide:all">zz</span>', "zz", id="outlook-mso-hide"),
    pytest.param("<span hidden>zz</span>", "zz", id="hidden-attribute"),
    pytest.param('<div style="display:none"><p>z<b>z</b></p><br>z</div>', "zz\nz",
                 id="hidden-block-with-children"),
    pytest.param("<script>zz</script>", "zz", id="script"),
    # The style sheet itself is read apart too (a CSS comment travels in clear).
    pytest.param('<style>.h {display:none}</style><span class="h">zz</span>',
                 ".h {display:none}\nzz", id="style-class"),
    pytest.param('<style>span.a, #h { visibility: hidden !important; }</style>'
                 '<span id="h">zz</span>', "span.a, #h { visibility: hidden !important; }\nzz",
                 id="style-id-in-a-list"),
    pytest.param('<style><!-- /* Outlook */ @page Section1 {size:612pt 792pt} '
                 'p.MsoNormal {margin:0cm} span.q {mso-hide:all} --></style>'
                 '<span class="MsoNormal q">zz</span>',
                 "<!-- /* Outlook */ @page Section1 {size:612pt 792pt} p.MsoNormal {margin:0cm} "
                 "span.q {mso-hide:all} -->\nzz", id="style-outlook"),
]


@pytest.mark.parametrize(("between", "hidden"), HIDING)
def test_what_the_reader_does_not_see_does_not_split_the_number(
    between: str, hidden: str
) -> None:
    markup = f"<p>NHS number {HALF}{between}{REST} today</p>"
    visible, *rest = readings(markup.encode(), HTML)
    assert visible == f"NHS number {NHS} today"
    # Still inspected, apart from the text a reader sees.
    assert [r.split() for r in rest] == [hidden.split()]


def test_a_number_hidden_in_a_comment_is_still_read() -> None:
    visible, hidden = readings(f"<p>hello</p><!-- NHS {NHS} --><p>bye</p>".encode(), HTML)
    assert visible == "hello\n\nbye"
    assert NHS in hidden


def test_comments_are_read_apart_from_each_other() -> None:
    _, hidden = readings(f"<p>a<!--{HALF}-->b<!--{REST}-->c</p>".encode(), HTML)
    assert hidden.split("\n") == [HALF, REST]


@pytest.mark.parametrize(
    "markup",
    [
        '<style>@media (max-width: 1px) { .h {display:none} }</style>',  # some screens only
        '<style>div .h {display:none}</style>',  # a combinator: not read
        '<style>div.h {display:none}</style>',  # another element's class
        '<style>.h {display:block}</style>',  # shows
        '<style>.hh {display:none}</style>',
        '<style>.h {display:none}',  # never closed: the rest is the style sheet
    ],
    ids=["media", "descendant", "other-tag", "not-hiding", "other-class", "unclosed"],
)
def test_a_style_sheet_hides_only_what_it_plainly_hides(markup: str) -> None:
    visible, sheet = readings(f'{markup}<p>a<span class="h">b</span>c</p>'.encode(), HTML)
    if markup.endswith("</style>"):
        assert visible == "abc"
        assert sheet == markup.removeprefix("<style>").removesuffix("</style>")
    else:  # all the rest is the style sheet: nobody sees it, and it is read
        assert visible == ""
        assert sheet == '.h {display:none}<p>a<span class="h">b</span>c</p>'


def test_a_hostile_style_sheet_is_read_in_one_pass() -> None:
    # Unclosed comments, at-rules and <style> tags by the hundred thousand:
    # each used to make a regular expression scan to the end again.
    sheet = "<style>" + "/*@{" * 200_000 + "</style>" + "<style " * 100_000
    assert not hiding_rules(sheet)
    assert hiding_rules("<style>/* a */ .h /* b */ {display:none} /* c</style>").classes == {
        ("*", "h")
    }


@pytest.mark.parametrize("element", ["style", "script"])
def test_what_follows_an_unclosed_style_or_script_is_read(element: str) -> None:
    visible, rest = readings(f"<p>hello</p><{element}>x = 1; NHS {NHS} <p>more".encode(), HTML)
    assert visible == "hello"
    assert NHS in rest and "more" in rest


def test_a_font_size_that_is_not_zero_hides_nothing() -> None:
    (visible,) = readings(b'<p>a<span style="font-size:0.5em">b</span>c</p>', HTML)
    assert visible == "abc"


def test_an_unclosed_hidden_element_hides_the_rest_but_it_is_still_read() -> None:
    visible, hidden = readings(f'<p>a<div style="display:none">{NHS}<p>more'.encode(), HTML)
    assert visible == "a"
    assert NHS in hidden and "more" in hidden


def test_a_hidden_void_element_hides_only_itself() -> None:
    (visible, hidden) = readings(b'<p>a<img hidden alt="zz">b</p>', HTML)
    assert visible == "ab"
    assert hidden.split() == ["zz"]


PASSWORD = "Tangerine-Lamp-42"


@pytest.mark.parametrize(("between", "hidden"), HIDING[:2] + HIDING[6:7] + HIDING[9:10])
def test_html_text_reads_hidden_text_apart_and_joins_what_is_around_it(
    between: str, hidden: str
) -> None:
    document = f"<p>Password: {PASSWORD[:9]}{between}{PASSWORD[9:]}</p>"
    text = HtmlText(document)
    start = text.text.index(PASSWORD)
    assert [document[a:b] for a, b in text.spans(start, start + len(PASSWORD))] == [
        PASSWORD[:9], PASSWORD[9:]
    ]
    assert text.text.split()[-len(hidden.split()):] == hidden.split()


def test_a_password_split_by_a_comment_is_cut_from_the_source() -> None:
    document = f"<p>Password: {PASSWORD[:9]}<!-- x -->{PASSWORD[9:]}</p>"
    removed = outbound_module.remove_from_html(document, [PASSWORD])
    assert PASSWORD[:9] not in removed and PASSWORD[9:] not in removed
    assert "<!-- x -->" in removed
    assert PASSWORD not in HtmlText(removed).text


def test_a_password_inside_a_comment_is_cut_too() -> None:
    document = f"<p>Password: see below</p><!-- Password: {PASSWORD} -->"
    removed = outbound_module.remove_from_html(document, [PASSWORD])
    assert PASSWORD not in removed


# -- format=flowed ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flowed", "delsp", "shown"),
    [
        (f"NHS number {NHS[:8]}\r\n{NHS[8:]}\r\n", False, f"NHS number {NHS}\r\n"),
        (f"NHS number {NHS[:5]} \r\n{NHS[5:]}\r\n", True, f"NHS number {NHS}\r\n"),
        ("one \ntwo \nthree\nfour\n", False, "one two three\nfour\n"),
        # Quote depth: lines of one depth join, the marks of the later lines go.
        (f"> NHS {NHS[:8]}\n> {NHS[8:]}\n>> other\n", False, f"> NHS {NHS}\n>> other\n"),
        ("> a \n>> b\n", False, "> a \n>> b\n"),
        # Space-stuffed lines lose the stuffing space.
        ("  From here \n on\n", False, " From here on\n"),
        # The signature separator is a hard break however it ends.
        ("bye \n-- \nJo\n", False, "bye \n-- \nJo\n"),
        ("bye\n-- \nJo \nSmith\n", False, "bye\n-- \nJo Smith\n"),
        # The last line ends the paragraph even when it is soft.
        ("end \n", False, "end \n"),
    ],
)
def test_flowed_text_is_read_as_the_client_shows_it(flowed: str, delsp: bool, shown: str) -> None:
    assert unflow(flowed, delsp=delsp) == shown


def test_a_number_split_by_a_soft_break_is_read_whole() -> None:
    texts = readings(f"Re: the child, NHS number {NHS[:8]}\r\n{NHS[8:]}\r\n".encode(), TEXT)
    assert any(f"NHS number {NHS}" in t for t in texts)


def test_a_number_split_by_a_soft_break_with_delsp_is_read_whole() -> None:
    texts = readings(f"Re: the child, NHS number {NHS[:5]} \r\n{NHS[5:]}\r\n".encode(), TEXT)
    assert any(f"NHS number {NHS}" in t for t in texts)


def test_text_without_soft_breaks_is_read_once_as_it_is() -> None:
    text = "Hello,\r\nNHS number 083 016\r\n6130\r\n"
    assert readings(text.encode(), TEXT) == [text]


def test_flowed_text_is_read_once_when_no_break_splits_a_number() -> None:
    text = f"Hello, this line \r\nwraps. NHS {NHS} here.\r\n"
    assert readings(text.encode(), TEXT) == [unflow(text)]


# -- declared charsets ------------------------------------------------------------------

def padded(data: bytes) -> bytes:
    """`data` with spaces to a length the wide charsets (UTF-16, UTF-32) can decode."""
    return data + b" " * (-len(data) % 4)


CSV_TEXT = f"name,nhs number,dob\nJane Smith,{NHS},14/03/2011\n"


@pytest.mark.parametrize("declared", ["utf-16", "utf-16-le", "utf-32", "cp500", "cp1026"])
def test_an_ascii_file_declared_in_a_charset_that_garbles_it_is_read_as_saved(
    declared: str
) -> None:
    data = padded(CSV_TEXT.encode())
    assert NHS not in data.decode(declared, errors="replace")
    assert any(f"Jane Smith\t{NHS}" in t for t in readings(data, CSV, declared))
    assert any(f"Jane Smith,{NHS}" in t for t in readings(data, TEXT, declared))
    page = padded(f"<p>{NHS}</p>".encode())
    assert any(NHS in t for t in readings(page, HTML, declared))


@pytest.mark.parametrize(
    ("text", "declared"),
    [("名前,番号\n山田,1\n", "utf-16-le"), ("Café,1\n", "cp500"), ("Żółw,1\n", "utf-8"),
     ("Café £5,1\n", "latin-1"), ("Café £5,1\n", "cp1252")],
)
def test_a_file_in_the_charset_it_declares_is_read_once(text: str, declared: str) -> None:
    assert decode_readings(text.encode(declared), declared) == [text]


def test_utf8_declared_latin1_is_read_once_as_declared() -> None:
    """Both readings hold the same ASCII: a second one would count every
    identifier twice.  Only a charset that garbles ASCII gets a second."""
    data = f"Café {NHS}\n".encode()
    assert decode_readings(data, "latin-1") == [data.decode("latin-1")]


def test_mostly_ascii_cp1252_bytes_declared_utf16_are_read_as_cp1252() -> None:
    data = padded(f"Café £5 {NHS}\n".encode("cp1252"))
    assert decode_readings(data, "utf-16-le") == [data.decode("utf-16-le"), data.decode("cp1252")]


@pytest.mark.parametrize(
    ("markup", "value"),
    [
        ('<a href="mailto:alex.carter1987@example.net">her mother</a>',
         "mailto:alex.carter1987@example.net"),
        (f'<form><input type="text" value="NHS number {NHS}"></form>', f"NHS number {NHS}"),
        (f'<p data-patient="NHS number {NHS}">see</p>', f"NHS number {NHS}"),
        (f"<img src='https://example.org/t.png?nhs={NHS.replace(' ', '')}'>",
         f"https://example.org/t.png?nhs={NHS.replace(' ', '')}"),
    ],
    ids=["mailto", "input-value", "data-attribute", "img-src"],
)
def test_attribute_values_that_travel_unseen_are_read(markup: str, value: str) -> None:
    texts = readings(f"<p>Please call</p>{markup}".encode(), HTML)
    assert value not in texts[0]  # not what the reader sees
    assert value in texts[1].split("\n")


def test_a_link_the_text_shows_is_not_read_again() -> None:
    markup = ('<p>Tel: <a href="tel:+441632960002">01632 960 002</a> '
              '<a href="mailto:Duty.Team@example.org">duty.team@example.org</a> '
              '<a href="tel:07700900123">her mum</a></p>')
    visible, unseen = readings(markup.encode(), HTML)
    assert "01632 960 002" in visible
    assert unseen == "tel:07700900123"  # shown nowhere in the text


def test_many_links_are_looked_up_a_bounded_number_of_times() -> None:
    # 20,000 mailto links over a long text: each looked up in the whole
    # text, quadratic; past the bound they are read, never skipped.
    links = "".join(f'<a href="mailto:person{i}@example.org">x</a>' for i in range(20_000))
    _, unseen = readings(f"<p>{'word ' * 50_000}</p>{links}".encode(), HTML)
    assert unseen.count("mailto:") == 20_000


def test_a_password_in_an_attribute_is_found_and_cut_from_the_source() -> None:
    document = f'<p>Download <a href="https://example.org/f" data-note="Password: {PASSWORD}">' \
        "here</a></p>"
    text = HtmlText(document)
    start = text.text.index(PASSWORD)
    assert [document[a:b] for a, b in text.spans(start, start + len(PASSWORD))] == [PASSWORD]
    removed = outbound_module.remove_from_html(document, [PASSWORD])
    assert PASSWORD not in removed and "here</a>" in removed
