"""Validating envelope addresses before anything uses them.

Refuses what could make a relay route mail somewhere other than it appears:
CR/LF/NUL, source routes (@a,@b:user@c), %-hack and !-paths, several @,
quoted local parts hiding a second address, IP literals, empty parts.
Returns the problem as a short text, or None when the address is fine.
"""

from __future__ import annotations

import re

_DOMAIN_LABEL = re.compile(r"^(?!-)[A-Za-z0-9\-]{1,63}(?<!-)$")
_ATEXT = re.compile(r"^[A-Za-z0-9!#$&'*+/=?^_`{|}~.\-\u0080-\U0010ffff]+$")


def address_problem(address: str, allow_utf8: bool = False) -> str | None:
    if any(ch in address for ch in "\r\n\x00"):
        return "control characters in the address"
    if address.startswith("@") or (":" in address and address.find(":") < address.find("@")):
        return "source routes are not accepted"
    if address.count("@") != 1:
        return "an address needs exactly one @"
    local, _, domain = address.rpartition("@")
    if not local or not domain:
        return "empty local part or domain"
    if len(local) > 64 or len(domain) > 255:
        return "address too long"
    if local.startswith('"'):
        return "quoted local parts are not accepted"
    if "%" in local or "!" in local:
        return "%-routing and !-paths are not accepted"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "malformed local part"
    if not _ATEXT.match(local):
        return "malformed local part"
    if not allow_utf8 and not address.isascii():
        return "non-ASCII address without SMTPUTF8"
    if domain.startswith("["):
        return "address literals are not accepted"
    labels = domain.rstrip(".").split(".")
    if len(labels) < 2:
        return "the domain must be fully qualified"
    for label in labels:
        ascii_label = label
        if not label.isascii():
            try:
                ascii_label = label.encode("idna").decode("ascii")
            except UnicodeError:
                return "malformed domain"
        if not _DOMAIN_LABEL.match(ascii_label):
            return "malformed domain"
    return None
