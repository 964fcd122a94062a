"""The plain data that passes between the stages of the flow.

    receive -> Envelope + raw bytes
    parse   -> ParsedMessage (every Part, decoded)
    extract -> TextSegment (text of the subject, bodies and attachments)
    inspect -> AttachmentReport (encryption, read-only state per attachment)
    detect  -> Finding (an information type at a place, with a score)
    policy  -> Verdict (one action, every Reason)
    queue   -> QueuedMessage; deliver -> DeliveryResult

Every type here is a frozen dataclass or a string enum: a stage never hands
another stage an object with behaviour or hidden state.  Values found in a
message (a matched NHS number, a password) never appear in these types except
in `TextSegment.text` (the content itself), so anything that logs or audits
a Finding, a Reason or a Verdict cannot leak personal data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import getaddresses
from enum import StrEnum


class InformationType(StrEnum):
    """The stable names of the kinds of personal data the gateway looks for."""

    UK_NHS_NUMBER = "uk_nhs_number"
    UK_NATIONAL_INSURANCE_NUMBER = "uk_national_insurance_number"
    UK_UNIQUE_PUPIL_NUMBER = "uk_unique_pupil_number"
    DATE_OF_BIRTH = "date_of_birth"
    UK_POSTCODE = "uk_postcode"
    UK_PHONE_NUMBER = "uk_phone_number"
    EMAIL_ADDRESS = "email_address"
    UK_BANK_ACCOUNT = "uk_bank_account"
    PAYMENT_CARD_NUMBER = "payment_card_number"
    UK_PASSPORT_NUMBER = "uk_passport_number"
    UK_DRIVING_LICENCE_NUMBER = "uk_driving_licence_number"
    PERSON_NAME = "person_name"
    SPECIAL_CATEGORY = "special_category"


class ReasonCode(StrEnum):
    """The stable names of the rules a message can break."""

    PERSONAL_DATA_IN_BODY = "personal_data_in_body"
    UNENCRYPTED_ATTACHMENT = "unencrypted_attachment"
    WEAK_ENCRYPTION = "weak_encryption"
    NOT_READ_ONLY = "not_read_only"
    WEAK_PASSWORD = "weak_password"  # a common password, or one shorter than the minimum
    MISSING_SUBJECT_MARKING = "missing_subject_marking"
    PASSWORD_IN_MESSAGE = "password_in_message"
    RECIPIENT_NOT_ALLOWED = "recipient_not_allowed"
    MISSING_PURPOSE = "missing_purpose"
    UNINSPECTABLE_CONTENT = "uninspectable_content"
    # Refused by the receive stage as it arrived, before any inspection.
    MALFORMED_MESSAGE = "malformed_message"  # a bare CR or LF, or a NUL (SMTP smuggling)
    MESSAGE_TOO_LARGE = "message_too_large"  # past [server] max_message_size
    # A receipt address of the gateway's beside other recipients: a receipt
    # must never travel with mail that is relayed (it could release a password).
    RECEIPT_ADDRESS_MIXED = "receipt_address_mixed"
    # More Received headers than [server] max_hops: a mail loop (RFC 5321 6.3).
    TOO_MANY_HOPS = "too_many_hops"


class Action(StrEnum):
    """The one thing the gateway does with a message (`verdict` in JSON)."""

    DELIVER = "deliver"
    PROTECT = "protect"
    REJECT = "reject"
    HOLD = "hold"


class Encryption(StrEnum):
    """How an attachment is encrypted, as the inspect stage found it."""

    NONE = "none"
    ZIPCRYPTO = "zipcrypto"
    AES_128 = "aes-128"
    AES_192 = "aes-192"
    AES_256 = "aes-256"
    RC4 = "rc4"
    # OpenDocument 1.0/1.1's own cipher (old OpenOffice, LibreOffice's "keep
    # current format"): known, and too weak, as RC4 is.
    BLOWFISH = "blowfish"
    UNKNOWN = "unknown"


class SegmentSource(StrEnum):
    """Where a piece of text came from: the policy treats them differently."""

    SUBJECT = "subject"
    BODY = "body"
    ATTACHMENT = "attachment"


# --------------------------------------------------------------------------
# receive


@dataclass(frozen=True, slots=True)
class RecipientDsn:
    """RFC 3461 parameters given on one RCPT TO command."""

    notify: tuple[str, ...] = ()
    orcpt: str | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    """One SMTP transaction as the client gave it, validated."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    rcpt_dsn: tuple[RecipientDsn, ...] = ()
    dsn_ret: str | None = None
    dsn_envid: str | None = None
    smtputf8: bool = False
    body_8bit: bool = False
    peer: str = ""
    helo: str = ""
    auth_user: str | None = None
    tls: bool = False  # the transaction ran under STARTTLS (Received: ... with ESMTPS)


