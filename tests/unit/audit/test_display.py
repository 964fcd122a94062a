"""gateway.audit.display.visible: what acts is named, what shows is kept."""

from __future__ import annotations

import pytest

from gateway.audit import visible


@pytest.mark.parametrize("text", [
    "Siân Llywelyn, Gwasanaethau Cymdeithasol",  # Welsh, accented
    "Zoë O'Brien-Ní Bhriain",
    "שלום and مرحبا",  # right-to-left letters reorder by themselves, legitimately
    "family 👩\u200d👧",  # a zero-width joiner inside an emoji sequence
    "coder 👨🏽\u200d💻 and 🏳\ufe0f\u200d🌈",  # after a skin tone, after VS16
    "Cymru 🏴\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f",  # Wales's flag
    "report (final).pdf",
    "",
])
def test_text_that_only_shows_is_kept(text: str) -> None:
    assert visible(text) == text


@pytest.mark.parametrize(("text", "shown"), [
    ("a\x1b[2Jb", "a<U+001B>[2Jb"),
    ("title\x1b]0;x\x07", "title<U+001B>]0;x<U+0007>"),
    ("two\nlines\r\tand a tab", "two<U+000A>lines<U+000D><U+0009>and a tab"),
    ("c1 \x9b control", "c1 <U+009B> control"),
    ("del\x7f", "del<U+007F>"),
    ("invoice\u202efdp.exe", "invoice<U+202E>fdp.exe"),
    ("\u2066isolate\u2069 \u200fmark \u061c", "<U+2066>isolate<U+2069> <U+200F>mark <U+061C>"),
    ("line\u2028sep", "line<U+2028>sep"),
])
def test_what_would_act_is_named(text: str, shown: str) -> None:
    assert visible(text) == shown


@pytest.mark.parametrize(("text", "shown"), [
    ("x\u200b@evil.example", "x<U+200B>@evil.example"),
    ("non\u200cjoiner zero\u200dwidth", "non<U+200C>joiner zero<U+200D>width"),
    ("word\u2060joiner", "word<U+2060>joiner"),
    ("\ufeffbom", "<U+FEFF>bom"),
    ("soft\u00adhyphen", "soft<U+00AD>hyphen"),
    ("\u200d👧 alone", "<U+200D>👧 alone"),  # a joiner with nothing to join before it
    ("tags\U000e0041\U000e0042", "tags<U+E0041><U+E0042>"),  # hidden text, no flag
])
def test_invisible_format_characters_are_named(text: str, shown: str) -> None:
    assert visible(text) == shown


@pytest.mark.parametrize(("text", "shown"), [
    ("x\u3164@evil.example", "x<U+3164>@evil.example"),  # Hangul filler, a letter (Lo)
    ("x\u2800@evil.example", "x<U+2800>@evil.example"),  # Braille blank, a symbol (So)
    ("\u115f\u1160 \uffa0", "<U+115F><U+1160> <U+FFA0>"),
    ("x\u034f\u17b4\u17b5y", "x<U+034F><U+17B4><U+17B5>y"),  # marks that draw nothing
])
def test_characters_that_draw_nothing_are_named_whatever_their_category(
    text: str, shown: str
) -> None:
    assert visible(text) == shown


def test_letters_and_braille_that_draw_something_are_kept() -> None:
    assert visible("\ud55c\uad6d \u2801\u2803 \u3131") == "\ud55c\uad6d \u2801\u2803 \u3131"
