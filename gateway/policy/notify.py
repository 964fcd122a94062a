"""The notification a sender gets when enforce mode refuses their message.

The SMTP 550 reply already shows a one-line summary in the sender's mail
client; this email lists every reason in plain words with how to fix it.  It
comes from postmaster@<hostname> with the null envelope sender (so it can
never bounce back and forth), and it carries no personal data from the
message: no body text, no attachment, no file names, and the subject line
only when no personal data was found in it.  It gives the reference (the
audit id) and the recipients' addresses so the sender knows which message
is meant.
"""

from __future__ import annotations

import email.utils
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP

from gateway.model import Reason, ReasonCode, Verdict
from gateway.policy import PROTECT_FIXES
from gateway.policy.words import TYPE_WORDS

__all__ = [
    "HELD_SUBJECT",
    "NOTIFICATION_SUBJECT",
    "REFUSED_SUBJECT",
    "build_hold_notice",
    "build_notification",
    "smtp_summary",
    "to_change",
]

NOTIFICATION_SUBJECT = "Your message was not sent: secure-sharing rules"
HELD_SUBJECT = "Your message is waiting for approval"
REFUSED_SUBJECT = "Your message was not approved and was not sent"

_SUMMARY_LIMIT = 400


def to_change(verdict: Verdict, mode: str) -> tuple[Reason, ...]:
    """The reasons the sender must act on.  In protect mode a message is
    refused only for what the gateway cannot fix (a recipient, a purpose,
    ...); what it would have fixed itself (encryption, the subject's
    marking) stays in the record but is not put to the sender, who would
    otherwise make, and have to manage, a zip of their own."""
    if mode != "protect":
        return verdict.reasons
    return tuple(r for r in verdict.reasons if r.code not in PROTECT_FIXES) or verdict.reasons


def smtp_summary(verdict: Verdict, mode: str = "enforce") -> str:
    """The one line for `550 5.7.1 ...`: every reason's text if it fits."""
    # Each reason is a sentence of its own: its full stop goes where the
    # next one is joined on ("... not encrypted; bob@... is not on ...").
    texts = [" ".join(r.text.split()).rstrip(".") for r in to_change(verdict, mode)]
    if not texts:
        return "Message refused by the secure-sharing policy"
    joined = "; ".join(texts)
    tail = " (details emailed to you)"
    if len(joined) + len(tail) <= _SUMMARY_LIMIT:
        return joined + tail
    first = texts[0][: _SUMMARY_LIMIT - 80]
    return f"{first}; and {len(texts) - 1} more problem(s){tail}"


# Reasons that say personal data was found where it shows.
_FOUND_IN_CLEAR = frozenset({ReasonCode.PERSONAL_DATA_IN_BODY, ReasonCode.UNENCRYPTED_ATTACHMENT})


def build_notification(
    *,
    hostname: str,
    sender: str,
    reference: str,
    recipients: Sequence[str],
    verdict: Verdict,
    subject: str | None,
    message_id: str | None,
    when: datetime,
    mode: str = "enforce",
) -> bytes:
    """The notification email, as bytes ready for the queue.

    `subject` is the original subject when it may be quoted (no personal
    data found in it), else None.
    """
    note = _letter(hostname, sender, NOTIFICATION_SUBJECT, reference, message_id, when)

    lines = [
        "Your message was not sent.",
        "",
        "It appears to contain personal data or protectively marked information, and "
        "it does not follow the rules for sharing personal information securely by email.",
        "Nothing was delivered to any recipient.",
        "",
        f"Reference: {reference}",
        f"Sent to: {', '.join(recipients)}",
    ]
    if subject is not None:
        lines.append(f"Subject: {_one_line(subject)}")
    lines += ["", "What needs to change:", ""]
    reasons = to_change(verdict, mode)
    for number, reason in enumerate(reasons, 1):
        lines.append(f"{number}. {reason.text}")
        if reason.fix:
            lines.append(f"   How to fix it: {reason.fix}")
        lines.append("")
    lines.append("When you have made these changes, send the message again.")
    if len(reasons) < len(verdict.reasons):
        lines.append("You need not encrypt it or mark its subject yourself: the gateway will "
                     "do that when it sends it.")
        found = [TYPE_WORDS[t] for t in verdict.information_types if t in TYPE_WORDS]
        if found:
            # Only the kinds, never the values.  Without them a sender told
            # only to have recipients allow-listed cannot see a false alarm
            # (their organisation's own number taken for a personal one).
            lines += ["", f"What the gateway found that looks like personal data: "
                      f"{', '.join(found)}. If there is none in your message (for example, "
                      "it is your organisation's own number), tell IT, quoting the "
                      "reference above."]
    elif any(r.code in _FOUND_IN_CLEAR for r in reasons):
        # Each reason already names the kinds found; a sender sure there is
        # none (a switchboard number, a colleague's work details) is told
        # where a false alarm goes, as in protect mode.
        lines += ["", "If what the gateway took for personal data is not (for example, it "
                  "is your organisation's own number or a colleague's work details), tell "
                  "IT, quoting the reference above."]
    lines += [
        "",
        "The rules: personal data travels only in an encrypted (AES), read-only attachment;",
        "the subject is marked; the password is never in the same email (the gateway holds",
        "it and sends it separately); and only recipients IT has approved may receive it.",
        "If you are unsure, ask your manager or IT, quoting the reference above.",
        "",
    ]
    note.set_content("\n".join(lines))
    return note.as_bytes(policy=SMTP)