# --------------------------------------------------------------------------
# parse


@dataclass(frozen=True, slots=True)
class Part:
    """One leaf MIME part, transfer-decoded.

    `path` names the part like an IMAP section ("1", "2.1"); findings and
    reports point at it.  `payload` is the decoded bytes.  `is_body` is true for
    text parts a mail program would show as the message text (not attachments).
    `charset` is Python's codec for the declared charset (None when there is
    none or no codec), `declared_charset` the name as declared.
    """

    path: str
    content_type: str
    payload: bytes
    filename: str | None = None
    charset: str | None = None
    declared_charset: str | None = None
    is_body: bool = False
    is_inline: bool = False
    # What the sender's mail program made it, when it is no file they chose:
    # SIGNATURE (a signed message's signature) or ENCRYPTION (the message's
    # own S/MIME or PGP encryption); "" for anything else.
    security: str = ""


# `Part.security` and `AttachmentReport.security`.
SIGNATURE = "signature"
ENCRYPTION = "encryption"


@dataclass(frozen=True, slots=True)
class Problem:
    """Why some content could not be inspected (fail closed: never clean)."""

    part_path: str
    code: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """A message taken apart: decoded headers and every leaf part."""

    subject: str
    headers: tuple[tuple[str, str], ...]
    parts: tuple[Part, ...]
    message_id: str | None = None
    problems: tuple[Problem, ...] = ()
    # Parts' free-text headers (Content-Description, X-*), decoded:
    # (part path, name, value); the top headers are in `headers`.
    part_headers: tuple[tuple[str, str, str], ...] = ()
    # Paths of opaque-signed S/MIME entities whose content was read (the
    # parts inside are numbered under them): the transform cannot edit there.
    sealed: tuple[str, ...] = ()

    def in_sealed(self, path: str) -> bool:
        """Whether `path` names a part inside an opaque-signed entity."""
        return any(path.startswith(f"{seal}.") for seal in self.sealed)

    # Addresses are parsed on demand: only `gateway scan` needs them, and
    # parsing them costs more than the rest of a small message's headers.
    @property
    def from_addresses(self) -> tuple[str, ...]:
        return self._addresses("from")

    @property
    def to_addresses(self) -> tuple[str, ...]:
        return self._addresses("to")

    @property
    def cc_addresses(self) -> tuple[str, ...]:
        return self._addresses("cc")

    def _addresses(self, name: str) -> tuple[str, ...]:
        values = [value for key, value in self.headers if key.lower() == name]
        return tuple(addr for _, addr in getaddresses(values) if addr) if values else ()

    def header(self, name: str) -> str | None:
        """The first header of that name (case-insensitive), decoded."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


# --------------------------------------------------------------------------
# extract and inspect


@dataclass(frozen=True, slots=True)
class TextSegment:
    """Text taken out of one place in the message, ready for detection."""

    part_path: str
    source: SegmentSource
    text: str
    filename: str | None = None
    inside_encrypted: bool = False  # came out of an attachment opened with its password


@dataclass(frozen=True, slots=True)
class AttachmentReport:
    """What the inspect stage found about one attachment."""

    part_path: str
    filename: str | None
    content_type: str  # detected from content, not the declared type
    encryption: Encryption
    read_only: bool | None
    password_opens: bool = False  # a password from the message opened it
    # Characters in the message's password that opened it (0 when none did),
    # and whether a well-known password (gateway.inspect.passwords
    # COMMON_PASSWORDS, the message's or one the gateway tried) opened it:
    # the policy judges how guessable the protection is, never seeing it.
    password_length: int = 0
    common_password: bool = False
    entries: int = 0  # members of an archive, 0 otherwise
    # How the sender's mail program shows it, for the words staff read: a
    # picture inline in the text (a signature's logo) and a meeting
    # invitation's calendar part are not attachments they chose.
    inline: bool = False
    declared_type: str = ""  # the part's Content-Type, as the mail program saw it
    # The part path of the winmail.dat (Outlook's TNEF) the file came inside;
    # empty for a MIME attachment.  The recipient's Outlook shows the file
    # as an attachment of its own, and it is judged as one.
    sent_in: str = ""
    security: str = ""  # `Part.security`: a signature or the message's own encryption


@dataclass(frozen=True, slots=True)
class PasswordCandidate:
    """A password the sender wrote into the message, and where.

    `removable` is true when the transform stage can take it out cleanly (a
    body line or the X-Attachment-Password header); false when it sits in the
    subject, another header, a file name or inside another attachment.  The
    value itself never leaves the process: it is held encrypted by the
    vault, never logged or audited.
    """

    value: str = field(repr=False)
    location: str  # "header", "body", "subject", "filename", "attachment"
    part_path: str = ""
    removable: bool = True
    opens: bool = False  # it opened at least one encrypted attachment


@dataclass(frozen=True, slots=True)
class Inspection:
    """Everything the content stages found, before detection."""

    message: ParsedMessage
    segments: tuple[TextSegment, ...]
    attachments: tuple[AttachmentReport, ...]
    problems: tuple[Problem, ...]
    passwords: tuple[PasswordCandidate, ...] = ()
    # The files found inside each winmail.dat, as parts of their own (path
    # "<winmail.dat's path>.TNEF.<n>"): what their reports describe, and
    # what protect mode zips in its place.
    unwrapped: tuple[Part, ...] = ()


# --------------------------------------------------------------------------
# detect


@dataclass(frozen=True, slots=True)
class Finding:
    """An information type found at a place.  Never carries the value."""

    info_type: InformationType
    part_path: str
    source: SegmentSource
    start: int
    end: int
    score: float
    recognizer: str


# --------------------------------------------------------------------------
# policy


@dataclass(frozen=True, slots=True)
class Reason:
    """One rule the message breaks, with text a member of staff can act on."""

    code: ReasonCode
    text: str
    fix: str = ""


@dataclass(frozen=True, slots=True)
class RecipientEntry:
    """One row of IT's allow-list (an address or an @domain)."""

    address: str
    name: str
    job_title: str
    organisation: str
    telephone: str
    department: str = ""
    secure_route: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The one action for a message, and every reason behind it."""

    action: Action
    reasons: tuple[Reason, ...] = ()
    personal_data: bool = False
    information_types: tuple[InformationType, ...] = ()
    marking: str | None = None
    would_action: Action | None = None  # monitor mode: what enforce would have done


# --------------------------------------------------------------------------
# deliver


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """The upstream's answer for one recipient, or the gateway's own
    (`by_gateway`: the upstream could not be reached, the route is not
    configured, or an administrator cancelled the delivery; then
    `last_remote` is the last temporary reply a receiving system gave for
    this recipient, if any, with its code)."""

    address: str
    code: int
    message: str
    by_gateway: bool = False
    last_remote: str | None = None

    @property
    def permanent(self) -> bool:
        return 500 <= self.code < 600

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The outcome of one delivery attempt of one queued message."""

    recipients: tuple[RecipientResult, ...]
    route: str = "upstream"
    tls: bool = False
