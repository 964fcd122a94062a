"""Reading delivery (RFC 3464) and read (RFC 8098) receipts.

`parse_receipt(raw)` returns a `Receipt`: its kind, the per-message fields
that correlate it (Original-Envelope-Id, Original-Message-ID, the reporting
system) and one status per recipient.  Besides the standard
`multipart/report` shapes (Postfix, Exchange, Gmail, Thunderbird, Outlook)
it reads the common non-standard ones:

- RFC 6533's `message/global-delivery-status`,
  `message/global-disposition-notification` and `message/global-headers`
  (what an SMTPUTF8 system such as Postfix sends for internationalised
  mail), as their ASCII equivalents;
- a report whose `report-type` parameter is missing or wrong, or whose
  status part is base64-encoded (some Exchange versions): any
  `message/delivery-status` or `message/disposition-notification` part
  anywhere in the message is read;
- an MDN without Original-Message-ID: the Message-ID of the returned
  headers (`text/rfc822-headers` or `message/rfc822`) stands in;
- the plain-text bounce of systems that send no report at all (qmail, old
  Exim, some appliances), known by a subject that starts as a bounce's
  does or by a mail-daemon sender: recipients from `X-Failed-Recipients`
  or the `<address>:` lines; marked `standard=False`.  Its outcome is
  what the report's own words say (`_text_outcome`), never the words of
  the original message it quotes or returns: "permanent error", "I've
  given up" is a failure whatever code the remote host's text holds; "will
  be retried", "not yet been delivered", "delayed" a delay; otherwise an
  enhanced code of the report's own (5.x.x a failure, 4.x.x a delay).  A
  bounce that says none of these is OTHER, never a failure: a failure
  destroys the recipient's password, and one kept by mistake only lasts
  until its ttl;
- an Outlook-style "Read: ..." / "Not read: ..." reply without a
  disposition part: its text (plain, or HTML read as text) says it was
  read, or it is Outlook's winmail.dat alone (whose message class, when
  it names one, must be a read notification); `standard=False`;
- a report past the 2 MiB limit because it returns the whole message
  (RET=FULL, or Exchange's habit): read without what it returned, found
  by searching the bytes (`_entity`), so the returned copy is never parsed.

An automatic reply (RFC 3834: an out-of-office, a vacation notice) is no
receipt at all, whatever its subject quotes: `auto_reply` tells it.

Nothing here trusts a receipt: correlation and authentication are the
caller's (tokens.py, desk.py).  Addresses are returned decoded: xtext, or
RFC 6533's `utf-8` type (`\\x{HEX}`); a field's raw 8-bit bytes are read as
UTF-8 (RFC 6532, as SMTPUTF8 systems write them), never as one
replacement character a byte.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.parser
import email.policy
import email.utils
import html
import re
import struct
import unicodedata
from dataclasses import dataclass, replace
from email.message import Message
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    DELIVERED = "delivered"  # DSN Action: delivered
    FAILED = "failed"  # DSN Action: failed
    DELAYED = "delayed"  # DSN Action: delayed
    # RFC 3464: handed on to a system that sends no DSNs (Postfix says so as
    # soon as a next hop without DSN takes it), or to a list's members: no
    # confirmation of delivery will follow, and none is given.
    RELAYED = "relayed"  # DSN Action: relayed
    EXPANDED = "expanded"  # DSN Action: expanded
    DISPLAYED = "displayed"  # MDN: the recipient opened it
    DELETED = "deleted"  # MDN: deleted unread
    # MDN: dispatched, processed, denied, failed ...; a DSN whose Status
    # contradicts its Action ("delivered" with 5.1.1: `_dsn_outcome`).
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    outcome: Outcome
    final_recipient: str | None = None
    original_recipient: str | None = None
    status: str | None = None  # DSN Status (enhanced code), e.g. "2.0.0"
    diagnostic: str | None = None  # DSN Diagnostic-Code, e.g. "smtp; 250 2.0.0 OK"
    # MDN Disposition in RFC 8098's words only (`_disposition`): never text
    # the recipient's side wrote ("deleted/<a name and date of birth>").
    disposition: str | None = None
    # DSN Action as written (its first word, lower case): what the report
    # said, kept when the outcome is not what it said (see `_dsn_outcome`).
    action: str | None = None

    def names(self, address: str) -> bool:
        """True when the status is about `address`: the same mailbox
        (`same_mailbox`)."""
        return any(
            a is not None and same_mailbox(a, address)
            for a in (self.final_recipient, self.original_recipient)
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    kind: str  # "dsn" | "mdn"
    statuses: tuple[RecipientStatus, ...]
    original_envelope_id: str | None = None
    original_message_id: str | None = None
    reporting: str | None = None  # Reporting-MTA / Reporting-UA
    standard: bool = True  # False: read from a non-standard (text) shape
    report_id: str | None = None  # the receipt's own Message-ID: tells a replay
    # The report's From address, for an MDN that names no Final-Recipient
    # (who read it, as the reader's client says).
    from_address: str | None = None


_DSN_ACTIONS = {
    "delivered": Outcome.DELIVERED,
    "relayed": Outcome.RELAYED,
    "expanded": Outcome.EXPANDED,
    "failed": Outcome.FAILED,
    "delayed": Outcome.DELAYED,
}
_MDN_TYPES = {"displayed": Outcome.DISPLAYED, "deleted": Outcome.DELETED}
# The words of a Disposition field (RFC 8098 section 3.2.6, with RFC 3798's
# and RFC 2298's types and modifiers that clients still send): each in
# lower case to its spelling in the RFC.
_ACTION_MODES = {w.lower(): w for w in ("manual-action", "automatic-action")}
_SENDING_MODES = {w.lower(): w for w in ("MDN-sent-manually", "MDN-sent-automatically")}
_DISPOSITION_TYPES = {w: w for w in (
    "displayed", "deleted", "dispatched", "processed", "denied", "failed",
)}  # fmt: skip
_MODIFIERS = {w: w for w in (
    "error", "warning", "superseded", "expired", "mailbox-terminated",
)}  # fmt: skip
_MAX_RECEIPT = 2 * 1024 * 1024
_MAX_FIELD = 500
# RFC 3461 xtext: "+" and two upper-case hex digits, for an ASCII character.
# Anything else is the address as written: "jo.bloggs+case@" (a subaddress,
# RFC 5233) is not "jo.bloggs\xcase@".
_XTEXT = re.compile(r"\+([0-7][0-9A-F])")
_UNICODE_ESCAPE = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")  # RFC 6533 embedded-unicode-char
_ENHANCED = re.compile(r"\b([45])\.(\d{1,3})\.(\d{1,3})\b")
_STATUS_CLASS = re.compile(r"([245])\.\d{1,3}\.\d{1,3}\b")
# A bounce's own subject starts so; a reply's or a forward's ("RE:",
# "Automatic reply:") starts with its prefix, and the original subject after
# it ("Undelivered medication") is the staff member's words, not the report's.
_BOUNCE_SUBJECT = re.compile(
    r"\s*(?:undeliver|returned mail|mail returned|returned to sender|"
    r"delivery (?:status notification|failure|has failed|failed|notification|problem|delay)|"
    r"mail delivery (?:failed|failure|problem|delayed)|failure notice|non[- ]?delivery|"
    r"warning: message|delayed mail|message delayed)",
    re.IGNORECASE,
)
# The report's own verdict that it stopped trying (qmail: "This is a
# permanent error; I've given up"; Exim and Sendmail: "permanent error",
# "permanent fatal errors").  Not "will give up" (Exim's delay warning).
_GAVE_UP = re.compile(
    r"\b(?:i'?ve|i have|has|have) given up\b|\bgiving up\b|\bgave up\b|"
    r"\bpermanent (?:fatal )?(?:error|failure)|\bfailed permanently\b",
    re.IGNORECASE,
)
# The report's own word that it is still trying (Exim's "Warning: message
# ... delayed 24 hours", Sendmail's "Warning: could not send message for
# past 4 hours ... will keep trying").
_STILL_TRYING = re.compile(
    r"\bnot yet been delivered\b|\bnot been delivered yet\b|\bwill be retried\b|"
    r"\bwill (?:keep|continue) (?:to )?(?:try|retry)|\bwill retry\b|\bstill (?:trying|retrying)\b|"
    r"\bdelivery attempts will continue\b|\bdelayed\b|\bno action is required\b",
    re.IGNORECASE,
)
# Where a text bounce starts quoting the message it returns (qmail's "---
# Below this line is a copy of the message.", Exim's "------ This is a copy
# of the message", "-----Original Message-----"): its words are the staff
# member's, never the report's.
_COPY_FOLLOWS = re.compile(
    r"^[ \t]*(?:-{2,}[^\n]*(?:copy of|original|forwarded|headers? of)|"
    r"begin forwarded message|>)",
    re.IGNORECASE | re.MULTILINE,
)
# A line that quotes the original's subject ("The subject of the message
# is: ...", "  Subject: ..."): the staff member's words, not the report's.
_SUBJECT_LINE = re.compile(r"^[^\n]*\bsubject\b[^\n:]*:[^\n]*$", re.IGNORECASE | re.MULTILINE)
# RFC 3834 and what mail programs write on an automatic reply instead.
_AUTO_REPLY_SUBJECT = re.compile(
    r"\s*(?:automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|autoresponse|"
    r"out of (?:the )?office(?: reply| autoreply| notice)?|auto)\s*:",
    re.IGNORECASE,
)
_AUTO_REPLY_HEADERS = (
    "X-Autoreply", "X-Autorespond", "X-MS-Exchange-Organization-AutoReplyType",
    "X-MS-Exchange-Inbox-Rules-Loop",
)
_READ_SAYS = ("was read", "was deleted", "not read")
_TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"
_TNEF_MESSAGE_CLASS = 0x8008  # attMessageClass (MS-OXTNEF 2.1.3.3.6)
_TNEF_ATTRIBUTE_HEAD = struct.Struct("<BHHI")  # level, id, type, length
_TNEF_MAX_ATTRIBUTES = 10_000
# A read notification's MAPI message class; "IPNNRN": not read.
_TNEF_READ = {"report.ipm.note.ipnrn": Outcome.DISPLAYED, "report.ipm.note.ipnnrn": Outcome.DELETED}
_DAEMON = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.IGNORECASE)
_ANGLE_LINE = re.compile(r"^\s*<([^<>\s@]+@[^<>\s@]+)>:?\s*$", re.MULTILINE)
_ORIGINAL_HEADERS = ("text/rfc822-headers", "message/rfc822-headers", "message/rfc822",
                     "message/global-headers", "message/global")  # RFC 6533, RFC 6532
# RFC 6533: what an SMTPUTF8 system (Postfix) sends for internationalised
# mail; read as their ASCII equivalents, UTF-8 allowed in the fields.
_DSN_PARTS = ("message/delivery-status", "message/global-delivery-status")
_MDN_PARTS = ("message/disposition-notification",
                      "message/global-disposition-notification")
# A report larger than _MAX_RECEIPT (a bounce returning the whole message,
# RET=FULL, as Exchange does) is read without what it returned: each part
# keeps its headers; the report parts are kept whole, a returned message its
# header block (the Message-ID is there), a text part its first _PART_KEPT
# bytes, anything else nothing.  The limit then applies to what is left.
_REPORT_PARTS = _DSN_PARTS + _MDN_PARTS
_PART_KEPT = 64 * 1024
_HEADERS_KEPT = 128 * 1024
_MAX_NESTING = 8  # multiparts in multiparts; deeper ones are leaves
_MAX_PARTS = 100  # per multipart
_ANGLED = re.compile(r"<([^<>\s]+)>")


def same_mailbox(address: str, recipient: str) -> bool:
    """Is `address` the mailbox `recipient` names?  The same address (case
    aside), or the recipient's without its subaddress (RFC 5233): a report
    about `jo.bloggs+case@x` often names `jo.bloggs@x`, the mailbox the
    `+case` is delivered to.  Not the other way round, and nothing wider:
    any other address is another mailbox."""
    address, recipient = address.strip().lower(), recipient.strip().lower()
    if address == recipient:
        return True
    local, at, domain = recipient.rpartition("@")
    base, plus, _ = local.partition("+")
    if not (at and plus and base) or '"' in local:
        return False
    other_local, other_at, other_domain = address.rpartition("@")
    return (bool(other_at) and other_local == base
            and other_domain.rstrip(".") == domain.rstrip("."))


def message_id_core(value: str | None) -> str:
    """A Message-ID's `id-left@id-right`, without its angle brackets,
    surrounding space or comments (RFC 5322 CFWS: `<id@host> (added by
    postmaster)` is `id@host`); as written, so compare it without case.
    Empty when there is none."""
    kept: list[str] = []
    depth = 0  # comments nest; one pass, whatever the value
    escaped = False
    for char in value or "":
        if escaped:
            escaped = False
        elif depth and char == "\\":
            escaped = True
        elif char == "(":
            depth += 1
        elif depth and char == ")":
            depth -= 1
            if not depth:
                kept.append(" ")
        elif not depth:
            kept.append(char)
    text = "".join(kept)
    angled = _ANGLED.search(text)
    return (angled.group(1) if angled else text.strip().strip("<>")).strip()


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(_printable(str(value)).split())[:_MAX_FIELD]
    return text or None


def _printable(text: str) -> str:
    """`text` without control characters and lone surrogates: neither is
    anything a report says, and a surrogate cannot be written as UTF-8
    (the audit trail, the sender's copy)."""
    return "".join(
        " " if c in "\t\r\n" else c
        for c in text
        if c in "\t\r\n" or unicodedata.category(c) not in ("Cc", "Cs")
    )


def _character(code: int) -> str:
    """The character an escape names; U+FFFD for what is none (a surrogate,
    beyond Unicode)."""
    return chr(code) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"


def _field(block: Message, name: str) -> str | None:
    """The first field `name` of a header block, as text.  Its raw 8-bit
    bytes are UTF-8 (RFC 6532; RFC 6533 reports, SMTPUTF8 systems): the
    stdlib (compat32) would give each byte as a replacement character."""
    wanted = name.lower()
    for key, value in block.raw_items():
        if key.lower() != wanted:
            continue
        if not isinstance(value, str):
            return str(value)
        try:
            raw = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate no byte stands for
            return value
        return raw.decode("utf-8", "replace")
    return None


def _address(value: str | None) -> str | None:
    """`rfc822; a@b` (or a bare address) -> `a@b`, xtext decoded; RFC
    6533's `utf-8; zo\\x{EB}@b` -> `zoë@b`."""
    text = _clean(value)
    if not text:
        return None
    kind, _, address = text.partition(";")
    address = (address or text).strip().strip("<>").strip()
    if kind.strip().lower() == "utf-8":
        address = _UNICODE_ESCAPE.sub(lambda m: _character(int(m.group(1), 16)), address)
    else:
        address = _XTEXT.sub(lambda m: chr(int(m.group(1), 16)), address)
    return _clean(address)


def _payload(part: Message) -> Any:
    """The part's payload as the stdlib gives it, or its bytes when the
    stdlib cannot give it: it decodes 8-bit text by the declared charset,
    and a charset name with a NUL in it raises ValueError ("embedded null
    character"), not the LookupError it catches."""
    try:
        return part.get_payload()
    except ValueError:
        return part.get_payload(decode=True)


def _blocks(part: Message) -> list[Message]:
    payload = _payload(part)
    encoded = (part.get("Content-Transfer-Encoding") or "").strip().lower() == "base64"
    if isinstance(payload, list) and not encoded:
        parsed = [p for p in payload if isinstance(p, Message)]
        if part.get_content_type() == "message/delivery-status" or len(parsed) != 1:
            return parsed
        # Any other message/* part (message/disposition-notification, RFC
        # 6533's global types) is parsed as one message: its header is the
        # first block, and its body holds the others, which it would lose.
        rest = parsed[0].get_payload(decode=True)
        text = rest.decode("utf-8", "replace") if isinstance(rest, bytes) else ""
        return parsed + [email.message_from_string(b + "\n")
                         for b in re.split(r"\r?\n\s*\r?\n", text.strip()) if b.strip()]
    # Some senders base64 the report part.  The email package then either
    # leaves it a string or (compat32, message/*) splits the base64 text into
    # header-less blocks: decode the text and parse it as header blocks.
    if isinstance(payload, list):
        text64 = re.sub(
            r"\s+", "", "".join(p.as_string() for p in payload if isinstance(p, Message))
        )
        try:
            raw: object = base64.b64decode(text64 + "=" * (-len(text64) % 4))
        except (binascii.Error, ValueError):
            return []
    else:
        raw = part.get_payload(decode=True)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
    blocks = re.split(r"\r?\n\s*\r?\n", text.strip())
    return [email.message_from_string(b + "\n") for b in blocks if b.strip()]


def _original_message_id(message: Message) -> str | None:
    """The Message-ID of the returned original headers, if any came back."""
    for part in message.walk():
        if part.get_content_type() not in _ORIGINAL_HEADERS:
            continue
        payload = _payload(part)
        if isinstance(payload, list):
            inner = next((p for p in payload if isinstance(p, Message)), None)
            if inner is not None and _field(inner, "Message-ID"):
                return _clean(_field(inner, "Message-ID"))
            continue
        raw = part.get_payload(decode=True)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
        headers = email.message_from_string(text.lstrip())
        if _field(headers, "Message-ID"):
            return _clean(_field(headers, "Message-ID"))
    return None


def _dsn_outcome(action: str, status: str | None) -> Outcome:
    """The outcome of a DSN block, when its Status agrees with its Action.

    RFC 3464: the status code's class (2 success, 4 persistent transient,
    5 permanent failure) must agree with the action.  "delivered" is taken
    only with a 2.x.x status: "delivered" with 5.1.1 (or no status at all)
    contradicts itself, confirms nothing and is OTHER (its `action` says what
    it claimed).  "failed" with a 2.x.x status is OTHER too; a failure with
    no status is still a failure (it releases nothing either way)."""
    outcome = _DSN_ACTIONS[action]
    found = _STATUS_CLASS.match(status or "")
    klass = found.group(1) if found else None
    if outcome is Outcome.DELIVERED and klass != "2":
        return Outcome.OTHER
    if outcome is Outcome.FAILED and klass == "2":
        return Outcome.OTHER
    return outcome


def _dsn(part: Message) -> Receipt | None:
    blocks = _blocks(part)
    if not blocks:
        return None
    head, *recipients = blocks
    if _field(head, "Action") is not None and not recipients:
        # No per-message block at all (seen from some appliances).
        head, recipients = Message(), blocks
    statuses = []
    for block in recipients:
        words = (_field(block, "Action") or "").strip().lower().split()
        action = words[0] if words else ""
        if action not in _DSN_ACTIONS:
            continue
        status = _clean(_field(block, "Status"))
        statuses.append(
            RecipientStatus(
                outcome=_dsn_outcome(action, status),
                final_recipient=_address(_field(block, "Final-Recipient")),
                original_recipient=_address(_field(block, "Original-Recipient")),
                status=status,
                diagnostic=_clean(_field(block, "Diagnostic-Code")),
                action=action,
            )
        )
    if not statuses:
        return None
    return Receipt(
        kind="dsn",
        statuses=tuple(statuses),
        original_envelope_id=_clean(_field(head, "Original-Envelope-Id")),
        reporting=_clean(_field(head, "Reporting-MTA")),
    )


def _mdn(part: Message) -> Receipt | None:
    blocks = _blocks(part)
    if not blocks:
        return None
    fields = blocks[0]
    for block in blocks[1:]:  # a stray blank line splits some clients' fields
        for name, value in block.raw_items():  # as written: `_field` reads them
            if _field(fields, name) is None:
                fields[name] = value
    disposition = _clean(_field(fields, "Disposition"))
    if not disposition:
        return None
    _, _, kinds = disposition.lower().partition(";")
    # "displayed/error", "displayed (lu par Zoë)": a comment is no type.
    kind = re.sub(r"\([^()]*\)", " ", kinds).split("/")[0].strip()
    return Receipt(
        kind="mdn",
        statuses=(
            RecipientStatus(
                outcome=_MDN_TYPES.get(kind, Outcome.OTHER),
                final_recipient=_address(_field(fields, "Final-Recipient")),
                original_recipient=_address(_field(fields, "Original-Recipient")),
                disposition=_disposition(disposition),
            ),
        ),
        original_message_id=_clean(_field(fields, "Original-Message-ID")),
        reporting=_clean(_field(fields, "Reporting-UA")),
    )


def _disposition(field: str) -> str | None:
    """A Disposition field in RFC 8098's words only ("manual-action/
    MDN-sent-manually; deleted/error"), whatever else it holds dropped: the
    recipient's side writes it, and a modifier or extension can be any text
    (a name, a date of birth) that the trail would keep for years.  None
    when it names no disposition type the RFCs define."""
    field = re.sub(r"\([^()]*\)", " ", field)  # a comment is no word of the field
    mode, _, rest = field.partition(";")
    kind, _, modifiers = rest.partition("/")
    known = _DISPOSITION_TYPES.get(kind.strip().lower())
    if known is None:
        return None
    action, _, sending = mode.partition("/")
    modes = [m for m in (_ACTION_MODES.get(action.strip().lower()),
                         _SENDING_MODES.get(sending.strip().lower())) if m]
    kept = [m for m in (_MODIFIERS.get(w.strip().lower()) for w in modifiers.split(",")) if m]
    words = known + ("/" + ",".join(dict.fromkeys(kept)) if kept else "")
    return f"{'/'.join(modes)}; {words}" if modes else words


def _own_parts(message: Message) -> list[Message]:
    """The message's parts but those of a message it carries (a returned
    original, `message/rfc822`): what it says is the original's."""
    parts = [message]
    if message.get_content_maintype() == "multipart":
        payload = _payload(message)
        if isinstance(payload, list):
            for part in payload:
                if isinstance(part, Message):
                    parts.extend(_own_parts(part))
    return parts


def _decoded(part: Message) -> str:
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return raw.decode(charset, "replace")
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return raw.decode("utf-8", "replace")


def _text(message: Message, content_type: str = "text/plain") -> str:
    """The message's own text of one type (HTML read as text), up to the
    copy of the message it returns or quotes, without the lines quoting
    the original's subject."""
    texts = [_decoded(p) for p in _own_parts(message) if p.get_content_type() == content_type]
    text = "\n".join(texts)[:200_000]
    if content_type == "text/html":
        text = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", text)
        text = re.sub(r"(?i)<(?:br|/?p|/?div|/?tr|/?li|/?h\d)\b[^>]*>", "\n", text)
        text = html.unescape(re.sub(r"<[^>]*>", " ", text))
    copy = _COPY_FOLLOWS.search(text)
    return _SUBJECT_LINE.sub("", text[: copy.start()] if copy else text)


def _sender(message: Message) -> str:
    return email.utils.parseaddr(str(_field(message, "From") or ""))[1]


def _marked_auto_reply(message: Message) -> bool:
    """Headers only an automatic reply carries (a read receipt may carry
    `Auto-Submitted: auto-replied`, so that one is not among them)."""
    if any(message.get(name) is not None for name in _AUTO_REPLY_HEADERS):
        return True
    return str(message.get("Precedence") or "").strip().lower() == "auto_reply"


def _auto_reply(message: Message) -> bool:
    """An automatic reply (RFC 3834: out of office, vacation), by its headers
    or its subject's prefix.  `Auto-Submitted: auto-replied` alone says so
    only from a person's mailbox: Exim marks its bounces with it too."""
    if _marked_auto_reply(message):
        return True
    if _AUTO_REPLY_SUBJECT.match(str(message.get("Subject") or "")):
        return True
    submitted = str(message.get("Auto-Submitted") or "").strip().lower()
    return submitted.startswith("auto-replied") and not _DAEMON.match(_sender(message))


def auto_reply(raw: bytes) -> bool:
    """Is `raw` an automatic reply (out of office, vacation) rather than a
    report?  For the caller's log: `parse_receipt` reads none as a receipt."""
    if len(raw) > _MAX_RECEIPT:
        return False
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    return not _is_report(message) and _auto_reply(message)


def _is_report(message: Message) -> bool:
    return any(p.get_content_type() in ("message/delivery-status",
                                        "message/disposition-notification")
               for p in message.walk())


def _code(text: str, klass: str) -> str | None:
    """The first enhanced status code of this class in the text."""
    return next((".".join(m.groups()) for m in _ENHANCED.finditer(text)
                 if m.group(1) == klass), None)


def _text_outcome(words: str) -> tuple[Outcome, str] | None:
    """What a text bounce's own words say: (outcome, status), or None when
    they say nothing of delivery.  Its own verdict first: given up is a
    failure even when the remote host's text holds a 4.x.x code; still
    trying is a delay.  Then an enhanced code of its own decides.  A
    failure is never guessed: without either, it is OTHER."""
    if _GAVE_UP.search(words):
        return Outcome.FAILED, _code(words, "5") or _code(words, "4") or "5.0.0"
    if _STILL_TRYING.search(words):
        return Outcome.DELAYED, _code(words, "4") or "4.0.0"
    first = _ENHANCED.search(words)
    if first is not None:
        status = ".".join(first.groups())
        return (Outcome.FAILED if status.startswith("5") else Outcome.DELAYED), status
    return None


def _text_bounce(message: Message) -> Receipt | None:
    """A bounce written as prose: what its own words say (`_text_outcome`)."""
    if _auto_reply(message):
        return None  # RFC 3834: never a report, whatever its subject quotes
    subject = str(message.get("Subject") or "")
    own_subject = _BOUNCE_SUBJECT.match(subject) is not None
    if not (own_subject or _DAEMON.match(_sender(message))):
        return None
    text = _text(message)
    # The subject is not read for the outcome: after its prefix it is the
    # original's ("Undeliverable: Private and Confidential: delayed referral").
    found = _text_outcome(text[:20_000])
    if found is None and not own_subject:
        return None  # a mail daemon's notice that is about no delivery
    outcome, status = found or (Outcome.OTHER, None)
    addresses = [
        a.strip()
        for header in message.get_all("X-Failed-Recipients") or []
        for a in str(header).split(",")
        if "@" in a
    ] or _ANGLE_LINE.findall(text)
    statuses = tuple(
        RecipientStatus(outcome=outcome, final_recipient=_address(a), status=status)
        for a in dict.fromkeys(addresses[:20])
    ) or (RecipientStatus(outcome=outcome, status=status),)
    return Receipt(
        kind="dsn",
        statuses=statuses,
        original_message_id=_original_message_id(message),
        standard=False,
    )


def _winmail(message: Message) -> tuple[bool, str | None]:
    """(does the message carry Outlook's winmail.dat, the MAPI message class
    it names, lower case, or None).  A bounded walk of its attributes,
    nothing else read."""
    for part in _own_parts(message):
        if part.get_content_type() != "application/ms-tnef":
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes) or not data.startswith(_TNEF_SIGNATURE):
            return True, None
        offset = 6  # the signature, then the legacy key
        for _ in range(_TNEF_MAX_ATTRIBUTES):
            if len(data) - offset < _TNEF_ATTRIBUTE_HEAD.size:
                break
            level, attribute, _kind, length = _TNEF_ATTRIBUTE_HEAD.unpack_from(data, offset)
            start = offset + _TNEF_ATTRIBUTE_HEAD.size
            if level == 1 and attribute == _TNEF_MESSAGE_CLASS:
                value = data[start : start + min(length, 200)]
                return True, value.split(b"\0")[0].decode("ascii", "replace").strip().lower() or None
            offset = start + length + 2  # the data, then its checksum
        return True, None
    return False, None


