"""Header values as a person reads them: unfolded, RFC 2047 decoded, 8-bit mended.

`decode_header_value` never raises: a broken encoded word is kept as it was
written (so its text is still inspected).  It also reports whether decoding
produced a CR or LF that was not in the raw value: an encoded word such as
``=?utf-8?q?x=0D=0ABcc:_y?=`` is read as one header by one program and as two
by another (the CVE-2024-6923 family), so the caller refuses it as ambiguous.

Which headers are read as text like the subject (`TOPIC_HEADERS`,
`reads_as_text`, the display names of `ADDRESS_HEADERS`) and how their
text is named (`header_path`: "header:X-Patient", "header:To:display-name",
"header:Content-Description:part:2") are here too, so the inspect, policy
and transform stages agree on them.
"""

from __future__ import annotations

import functools
import re
from email.errors import HeaderParseError
from email.header import decode_header
from email.utils import collapse_rfc2231_value

from gateway.model import Finding, InformationType
from gateway.parse.charsets import decode_surrogates, decode_text

# Headers whose value is free text that travels in clear like the subject:
# Outlook's Thread-Topic keeps the conversation's first subject (a name
# taken out of a reply's subject is still there), and people type
# Keywords and Comments (RFC 5322 section 3.6.5).  They are read as the
# subject is, and taken out when the gateway protects the message.
TOPIC_HEADERS = ("Thread-Topic", "Keywords", "Comments")
# The part_path of a topic header's text: "header:Thread-Topic".
TOPIC_PATH = "header:"


def is_topic_path(part_path: str) -> bool:
    """Whether a SUBJECT-source text came from a header, not the subject."""
    return part_path.startswith(TOPIC_PATH)


# Every mail program shows the display names of these ("Jo Bloggs" in
# `"Jo Bloggs" <jo@example>`), and an address book can hold anything there.
# Their text other than the addresses is read: part_path
# "header:To:display-name".
ADDRESS_HEADERS = ("From", "To", "Cc", "Reply-To", "Sender")
DISPLAY_NAME = ":display-name"
# A part's own header (Content-Description, X-*): "header:X-Note:part:2".
PART = ":part:"
# Free text besides the topic headers: Organization (RFC 1036, shown by
# several clients), Content-Description (shown beside a part) and the X-
# headers staff's programs and forms add ("X-Patient: ...").
_TEXT_HEADERS = frozenset({"organization", "organisation", "content-description"})
# X- headers written by mail programs and servers (identifiers, versions,
# scores, encoded blobs), never typed by staff; and the gateway's own
# headers, read elsewhere (the sharing headers by `sharing_facts`, the
# marking by `find_marking`) and removed or checked there
# (X-Attachment-Password is a password, never text to inspect).
_TECHNICAL_X = frozenset({
    "x-mailer", "x-originating-ip", "x-mimeole", "x-priority", "x-msmail-priority",
    "x-received", "x-attachment-password", "x-authorised-by", "x-protective-marking",
    "x-originatororg", "x-clientproxiedby", "x-auto-response-suppress",
    "x-eopattributedmessage", "x-eoptenantattributedmessage", "x-ms-has-attach",
})  # fmt: skip
_TECHNICAL_X_PREFIXES = (
    "x-ms-", "x-microsoft-", "x-spam-", "x-virus-", "x-forefront-", "x-google-", "x-gm-",
    "x-apple-", "x-sharing-",
)
# Header text read besides the subject and the topic headers, per message.
# Address lists and X- headers of ordinary mail are a few KB; more than
# this is not inspected (fail closed: the caller records a Problem).
MAX_HEADER_TEXT = 64 * 1024
# A quoted display name or a comment (kept whole: an "@" inside one is
# text), or an address (taken out).  Linear on any input: a quote or comment
# left open runs to the end (and is kept), an address in angle brackets has
# no space or quote in it, and a bare address is matched from the start of a
# run of its characters only.
_ADDRESS = re.compile(
    r"(\"(?:[^\"\\]|\\.)*\"?|\([^()]*\)?)|<[^<>\s\"]*>"
    r"|(?<![^\s<>,;:\"()])[^\s<>,;:\"()]+@[^\s<>,;:\"()]+"
)
_WORD_CHAR = re.compile(r"[^\W_]")

