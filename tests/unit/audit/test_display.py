"""gateway.audit.display.visible: what acts is named, what shows is kept."""

from __future__ import annotations

import pytest

from gateway.audit import visible


@pytest.mark.parametrize("text", [
    "Siân Llywelyn, Gwasanaethau Cymdeithasol",  # Welsh, accented
    "Zoë O'Brien-Ní Bhriain",
    "שלום and مرحبا",  # right-to-left letters reorder by themselves, legitimately
    "family 👩\u200d👧",  # a zero-width joiner inside an emoji sequence
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
