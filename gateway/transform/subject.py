"""Marking the subject 'Private and Confidential' (once).

The check is the policy's: the marking counts when it appears anywhere in
the subject, case-insensitively, "&" for "and", after RFC 2047 decoding and
unfolding, so a subject the policy accepts is never marked twice.  The marking is added as
a prefix (`Private and Confidential: <subject>`), where a recipient's mail
program shows it first.
"""

from __future__ import annotations

from email.message import EmailMessage

from gateway.errors import ContentError
from gateway.parse.headers import carries_marking, decode_header_value


def is_marked(subject: str, marking: str) -> bool:
    """Whether the decoded `subject` already carries `marking`."""
    return carries_marking(subject, marking)


def decoded_subject(message: EmailMessage) -> str:
    """The first Subject header as a person reads it ('' when absent)."""
    for name, raw in message.raw_items():
        if name.lower() == "subject":
            return decode_header_value(str(raw))[0]
    return ""


def marked(subject: str, marking: str) -> str:
    subject = " ".join(subject.split())
    return f"{marking}: {subject}" if subject else marking


def set_subject(message: EmailMessage, subject: str) -> None:
    """Replace the first Subject header in place (its position kept), or add one."""
    if "subject" in message:
        message.replace_header("Subject", subject)
    else:
        message["Subject"] = subject


def mark_message(message: EmailMessage, marking: str) -> bool:
    """Prefix the marking unless present; True when the subject changed."""
    subject = decoded_subject(message)
    if is_marked(subject, marking):
        return False
    set_subject(message, marked(subject, marking))
    return True


def mark_subject(raw: bytes, marking: str) -> bytes:
    """`raw` with its subject marked (unchanged bytes when already marked)."""
    # Imported here: the MIME module imports this one.
    from gateway.transform.mime import parse, serialise

    if not marking.strip():
        raise ContentError("an empty subject marking")
    message = parse(raw)
    if not mark_message(message, marking):
        return raw
    return serialise(message)