def _text_read_receipt(message: Message) -> Receipt | None:
    """Outlook's "Read: <subject>" notice sent without a disposition part:
    as plain text, as HTML, or as a winmail.dat alone."""
    subject = str(message.get("Subject") or "").strip().lower()
    if subject.startswith("read:"):
        outcome = Outcome.DISPLAYED
    elif subject.startswith("not read:"):
        outcome = Outcome.DELETED
    else:
        return None
    if _marked_auto_reply(message):
        return None
    text = (_text(message) + "\n" + _text(message, "text/html")).lower()
    if not any(says in text for says in _READ_SAYS):
        # Outlook's winmail.dat alone (its text is inside): one that names
        # its class must name a read notification; one that names none has
        # only the subject (the token in the address says whose receipt it
        # is; the desk checks who it is from).
        carried, klass = _winmail(message)
        if not carried or text.strip():
            return None
        if klass is not None:
            if klass not in _TNEF_READ:
                return None
            outcome = _TNEF_READ[klass]
    sender = _sender(message) or None
    return Receipt(
        kind="mdn",
        statuses=(RecipientStatus(outcome=outcome, final_recipient=sender),),
        original_message_id=_original_message_id(message),
        standard=False,
    )


def _body_start(buf: bytes, start: int, stop: int) -> int | None:
    """Where the body begins after the header block at buf[start:stop]
    (past its blank line), or None when no blank line ends it there."""
    ends = [found + skip for found, skip in ((buf.find(b"\n\r\n", start, stop), 3),
                                             (buf.find(b"\n\n", start, stop), 2))
            if found >= 0]
    return min(ends) if ends else None


