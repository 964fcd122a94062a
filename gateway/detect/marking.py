"""Protective markings: PROTECT, RESTRICTED, CONFIDENTIAL, OFFICIAL-SENSITIVE.

A marking makes a message subject to the same rules as personal data.  It is
read from, in order:

    subject          at the start, after any "Re:"/"Fwd:": "OFFICIAL-SENSITIVE:
                     …", "[RESTRICTED] …", "PROTECT - PERSONAL …" (upper case,
                     as the Government Security Classifications write them)
    X-Protective-Marking   the e-GMS header, "SEC=OFFICIAL-SENSITIVE, …" or a
                     bare marking
    msip_labels      Microsoft Purview sensitivity labels:
                     "MSIP_Label_<guid>_Name=Official-Sensitive; …" (only
                     enabled labels), in that header or in MSIP_Label_* headers

The result is the canonical marking word, whatever the spelling found.
"""

from __future__ import annotations

import re

from gateway.model import ParsedMessage

__all__ = ["MARKINGS", "find_marking"]

MARKINGS = ("OFFICIAL-SENSITIVE", "RESTRICTED", "CONFIDENTIAL", "PROTECT")

_WORD = r"(OFFICIAL[-_ ]SENSITIVE|RESTRICTED|CONFIDENTIAL|PROTECT)"
_SUBJECT = re.compile(
    r"\s*(?:(?i:re|fw|fwd|aw|sv|wg)\s*(?:\[\d+\])?\s*:\s*)*[\[(]?\s*"
    + _WORD
    + r"(?=$|[\s:\])\-,/])"
)
_ANY = re.compile(r"(?<![A-Za-z])" + _WORD + r"(?![A-Za-z])", re.IGNORECASE)
_SEC = re.compile(r"(?:^|[,;\s])SEC\s*=\s*([^,;]+)", re.IGNORECASE)
_LABEL_NAME = re.compile(r"MSIP_Label_([0-9A-Fa-f-]+)_Name\s*=\s*([^;]+)", re.IGNORECASE)
_LABEL_ENABLED = re.compile(r"MSIP_Label_([0-9A-Fa-f-]+)_Enabled\s*=\s*(\w+)", re.IGNORECASE)


def _canonical(word: str) -> str:
    upper = word.upper()
    return "OFFICIAL-SENSITIVE" if upper.startswith("OFFICIAL") else upper


def _in_text(value: str) -> str | None:
    found = _ANY.search(value)
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
    subject = _SUBJECT.match(message.subject or "")
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
