"""A password statement taken out of the text leaves the sender's other words.

Staff end a sentence with the password ("The list is attached. The password
is ..."): only the password goes, the rest of the line stays, and the plain
text says, as the HTML part does, that the password comes separately.
"""

from __future__ import annotations

import pytest
from transform_support import aes_zip, message, run, texts, verdict

from gateway.transform.outbound import REMOVED, remove_from_text

PASSWORD = "Tulip-Harbour-73"


def _zip() -> tuple[str, str, bytes]:
    return ("list.zip", "application/zip", aes_zip({"list.txt": b"Made-up list"}, PASSWORD))


def _letter(line: str) -> str:
    return f"Hello,\n\n{line}\n\nThanks, Jo\n"


@pytest.mark.parametrize(
    "words",
    [
        "The list is attached. The password is ",
        "Attached is the list for Monday, password is ",
        "Please call me if you can't open it. The password is ",
        "The list is attached, password: ",
    ],
)
def test_words_before_a_statement_at_the_end_of_a_line_stay(words: str) -> None:
    text = _letter(words + PASSWORD)
    assert remove_from_text(text, [PASSWORD]) == _letter(words + REMOVED)


@pytest.mark.parametrize(
    "statement",
    [
        f"Password: {PASSWORD}",
        f"pw: {PASSWORD}",
        f"The password is {PASSWORD}.",
        f"  The password for the attached file is {PASSWORD}",
        f'Password - "{PASSWORD}"',
    ],
)
def test_a_line_that_only_states_the_password_becomes_the_note(statement: str) -> None:
    text = _letter(statement)
    indent = statement[: len(statement) - len(statement.lstrip())]
    assert remove_from_text(text, [PASSWORD]) == _letter(indent + REMOVED)


def test_words_after_the_password_stay_too() -> None:
    text = _letter(f"Password: {PASSWORD} (the capitals matter)")
    assert remove_from_text(text, [PASSWORD]) == _letter(f"Password: {REMOVED} (the capitals matter)")


def test_line_endings_and_quoted_lines_are_kept() -> None:
    text = f"Hi\r\n> Password: {PASSWORD}\r\nBye\r\n"
    assert remove_from_text(text, [PASSWORD]) == f"Hi\r\n> {REMOVED}\r\nBye\r\n"


def test_a_statement_over_two_lines_still_goes() -> None:
    text = f"Hello\nThe list is attached. Password:\n{PASSWORD}\nBye\n"
    assert remove_from_text(text, [PASSWORD]) == (
        f"Hello\nThe list is attached. Password:\n{REMOVED}\nBye\n")


def test_text_without_the_password_comes_back_as_it_was() -> None:
    text = _letter("The list is attached.")
    assert remove_from_text(text, [PASSWORD]) == text


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (f"The list is attached. The password is {PASSWORD}", "The list is attached."),
        (f"Attached is the list for Monday, password is {PASSWORD}",
         "Attached is the list for Monday,"),
        (f"Password: {PASSWORD}", ""),
        (f"The password is {PASSWORD}", ""),
    ],
)
def test_plain_and_html_parts_both_say_the_password_comes_separately(line: str,
                                                                     kept: str) -> None:
    raw = message(body=_letter(line), html=f"<p>Hello,</p><p>{line}</p><p>Thanks, Jo</p>",
                  attachments=[_zip()])
    out = run(raw, verdict())
    assert out.password == PASSWORD
    assert PASSWORD.encode() not in out.content
    parts = texts(out.content)
    for part in ("text/plain", "text/html"):
        assert REMOVED in parts[part]
        assert kept in parts[part]
        assert "Hello," in parts[part] and "Thanks, Jo" in parts[part]
