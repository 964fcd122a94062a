"""Plain words for staff: information types and attachment kinds.

Reason texts are read by a member of staff in their mail client (the 550
reply, the notification) and by auditors; they name kinds of data and
attachments by position and kind, never by the values found or by file name
(a file name such as "J Smith DOB 01-02-2015.docx" is itself personal data).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gateway.model import (
    ENCRYPTION,
    SIGNATURE,
    AttachmentReport,
    Encryption,
    InformationType,
    ReasonCode,
)

TYPE_WORDS: dict[InformationType, str] = {
    InformationType.UK_NHS_NUMBER: "NHS number",
    InformationType.UK_NATIONAL_INSURANCE_NUMBER: "National Insurance number",
    InformationType.UK_UNIQUE_PUPIL_NUMBER: "unique pupil number",
    InformationType.DATE_OF_BIRTH: "date of birth",
    InformationType.UK_POSTCODE: "home address or postcode",
    InformationType.UK_PHONE_NUMBER: "personal telephone number",
    InformationType.EMAIL_ADDRESS: "personal email address",
    InformationType.UK_BANK_ACCOUNT: "bank account details",
    InformationType.PAYMENT_CARD_NUMBER: "payment card number",
    InformationType.UK_PASSPORT_NUMBER: "passport number",
    InformationType.UK_DRIVING_LICENCE_NUMBER: "driving licence number",
    InformationType.PERSON_NAME: "a person's name",
    InformationType.SPECIAL_CATEGORY: "special category information (such as health or safeguarding)",
}

ENCRYPTION_WORDS: dict[Encryption, str] = {
    Encryption.NONE: "no encryption",
    Encryption.ZIPCRYPTO: "ZipCrypto (legacy zip) encryption",
    Encryption.AES_128: "AES-128 encryption",
    Encryption.AES_192: "AES-192 encryption",
    Encryption.AES_256: "AES-256 encryption",
    Encryption.RC4: "RC4 encryption",
    Encryption.BLOWFISH: "Blowfish (old OpenDocument) encryption",
    Encryption.UNKNOWN: "an unrecognised encryption",
}

# The reasons the receive stage refuses content as it arrives (DATA's 550
# or 552), before any inspection: the audit record's reason texts.
REFUSED_ON_ARRIVAL_WORDS: dict[ReasonCode, str] = {
    ReasonCode.MALFORMED_MESSAGE: (
        "The message was refused as it arrived: it had a line ending that was not "
        "CR LF, or a NUL character (the sending system is faulty, or it tried SMTP "
        "smuggling). Nothing in it was checked or sent."
    ),
    ReasonCode.MESSAGE_TOO_LARGE: (
        "The message was refused as it arrived: it is larger than the gateway "
        "accepts. Nothing in it was checked or sent."
    ),
    ReasonCode.TOO_MANY_HOPS: (
        "The message was refused as it arrived: it had passed through more mail "
        "systems than the gateway accepts (a mail loop, usually a routing mistake). "
        "Nothing in it was checked or sent."
    ),
    ReasonCode.RECEIPT_ADDRESS_MIXED: (
        "The message was refused as it arrived: it was addressed both to the "
        "gateway's receipt address and to other recipients. Nothing in it was "
        "checked or sent; send it again to its recipients alone."
    ),
}

_KIND_WORDS = (
    ("gzip", "a gzip file"),  # before "zip", which "gzip" contains
    ("bzip2", "a bzip2 file"),
    ("x-xz", "an xz file"),
    ("x-tar", "a tar archive"),
    ("zip", "a zip archive"),
    ("pdf", "a PDF document"),
    ("spreadsheet", "a spreadsheet"),
    ("excel", "a spreadsheet"),
    ("csv", "a spreadsheet (CSV)"),
    ("wordprocessing", "a Word document"),
    ("msword", "a Word document"),
    ("presentation", "a presentation"),
    ("powerpoint", "a presentation"),
    ("opendocument", "an OpenDocument file"),
    ("rtf", "a document (RTF)"),
    ("rfc822", "an attached email"),
    ("ms-tnef", "an Outlook attachment (winmail.dat)"),
    ("html", "a web page (HTML)"),
    ("pkcs7-mime", "an S/MIME message"),
    ("pgp-encrypted", "a PGP-encrypted file"),
    ("signature", "a digital signature"),
    ("text/", "a text file"),
    ("image/", "an image"),
)


def type_list(types: Iterable[InformationType]) -> str:
    """ "NHS number, date of birth and a person's name" in a stable order."""
    wanted = set(types)
    words = [TYPE_WORDS[t] for t in InformationType if t in wanted]
    if not words:
        return "personal data"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " and " + words[-1]


def kind_of(content_type: str) -> str:
    lowered = content_type.lower()
    for needle, words in _KIND_WORDS:
        if needle in lowered:
            return words
    return "a file"


# The content type of a winmail.dat (Outlook's TNEF), as the inspect stage
# detects it: the message as Outlook encodes it, not a file the sender chose.
OUTLOOK_WRAPPER_TYPE = "application/vnd.ms-tnef"


def is_outlook_wrapper(report: AttachmentReport) -> bool:
    """A winmail.dat attached to the message itself: its files are
    attachments of their own (`sent_in`), and it is none."""
    return report.content_type == OUTLOOK_WRAPPER_TYPE and not report.sent_in


def encryption_scheme(report: AttachmentReport) -> str:
    """ "S/MIME" or "PGP": which of the two a part of a mail program's encryption is."""
    kind = f"{report.content_type} {report.declared_type}".lower()
    return "S/MIME" if "pkcs7" in kind else "PGP"


