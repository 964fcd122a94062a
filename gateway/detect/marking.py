"""Protective markings: PROTECT, RESTRICTED, CONFIDENTIAL, OFFICIAL-SENSITIVE.

A marking makes a message subject to the same rules as personal data.  It is
read from, in order:

    subject          at the start, after any "Re:"/"Fwd:": "OFFICIAL-SENSITIVE:
                     …", "[RESTRICTED] …", "PROTECT - PERSONAL …".  The single
                     words in upper case only, as the Government Security
                     Classifications write them: "Protect your password",
                     "Confidential matter" are ordinary words.  The two-word
                     OFFICIAL-SENSITIVE in any case and with any dash or
                     space between ("Official-Sensitive", the Purview label's
                     spelling; "OFFICIAL – SENSITIVE", what autocorrect makes
                     of " - "): it is no ordinary phrase
    X-Protective-Marking   the e-GMS header, "SEC=OFFICIAL-SENSITIVE, …" or a
                     bare marking
    msip_labels      Microsoft Purview sensitivity labels:
                     "MSIP_Label_<guid>_Name=Official-Sensitive; …" (only
                     enabled labels), in that header or in MSIP_Label_* headers

Invisible format characters (a zero-width space, a soft hyphen) are taken
out first: a reader does not see them.  The result is the canonical marking
word, whatever the spelling found.
"""

from __future__ import annotations

import re

from gateway.model import ParsedMessage

__all__ = ["MARKINGS", "find_marking"]

MARKINGS = ("OFFICIAL-SENSITIVE", "RESTRICTED", "CONFIDENTIAL", "PROTECT")

# Hyphen, non-breaking hyphen, figure/en/em dashes, minus, small and full-width hyphen-minus.
_DASHES = "\\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d"
# OFFICIAL-SENSITIVE: any dashes, spaces or underscores between the words.
_OFFICIAL_SENSITIVE = rf"(?i:OFFICIAL[\s_{_DASHES}]{{1,8}}SENSITIVE)"
_WORD = rf"({_OFFICIAL_SENSITIVE}|RESTRICTED|CONFIDENTIAL|PROTECT)"
_SUBJECT = re.compile(
    r"\s*(?:(?i:re|fw|fwd|aw|sv|wg)\s*(?:\[\d+\])?\s*:\s*)*[\[(]?\s*"
    + _WORD
    + rf"(?=$|[\s:\]),/{_DASHES}])"
)
_ANY = re.compile(r"(?<![A-Za-z])" + _WORD + r"(?![A-Za-z])", re.IGNORECASE)
# Format characters a reader never sees: zero-width space and joiners,
# direction marks, word joiner, soft hyphen, byte order mark.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_SEC = re.compile(r"(?:^|[,;\s])SEC\s*=\s*([^,;]+)", re.IGNORECASE)
_LABEL_NAME = re.compile(r"MSIP_Label_([0-9A-Fa-f-]+)_Name\s*=\s*([^;]+)", re.IGNORECASE)
_LABEL_ENABLED = re.compile(r"MSIP_Label_([0-9A-Fa-f-]+)_Enabled\s*=\s*(\w+)", re.IGNORECASE)


def _canonical(word: str) -> str:
    upper = word.upper()
    return "OFFICIAL-SENSITIVE" if upper.startswith("OFFICIAL") else upper


def _visible(value: str) -> str:
    """`value` without the characters a reader does not see."""
    return value if value.isascii() else _INVISIBLE.sub("", value)


def _in_text(value: str) -> str | None:
    found = _ANY.search(_visible(value))
    return _canonical(found.group(1)) if found is not None else None


def _from_msip(value: str) -> str | None:
    disabled = {
        guid.lower() for guid, enabled in _LABEL_ENABLED.findall(value) if enabled.lower() != "true"
    }
    for guid, name in _LABEL_NAME.findall(value):
        if guid.lower() not in disabled:
            marking = _in_text(name)
            if marking is not None:
                return marking
    return None


def find_marking(message: ParsedMessage) -> str | None:
    """The protective marking of `message`, or None when it has none."""
    subject = _SUBJECT.match(_visible(message.subject or ""))
    if subject is not None:
        return _canonical(subject.group(1))
    header = message.header("X-Protective-Marking")
    if header:
        sec = _SEC.search(header)
        marking = _in_text(sec.group(1) if sec is not None else header)
        if marking is not None:
            return marking
    labels = [
        f"{name}={value}" if name.lower().startswith("msip_label_") else value
        for name, value in message.headers
        if name.lower().startswith("msip_label")
    ]
    return _from_msip("; ".join(labels)) if labels else None