def _entity(buf: bytes, start: int, end: int, depth: int) -> bytes:
    """The MIME entity at buf[start:end] without what a report returns
    (see _PART_KEPT).  Found by searching the bytes: nothing of a large
    part is parsed or copied, only what is kept."""
    if buf.startswith(b"\n", start) or buf.startswith(b"\r\n", start):
        body: int | None = start + (1 if buf.startswith(b"\n", start) else 2)  # no headers
    else:
        body = _body_start(buf, start, min(end, start + _HEADERS_KEPT))
    if body is None:
        # All headers, or more headers than any report has: nothing to keep.
        return buf[start:end] if end - start <= _HEADERS_KEPT else b"\r\n"
    head = buf[start:body]
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    ctype = headers.get_content_type()
    boundary = headers.get_boundary() if headers.get_content_maintype() == "multipart" else None
    if boundary and depth < _MAX_NESTING:
        return head + _multipart_body(buf, body, end, boundary.encode("utf-8", "replace"),
                                      depth)
    if ctype in _REPORT_PARTS or end - body <= _PART_KEPT:
        return buf[start:end]
    if ctype in _ORIGINAL_HEADERS:
        encoding = str(headers.get("Content-Transfer-Encoding") or "").strip().lower()
        inner = None if encoding in ("base64", "quoted-printable") else _body_start(
            buf, body, min(end, body + _HEADERS_KEPT))
        # The returned message's headers (its Message-ID), not its body.
        return head + (buf[body:inner] if inner is not None else b"")
    if headers.get_content_maintype() == "text":
        cut = buf.rfind(b"\n", body, body + _PART_KEPT)
        return head + buf[body:cut + 1]  # cut -1 (one long line): nothing
    return head


