"""Passwords the sender wrote into the message, and where.

Looked for in the `X-Attachment-Password` header, in body lines such as
`Password: …`, `Pwd - …`, `The password is …`, `password for the attachment
is …`, in the subject and in the text of other attachments.  A password in
the header or a body line can be taken out by the transform stage
(`removable`); one in the subject or inside an attachment cannot.

Each candidate keeps a few spellings to try (as written, without trailing
sentence punctuation, the rest of the line) because "The password is
Blue42." may mean `Blue42` or `Blue42.`; the one that opens the attachment
becomes the candidate's value.  Values are never logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.model import ParsedMessage, PasswordCandidate, SegmentSource, TextSegment
from gateway.parse.keywords import Keywords

HEADER = "X-Attachment-Password"
# Every statement _LINE finds holds one of these ("pass word", "pwd" too).
_MENTIONS = Keywords(("pass", "pw"))

_LINE = re.compile(
    r"""
    (?:^|(?<=[\s(\[>]))
    (?:the\s+|your\s+)?
    (?:(?:zip|file|document|attachment|pdf|archive|spreadsheet)\s+)?
    (?:password|passcode|passphrase|pass\s+word|pwd|pw)
    (?:\s+(?:for|to|of)\s+(?:the\s+|this\s+|your\s+|these\s+)?
       (?:attached\s+|encrypted\s+|protected\s+)?
       (?:attachment|file|zip|document|spreadsheet|pdf|archive|report|folder)s?
       (?:\s+(?:attached|below|above))?)?
    (?:\s*[:=\-–—]\s*|\s+is\s*[:\-–—]?\s*|\s+will\s+be\s*:?\s*)
    (?P<value>"[^"\n]{1,128}"|'[^'\n]{1,128}'|“[^”\n]{1,128}”|\S{1,128})
    (?P<rest>[^\n]{0,128})
    """,
    re.IGNORECASE | re.VERBOSE,
)
_TRAILING = ".,;:!?)]}>"
_NOT_PASSWORDS = frozenset(
    {
        "below",
        "above",
        "attached",
        "required",
        "incorrect",
        "wrong",
        "protected",
        "separately",
        "sent",
        "to",
        "in",
        "the",
        "a",
        "an",
        "being",
        "same",
        "not",
        "your",
        "as",
        "on",
        "by",
        "coming",
        "following",
        "follows",
        "will",
        "was",
        "has",
        "have",
        "been",
        "reset",
        "expired",
        "changed",
        "needed",
        "via",
        "over",
        "from",
        "known",
        "available",
        "provided",
        "please",
        "and",
        "or",
        "for",
        "with",
        "it",
        "this",
        "that",
        "my",
        "our",
        "their",
        "his",
        "her",
        "missing",
        "set",
        "case",
        "sensitive",
        "strong",
        "weak",
        "too",
        "also",
        "still",
        # "Password: phone me", "...: to follow", "...: TBC": arrangements, not passwords.
        "phone",
        "telephone",
        "call",
        "ring",
        "text",
        "tbc",
        "tba",
        "follow",
        "later",
        "shortly",
        "soon",
        "separate",
        "email",
        "e-mail",
    }
)


@dataclass(frozen=True, slots=True)
class Found:
    """A candidate and the spellings of it worth trying, best first."""

    candidate: PasswordCandidate
    spellings: tuple[str, ...]


def find_passwords(message: ParsedMessage, segments: list[TextSegment]) -> list[Found]:
    found: list[Found] = []
    seen: set[tuple[str, str, str]] = set()

    def add(
        value: str, spellings: tuple[str, ...], location: str, part_path: str, removable: bool
    ) -> None:
        key = (value, location, part_path)
        if not value or key in seen:
            return
        seen.add(key)
        candidate = PasswordCandidate(
            value=value, location=location, part_path=part_path, removable=removable
        )
        found.append(Found(candidate, spellings))

    for name, raw in message.headers:
        if name.lower() == HEADER.lower():
            value = raw.strip()
            add(value, (value,), "header", "", True)
    for segment in segments:
        if not _MENTIONS.found_in(segment.text):
            continue  # cheap skip: most text never mentions a password
        if segment.source is SegmentSource.SUBJECT:
            location, removable = "subject", False
        elif segment.source is SegmentSource.BODY:
            location, removable = "body", True
        else:
            location, removable = "attachment", False
        for value, spellings in scan_text(segment.text):
            add(value, spellings, location, segment.part_path, removable)
    return found


def scan_text(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """(best guess, spellings to try) for every password statement in `text`."""
    results: list[tuple[str, tuple[str, ...]]] = []
    for match in _LINE.finditer(text):
        raw = match.group("value")
        rest = match.group("rest").rstrip()
        if raw[0] in "\"'“":
            value = raw[1:-1].strip()
            spellings: tuple[str, ...] = (value,)
        else:
            value = raw.rstrip(_TRAILING) or raw
            if value.lower() in _NOT_PASSWORDS:
                continue
            options = [value, raw]
            if rest.strip():
                options.append((raw + rest).strip())
            spellings = tuple(dict.fromkeys(options))
        if value:
            results.append((value, spellings))
    return results
