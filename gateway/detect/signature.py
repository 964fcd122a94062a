"""Where a segment holds business contact blocks rather than content.

Three kinds of block are found, line by line:

    signature      from a sign-off ("-- ", "Kind regards", "Thanks, Jo") over
                   the short lines that follow: name, job title, phone,
                   e-mail, organisation, address, disclaimer
    reply header   "On Tue, 4 Mar 2025, Jo Bloggs <jo@x.org> wrote:" and the
                   From:/Sent:/To:/Cc:/Subject: block of a quoted message
    disclaimer     the organisation's notice appended to its mail, one
                   paragraph from an opening only a disclaimer has ("This
                   email and any attachments", "This e-mail (including any
                   attachments)", "If you have received this email in
                   error", "If you are not the intended recipient",
                   "CONFIDENTIALITY NOTICE", "Disclaimer:") to the next
                   blank line or reply header

Contact details found only inside them are the correspondents' business
details, not personal data being shared: the number a disclaimer asks to be
told on is the organisation's.

A fourth kind is looked for only around a telephone number the pass kept
(`unsigned_signature`): Outlook's automatic signature with no sign-off
above it, a name line, a job title or organisation under it, and the
number on a contact line, at the end of the text (or before a disclaimer
or the quoted message).  A signature ends at a long line
(prose again), a quoted message, a "P.S.", or a labelled line that is not a
contact label ("Child: …", "DOB: …"), so a leak written after a sign-off is
still seen.  Quoted lines ("> ") are read without their quote marks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["BLOCK_START", "block_at", "business_blocks", "unsigned_signature"]

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
_ANCHOR_WORDS = (
    r"[ \t>]*(?:--|on\s|begin forwarded|(?:from|sent|date|to|cc|bcc|subject|reply-to):"
    r"|kind|best|warm|warmest|many|regards|all the best|thanks|thank you|cheers|yours"
    r"|sincerely|with |speak soon|take care|sent from"
    # A disclaimer's opening, as nearly as the pass can tell it
    # (`_DISCLAIMER_OPENING` decides): specific enough that prose lines
    # starting "This email" or "If you" are not stops of the pass.
    r"|this[ \t]+(?:e-?mail|message|communication)(?:[ \t]*,?[ \t]*(?:\(|and[ \t])"
    r"|[^\n.]{0,80}(?:privileged|in[ \t]+error|recipient|addressee))"
    r"|if[ \t]+you[ \t]+(?:have[ \t]+)?received[ \t]+this|if[ \t]+you[ \t]+are[ \t]+not[ \t]+the"
    r"|(?:important[ \t]*:?[ \t]*)?disclaimer|(?:e-?mail[ \t]+)?confidentiality)"
)
_ANCHOR = re.compile(_ANCHOR_WORDS, re.IGNORECASE)
# The same as a pattern for the engine's combined pass (RE2 or `re`, over the
# folded ASCII bytes): it matches at the start of a line where `_ANCHOR`
# does.  `\s` is spelt out as the characters str patterns take for it in
# ASCII, which bytes patterns and RE2 do not all include.
BLOCK_START = r"(?m:^)(?i:" + _ANCHOR_WORDS.replace(r"\s", r"[\t\n\x0b\x0c\r\x1c-\x1f ]") + ")"
# The same after a line break: a literal first character lets the regex
# engine skip from one line break to the next instead of trying every
# position, as "^" in MULTILINE mode would.
_ANCHOR_AFTER_NEWLINE = re.compile(r"\n(?=" + _ANCHOR_WORDS + ")", re.IGNORECASE)
# A signature is short: name, title, organisation, a few contact lines.
_MAX_SIGNATURE_LINES = 12
_MAX_SIGNATURE_LINE = 100

# The signature walk above, as one regex matched at the sign-off line's start
# (so a block costs one call, not several per line).  Within a line, `_Q`
# strips the quote marks and `_WS` white space other than the line break, as
# `_Lines` does; each rule's `\s` becomes `_WS` so that it cannot reach into
# the next line.  A content line is a non-empty body of at most
# _MAX_SIGNATURE_LINE characters that no rule above ends the block at.
_Q = r"[ \t]*+(?:>[ \t]?+)*+"
_WS = r"[^\S\n]*+"
_EOL = r"(?=\n|\Z)"
_BREAKER = (
    r"(?i:on\b.{0,200}\bwrote:"
    + _WS
    + _EOL
    + r"|-{2,}"
    + _WS
    + r"original message"
    + _WS
    + r"-{2,}"
    + r"|-{2,}"
    + _WS
    + r"forwarded message|begin forwarded message:"
    + r"|(?:from|sent|date|to|cc|bcc|subject|reply-to):[^\S\n](?=[^\n]*\S)"
    + r"|p\.?s\.?\b)"
    # a label that is not a contact label
    + r"|(?=[A-Za-z][A-Za-z' ]{0,30}:)(?!"
    + _CONTACT_LABEL.pattern.replace(r"\s*", _WS)
    + r")"
)
_BREAKER = _BREAKER.replace("(?:t|tel|", "(?i:t|tel|", 1)
# Lines are atomic (one way to read each, no backtracking into them); "at most
# N characters" is "no non-space character N or more characters in".
_CONTENT = (
    r"(?>\n"
    + _Q
    + _WS
    + r"(?!"
    + _BREAKER
    + r")"
    + r"(?![^\n]{"
    + str(_MAX_SIGNATURE_LINE)
    + r"}[^\n]*?\S)\S[^\n]*+)"
)
_EMPTY = r"(?>\n(?!\Z)" + _Q + _WS + _EOL + r")"
_SIGNATURE = re.compile(
    _Q
    + _WS
    + r"(?![^\n]{60}[^\n]*?\S)"  # a body of at most 60 characters
    + r"(?i:"
    + _SIGN_OFF.pattern.removesuffix("$")
    + r")"
    + _WS
    + _EOL
    # up to 12 content lines with any empty lines between, and the empty
    # lines after them unless there are 12
    + f"(?:{_EMPTY}*+{_CONTENT}){{0,{_MAX_SIGNATURE_LINES - 1}}}+"
    + f"(?:{_EMPTY}*+{_CONTENT}|{_EMPTY}*+)"
)
# What every line `_reply_block` accepts starts with: an attribution ("on"
# covers both "On ... wrote:" and "on " over two lines), a separator or
# "begin forwarded message:", or a header name.
_REPLY_OPENING = re.compile(
    r"(?:on\b|--|begin forwarded message:|(?:from|sent|date|to|cc|bcc|subject|reply-to):\s)",
    re.IGNORECASE,
)
_REPLY_AT = re.compile(r"[ \t]*+(?:>[ \t]?+)*+\s*+" + _REPLY_OPENING.pattern, re.IGNORECASE)
# First characters a reply attribution or quoted header line can start with.
_REPLY_FIRST = frozenset("oObB-fFsSdDtTcCrR")
# A disclaimer's opening: words a person writing to a colleague does not
# use.  "This email and any attachments" is one only with a disclaimer's
# word in its sentence ("... are confidential and intended solely for"), so
# that "This email and any attachments contain mum's number ..." is not;
# nor is "this email is confidential" alone: staff write it above what
# they share.
_MAIL = r"(?:e-?mail|message|communication)"
_DISCLAIMER_WORD = (
    r"\b(?:confidential|privileged|intended|addressee|recipient|protected|monitored"
    r"|in[ \t]+error)"
)
_DISCLAIMER_OPENING = re.compile(
    r"[ \t]*+(?:>[ \t]?+)*+[ \t]*(?:"
    # "Disclaimer:" or "DISCLAIMER" as a heading, not "Disclaimer aside, ..."
    r"(?:important[ \t]*:?[ \t]*)?disclaimer[ \t]*(?:[:.-]|(?=\r?\n|\Z))"
    r"|(?:e-?mail[ \t]+)?confidentiality[ \t]+(?:notice|statement|warning)\b"
    r"|this[ \t]+" + _MAIL + r"[ \t]*,?[ \t]*(?:\(|and[ \t]+)(?:including[ \t]+|and[ \t]+)?"
    r"any[ \t]+(?:attachments?|files)[^\n.]{0,160}?" + _DISCLAIMER_WORD
    + r"|this[ \t]+" + _MAIL + r"\b[^\n.]{0,80}?\b(?:(?:legally[ \t]+)?privileged"
    r"|in[ \t]+error|intended[ \t]+recipient|addressee)"
    r"|if[ \t]+you[ \t]+(?:have[ \t]+)?received[ \t]+this[ \t]+" + _MAIL
    + r"[ \t]+(?:in[ \t]+error|by[ \t]+mistake)"
    r"|if[ \t]+you[ \t]+are[ \t]+not[ \t]+the[ \t]+(?:intended|named)[ \t]+"
    r"(?:recipient|addressee)"
    r")",
    re.IGNORECASE,
)
# A disclaimer is a paragraph; a longer run of lines is a message going on.
_MAX_DISCLAIMER_LINES = 20


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
    if not _REPLY_OPENING.match(line):  # a sign-off ("Best wishes", "Thanks"): one test
        return None
    if _REPLY_START.match(line):
        return first[0], first[1]
    if line[:3].lower() == "on ":
        second = lines.after(first)
        if second is not None and _REPLY_START.match(f"{line} {second[2]}"):
            return first[0], second[1]
        return None
    if not _HEADER_LINE.match(line):
        return None
    second = lines.after(first)
    if second is not None and _HEADER_LINE.match(second[2]):
        last = second
        while (following := lines.after(last)) is not None and _HEADER_LINE.match(following[2]):
            last = following
        return first[0], last[1]
    return None


def _signature_block(text: str, start: int) -> tuple[int, int] | None:
    """The span of a signature whose sign-off line starts at `start`."""
    found = _SIGNATURE.match(text, start)
    if found is None:
        return None
    end = found.end()
    while end > start and text[end - 1] == "\r":  # as `_Lines` reads a line
        end -= 1
    return start, end


def _disclaimer_block(text: str, start: int) -> tuple[int, int] | None:
    """The span of a disclaimer whose opening line starts at `start`: its
    paragraph, to a blank line, a reply header or the end of the text."""
    if not _DISCLAIMER_OPENING.match(text, start):
        return None
    lines = _Lines(text)
    line = lines.at(start)
    if line is None:
        return None
    end = line[1]
    for _ in range(_MAX_DISCLAIMER_LINES - 1):
        following = lines.after(line)
        if following is None or not following[2]:
            break
        if _REPLY_AT.match(following[2]) and _reply_block(lines, following) is not None:
            break
        line = following
        end = line[1]
    return start, end


def _anchors(text: str, start: int, end: int) -> Iterator[int]:
    """Starts of the lines in `text[start:end]` where a block may begin."""
    if (start == 0 or text[start - 1] == "\n") and _ANCHOR.match(text, start, end):
        yield start
    for newline in _ANCHOR_AFTER_NEWLINE.finditer(text, start, end):
        yield newline.end()


def block_at(text: str, start: int) -> tuple[int, int] | None:
    """The block that begins at the line starting at `start`, or None.

    `start` is a line start where `_ANCHOR` (or `BLOCK_START`) matches; the
    line decides whether a reply header, a signature or a disclaimer begins
    there.
    """
    if start >= len(text):
        return None
    # Only a line starting "On", "--", "Begin" or a header name can open a
    # reply block; most lines here are sign-offs, and one match on the text
    # itself (the line's quote marks and white space skipped as `_Lines`
    # does) rules that out without reading the line.
    if _REPLY_AT.match(text, start):
        lines = _Lines(text)
        first = lines.at(start)
        if first is not None and first[2][:1] in _REPLY_FIRST:
            block = _reply_block(lines, first)
            if block is not None:
                return block
    return _signature_block(text, start) or _disclaimer_block(text, start)


def business_blocks(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """The (start, end) spans of signature and reply-header blocks.

    Only blocks that begin within `text[start:end]` are looked for.  A line
    inside a block is not looked at again, so a block never starts inside
    another.  (The engine finds the same blocks with `block_at` as its
    combined pass reaches each `BLOCK_START` line.)
    """
    blocks: list[tuple[int, int]] = []
    covered = -1
    end = len(text) if end is None else end
    for position in _anchors(text, start, end):
        if position < covered:
            continue
        if position >= len(text):
            break
        block = block_at(text, position)
        if block is not None:
            blocks.append(block)
            covered = block[1]
    return blocks


# An unsigned signature (see the module docstring): the name line, with an
# optional title before and a job title, pronouns or post-nominals after it.
_NAME_TOKEN = r"(?:O'|Mc|Mac)?[A-Z][a-z]+(?:-[A-Z][a-z]+)?"
_NAME_LINE = re.compile(
    r"(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?[ ])?" + _NAME_TOKEN + r"(?:[ ]" + _NAME_TOKEN
    + r"){1,2}(?:[ ]*(?:[|,(]|[-][ ]).*|(?:[ ][A-Z]{2,5})+)?"
)
# What the line under the name says: a post or an organisation.  A pupil's
# class, an address or "Father" is none of these.
_POST_OR_ORGANISATION = re.compile(
    r"\b(?:manager|officer|administrator|assistant|co-?ordinator|lead|head|headteacher"
    r"|teacher|director|nurse|clerk|advis[eo]r|worker|practitioner|secretary|receptionist"
    r"|consultant|gp|senco|bursar|executive|analyst|engineer|surveyor|specialist|supervisor"
    r"|principal|caseworker|therapist|psychologist|health visitor|midwife|pharmacist|doctor"
    r"|registrar|inspector|accountant|solicitor|technician|librarian|caretaker|apprentice"
    r"|trainee|deputy|chair|council|school|academy|trust|nhs|practice|surgery|ltd|limited"
    r"|plc|llp|college|university|hospital|centre|services?|partnership|association"
    r"|housing|police|federation|department|team)\b",
    re.IGNORECASE,
)
# The number's own line starts with a telephone label, with a colon or dot
# or, as many signatures write it, with none: "T 01609 532123  M 07700 ...".
_PHONE_LABEL = re.compile(
    r"(?:t|tel|telephone|phone|p|m|mob|mobile|work mobile|direct line|direct dial|ddi"
    r"|office|main office|switchboard|landline)(?:\s*[.:]|[ \t]+(?=[+(0-9]))",
    re.IGNORECASE,
)
# A line of prose after the signature is a disclaimer only with its words.
_DISCLAIMER = re.compile(
    r"\b(?:intended recipient|confidential|privileged|disclose|monitor|virus|environment"
    r"|unauthori[sz]ed|legally|protected by law|logo)\b",
    re.IGNORECASE,
)
# Lines read either side of the number, blank ones included.
_MAX_WALK = 3 * _MAX_SIGNATURE_LINES
_AFTER_NAME = re.compile(r"[|,(]|[-][ ]")
_SENTENCE_END = re.compile(r"[.!?]\Z")


def _signature_line(line: str) -> bool:
    """A line a signature may hold: short, not a sentence, no label but a contact label."""
    if len(line) > _MAX_SIGNATURE_LINE or (_SENTENCE_END.search(line) and len(line.split()) >= 5):
        return False
    label = _LABEL.match(line)
    return label is None or _CONTACT_LABEL.match(line) is not None or "@" in line[: label.end()]


def unsigned_signature(text: str, position: int) -> tuple[int, int] | None:
    """The signature without a sign-off whose telephone line holds `position`, or None.

    Read only for a number the pass kept, so a message pays nothing for it
    unless a telephone number was found.  From the number's line up: short
    lines (blank ones between them, as Outlook's HTML writes them) to a name
    line with a post or an organisation on the next line.  From the number's
    line down: short lines to the end of the text, a reply header, or a
    disclaimer.  A leak written as a contact card (a name over an address or
    "Father", or with the message going on after it) is none of this.
    """
    lines = _Lines(text)
    own = lines.at(text.rfind("\n", 0, position) + 1)
    if own is None or not _PHONE_LABEL.match(own[2]) or not _signature_line(own[2]):
        return None
    above: list[tuple[int, int, str]] = []  # non-blank lines, nearest first
    cursor = own[0]
    walked = 0  # every line read, blank ones too: a long text is never walked whole
    while cursor > 0 and len(above) < _MAX_SIGNATURE_LINES and walked < _MAX_WALK:
        line = lines.at(text.rfind("\n", 0, cursor - 1) + 1)
        if line is None:
            break
        cursor = line[0]
        walked += 1
        if not line[2]:
            continue
        if not _signature_line(line[2]):
            break
        above.append(line)
    start = None
    for index, line in enumerate(above):
        if _NAME_LINE.fullmatch(line[2]):
            below = above[index - 1][2] if index else own[2]
            # "Jenny Price | Team Manager": the post after the name, on its line.
            after_name = _AFTER_NAME.search(line[2])
            tail = line[2][after_name.start() :] if after_name is not None else ""
            if _POST_OR_ORGANISATION.search(below) or _POST_OR_ORGANISATION.search(tail):
                start = line[0]
                break
    if start is None:
        return None
    end = own[1]
    line = lines.after(own)
    walked = 0
    while line is not None:
        walked += 1
        if walked > _MAX_WALK:  # a list of contacts, not one signature
            return None
        if line[2]:
            if _REPLY_AT.match(line[2]) and block_at(text, line[0]) is not None:
                break
            if not _signature_line(line[2]):
                if _DISCLAIMER.search(line[2]):
                    break
                return None
            end = line[1]
        line = lines.after(line)
    return start, end
