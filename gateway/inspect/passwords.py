"""Passwords the sender wrote into the message, and where.

Looked for in the `X-Attachment-Password` header, in body lines such as
`Password: …`, `Pwd - …`, `The password is …`, `password for the attachment
is …`, in the subject, the headers read as text, attachments' file names
and the text of other attachments.  A password in the header or a body
line can be taken out by the transform stage (`removable`); one anywhere
else cannot, nor one in a body part whose declared charset cannot be
applied (an unknown or mislabelled one: the text was read through a
fallback, and the transform rewrites a part only from its exact reading).  A file name is read without its extension: in
"referral - password Blue42.zip" the password is `Blue42`.

Each candidate keeps a few spellings to try (as written, without trailing
sentence punctuation, the rest of the line) because "The password is
Blue42." may mean `Blue42` or `Blue42.`; the one that opens the attachment
becomes the candidate's value.  Values are never logged.

Senders also write a password without the word: "Key: …", "Code to open
it: …", "PASSWORD …", "Passwort: …", alone on a line, in the subject, in a
header of their own, in a second attachment.  Such labels are too loose to
count as statements (a "Code: 1234" that opens nothing is just text), so
`message_tokens` lists every word of the message as a password to try when
an attachment is still unopened (best guesses first); one that opens it is
the password in the message.  `scan_text` reads those labels too: the
transform stage uses it only for a value that really opened an attachment,
to find the line to take it out of.

Every text is read as its reader sees it (`seen_text`): a password typed or
pasted with zero-width spaces, joiners, soft hyphens or a byte order mark
between its characters ("V\u200bq\u200b7...", easily copied from a chat or
a web page) is the password, in the subject, a header or a file name as in
the body; the transform stage takes it out of the body as it is written.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass

from gateway.extract.base import name_as_words, seen_text
from gateway.model import ParsedMessage, PasswordCandidate, SegmentSource, TextSegment
from gateway.parse.headers import (
    ID_HEADERS,
    TOPIC_HEADERS,
    TOPIC_PATH,
    identifier_lefts,
    is_topic_path,
)
from gateway.parse.keywords import Keywords
from gateway.parse.parser import is_outside_parts, reads_exactly

HEADER = "X-Attachment-Password"
# The most common passwords in breached-account lists (the NCSC's analysis of
# the "Have I Been Pwned" top 100,000, with the four-digit PINs), most common
# first.  The inspect stage tries the first few on an encrypted attachment
# nothing in the message opened: one that opens it is no protection, as
# anyone who gets the file would try it first.
COMMON_PASSWORDS = (
    "123456", "password", "1234", "12345678", "123456789", "qwerty", "12345",
    "111111", "0000", "abc123", "password1", "1234567", "iloveyou", "123123",
    "000000", "1234567890", "letmein", "qwerty123", "monkey", "dragon",
)  # fmt: skip
_COMMON = frozenset(p.casefold() for p in COMMON_PASSWORDS)


def is_common(password: str) -> bool:
    """Whether `password` is one of `COMMON_PASSWORDS`, in any case."""
    return password.casefold() in _COMMON
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
# Labels that say "this is the password" without the usual words: "Key:",
# "Code to open it:", "PIN -", "Passwort:", and the word alone before the
# value ("PASSWORD Blue42").  Only ever believed for a value that opens.
_LABELLED = re.compile(
    r"""
    (?:^|(?<=[\s(\[>]))
    (?:the\s+|your\s+)?
    (?:(?:zip|file|document|attachment|pdf|archive|spreadsheet)\s+)?
    (?:
        (?:key|code|pin|passwort|kennwort|wachtwoord|mot\s+de\s+passe|contrase[ñn]a|passord
           |l[öo]senord|salasana|password|passcode|passphrase|pwd|pw)
        (?:\s+(?:to|for)(?:\s+[^\W\d_]+){1,3})?
        (?:\s*[:=\-–—]\s*|\s+is\s*[:\-–—]?\s*)
      |
        (?:password|passcode|passphrase|passwort|kennwort|pwd)\s+
    )
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
        "is",
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
        location = place_of(segment)
        text = _readable(segment, location)
        if not _MENTIONS.found_in(text):
            continue  # cheap skip: most text never mentions a password
        removable = _editable(message, segment, location)
        for value, spellings, _ in _scan(text, labels=False):
            add(value, spellings, location, segment.part_path, removable)
    return found


def _editable(message: ParsedMessage, segment: TextSegment, location: str) -> bool:
    """Whether the transform stage can edit the text a password was read in:
    a body part (not a preamble or epilogue, read as the text but not
    edited; nor opaque-signed content, whose bytes the signature covers)
    that its declared charset reads exactly (`reads_exactly`)."""
    path = segment.part_path
    if location != "body" or is_outside_parts(path) or message.in_sealed(path):
        return False
    return reads_exactly(message, path)


def place_of(segment: TextSegment) -> str:
    """Where a password read in `segment` is written: "subject", "header"
    (a header read as text: Thread-Topic, an X- header, a part's
    Content-Description), "body", "filename" (an attachment's file name) or
    "attachment" (the text of an attachment)."""
    if segment.source is SegmentSource.SUBJECT:
        return "header" if is_topic_path(segment.part_path) else "subject"
    if segment.source is SegmentSource.BODY:
        return "body"
    if segment.filename is not None and segment.text == name_as_words(segment.filename):
        return "filename"
    return "attachment"


# A file name's extension: ".zip", ".pdf", ".docx", ".tar.gz"'s ".gz".
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")


def _readable(segment: TextSegment, location: str) -> str:
    """The text of `segment` as a password would be read in it: as its
    reader sees it (`seen_text`), a file name without its extension, which
    no one types as part of a password ("password Blue42.zip")."""
    text = seen_text(segment.text)
    if location != "filename":
        return text
    return _EXTENSION.sub("", text)


def stated_passwords(text: str) -> list[str]:
    """The value of every password statement in `text` ("The password is
    …", "Password: …"), the loose labels not included, as read in the text
    its reader sees (`seen_text`)."""
    return [value for value, _, _ in _scan(seen_text(text), labels=False)]


def scan_text(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """(best guess, spellings to try) for every password statement in
    `text`, the loose labels ("Key: …", "PASSWORD …") included, as read in
    the text its reader sees (`seen_text`)."""
    return [(value, spellings) for value, spellings, _ in _scan(seen_text(text), labels=True)]


def _scan(text: str, *, labels: bool) -> list[tuple[str, tuple[str, ...], tuple[int, int]]]:
    """Statements (and with `labels`, loosely labelled values) in `text`:
    (best guess, spellings, where the value is written)."""
    results = _statements(_LINE.finditer(text))
    if labels:
        stated = [span for _, _, span in results]
        loose = (m for m in _LABELLED.finditer(text)
                 if not any(start <= m.start("value") < end for start, end in stated))
        results.extend(_statements(loose))
    return results


def _statements(
    matches: Iterator[re.Match[str]],
) -> list[tuple[str, tuple[str, ...], tuple[int, int]]]:
    results: list[tuple[str, tuple[str, ...], tuple[int, int]]] = []
    for match in matches:
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
            results.append((value, spellings, match.span("value")))
    return results


# -- every word of the message, as passwords to try ----------------------------------

# Surrounding characters a word is written between: "(Kettle-Harbour-93)".
_WRAPPING = "\"'“”‘’«»()[]{}<>.,;:!?*_"
_WORD = re.compile(r"\S{4,256}")
_MIN_TOKEN, _MAX_TOKEN = 4, 128
# Bounds on the listing: a password typed for the recipient is near the top
# of what they read, and a large clear attachment must not cost much.
_SCAN_CHARS = 64 * 1024  # of each text
_MAX_TOKENS = 5000
# Lines that talk about a password or a key get their words tried first.
_HINTS = re.compile(r"pass|pw|key|code|pin\b|kennwort|unlock", re.IGNORECASE)
# Headers written by mail programs and servers, not by the sender: their
# words (identifiers, dates, signatures) are never a password typed in.  The
# address headers stay: a display name is the sender's to write.
_TECHNICAL_HEADERS = frozenset(
    name.lower()
    for name in (
        "Received", "DKIM-Signature", "Domainkey-Signature", "Authentication-Results",
        "Received-SPF", "Date", "Return-Path",
        "MIME-Version", "Delivered-To", "Subject", "Thread-Index", "Accept-Language",
        "Precedence", "Importance", "Priority",
        "User-Agent", "X-Mailer", "X-Priority", "X-Originating-IP", "X-Received",
        "Autocrypt", "Disposition-Notification-To", "Return-Receipt-To", "Feedback-ID",
        "X-Spam-Status", "X-Spam-Score", "X-Virus-Scanned", HEADER, *TOPIC_HEADERS,
        *ID_HEADERS,
    )
)  # fmt: skip
# The identifier headers are read apart (`_identifier_words`): a program
# that builds a Message-ID from what it holds can put the password there,
# and it travels with the attachment.
_ID_NAMES = frozenset(name.lower() for name in ID_HEADERS)
_TECHNICAL_PREFIXES = ("content-", "arc-", "x-ms-", "x-microsoft-", "x-google-", "x-gm-",
                       "x-forefront-", "x-exchange-", "x-mimecast-", "x-proofpoint-",
                       "x-spam", "resent-", "list-")  # fmt: skip


def _identifier_words(value: str) -> list[str]:
    """The words an identifier header can hold a password in: each
    identifier's left part (before "@") whole, then its dot-separated
    pieces ("<Blue42.17a3@host>")."""
    words: list[str] = []
    for start, end in identifier_lefts(value):
        left = value[start:end]
        words.append(left)
        pieces = left.split(".")
        if len(pieces) > 1:
            words.extend(pieces)
    return words


@dataclass(frozen=True, slots=True)
class _Token:
    rank: int
    order: int
    found: Found


def message_tokens(message: ParsedMessage, segments: list[TextSegment]) -> list[Found]:
    """Every word of 4 to 128 characters in the message's text, as a password
    candidate of where it is written, best guesses first.

    A word is taken as written and without the brackets, quotes and
    punctuation around it.  Tried first: the value of a loose label
    ("Key: …"), then words on lines mentioning a key, code or password,
    words alone on a line and in a header that names one, then words with
    a digit or a symbol, then the rest.  The same word in several places
    comes once per place.  Only in a body line labelled like a statement is
    it `removable`; anywhere else it cannot be taken out.  Text decrypted
    from an attachment is not the message's: its words are not listed."""
    tokens: list[_Token] = []
    seen: set[tuple[str, str, str, bool]] = set()

    def add(
        word: str, rank: int, location: str, part_path: str, removable: bool,
        spellings: tuple[str, ...] = (),
    ) -> None:
        value = word.strip(_WRAPPING)
        if not _MIN_TOKEN <= len(value) <= _MAX_TOKEN or len(tokens) >= _MAX_TOKENS:
            return
        key = (value, location, part_path, removable)
        if key in seen:
            return
        seen.add(key)
        if rank >= 2 and value.isalpha():
            rank = 3  # a plain word is a poorer guess than "Blue42" or "Kettle-Harbour"
        if not spellings:
            spellings = (value, word) if word != value and len(word) <= _MAX_TOKEN else (value,)
        candidate = PasswordCandidate(value=value, location=location, part_path=part_path,
                                      removable=removable)
        tokens.append(_Token(rank, len(tokens), Found(candidate, spellings)))

    for name, raw in message.headers:
        lowered = name.lower()
        if lowered in _ID_NAMES:
            for piece in _identifier_words(raw[:_SCAN_CHARS]):
                add(piece, 2, "header", f"{TOPIC_PATH}{name}", False)
            continue
        if lowered in _TECHNICAL_HEADERS or lowered.startswith(_TECHNICAL_PREFIXES):
            continue
        hinted = _HINTS.search(lowered) is not None
        for word in _WORD.finditer(seen_text(raw[:_SCAN_CHARS])):
            add(word.group(), 1 if hinted else 2, "header", f"{TOPIC_PATH}{name}", False)
    for segment in segments:
        if segment.inside_encrypted or len(tokens) >= _MAX_TOKENS:
            continue
        location = place_of(segment)
        text = _readable(segment, location)[:_SCAN_CHARS]
        stated = _scan(text, labels=True)
        labelled = sorted(span for _, _, span in stated)
        label_starts = [start for start, _ in labelled]
        editable = bool(stated) and _editable(message, segment, location)
        for value, spellings, _ in stated:
            # Only a body line can be edited; the label is the best guess anywhere.
            add(value, 0, location, segment.part_path, editable, spellings)
        for line_match in re.finditer(r"[^\n]+", text):
            line = line_match.group()
            words = list(_WORD.finditer(line))
            hinted = len(words) == 1 or _HINTS.search(line) is not None
            for word in words:
                start = line_match.start() + word.start()
                at = bisect_right(label_starts, start) - 1
                if at >= 0 and start < labelled[at][1]:
                    continue  # the value of a label, listed above
                add(word.group(), 1 if hinted else 2, location, segment.part_path, False)
    tokens.sort(key=lambda t: (t.rank, t.order))
    return [t.found for t in tokens]
