"""The one combined pass over a segment's text, on RE2 when it is installed.

    text --fold--> ASCII bytes (same length) --combined regex--> leftmost start
         --anchored set at that start--> every pattern that matches there
         --that pattern alone--> its span and `value` group

The combined regex (every recognizer's pattern in one alternation, without
captures) only finds where candidates start; RE2 runs it as one DFA, in time
linear in the text.  An anchored RE2 set at each start says which patterns
match there, so two recognizers that claim the same characters (a date and a
sort code, "12-03-15") both see them.  Only those patterns then run alone to
find the value's span.  Without RE2 the same patterns run on Python `re`,
slower but with the same results.

Text is folded to ASCII first, keeping every offset: Unicode spaces become
spaces, dashes become "-", curly quotes straight ones, every decimal digit
(full-width, Arabic-Indic, Devanagari, ...: a reader sees the number) its
ASCII digit, full-width ASCII forms ("ＮＨＳ") their ASCII letter, Latin
letters with diacritics ("Zoë", "Siân") their base letter, anything else
"?".  One character always becomes one, so offsets into the folded
text are offsets into the original; patterns are ASCII, so nothing they
could match is lost.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

try:  # RE2 is optional: it makes the pass several times faster.
    import re2 as _re2  # type: ignore[import-untyped,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _re2 = None

__all__ = ["BACKEND", "MAX_MATCH", "Candidate", "MultiPattern", "fold"]

BACKEND = "re2" if _re2 is not None else "re"

_FOLD = {
    **{code: " " for code in (0x00A0, 0x1680, 0x202F, 0x205F, 0x3000, 0xFEFF)},
    **{code: " " for code in range(0x2000, 0x200B)},
    **{code: "-" for code in range(0x2010, 0x2016)},
    0x2212: "-",
    0x2018: "'",
    0x2019: "'",
    0x201C: '"',
    0x201D: '"',
    0x2028: "\n",
    0x2029: "\n",
    # Full-width forms of ASCII "!" to "~" (what an East Asian input method
    # types): the same characters to a reader.
    **{code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)},
}


def _latin_letters() -> dict[int, str]:
    """Latin letters with diacritics as their base letter: "Zoë Müller",
    "Siân", "Róisín", "Łukasz" are names a reader reads as any other (and
    the name lists spell them "Zoe", "Sian"); as "?" the name patterns
    never saw them.  Letters that do not decompose (a stroke, a ligature)
    are given their letter by hand; one character still becomes one."""
    letters = {0x00C6: "A", 0x00E6: "a", 0x00D0: "D", 0x00F0: "d", 0x00D8: "O", 0x00F8: "o",
               0x00DE: "T", 0x00FE: "t", 0x00DF: "s", 0x0110: "D", 0x0111: "d",
               0x0126: "H", 0x0127: "h", 0x0131: "i", 0x0141: "L", 0x0142: "l",
               0x0152: "O", 0x0153: "o", 0x0166: "T", 0x0167: "t"}
    for code in (*range(0x00C0, 0x0250), *range(0x1E00, 0x1F00)):
        base = unicodedata.normalize("NFD", chr(code))[0]
        if base.isascii() and base.isalpha():
            letters.setdefault(code, base)
    return letters


_FOLD.update(_latin_letters())
_DIGITS = "0123456789"
_TOKEN_TAIL = re.compile(rb"[A-Za-z0-9]+")
# Longest text a single pattern can match (a labelled name); the anchored set
# looks no further than this from a candidate's start.
MAX_MATCH = 256


def _fold_error(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: one ASCII character for each non-ASCII one."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    run = error.object[error.start : error.end]
    folded = []
    for char in run:
        ascii_char = _FOLD.get(ord(char))
        if ascii_char is None:
            # Any script's decimal digit is the number it shows ("٤٨٥"); the
            # lookup runs only for characters outside the table.
            digit = unicodedata.decimal(char, None)
            ascii_char = "?" if digit is None else _DIGITS[digit]
        folded.append(ascii_char)
    return "".join(folded), error.end


_FOLD_ERRORS = "gateway-detect-fold"
codecs.register_error(_FOLD_ERRORS, _fold_error)


def fold(text: str) -> tuple[bytes, str]:
    """The text as ASCII bytes and as str, both with the same offsets."""
    if text.isascii():
        return text.encode("ascii"), text
    # The codec copies ASCII runs in C and calls the handler only for the rest.
    folded = text.encode("ascii", _FOLD_ERRORS)
    return folded, folded.decode("ascii")


Candidate = tuple[int, "re.Match[bytes]"]  # (pattern index, its match)


class MultiPattern:
    """Many patterns, searched in one pass; every match at each start.

    A walk over a text is `next_start` (where the leftmost match of any
    pattern starts), `matches_at` (every pattern that matches there) and
    `token_end` (where to look again); `candidates` is that walk over a
    range.  The engine drives the walk itself when it must act on what it
    finds (a signature starting at a line jumps over the whole block).
    """

    def __init__(self, patterns: Sequence[str]) -> None:
        self._singles = [re.compile(pattern.encode("ascii")) for pattern in patterns]
        # The alternation only locates starts: its groups are not needed.
        combined = "|".join(
            f"(?:{pattern.replace('(?P<value>', '(?:')})" for pattern in patterns
        ).encode("ascii")
        self._set: Any = None
        if _re2 is not None:
            options = _re2.Options()
            options.encoding = _re2.Options.Encoding.LATIN1
            options.max_mem = 256 << 20  # room for the DFA: it must not fall back to NFA
            options.never_capture = True
            self._combined: Any = _re2.compile(combined, options)
            # The wrapper's search() builds a generator and a Match object per
            # call; the underlying RE2::Match returns the spans directly.
            self._re2_match = self._combined._regexp.Match
            self._unanchored = _re2._Anchor.UNANCHORED
            anchored = _re2.Set.MatchSet(options)
            for pattern in patterns:
                anchored.Add(pattern.replace("(?P<value>", "(?:").encode("ascii"))
            anchored.Compile()
            self._set = anchored._set  # the C++ set: no wrapper call per candidate
            self.next_start = self._re2_next_start()  # type: ignore[method-assign,assignment]
        else:
            self._combined = re.compile(combined)

    def _re2_next_start(self) -> Callable[[bytes, int, int, int], int]:
        """`next_start` on RE2, as a closure: the walk calls it at every stop."""
        match = self._re2_match
        unanchored = self._unanchored

        def next_start(data: bytes, position: int, stop: int, reach: int = MAX_MATCH) -> int:
            end = len(data)
            if stop + reach < end:
                end = stop + reach
            at: int = match(unanchored, data, position, end)[0][0]
            return at if at < stop else -1

        return next_start

    def first(self, data: bytes, position: int = 0) -> int:
        """Where the leftmost match at or after `position` starts, or -1."""
        return self.next_start(data, position, len(data))

    def next_start(
        self, data: bytes, position: int, stop: int, reach: int = MAX_MATCH
    ) -> int:
        """Where the leftmost match starting in `data[position:stop]` starts, or -1.

        A match may run past `stop`; only its start must be before it, so
        the search reads no further than `reach` bytes past `stop` (the
        longest match; 0 when `stop` is a line end, since every pattern
        matches within one line).  There a match may seem to end at the
        cut; the start it gives is only where to look, and `matches_at`
        looks at the whole text, so at worst it finds nothing there and the
        walk goes on.
        """
        end = min(len(data), stop + reach)
        if self._set is not None:
            at = int(self._re2_match(self._unanchored, data, position, end)[0][0])
        else:
            found = self._combined.search(data, position, end)
            at = -1 if found is None else found.start()
        return at if at < stop else -1

    def matches_at(self, data: bytes, at: int) -> list[Candidate]:
        """Every (pattern, match) starting at `at`, in pattern order."""
        singles = self._singles
        indices: Sequence[int]
        if self._set is not None:
            # The set is told only a bounded slice: patterns are short.
            indices = self._set.Match(data[at : at + MAX_MATCH]) or ()
            if len(indices) > 1:
                indices = sorted(indices)
        else:
            indices = range(len(singles))
        found: list[Candidate] = []
        for index in indices:
            single = singles[index].match(data, at)
            if single is not None:
                found.append((index, single))
        return found

    @staticmethod
    def token_end(data: bytes, at: int) -> int:
        """Where to look for the next start after one at `at`.

        Patterns start at a token's first character (the engine checks the
        boundary), so the rest of the token there can be skipped.
        """
        tail = _TOKEN_TAIL.match(data, at)
        return tail.end() if tail is not None else at + 1

    def candidates(self, data: bytes, start: int = 0, stop: int | None = None) -> list[Candidate]:
        """Every (pattern, match) that starts where some pattern matches.

        Only starts in `data[start:stop]` are looked at (a match may run past
        `stop`); `start` must not be inside a token (the caller passes a
        line start or a known match start).
        """
        stop = len(data) if stop is None else stop
        found: list[Candidate] = []
        position = start
        while position < stop:
            at = self.next_start(data, position, stop)
            if at < 0:
                break
            found += self.matches_at(data, at)
            position = self.token_end(data, at)
        return found
