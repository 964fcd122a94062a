"""Text from mail as it is shown to a person: the auditor's terminal
(`gateway audit search` and `show`) and the web console's pages.

A subject, a file name or a recipient's name is whatever the mail said,
decoded: an RFC 2047 encoded-word can hold any character.  Printed as it
is, an escape sequence (ESC, then a command) drives the auditor's terminal:
it can clear the screen, rewrite lines already shown or set the window's
title.  A bidirectional override (U+202E) makes a file name such as
"invoice<U+202E>fdp.exe" read "invoiceexe.pdf", on the terminal and in the
browser alike.  An invisible format character (a zero-width space, a soft
hyphen, a byte order mark) makes "x<U+200B>@evil.example" look like an
address it is not, and so does a character that draws nothing though it
is a letter or a symbol (a Hangul filler, the Braille blank).  Shown, each
such character is named instead
(`<U+202E>`); only the joiner inside an emoji sequence and the tags of a
flag (Wales, Scotland, England) are kept, as they draw one picture.
The trail keeps the text exactly as recorded: the JSON output, the CSV
(its own rule for spreadsheets, gateway.cli.audit) and the views.
"""

from __future__ import annotations

import re
import unicodedata

# What acts rather than shows, by Unicode category: controls (Cc: C0 and C1,
# DEL; tab and newline among them: in one field they would break the line a
# field is shown on), format characters (Cf: the bidirectional formatting
# characters of UAX #9, zero-width spaces and joiners, the soft hyphen, the
# byte order mark, tags) and the line and paragraph separators (Zl, Zp).
_ACTS = frozenset({"Cc", "Cf", "Zl", "Zp"})
# Characters of other categories that draw nothing, as a zero-width space
# does: the Hangul fillers (letters, Lo), the Braille blank (a symbol, So),
# the combining grapheme joiner and the Khmer inherent vowels (marks, Mn).
# "x<U+3164>@evil.example" shows as "x @evil.example" or "x@evil.example".
_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5")
# A subdivision flag (U+1F3F4, the tag letters and digits of a region code
# such as "gbwls", CANCEL TAG) is kept whole; otherwise each character that
# is not printable ASCII is judged alone (tags spelling any other text are
# named: they are a way to hide words).
_CANDIDATE = re.compile(
    "\U0001f3f4[\U000e0030-\U000e0039\U000e0061-\U000e007a]{3,6}\U000e007f|[^\x20-\x7e]")
_ZWJ = "\u200d"
_EMOJI_PRESENTATION = "\ufe0f"


def _joins_emoji(text: str, at: int) -> bool:
    """Is the zero-width joiner at `at` inside an emoji sequence (a picture,
    its skin tone or presentation selector, the joiner, a picture)?"""
    if at == 0 or at + 1 >= len(text):
        return False
    before, after = text[at - 1], text[at + 1]
    return (unicodedata.category(after) == "So"
            and (before == _EMOJI_PRESENTATION or unicodedata.category(before) in ("So", "Sk")))


def _named(match: re.Match[str]) -> str:
    found = match.group()
    if len(found) > 1:
        return found
    if found in _BLANK:
        return f"<U+{ord(found):04X}>"
    if unicodedata.category(found) not in _ACTS:
        return found
    if found == _ZWJ and _joins_emoji(match.string, match.start()):
        return found
    return f"<U+{ord(found):04X}>"


def visible(text: str) -> str:
    """`text` with each character that would act rather than show named."""
    return _CANDIDATE.sub(_named, text)
