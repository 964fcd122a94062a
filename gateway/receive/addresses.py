"""Validating envelope addresses before anything uses them.

Refuses what could make a relay route mail somewhere other than it appears:
CR/LF/NUL, source routes (@a,@b:user@c), %-hack and !-paths, several @,
quoted local parts hiding a second address, IP literals, empty parts.
Refuses too what could make an address look like another where it is
shown (a terminal, the console, a mail client): C1 controls (U+0080-U+009F;
C0 controls and DEL are not atext) and the characters that reorder text
around them (UAX #9's bidirectional formatting characters: embeddings,
overrides, isolates, marks), which SMTPUTF8's range of UTF-8 would
otherwise admit: "head<U+202E>gpj.exe@..." reads "headexe.jpg@...".
Returns the problem as a short text, or None when the address is fine.

A quoted local part (RFC 5321 4.1.2 Quoted-string: `"john smith"@example.org`)
is taken, as Postfix takes it, when what it quotes is printable text without
the characters that route or separate addresses in some mail system
(`@ % ! : , ; < > ( ) [ ]`), a quote or a backslash (so no quoted-pair can
hide one either): `"a@b"@c`, which a careless next hop could route to b,
stays refused.  `canonical` gives the form relayed on: the quotes dropped
when they quote nothing that needs them (`"john.smith"@...`), RFC 5321
4.1.2's "minimum quoting".
"""

from __future__ import annotations

import re

# CR, LF and NUL, C1 controls, and the bidirectional formatting characters:
# no mailbox name needs one (see the module's text).
_CONTROLS = re.compile("[\r\n\x00\x80-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_DOMAIN_LABEL = re.compile(r"^(?!-)[A-Za-z0-9\-]{1,63}(?<!-)$")
_ATEXT = re.compile(r"^[A-Za-z0-9!#$&'*+/=?^_`{|}~.\-\u0080-\U0010ffff]+$")
# What a quoted local part may quote: atext without ! and %, the dot and the
# space (see the module's text for what is left out, and why).
_QUOTED_TEXT = re.compile(r"^[ A-Za-z0-9#$&'*+/=?^_`{|}~.\-\u0080-\U0010ffff]+$")


def _dot_string(local: str) -> bool:
    """An unquoted local part's form (RFC 5321 Dot-string)."""
    return (bool(_ATEXT.match(local)) and not local.startswith(".")
            and not local.endswith(".") and ".." not in local)


def _quoted_problem(local: str) -> str | None:
    inner = local[1:-1]
    if len(local) < 3 or not local.endswith('"') or not _QUOTED_TEXT.match(inner):
        return "malformed quoted local part"
    if not inner.strip():
        return "empty local part or domain"
    return None


def canonical(address: str) -> str:
    """A valid address in the form relayed on: a quoted local part that
    needs no quotes without them, so `"bob"@x` and `bob@x` are one mailbox
    to the allow-list and to the duplicate check."""
    if not address.startswith('"'):
        return address
    local, _, domain = address.rpartition("@")
    inner = local[1:-1]
    if _dot_string(inner):  # ! and % never get this far inside quotes
        return f"{inner}@{domain}"
    return address


def address_problem(address: str, allow_utf8: bool = False) -> str | None:
    if _CONTROLS.search(address):
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
        problem = _quoted_problem(local)
        if problem:
            return problem
    elif "%" in local or "!" in local:
        return "%-routing and !-paths are not accepted"
    elif not _dot_string(local):
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