def _letter(hostname: str, sender: str, subject: str, reference: str,
            message_id: str | None, when: datetime) -> EmailMessage:
    note = EmailMessage(policy=SMTP)
    note["From"] = f"Secure-sharing gateway <postmaster@{hostname}>"
    note["To"] = sender
    note["Subject"] = subject
    note["Date"] = email.utils.format_datetime(when)
    note["Message-ID"] = email.utils.make_msgid(domain=hostname)
    note["Auto-Submitted"] = "auto-replied"
    note["X-Gateway-Reference"] = reference
    if message_id and _safe_message_id(message_id):
        # Lets the sender's mail client thread this with what they sent.
        note["In-Reply-To"] = message_id
        note["References"] = message_id
    return note


def build_hold_notice(
    *,
    hostname: str,
    sender: str,
    reference: str,
    recipients: Sequence[str],
    subject: str | None,
    message_id: str | None,
    when: datetime,
    refused_by: str | None = None,
    note: str = "",
) -> bytes:
    """The sender's word that their message waits for authorisation, or
    (`refused_by`) that the approver refused it: a 250 says "sent" in every
    mail client, so without this they would never know.  No personal data:
    the subject only when `subject` is given (none found in it), the
    approver's note as they wrote it (staff to staff)."""
    if refused_by is None:
        title = HELD_SUBJECT
        lines = [
            "Your message is waiting for approval before it is sent.",
            "",
            "It holds information that needs a manager's authorisation before it leaves "
            "(special category data, or information about many people). Nothing has been "
            "sent yet. It will be sent as soon as it is approved, and you will be told if "
            "it is not.",
        ]
    else:
        title = REFUSED_SUBJECT
        lines = [
            "Your message was not approved, so it was not sent.",
            "",
            f"Decided by: {_one_line(refused_by)}",
        ]
        if note.strip():
            lines.append(f"Their note: {_one_line(note)}")
        lines += ["", "Nothing was delivered to any recipient. If the information still needs "
                  "to be shared, speak to them before sending it again."]
    lines += ["", f"Reference: {reference}", f"Sent to: {', '.join(recipients)}"]
    if subject is not None:
        lines.append(f"Subject: {_one_line(subject)}")
    lines += ["", "If you are unsure, ask your manager or IT, quoting the reference above.", ""]
    letter = _letter(hostname, sender, title, reference, message_id, when)
    letter.set_content("\n".join(lines))
    return letter.as_bytes(policy=SMTP)


def _one_line(value: str) -> str:
    return " ".join(value.split())[:200]


def _safe_message_id(value: str) -> bool:
    stripped = value.strip()
    left = stripped.rpartition("@")[0]
    return (
        stripped.startswith("<")
        and stripped.endswith(">")
        and len(stripped) < 500
        and all(33 <= ord(ch) < 127 for ch in stripped)
        # The record's copy with personal data or a password taken out
        # ("<[redacted]@...>") names no message the sender has.
        and "[" not in left
    )
