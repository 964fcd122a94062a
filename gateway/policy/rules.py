"""The secure-sharing rules: one small function per reason code.

Each rule looks at the `Facts` of one message and returns a `Reason` (what
is wrong, in plain words, and how to fix it) or None.  `RULES` lists them in
the order of the reason-code table; `decide` runs every one of them, so a
message that breaks three rules is told about all three.

A rule never quotes the message: texts name kinds of information, attachment
positions and kinds, envelope recipients and settings, nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

from gateway.model import (
    ENCRYPTION,
    AttachmentReport,
    Encryption,
    Envelope,
    Finding,
    InformationType,
    Inspection,
    Problem,
    Reason,
    ReasonCode,
    RecipientEntry,
    SegmentSource,
)
from gateway.parse.headers import (
    ID_HEADERS,
    TOPIC_HEADERS,
    carries_marking,
    header_place,
    is_topic_path,
)
from gateway.parse.parser import is_outside_parts, reads_exactly
from gateway.policy.words import (
    ENCRYPTION_WORDS,
    attachment_list,
    attachment_name,
    encryption_scheme,
    is_outlook_wrapper,
    kind_of,
    type_list,
)
from gateway.settings import PolicySettings

__all__ = ["INFORMATIONAL_PROBLEMS", "RULES", "Facts", "Rule", "encryption_strength"]

# Problems that are notes rather than failures: legacy binary Office files are
# read as strings (their text is still checked), which is not worth refusing
# every old .doc for.
INFORMATIONAL_PROBLEMS = frozenset({"partial_extraction"})


# Strength order for `min_encryption`.  ZipCrypto and RC4 are broken ciphers
# and never count, whatever their key length.
_STRENGTH: dict[Encryption, int] = {
    Encryption.AES_128: 128,
    Encryption.AES_192: 192,
    Encryption.AES_256: 256,
}


def encryption_strength(encryption: Encryption | str) -> int:
    """Bits of an acceptable cipher; 0 for none, broken or unknown ones."""
    try:
        return _STRENGTH.get(Encryption(encryption), 0)
    except ValueError:
        return 0


def _attachment_of(path: str, reports: Sequence[AttachmentReport]) -> int | None:
    """The index of the attachment that holds `path` (itself or a part inside it)."""
    best: int | None = None
    best_len = -1
    for index, report in enumerate(reports):
        own = report.part_path
        if path == own:
            return index
        if path.startswith((own + "/", own + ".", own + ":")) and len(own) > best_len:
            best, best_len = index, len(own)
    return best


@dataclass(frozen=True)
class Facts:
    """Everything the rules look at, gathered once per message.

    `findings` are those in clear text (subject, body, unencrypted
    attachments, and names visible inside encrypted archives);
    `protected_findings` came out of attachments opened with the sender's
    password, i.e. personal data that travels encrypted.
    """

    envelope: Envelope
    inspection: Inspection
    findings: tuple[Finding, ...]
    protected_findings: tuple[Finding, ...]
    policy: PolicySettings
    matches: tuple[RecipientEntry | None, ...]  # one per envelope recipient
    marking: str | None
    purpose: str | None

    @cached_property
    def attachments(self) -> tuple[AttachmentReport, ...]:
        return self.inspection.attachments

    @cached_property
    def encrypted(self) -> tuple[tuple[int, AttachmentReport], ...]:
        """(position, report) of every attachment carrying any encryption."""
        return tuple(
            (n, a) for n, a in enumerate(self.attachments, 1) if a.encryption != Encryption.NONE
        )

    @cached_property
    def problems(self) -> tuple[Problem, ...]:
        """What could not be inspected (parse and inspect problems, deduplicated)."""
        seen: dict[tuple[str, str], Problem] = {}
        for problem in (*self.inspection.message.problems, *self.inspection.problems):
            if problem.code not in INFORMATIONAL_PROBLEMS:
                seen.setdefault((problem.part_path, problem.code), problem)
        return tuple(seen.values())

    @cached_property
    def clear_in_body(self) -> tuple[Finding, ...]:
        return tuple(
            f for f in self.findings if f.source in (SegmentSource.SUBJECT, SegmentSource.BODY)
        )

    @cached_property
    def clear_in_attachments(self) -> dict[int | None, list[Finding]]:
        """Clear findings in attachments, by attachment index (None: unknown part)."""
        found: dict[int | None, list[Finding]] = {}
        for finding in self.findings:
            if finding.source == SegmentSource.ATTACHMENT:
                found.setdefault(_attachment_of(finding.part_path, self.attachments), []).append(
                    finding
                )
        return found

    @property
    def personal_data(self) -> bool:
        """Personal data is, or may be, in the message.

        An encrypted attachment counts even when it could not be opened (its
        content cannot be ruled out), and so does content that could not be
        inspected (fail closed: never treated as clean).
        """
        return bool(
            self.findings or self.protected_findings or self.encrypted or self.problems
            or any(a.encryption == Encryption.UNKNOWN for a in self.attachments)
        )

    @property
    def subject_to_rules(self) -> bool:
        return self.personal_data or self.marking is not None


Rule = Callable[[Facts], Reason | None]


# --------------------------------------------------------------------------
# the rules, in the order of the reason-code table


def personal_data_in_body(facts: Facts) -> Reason | None:
    clear = facts.clear_in_body
    if clear:
        headers, named, described = _header_places(clear)
        places = [
            place for place, found in (
                ("the subject line", any(
                    f.source == SegmentSource.SUBJECT and not is_topic_path(f.part_path)
                    for f in clear)),
                (f"the {' and '.join(headers)} header{'s' if len(headers) > 1 else ''}",
                 bool(headers)),
                (f"the name{'s' if len(named) > 1 else ''} shown beside the address in the "
                 f"{' and '.join(named)} header{'s' if len(named) > 1 else ''}", bool(named)),
                (f"the {' and '.join(described)} header{'s' if len(described) > 1 else ''} "
                 "of a part of the message", bool(described)),
                ("the message text", any(f.source == SegmentSource.BODY for f in clear)),
            ) if found
        ]
        where = places[0] if len(places) == 1 else ", ".join(places[:-1]) + " and " + places[-1]
        fix = ("Take the personal data out of the subject and the message text (including any "
               "earlier messages quoted below yours). Put it in a document, save it read-only, "
               "encrypt it with a password (for example a zip with AES-256) and attach that.")
        if any(h in TOPIC_HEADERS for h in headers):
            # Thread-Topic is not shown by mail programs: Outlook fills it
            # from the conversation's first subject.
            fix += (" Your mail program keeps the conversation's first subject in a hidden "
                    "header: if personal data was in an earlier subject, write a new message "
                    "rather than replying or forwarding.")
        if named:
            fix += (" Address the message with a name that is only the person's or team's "
                    "name (or the bare address): if the name comes from your address book or "
                    "an earlier message, correct the contact first.")
        if described or any(h not in TOPIC_HEADERS for h in headers):
            fix += (" The program, add-in or form that made the message wrote the personal data "
                    "into a header: remove it there, or write the message afresh in your mail "
                    "program.")
        return Reason(
            ReasonCode.PERSONAL_DATA_IN_BODY,
            f"Personal data ({type_list(f.info_type for f in clear)}) is in {where}, "
            "which is not encrypted.",
            fix,
        )
    # A protectively marked message is sensitive as a whole: unless the
    # sensitive content travels in an encrypted attachment, the message text
    # is that content, in clear.
    if facts.marking is not None and not facts.encrypted:
        return Reason(
            ReasonCode.PERSONAL_DATA_IN_BODY,
            f"The message is marked {facts.marking} but its content is in the message text, "
            "which is not encrypted.",
            "Put the marked content in a document, save it read-only, encrypt it with a "
            "password (for example a zip with AES-256) and attach it; keep the message text "
            "to a short covering note.",
        )
    return None


def _header_places(clear: Sequence[Finding]) -> tuple[list[str], list[str], list[str]]:
    """The headers holding `clear` findings: (whole headers, headers whose
    display names do, parts' headers), each sorted by name."""
    headers: set[str] = set()
    named: set[str] = set()
    described: set[str] = set()
    for finding in clear:
        if is_topic_path(finding.part_path):
            name, display_name, part = header_place(finding.part_path)
            (named if display_name else described if part else headers).add(name)
    return sorted(headers), sorted(named), sorted(described)


def unencrypted_attachment(facts: Facts) -> Reason | None:
    plain: list[tuple[int, str]] = []
    names_visible: list[tuple[int, str]] = []
    types: set[InformationType] = set()
    for index, found in facts.clear_in_attachments.items():
        types.update(f.info_type for f in found)
        if index is None:
            plain.append((0, "application/octet-stream"))
            continue
        report = facts.attachments[index]
        target = plain if report.encryption == Encryption.NONE else names_visible
        target.append((index + 1, report.content_type))
    if facts.marking is not None:
        # Everything attached to a marked message is marked content: not the
        # signature or encryption its mail program added, nor a winmail.dat
        # (its files are attached content, each judged).
        for n, report in enumerate(facts.attachments, 1):
            if report.security or is_outlook_wrapper(report):
                continue
            if report.encryption == Encryption.NONE and all(p[0] != n for p in plain):
                plain.append((n, report.content_type))
    if not plain and not names_visible:
        return None
    parts = []
    what = f"personal data ({type_list(types)})" if types else f"{facts.marking} content"
    if plain:
        listed = attachment_list(sorted(p for p in plain if p[0]), facts.attachments)
        if any(p[0] == 0 for p in plain):
            listed = f"{listed} and an attached part" if listed else "an attached part"
        verb, has = ("is", "contains") if len(plain) == 1 else ("are", "contain")
        parts.append(f"{listed[0].upper()}{listed[1:]} {verb} not encrypted but {has} {what}.")
    if names_visible:
        listed = attachment_list(sorted(names_visible), facts.attachments)
        parts.append(
            f"Part of {listed} can be read without the password (its file names, a file "
            "left unencrypted inside it, or a PDF's unencrypted metadata or attachments) and "
            "shows personal data."
        )
    fix = ("Save the attachment read-only and encrypt it with a password (a zip with AES-256, "
           "or the document's own AES encryption), using file names that do not identify "
           "anyone, and attach that instead of the original.")
    invitations = [n for n, _ in plain
                   if n and facts.attachments[n - 1].declared_type.lower() == "text/calendar"]
    if invitations:
        # An invitation cannot be encrypted and still work as one: what
        # staff can do is move the details out of it.
        invite = ("Take the personal details out of the meeting invitation (its title, "
                  "description and location) and send them separately, in an encrypted "
                  "attachment; the invitation itself cannot be encrypted.")
        fix = invite if len(invitations) == len(plain) and not names_visible else (
            f"{fix} {invite}")
    return Reason(ReasonCode.UNENCRYPTED_ATTACHMENT, " ".join(parts), fix)


def weak_encryption(facts: Facts) -> Reason | None:
    minimum = encryption_strength(facts.policy.min_encryption)
    weak = [
        (n, a)
        for n, a in facts.encrypted
        if a.encryption != Encryption.UNKNOWN and encryption_strength(a.encryption) < minimum
    ]
    if not weak:
        return None
    ciphers = sorted({ENCRYPTION_WORDS[a.encryption] for _, a in weak})
    listed = attachment_list(((n, a.content_type) for n, a in weak), facts.attachments)
    return Reason(
        ReasonCode.WEAK_ENCRYPTION,
        f"{listed[0].upper()}{listed[1:]} {'uses' if len(weak) == 1 else 'use'} "
        f"{' and '.join(ciphers)}, which is too weak: "
        f"{facts.policy.min_encryption.upper()} or stronger is required.",
        "Encrypt the file again choosing AES-256 (in 7-Zip: archive format zip, encryption "
        "method AES-256; in Microsoft Office: File > Info > Protect > Encrypt with Password). "
        "ZipCrypto, RC4 and Blowfish are never accepted.",
    )


def _office(report: AttachmentReport) -> bool:
    """An Office or OpenDocument file (encrypted Office files are OLE
    containers, whatever the sender's mail program called them)."""
    kind = f"{report.content_type} {report.declared_type}".lower()
    return any(k in kind for k in ("x-ole-storage", "officedocument", "opendocument",
                                   "msword", "ms-excel", "ms-powerpoint"))


def not_read_only(facts: Facts) -> Reason | None:
    if not facts.policy.require_read_only:
        return None
    # Unknown read-only state counts as not read-only: fail closed.
    # An unrecognised encryption is reported as uninspectable instead.
    editable = [
        (n, a)
        for n, a in facts.encrypted
        if a.read_only is not True and a.encryption != Encryption.UNKNOWN
    ]
    if not editable:
        return None
    if all(a.read_only is None and _office(a) for _, a in editable):
        # An encrypted Office document keeps its read-only setting inside the
        # encryption: the sender may well have done both, as the guidance
        # asks.  Say what stops the check, and the two ways through.
        listed = attachment_list(((n, a.content_type) for n, a in editable), facts.attachments)
        return Reason(
            ReasonCode.NOT_READ_ONLY,
            f"{listed[0].upper()}{listed[1:]} {'is' if len(editable) == 1 else 'are'} "
            "encrypted, and the gateway cannot check that "
            f"{'it is' if len(editable) == 1 else 'they are'} read-only without the password.",
            "If you restricted editing before you encrypted it, write the password in the "
            "message on a line of its own ('Password: ...'): the gateway checks the document, "
            "takes the password out and sends it separately. Or put the document, read-only, "
            "in a zip encrypted with AES-256 and attach that instead.",
        )
    listed = attachment_list(((n, a.content_type) for n, a in editable), facts.attachments)
    return Reason(
        ReasonCode.NOT_READ_ONLY,
        f"{listed[0].upper()}{listed[1:]} {'is' if len(editable) == 1 else 'are'} encrypted "
        "but not saved read-only.",
        "Save the document as read-only (mark the files read-only before zipping them, or "
        "restrict editing in the PDF or Office document), then encrypt and attach it again. "
        "For a PDF, the permissions (owner) password must differ from the one that opens it.",
    )


def weak_password(facts: Facts) -> Reason | None:
    """An attachment a common password opened (the message's or one the
    gateway tried), or whose password in the message is shorter than
    `min_password_length`: anyone who gets the file opens it by guessing."""
    minimum = facts.policy.min_password_length
    common = [(n, a) for n, a in facts.encrypted if a.common_password]
    short = [(n, a) for n, a in facts.encrypted if not a.common_password
             and a.password_opens and 0 < a.password_length < minimum]
    if not common and not short:
        return None
    weak = sorted(common + short, key=lambda item: item[0])
    listed = attachment_list(((n, a.content_type) for n, a in weak), facts.attachments)
    if common and short:
        why = f"one of the most common passwords, or shorter than {minimum} characters"
    elif common:
        why = "one of the most common passwords"
    else:
        why = f"shorter than {minimum} characters"
    return Reason(
        ReasonCode.WEAK_PASSWORD,
        f"The password on {listed} is too easy to guess ({why}): anyone who gets the "
        "file could open it.",
        "Encrypt the file again with a password "
        + (f"of at least {minimum} characters " if minimum else "")
        + "that is not a common one (three random words together are easy to read out and "
        "hard to guess), and attach it again. Telephone the password to the recipient, or "
        "write it on a line of its own ('Password: ...') for the gateway to send separately.",
    )


def missing_subject_marking(facts: Facts) -> Reason | None:
    wanted = facts.policy.subject_marking
    if carries_marking(facts.inspection.message.subject, wanted):
        return None
    return Reason(
        ReasonCode.MISSING_SUBJECT_MARKING,
        f"The subject line is not marked '{wanted}'.",
        f"Add '{wanted}' to the subject line.",
    )


def _unremovable(facts: Facts) -> list[str]:
    """Where passwords that really open an attachment sit in a form that
    cannot be taken out.

    The inspect stage tries every candidate on every encrypted attachment and
    marks those that opened one (`opens`); when none opens it, it tries the
    message's own words, and lists every place an opening password is
    written.  A candidate in the subject, a file name, another attachment, a
    header of the sender's own (not X-Attachment-Password) or the body
    outside a line stating it, with an opener's value, is the password
    itself travelling with the attachment; one that opens nothing is just
    text.
    """
    passwords = facts.inspection.passwords
    opener_values = {c.value for c in passwords if c.opens}
    if not opener_values:
        return []
    places = {"subject": "the subject line", "attachment": "another attachment",
              "body": "the message text", "header": "a header of the message",
              "filename": "an attachment's file name"}
    found = []
    # Written in the subject or a file name without a statement the inspect
    # stage reads ("password Blue42!x", "case-Blue42!x.zip"), the value is
    # there all the same.
    subject = facts.inspection.message.subject
    if any(_written_in(value, subject) for value in opener_values):
        found.append(places["subject"])
    names = [a.filename for a in facts.inspection.attachments if a.filename]
    if any(_written_in(value, name) for value in opener_values for name in names):
        found.append(places["filename"])
    # Written in an identifier header (Message-ID, In-Reply-To, References)
    # by the program that built it: the inspect stage tried its words, but
    # the value may sit inside a longer identifier.
    for name, value in facts.inspection.message.headers:
        canonical = _ID_NAMES.get(name.lower())
        if canonical and any(_written_in(v, value) for v in opener_values):
            place = _identifier_place(canonical)
            if place not in found:
                found.append(place)
    for candidate in passwords:
        if not candidate.removable and candidate.value in opener_values:
            place = places.get(candidate.location, "a part of the message")
            header = header_place(candidate.part_path)[0] if candidate.location == "header" else ""
            if header.lower() in _ID_NAMES:
                place = _identifier_place(_ID_NAMES[header.lower()])
            if candidate.location == "body" and not is_outside_parts(candidate.part_path) \
                    and not reads_exactly(facts.inspection.message, candidate.part_path):
                # On a line of its own all the same: the sender needs to know
                # why the gateway could not take it out.
                place = ("the message text, in a character set the gateway cannot rewrite "
                         "(an unknown or mislabelled one)")
            if place not in found:
                found.append(place)
    return found


_ID_NAMES = {name.lower(): name for name in ID_HEADERS}


def _identifier_place(header: str) -> str:
    return (f"the {header} header (an identifier that the program or form that made the "
            "message sets)")


def _written_in(value: str, text: str) -> bool:
    """`value` in `text` as a word of its own, not inside a longer one."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", text) is not None


def _stated_but_opens_nothing(facts: Facts) -> list[tuple[int, AttachmentReport]]:
    """Encrypted attachments nothing opened, when the text states a password
    (a `Password: ...` line, the header) that opens nothing.

    Such a password cannot be what the gateway holds and sends separately,
    yet it would travel beside the attachment: most often the real one
    mistyped, a character or two away from it."""
    if not any(c.removable and not c.opens for c in facts.inspection.passwords):
        return []
    return [(n, a) for n, a in facts.encrypted
            if not a.password_opens and a.encryption != Encryption.UNKNOWN]


def password_in_message(facts: Facts) -> Reason | None:
    places = _unremovable(facts)
    if not places:
        unopened = _stated_but_opens_nothing(facts)
        if not unopened:
            return None
        listed = attachment_list(((n, a.content_type) for n, a in unopened), facts.attachments)
        return Reason(
            ReasonCode.PASSWORD_IN_MESSAGE,
            f"The message text gives a password, but it does not open {listed}: the gateway "
            "cannot send it separately, and it would travel with the attachment (a mistyped "
            "password is still close to the real one).",
            "Check the password (capital letters count) and send the message again with the "
            "right one on a line of its own ('Password: ...'), or take the password out and "
            "telephone it to the recipient.",
        )
    return Reason(
        ReasonCode.PASSWORD_IN_MESSAGE,
        f"The password for the attachment is written in {' and '.join(places)}, "
        "where it would travel with the attachment it opens.",
        "Remove the password from there. Either telephone it to the recipient, or write it "
        "on a line of its own in the message text ('Password: ...'): the gateway then takes "
        "it out and sends it separately once the message has arrived.",
    )


def unrewritable_reason(code: ReasonCode) -> Reason:
    """The reason for `code` when the transform stage found the content can
    never be made fit to deliver (gateway.errors.UnrewritableContent): the
    rules saw a password it could take out, and it could not."""
    if code == ReasonCode.PASSWORD_IN_MESSAGE:
        return Reason(
            code,
            "The password for the attachment is written in the message text in a form the "
            "gateway cannot take out (text it cannot rewrite, such as an unusual character "
            "set), where it would travel with the attachment it opens.",
            "Take the password out of the message and telephone it to the recipient, or type "
            "the message again in your usual mail program with the password on a line of its "
            "own ('Password: ...'): the gateway then takes it out and sends it separately.",
        )
    return Reason(
        code,
        "Part of the message is in a form the gateway cannot make safe to send.",
        "Send the content again in a common format. If this keeps happening, contact IT, "
        "quoting the gateway's reference for this message.",
    )


def recipient_not_allowed(facts: Facts) -> Reason | None:
    refused = [a for a, m in zip(facts.envelope.rcpt_tos, facts.matches, strict=True) if m is None]
    if not refused:
        return None
    listed = ", ".join(refused[:10]) + (f" and {len(refused) - 10} more" if len(refused) > 10 else "")
    return Reason(
        ReasonCode.RECIPIENT_NOT_ALLOWED,
        f"{listed} {'is' if len(refused) == 1 else 'are'} not on the list of recipients "
        "allowed to receive personal data.",
        "Check the address is right. If it is, ask IT to add the recipient to the allow-list "
        "with their name, job title, department, organisation and telephone number; "
        "otherwise remove that recipient.",
    )


def missing_purpose(facts: Facts) -> Reason | None:
    if not facts.policy.require_purpose or (facts.purpose and facts.purpose.strip()):
        return None
    return Reason(
        ReasonCode.MISSING_PURPOSE,
        "The purpose of sharing this information is not given.",
        "Add a line 'Purpose: ...' to the message text saying why you are sharing it "
        "(and 'Consent: ...' for any limits to consent), or set the X-Sharing-Purpose header.",
    )


_PROBLEM_WORDS = {
    "archive_bomb": "looks like a zip bomb",
    "archive_mismatch": "is an archive built to hide its content",
    "ambiguous_mime": "is built in a way mail programs could read differently",
    "malformed": "is damaged",
    "too_large": "is too large to check",
    "text_too_large": "holds more text than the gateway can check",
    "header_too_large": "has headers too large to check",
    "too_deep": "is nested too deeply to check",
    "too_many_parts": "has too many parts to check",
    "encrypted_content": "holds encrypted content inside it that could not be checked",
    "unsupported_format": "is in a format the gateway cannot read",
    "timeout": "took too long to check",
}

def _problem_words(code: str) -> str:
    if code in _PROBLEM_WORDS:
        return _PROBLEM_WORDS[code]
    for needle, words in _PROBLEM_WORDS.items():
        if needle in code:
            return words
    return "could not be read"


# Kinds `kind_of` words wrongly or vaguely for this rule ("gzip" holds "zip").
_UNREADABLE_KINDS = {
    "application/gzip": "a gzip file",
    "application/x-bzip2": "a bzip2 file",
    "application/x-xz": "an xz file",
    "application/x-tar": "a tar archive",
    "application/x-archive": "an archive",
}


def _unreadable_kind(content_type: str) -> str:
    return _UNREADABLE_KINDS.get(content_type.lower()) or kind_of(content_type)


def uninspectable_content(facts: Facts) -> Reason | None:
    descriptions: list[str] = []
    # The mail program's own encryption (S/MIME, PGP) of the message: the
    # sender chose no attachment, and can simply send without it.
    schemes: list[str] = []
    others = False
    too_much_text = False

    def encrypted_message(scheme: str, what: str = "the message is") -> None:
        text = f"{what} encrypted with {scheme} by your mail program"
        if scheme not in schemes:
            schemes.append(scheme)
        if text not in descriptions:
            descriptions.append(text)

    for problem in facts.problems:
        if problem.code in INFORMATIONAL_PROBLEMS:
            continue
        if problem.code == "pgp_message":
            encrypted_message("PGP", "the message text is")
            continue
        others = True
        too_much_text = too_much_text or problem.code in _TOO_MUCH_TEXT
        index = _attachment_of(problem.part_path, facts.attachments)
        where = (
            attachment_name(index + 1, _unreadable_kind(facts.attachments[index].content_type),
                            facts.attachments)
            if index is not None
            else "the message" if problem.part_path in ("", "0") else f"part {problem.part_path}"
        )
        text = f"{where} {_problem_words(problem.code)}"
        if text not in descriptions:
            descriptions.append(text)
    # Only real encryption of a kind the gateway does not know: an unreadable
    # or damaged file is `none`, described by its Problem above.
    for n, report in facts.encrypted:
        if report.encryption != Encryption.UNKNOWN:
            continue
        if report.security == ENCRYPTION:
            encrypted_message(encryption_scheme(report))
            continue
        others = True
        name = attachment_name(n, _unreadable_kind(report.content_type), facts.attachments)
        if report.content_type in _SCHEMES:
            text = f"{name} cannot be opened by the gateway"
        else:
            text = f"{name} uses an unrecognised encryption"
        if text not in descriptions:
            descriptions.append(text)
    if not descriptions:
        return None
    shown = "; ".join(descriptions[:5]) + ("; …" if len(descriptions) > 5 else "")
    fixes = [_without_encryption(" or ".join(schemes), facts.policy.mode)] if schemes else []
    if too_much_text:
        fixes.append(
            "A message with this much text (a large spreadsheet, many documents) cannot be "
            "checked in time: split it across several messages, or send it protected, in a "
            "zip encrypted with AES-256 whose password you telephone to the recipient."
        )
    if others:
        fixes.append(
            "Send the content in a common format (PDF, Word, Excel, CSV or a zip), encrypted "
            "with AES-256 and read-only if it holds personal data. If this keeps happening, "
            "contact IT, quoting the gateway's reference for this message."
        )
    return Reason(
        ReasonCode.UNINSPECTABLE_CONTENT,
        f"Part of the message could not be checked ({shown}), so it is treated as "
        "personal data.",
        " ".join(fixes),
    )


# Problems of a message too large or too slow to read: its sender can split it.
_TOO_MUCH_TEXT = frozenset({"text_too_large", "timeout"})

# Encryption the gateway knows by name (its kind says which) but cannot open.
_SCHEMES = frozenset({"application/pkcs7-mime", "application/pgp-encrypted"})


def _without_encryption(schemes: str, mode: str) -> str:
    """What staff can do about a message their mail program encrypted."""
    again = (f"Send the message again without {schemes} encryption (turn off 'Encrypt' in "
             "your mail program for this message; a digital signature alone is fine): ")
    if mode == "protect":
        return again + ("the gateway checks it and protects any personal data in it "
                        "itself, in an AES-256 zip whose password is sent separately.")
    return again + ("the gateway has to read a message to check it. Put any personal data "
                    "in a document, save it read-only, encrypt it with a password (for "
                    "example a zip with AES-256) and attach that.")


RULES: tuple[Rule, ...] = (
    personal_data_in_body,
    unencrypted_attachment,
    weak_encryption,
    not_read_only,
    weak_password,
    missing_subject_marking,
    password_in_message,
    recipient_not_allowed,
    missing_purpose,
    uninspectable_content,
)
