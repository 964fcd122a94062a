"""`IndexedMessage` answers every header question as the stdlib's `Message`
does, before and after any change to the headers, by any path."""

from __future__ import annotations

from collections.abc import Callable
from email.message import Message
from email.parser import BytesFeedParser
from email.policy import compat32
from typing import Any

import pytest

from gateway.parse.indexed import IndexedMessage

RAW = (
    b"From: Sender <sender@example.org>\r\n"
    b"To: a@example.org\r\n"
    b"to: b@example.org\r\n"
    b"Subject: =?utf-8?q?caf=C3=A9?=\r\n"
    b"X-Eight-Bit: caf\xc3\xa9\r\n"
    b"Content-Type: multipart/mixed; boundary=\"b1\"; charset=\"us-ascii\";\r\n"
    b" name*0=\"part\"; name*1=\"two.txt\"\r\n"
    b"Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
    b"Content-Transfer-Encoding: 7bit\r\n"
    b"\r\n"
)


def parse(factory: type[Message]) -> Message:
    parser = BytesFeedParser(factory, policy=compat32)
    parser.feed(RAW)
    return parser.close()


def answers(message: Message) -> list[Any]:
    out: list[Any] = []
    for name in ("to", "TO", "subject", "x-eight-bit", "content-type", "missing",
                 "content-disposition", "content-transfer-encoding"):
        out.append(str(message.get(name, "<none>")))
        out.append([str(v) for v in message.get_all(name, [])])
        out.append(name in message)
    out.append(str(message["From"]))
    out.append(message.get_content_type())
    out.append(message.get_params())
    out.append(message.get_params(unquote=False))
    out.append(message.get_params(header="content-disposition"))
    out.append(message.get_param("boundary"))
    out.append(message.get_param("name"))
    out.append(message.get_filename())
    out.append(message.get_boundary())
    out.append(message.get_content_charset())
    out.append(message.get_content_disposition())
    return out


def _replace(message: Message) -> None:
    message.replace_header("Content-Type", "text/plain; charset=utf-8")


def _set(message: Message) -> None:
    message["Content-Type"] = "application/pdf; name=x.pdf"


def _delete(message: Message) -> None:
    del message["content-type"]


def _set_param(message: Message) -> None:
    message.set_param("charset", "iso-8859-1")


def _add(message: Message) -> None:
    message.add_header("X-New", "1")
    message.add_header("to", "c@example.org")


def _boundary(message: Message) -> None:
    message.set_boundary("other")


def _direct(message: Message) -> None:
    # In place, the list and its length unchanged: only the snapshot's
    # comparison of the headers themselves can see this one.
    headers = message._headers  # type: ignore[attr-defined]
    index = next(i for i, (k, _) in enumerate(headers) if k.lower() == "content-type")
    headers[index] = ("Content-Type", "image/png; name=changed.png")


@pytest.mark.parametrize(
    "change", [_replace, _set, _delete, _set_param, _add, _boundary, _direct],
    ids=lambda f: f.__name__.strip("_"))
def test_same_answers_as_stdlib_before_and_after_a_change(change: Callable[[Message], None]):
    plain, indexed = parse(Message), parse(IndexedMessage)
    assert isinstance(indexed, IndexedMessage)
    assert answers(indexed) == answers(plain)
    change(plain)
    change(indexed)
    assert answers(indexed) == answers(plain)


def test_handed_out_params_are_a_copy():
    indexed = parse(IndexedMessage)
    params = indexed.get_params(unquote=False)
    assert params is not None
    params.append(("injected", "yes"))
    assert ("injected", "yes") not in (indexed.get_params(unquote=False) or [])


def test_message_without_headers():
    empty = IndexedMessage()
    assert empty.get("to") is None and empty.get_all("to") is None
    assert "to" not in empty and empty.get_params() is None
    assert empty.get_content_type() == "text/plain"