def _delimiters(buf: bytes, body: int, end: int, boundary: bytes) -> list[tuple[int, int, bool]]:
    """The boundary delimiter lines of a multipart body at buf[body:end]:
    (where the line ending before it starts, where its line ends, closing),
    at most _MAX_PARTS + 1, up to the close delimiter.  Searched for as
    bytes (a regular expression would step through every byte)."""
    marker = b"\n--" + boundary
    found: list[tuple[int, int, bool]] = []
    # The first may start the body: its line ending is the blank line's.
    at = buf.find(marker, body - 1, end)
    while at >= 0 and len(found) <= _MAX_PARTS:
        after = at + len(marker)
        closing = buf.startswith(b"--", after, end)
        tail = after + 2 if closing else after
        while tail < end and buf[tail] in b" \t":  # transport padding
            tail += 1
        if tail == end or buf.startswith(b"\n", tail, end) or buf.startswith(b"\r\n", tail, end):
            found.append((at - 1 if buf[at - 1:at] == b"\r" else at, tail, closing))
            if closing:
                break
        at = buf.find(marker, after, end)
    return found


def _multipart_body(buf: bytes, body: int, end: int, boundary: bytes, depth: int) -> bytes:
    """A multipart's body, each of its parts an `_entity`; its preamble
    kept up to _PART_KEPT bytes, its epilogue dropped."""
    found = _delimiters(buf, body, end, boundary)
    if not found:
        return buf[body:min(end, body + _PART_KEPT)]
    out = [buf[body:min(found[0][0], body + _PART_KEPT)]]  # the preamble
    for index, (line, tail, closing) in enumerate(found):
        if closing or index == _MAX_PARTS:
            break
        newline = 2 if buf.startswith(b"\r\n", tail, end) else 1 if tail < end else 0
        stop = found[index + 1][0] if index + 1 < len(found) else end
        out += [buf[max(line, body):tail + newline], _entity(buf, tail + newline, stop, depth + 1)]
    out.append(b"\r\n--" + boundary + b"--\r\n")
    return b"".join(out)


def parse_receipt(raw: bytes) -> Receipt | None:
    """The receipt in `raw`, or None when it is not a receipt we can read."""
    if len(raw) > _MAX_RECEIPT:
        raw = _entity(raw, 0, len(raw), 0)
        if len(raw) > _MAX_RECEIPT:
            return None
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    found: Receipt | None = None
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype in _DSN_PARTS:
            found = _dsn(part)
        elif ctype in _MDN_PARTS:
            found = _mdn(part)
        if found is not None:
            if found.original_message_id is None:
                found = replace(found, original_message_id=_original_message_id(message))
            break
    else:
        found = _text_read_receipt(message) or _text_bounce(message)
    if found is None:
        return None
    sender = email.utils.parseaddr(str(_field(message, "From") or ""))[1] or None
    return replace(found, report_id=_clean(_field(message, "Message-ID")),
                   from_address=_clean(sender) if found.kind == "mdn" else None)