# Headers that name messages by identifier (RFC 5322 section 3.6.4): the
# message's own Message-ID, and those of the messages it answers.  Mail
# programs write them, yet a case system or a script can build one from
# what it holds ("<Jack.Wilson.943...@...>", a password), and they travel
# to the recipient; the audit record keeps the Message-ID.  They are read
# for the password that opens an attachment and for the identifiers that
# are certainly personal data (`IDENTIFIER_TYPES`), never as free text:
# an identifier is shaped like an e-mail address, and a mail program's
# random letters and digits would read as anything else.
ID_HEADERS = ("Message-ID", "In-Reply-To", "References")
# What the detect stage looks for in an identifier: numbers and dates that
# are certainly a person's (a check digit, a birth word beside a date).
IDENTIFIER_TYPES = frozenset({
    InformationType.UK_NHS_NUMBER, InformationType.UK_NATIONAL_INSURANCE_NUMBER,
    InformationType.DATE_OF_BIRTH,
})  # fmt: skip
# Each identifier's left part: what starts it (after "<", a space or a
# comma, or at the start) up to its "@" (none in a malformed one).
_ID_LEFT = re.compile(r"(?:^|(?<=[<\s,]))[^<>@\s,]+")
# What separates words inside an identifier's left part ("Jack.Wilson").
_ID_SEPARATORS = str.maketrans("._+=~", "     ")


def identifier_lefts(value: str) -> list[tuple[int, int]]:
    """The spans of the left parts (before "@") of the identifiers in `value`."""
    return [match.span() for match in _ID_LEFT.finditer(value)]


def identifier_text(value: str) -> str:
    """`value` as the detect stage reads an identifier header: only the left
    parts of its identifiers, their separators as spaces, everything else
    (brackets, domains: "nhs.net" is no context for a number) blanked.  The
    same length as `value`, so a finding's offsets are the value's."""
    text = [" "] * len(value)
    for start, end in identifier_lefts(value):
        text[start:end] = value[start:end].translate(_ID_SEPARATORS)
    return "".join(text)



# Header names repeat from message to message (each program writes its
# own few): each is classified once.
@functools.lru_cache(maxsize=1024)
def reads_as_text(name: str) -> bool:
    """Whether header `name` (of the message or of a part) holds free text
    staff wrote, read as the subject is: Organization, Content-Description
    and the X- headers that are not technical."""
    lowered = name.lower()
    if lowered.startswith("x-"):
        return lowered not in _TECHNICAL_X and not lowered.startswith(_TECHNICAL_X_PREFIXES)
    return lowered in _TEXT_HEADERS


def display_text(value: str) -> str:
    """An address header's decoded value without its addresses: the display
    names, comments and group names a reader sees ("" when there are none)."""
    text = _ADDRESS.sub(lambda m: m.group(1) or " ", value)
    return text.strip() if _WORD_CHAR.search(text) else ""


# A word of a person's name as address books write it: "Jo", "O'Connor",
# "Smith-Jones", "J.", "Dr".
_NAME_WORD = re.compile(r"[A-Z][a-z]*(?:['’-][A-Z]?[a-z]+)*\.?")


def only_names(text: str) -> bool:
    """Whether a display text is nothing but people's names ("Jo Bloggs",
    "Bloggs, Jo", two of them): a correspondent's name, no personal data
    (`without_contacts`), so not worth a detection pass, which most mail
    would pay for its From and To."""
    words = text.replace(",", " ").replace('"', " ").split()
    return 0 < len(words) <= 8 and all(_NAME_WORD.fullmatch(w) for w in words)


def header_path(name: str, *, display_name: bool = False, part: str = "") -> str:
    """The part_path of a header's text: "header:X-Patient",
    "header:To:display-name", "header:Content-Description:part:2"."""
    path = TOPIC_PATH + name
    if display_name:
        return path + DISPLAY_NAME
    return path + PART + part if part else path


