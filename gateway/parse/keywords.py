"""Does a text mention any of a few words, in any case?  One pass in C.

Later stages run a Python regex over a message's text only when the text
mentions one of the words the regex needs ("password", "purpose", ...):
Python's `re` reads text at a few MB/s, and most mail mentions none of them.
The test itself must cost little on a large message too: lower-casing the
text and searching it once per word reads it several times (about 0.4 ms per
200 KB for three words), while RE2 reads ASCII text once, in a DFA, and
stops at the first mention.

Several stages ask about the same text (the password scan, the sharing lines
when they are read and again when they are stripped), each with words of
its own.  So the first question about a text is answered for all of them at
once: one search for every word of every `Keywords` finds the first mention
of any; nothing is mentioned before it, so each `Keywords` need only look
from there (and does so when asked).  The last text asked about is kept with
its answers, and a later question about an equal text (compared, not
searched: a memcmp) is answered from them.  Text above `_REMEMBERED` is not
kept, so a large message's text is not held after its turn.

For ASCII text the answer is exactly `any(word in text.lower() ...)`; other
text takes that very path (case folding outside ASCII is Unicode's, which
the DFA over bytes does not know).

The all-words search may also be made ahead, in another thread, by
`mentions(text)` (RE2 lets go of the interpreter lock while it reads, so
a large message's search need not hold up the event loop), and its result
handed to the questions about that text with `known(...)`: inside the
block, a question about that very text object starts from it.  Questions
about other texts go on as above.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

try:  # RE2 is optional: without it the words are searched one by one.
    import re2 as _re2  # type: ignore[import-untyped,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _re2 = None

__all__ = ["Keywords", "Mentions", "known", "mentions"]

# Texts up to this many characters are remembered with their answers.
_REMEMBERED = 1 << 20

# (text, its ASCII bytes, where the first mention of any word starts or -1,
# the version of the all-words search that found it, answers so far).
_Memo = tuple[str, bytes, int, int, dict["Keywords", bool]]


def _compile(words: Sequence[str]) -> Callable[[bytes, int], int]:
    """A search for `words` in ASCII bytes from a position: where the
    leftmost mention starts, or -1."""
    options = _re2.Options()
    options.encoding = _re2.Options.Encoding.LATIN1
    options.case_sensitive = False
    options.never_capture = True
    pattern = "|".join(_re2.escape(word) for word in words).encode("ascii")
    # The wrapper's search() builds a Match object per call; the underlying
    # RE2::Match only says whether and where.
    match: Any = _re2.compile(pattern, options)._regexp.Match
    unanchored = _re2._Anchor.UNANCHORED

    def search(data: bytes, position: int) -> int:
        start: int = match(unanchored, data, position, len(data))[0][0]
        return start

    return search


class _Mentions:
    """The search for every word any `Keywords` was made with, and the memo."""

    def __init__(self) -> None:
        self._words: list[str] = []
        self._search: Callable[[bytes, int], int] | None = None
        self._version = 0
        self._lock = threading.Lock()
        self.memo: _Memo | None = None

    def add(self, words: Sequence[str]) -> None:
        with self._lock:
            new = [word for word in words if word not in self._words]
            if new:
                self._words.extend(new)
                self._search = None  # built again, with the new words, when next needed
                self._version += 1

    def first(self, data: bytes) -> tuple[int, int]:
        """(where the first mention of any word starts or -1, the version)."""
        with self._lock:
            search, version = self._search, self._version
            if search is None:
                search = self._search = _compile(self._words)
        return search(data, 0), version

    @property
    def version(self) -> int:
        return self._version


_MENTIONS = _Mentions()

# What `mentions` found, for the texts the current `known` block was given.
_KNOWN: ContextVar[tuple[_Memo, ...]] = ContextVar("known_mentions", default=())


class Mentions:
    """Where a text first mentions any keyword, found ahead (see `mentions`)."""

    __slots__ = ("_memo",)

    def __init__(self, memo: _Memo) -> None:
        self._memo = memo


def mentions(text: str) -> Mentions | None:
    """The all-words search over `text`, made now, in any thread; None when
    a question about `text` would not use it (no RE2, text not ASCII)."""
    if _re2 is None or not text.isascii():
        return None
    data = text.encode("ascii")
    first, version = _MENTIONS.first(data)
    return Mentions((text, data, first, version, {}))


@contextmanager
def known(found: Sequence[Mentions]) -> Iterator[None]:
    """Inside the block, questions about the texts of `found` start from
    what was found (in this context only: other tasks and threads do not
    see it)."""
    token = _KNOWN.set(tuple(m._memo for m in found))
    try:
        yield
    finally:
        _KNOWN.reset(token)


def _known(text: str) -> _Memo | None:
    for memo in _KNOWN.get():
        if memo[0] is text and memo[3] == _MENTIONS.version:
            return memo
    return None


class Keywords:
    """A few lower-case ASCII words, looked for case-insensitively."""

    def __init__(self, words: Sequence[str]) -> None:
        if not words or not all(word.isascii() and word == word.lower() for word in words):
            raise ValueError("keywords are lower-case ASCII words")
        self.words = tuple(words)
        self._search: Callable[[bytes, int], int] | None = None
        if _re2 is not None:
            self._search = _compile(self.words)
            _MENTIONS.add(self.words)

    def found_in(self, text: str) -> bool:
        """Does `text` contain any of the words, in any case?"""
        search = self._search
        if search is None or not text.isascii():
            lowered = text.lower()
            return any(word in lowered for word in self.words)
        memo = _known(text)
        if memo is None and len(text) > _REMEMBERED:
            data = text.encode("ascii")
            return search(data, 0) >= 0
        if memo is None:
            memo = _MENTIONS.memo  # one read: another thread may replace it
        if (
            memo is None
            or memo[3] != _MENTIONS.version
            or (memo[0] is not text and memo[0] != text)
        ):
            data = text.encode("ascii")
            first, version = _MENTIONS.first(data)
            memo = (text, data, first, version, {})
            _MENTIONS.memo = memo
        _, data, first, _, answers = memo
        if first < 0:
            return False
        answer = answers.get(self)
        if answer is None:
            # Nothing of any Keywords is mentioned before `first`.
            answer = answers[self] = search(data, first) >= 0
        return answer
