"""Text from mail as it is shown to a person: the auditor's terminal
(`gateway audit search` and `show`) and the web console's pages.

A subject, a file name or a recipient's name is whatever the mail said,
decoded: an RFC 2047 encoded-word can hold any character.  Printed as it
is, an escape sequence (ESC, then a command) drives the auditor's terminal:
it can clear the screen, rewrite lines already shown or set the window's
title.  A bidirectional override (U+202E) makes a file name such as
"invoice<U+202E>fdp.exe" read "invoiceexe.pdf", on the terminal and in the
browser alike.  Shown, each such character is named instead (`<U+202E>`).
The trail keeps the text exactly as recorded: the JSON output, the CSV
(its own rule for spreadsheets, gateway.cli.audit) and the views.
"""

from __future__ import annotations

import re

# C0 and C1 controls (tab and newline among them: in one field they would
# break the line a field is shown on), DEL, the line and paragraph
# separators, and every character that reorders text around it (Unicode's
# bidirectional formatting characters, UAX #9).
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _named(match: re.Match[str]) -> str:
    return f"<U+{ord(match.group()):04X}>"


def visible(text: str) -> str:
    """`text` with each character that would act rather than show named."""
    return _HIDDEN.sub(_named, text)