def header_place(part_path: str) -> tuple[str, bool, str]:
    """(header name, whether it is the display names, MIME part or "") of a
    header_path."""
    rest = part_path[len(TOPIC_PATH):]
    if rest.endswith(DISPLAY_NAME):
        return rest[: -len(DISPLAY_NAME)], True, ""
    name, _, part = rest.partition(PART)
    return name, False, part


def is_display_name_path(part_path: str) -> bool:
    return part_path.startswith(TOPIC_PATH) and part_path.endswith(DISPLAY_NAME)


# What a display name or Organization holds as a business contact (a
# colleague's name beside "(NHS England)", a team's phone number): it counts
# there only beside other personal data, as in a signature.
_CONTACT_TYPES = frozenset({
    InformationType.PERSON_NAME, InformationType.EMAIL_ADDRESS,
    InformationType.UK_PHONE_NUMBER, InformationType.UK_POSTCODE,
})  # fmt: skip
_CONTACT_HEADERS = frozenset({"organization", "organisation"})


def _holds_contacts(part_path: str) -> bool:
    if not part_path.startswith(TOPIC_PATH):
        return False
    name, display_name, part = header_place(part_path)
    return display_name or (not part and name.lower() in _CONTACT_HEADERS)


def without_contacts(findings: tuple[Finding, ...]) -> tuple[Finding, ...]:
    """`findings` less a contact's details alone in a display name or the
    Organization header (`"Jo Bloggs (NHS England)" <jo@...>` is a
    colleague, not a person the message is about)."""
    places = {f.part_path for f in findings if _holds_contacts(f.part_path)}
    if not places:
        return findings
    other = {f.part_path for f in findings
             if f.part_path in places and f.info_type not in _CONTACT_TYPES}
    return tuple(f for f in findings if f.part_path not in places or f.part_path in other)

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_NEWLINE = re.compile(r"[\r\n]")


def _marking_words(text: str) -> str:
    # "&" for "and", as "Private & Confidential" is written as often as the
    # guidance's "Private and Confidential"; case and spacing do not count.
    return " ".join(text.casefold().replace("&", " and ").split())


def carries_marking(subject: str, marking: str) -> bool:
    """Whether the decoded `subject` carries `marking` anywhere: the
    policy's check, and the protect transform's before it adds one."""
    return _marking_words(marking) in _marking_words(subject)


def unfold(value: str) -> str:
    """RFC 5322 unfolding: a line break followed by white space is removed."""
    if "\n" not in value:
        return value
    return _FOLD.sub("", value)


def decode_header_value(raw: str) -> tuple[str, bool]:
    """(decoded text, whether decoding introduced a CR or LF) for one raw value."""
    value = decode_surrogates(unfold(raw))
    if "=?" not in value:
        return value, False
    try:
        chunks = decode_header(value)
    except (HeaderParseError, ValueError, LookupError):
        return value, False
    pieces: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            pieces.append(chunk)
        else:
            pieces.append(decode_text(chunk, charset))
    decoded = "".join(pieces)
    injected = _NEWLINE.search(decoded) is not None and _NEWLINE.search(value) is None
    return decoded, injected


def clean_newlines(value: str) -> str:
    """Replace CR and LF with spaces so no header value spans lines downstream."""
    return _NEWLINE.sub(" ", value)


def decode_param(value: str | tuple[str | None, str | None, str]) -> tuple[str, bool]:
    """A MIME parameter (RFC 2231 tuple or plain string, maybe RFC 2047 inside)."""
    if isinstance(value, tuple):
        charset, language, raw = value
        text = collapse_rfc2231_value(
            (charset or "us-ascii", language or "", raw), errors="replace"
        )
        text = decode_surrogates(text)
        return text, _NEWLINE.search(text) is not None
    # Outlook and others put RFC 2047 words inside quoted parameters.
    return decode_header_value(value)