def _shown_as(report: AttachmentReport) -> str | None:
    """What the sender saw instead of an attachment, or None for one."""
    if is_outlook_wrapper(report):
        return "the copy of the message Outlook sends in winmail.dat"
    if report.security == SIGNATURE:
        return "the message's digital signature"
    if report.security == ENCRYPTION:
        return f"the message's {encryption_scheme(report)} encryption"
    if report.declared_type.lower() == "text/calendar":
        return "the meeting invitation"
    if report.inline and report.content_type.startswith("image/"):
        return "the picture in the message's text"
    return None


def attachment_name(
    position: int, kind: str, reports: Sequence[AttachmentReport] = ()
) -> str:
    """ "attachment 2 (a PDF document)" for the attachment at `position`
    (counting from 1 into the message's `reports`), numbered as the sender's
    mail program lists attachments: a picture inline in the text, a meeting
    invitation's calendar part, and a signature or encryption the mail
    program added are named for what they are, and not counted.  A file
    Outlook sent inside winmail.dat is the attachment the recipient's
    Outlook shows, and says so."""
    if 0 < position <= len(reports):
        report = reports[position - 1]
        shown = _shown_as(report)
        if shown is not None:
            return shown
        position = sum(1 for r in reports[:position] if _shown_as(r) is None)
        if report.sent_in:
            kind = f"{kind}, sent by Outlook inside winmail.dat"
    return f"attachment {position} ({kind})"


def _kind(position: int, content_type: str, reports: Sequence[AttachmentReport]) -> str:
    """The kind from the content; when that says only "a file" (an encrypted
    Word document is an OLE container), the kind the mail program declared."""
    kind = kind_of(content_type)
    if kind == "a file" and 0 < position <= len(reports):
        declared = reports[position - 1].declared_type
        if declared and not declared.lower().startswith("application/octet-stream"):
            return kind_of(declared)
    return kind


def attachment_list(
    items: Iterable[tuple[int, str]], reports: Sequence[AttachmentReport] = ()
) -> str:
    """ "attachment 2 (a PDF document)" for each (position, content type)
    (see attachment_name)."""
    described = [attachment_name(n, _kind(n, ct, reports), reports) for n, ct in items]
    if len(described) <= 1:
        return "".join(described)
    return ", ".join(described[:-1]) + " and " + described[-1]
