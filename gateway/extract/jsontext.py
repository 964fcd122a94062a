"""JSON: the names and values a program loading the file sees, escapes decoded.

A JSON string may spell any character as a `\\uXXXX` escape, so the raw text
of `{"nhs": "\\u0039\\u0034\\u0033 476 5919"}` shows no number.  Flow:

    1. the raw text, read by the plain-text extractor: the file as a text
       editor shows it, context words beside the values
    2. the document parsed with the standard library (or, for JSON Lines,
       each line), written out one member per line: `name: value` for a
       string, number (as written), true, false or null; the name alone
       before an object or array; array items one per line.  Members are
       kept in order and a repeated name keeps every value.
    3. when the text does not parse (or is too deeply nested to, or too
       long: `_PARSE_AT_MOST`), its escapes decoded where they stand,
       should it hold any: still text, so a syntax error does not hide an
       escaped number

Bounds: text longer than the text budget is not parsed (`too_large`: the
escapes in it would go unread); the parser recurses once per level of
nesting, so a document nested deeper than the interpreter's recursion limit
is `too_deep`, never a crash.  The parsed value is walked with an explicit
stack, checking the deadline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import repeat
from typing import Any

from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    Extractor,
    TextCollector,
    finish,
)
from gateway.extract.detect import JSON, TEXT, content_type_of
from gateway.extract.text import decode_bytes

_ESCAPE = re.compile(r'\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))')
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
                   "t": "\t"}
_SURROGATE = re.compile("[\ud800-\udfff]")
_TIME_CHECK = 1000  # items between deadline checks
# Characters parsed at most.  A parsed document costs far more memory than
# its text (each empty array in `[[],[],...]` is a list object: 9 MB of
# them came to about 290 MB); a longer one has its escapes decoded where
# they stand instead, which finds the same values, without the names
# beside each of them.
_PARSE_AT_MOST = 1_000_000


class _Unparsed(Exception):
    pass


def _load(text: str) -> Any:
    return json.loads(
        text,
        # An object as the tuple of its members, in order, a repeated name
        # keeping every value; a tuple (arrays are lists) costs less than a
        # dict, and every empty object is the one empty tuple.
        object_pairs_hook=tuple,
        parse_int=str,  # numbers as written: no float rounding, no 1e400 -> inf
        parse_float=str,
        parse_constant=str,
    )


def _documents(text: str, ctx: ExtractContext) -> list[Any]:
    """The document in `text`, or each line's (JSON Lines); `_Unparsed` if it is not JSON."""
    try:
        return [_load(text)]
    except json.JSONDecodeError as exc:
        if not exc.msg.startswith("Extra data"):
            raise _Unparsed from None
    documents = []
    for index, line in enumerate(text.splitlines()):
        if index % _TIME_CHECK == 0:
            ctx.check_time()
        if line.strip():
            try:
                documents.append(_load(line))
            except json.JSONDecodeError:
                raise _Unparsed from None
    return documents


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _clean(text: str) -> str:
    """Escaped surrogate pairs joined, lone ones replaced: the text must encode."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _members(value: Any) -> Iterator[tuple[str | None, Any]]:
    """An object's (name, value) pairs or an array's items (with no name), lazily."""
    if isinstance(value, tuple):
        return iter(value)
    return zip(repeat(None), value)


def _write(document: Any, collector: TextCollector, ctx: ExtractContext) -> None:
    # One iterator per open object or array: nothing is copied, and the
    # depth is the document's, which the parser has already bounded.
    open_containers: list[Iterator[tuple[str | None, Any]]] = [iter([(None, document)])]
    done = 0
    while open_containers and not collector.truncated:
        item = next(open_containers[-1], None)
        if item is None:
            open_containers.pop()
            continue
        done += 1
        if done % _TIME_CHECK == 0:
            ctx.check_time()
        name, value = item
        if isinstance(value, (tuple, list)):
            if name is not None:
                collector.add(_clean(name) + "\n")
            open_containers.append(_members(value))
        else:
            line = _scalar(value) if name is None else f"{name}: {_scalar(value)}"
            collector.add(_clean(line) + "\n")


def unescape_json(text: str) -> str:
    """JSON string escapes decoded wherever they stand in `text`."""

    def decoded(match: re.Match[str]) -> str:
        code, simple = match.groups()
        return chr(int(code, 16)) if code else _SIMPLE_ESCAPES[simple]

    return _clean(_ESCAPE.sub(decoded, text))


class JsonExtractor(Extractor):
    name = JSON
    content_type = content_type_of(JSON)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        texts = ctx.registry.extract(data, ctx, TEXT)
        text = decode_bytes(data, ctx.charset)
        if len(text) > ctx.limits.max_text_chars:
            ctx.problem("too_large", f"JSON over {ctx.limits.max_text_chars} characters")
            return texts
        documents: list[Any] | None = None
        try:
            if len(text) <= _PARSE_AT_MOST:
                documents = _documents(text, ctx)
        except RecursionError:
            ctx.problem("too_deep", "JSON nested too deeply to parse")
        except _Unparsed:
            pass  # not JSON after all: text, read as such
        collector = TextCollector(ctx.limits.max_text_chars)
        if documents is not None:
            for document in documents:
                _write(document, collector, ctx)
        elif "\\" in text:
            collector.add(unescape_json(text))
        else:
            return texts
        texts.append(ExtractedText(finish(collector, ctx)))
        return texts
