"""Where a segment holds business contact blocks rather than content.

Two kinds of block are found, line by line:

    signature      from a sign-off ("-- ", "Kind regards", "Thanks, Jo") over
                   the short lines that follow: name, job title, phone,
                   e-mail, organisation, address, disclaimer
    reply header   "On Tue, 4 Mar 2025, Jo Bloggs <jo@x.org> wrote:" and the
                   From:/Sent:/To:/Cc:/Subject: block of a quoted message

Contact details found only inside them are the correspondents' business
details, not personal data being shared.  A signature ends at a long line
(prose again), a quoted message, a "P.S.", or a labelled line that is not a
contact label ("Child: …", "DOB: …"), so a leak written after a sign-off is
still seen.  Quoted lines ("> ") are read without their quote marks.
"""

from __future__ import annotations

import re

__all__ = ["business_blocks"]

_SIGN_OFF = re.compile(
    r"(?:--|kind regards|best regards|warm regards|warmest regards|many regards|regards"
    r"|best wishes|warm wishes|with best wishes|all the best|many thanks|thanks|thank you"
    r"|thanks again|cheers|yours sincerely|yours faithfully|yours truly|sincerely"
    r"|with thanks|speak soon|take care|sent from my \w+)"
    r"[ \t]*[,.!]?[ \t]*(?:[A-Z][A-Za-z'-]*(?:[ ][A-Z][A-Za-z'-]*){0,2})?[ \t]*$",
    re.IGNORECASE,
)
_REPLY_START = re.compile(
    r"(?:on\b.{0,200}\bwrote:\s*$|-{2,}\s*original message\s*-{2,}|-{2,}\s*forwarded message"
    r"|begin forwarded message:)",
    re.IGNORECASE,
)
_HEADER_LINE = re.compile(r"(?:from|sent|date|to|cc|bcc|subject|reply-to):\s", re.IGNORECASE)
# Labels a signature line may carry; any other "Label:" line ends the block.
_CONTACT_LABEL = re.compile(
    r"(?:t|tel|telephone|phone|p|m|mob|mobile|e|email|e-mail|f|fax|w|web|website|www"
    r"|address|switchboard|direct line|direct dial|ddi|ext|extension|office|main office"
    r"|reception|pronouns|working days|working hours|hours|twitter|x|linkedin"
    r"|teams|skype|role|title|dept|department|pa|team|school|trust|registered office"
    r"|company number|charity number|registered in england)\s*[.:]",
    re.IGNORECASE,
)
_LABEL = re.compile(r"[A-Za-z][A-Za-z' ]{0,30}:")
_QUOTE = re.compile(r"[ \t]*(?:>[ \t]?)*")
_PS = re.compile(r"p\.?s\.?\b", re.IGNORECASE)
# Lines where a block can start; the rules above then decide.  One pass over
# the text finds them, so a long segment is not split into lines at all.
_ANCHOR = re.compile(
    r"^[ \t>]*(?:--|on\s|begin forwarded|(?:from|sent|date|to|cc|bcc|subject|reply-to):"
    r"|kind|best|warm|warmest|many|regards|all the best|thanks|thank you|cheers|yours"
    r"|sincerely|with |speak soon|take care|sent from)",
    re.IGNORECASE | re.MULTILINE,
)
# A signature is short: name, title, organisation, a few contact lines.
_MAX_SIGNATURE_LINES = 12
_MAX_SIGNATURE_LINE = 100


class _Lines:
    """Lines of a text read on demand: (start, end, line without quote marks)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def at(self, start: int) -> tuple[int, int, str] | None:
        if start >= len(self.text):
            return None
        newline = self.text.find("\n", start)
        end = len(self.text) if newline < 0 else newline
        raw = self.text[start:end].rstrip("\r")
        quote = _QUOTE.match(raw)
        body = raw[quote.end() :] if quote is not None else raw
        return start, start + len(raw), body.strip()

    def after(self, line: tuple[int, int, str]) -> tuple[int, int, str] | None:
        newline = self.text.find("\n", line[1])
        return None if newline < 0 else self.at(newline + 1)


def _reply_block(lines: _Lines, first: tuple[int, int, str]) -> tuple[int, int] | None:
    """The span of a reply attribution or quoted header block starting at `first`."""
    line = first[2]
    if _REPLY_START.match(line):
        return first[0], first[1]
    second = lines.after(first)
    if line.lower().startswith("on ") and second is not None:
        if _REPLY_START.match(f"{line} {second[2]}"):
            return first[0], second[1]
        return None
    if _HEADER_LINE.match(line) and second is not None and _HEADER_LINE.match(second[2]):
        last = second
        while (following := lines.after(last)) is not None and _HEADER_LINE.match(following[2]):
            last = following
        return first[0], last[1]
    return None


def _signature_block(lines: _Lines, first: tuple[int, int, str]) -> tuple[int, int] | None:
    """The span of a signature starting at the sign-off line `first`."""
    line = first[2]
    if not (line == "--" or (len(line) <= 60 and _SIGN_OFF.match(line))):
        return None
    last = first
    content_lines = 0
    while content_lines < _MAX_SIGNATURE_LINES:
        following = lines.after(last)
        if following is None:
            break
        body = following[2]
        if len(body) > _MAX_SIGNATURE_LINE or _REPLY_START.match(body):
            break
        if _HEADER_LINE.match(body) or _PS.match(body):
            break
        if _LABEL.match(body) and not _CONTACT_LABEL.match(body):
            break
        if body:
            content_lines += 1
        last = following
    return first[0], last[1]


def business_blocks(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """The (start, end) spans of signature and reply-header blocks.

    Only blocks that begin within `text[start:end]` are looked for: the
    engine passes the stretch of text that holds business-contact candidates
    (and the lines before them), not the whole of a long attachment.
    """
    lines = _Lines(text)
    blocks: list[tuple[int, int]] = []
    covered = -1
    for anchor in _ANCHOR.finditer(text, start, len(text) if end is None else end):
        if anchor.start() < covered:
            continue
        first = lines.at(anchor.start())
        if first is None:
            break
        block = _reply_block(lines, first) or _signature_block(lines, first)
        if block is not None:
            blocks.append(block)
            covered = block[1]
    return blocks
