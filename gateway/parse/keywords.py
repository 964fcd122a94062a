"""Does a text mention any of a few words, in any case?  One pass in C.

Later stages run a Python regex over a message's text only when the text
mentions one of the words the regex needs ("password", "purpose", ...):
Python's `re` reads text at a few MB/s, and most mail mentions none of them.
The test itself must cost little on a large message too: lower-casing the
text and searching it once per word reads it several times (about 0.4 ms per
200 KB for three words), while RE2 reads ASCII text once, in a DFA, and
stops at the first mention.

For ASCII text the answer is exactly `any(word in text.lower() ...)`; other
text takes that very path (case folding outside ASCII is Unicode's, which
the DFA over bytes does not know).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

try:  # RE2 is optional: without it the words are searched one by one.
    import re2 as _re2  # type: ignore[import-untyped,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _re2 = None

__all__ = ["Keywords"]


class Keywords:
    """A few lower-case ASCII words, looked for case-insensitively."""

    def __init__(self, words: Sequence[str]) -> None:
        if not words or not all(word.isascii() and word == word.lower() for word in words):
            raise ValueError("keywords are lower-case ASCII words")
        self.words = tuple(words)
        self._match: Any = None
        if _re2 is not None:
            options = _re2.Options()
            options.encoding = _re2.Options.Encoding.LATIN1
            options.case_sensitive = False
            options.never_capture = True
            pattern = "|".join(_re2.escape(word) for word in self.words).encode("ascii")
            # The wrapper's search() builds a Match object per call; the
            # underlying RE2::Match only says whether and where.
            self._match = _re2.compile(pattern, options)._regexp.Match
            self._unanchored = _re2._Anchor.UNANCHORED

    def found_in(self, text: str) -> bool:
        """Does `text` contain any of the words, in any case?"""
        if self._match is not None and text.isascii():
            data = text.encode("ascii")
            return bool(self._match(self._unanchored, data, 0, len(data))[0][0] >= 0)
        lowered = text.lower()
        return any(word in lowered for word in self.words)
