"""UK telephone number, checked against Ofcom's ranges by `phonenumbers`.

Valid fixed and mobile numbers count; a number that only has the right
length (an unallocated range) needs context.  Freephone, premium and
non-geographic numbers belong to organisations, and a number introduced as a
switchboard, reception or office line, or as a team's or HR's, is a business
contact: neither counts.

Neither does a conference bridge.  A meeting invitation (Teams, Zoom, Webex)
lists its dial-in numbers with the meeting's ID after a pause
("+44 20 3855 4748,,318456912#") or with the country they are in
("+44 20 3443 8765 United Kingdom, London"); no one writes a person's own
number either way.

Nor is a number a notice gives as the organisation's own: "call us on",
"call the practice / the contact centre / the Designated Safeguarding Lead
on", "to report a repair please call", "if your child is absent please call",
"call ... to book".  Only an organisation or a post may stand between "call"
and the number: "call mum on", "call the tenant on" stay a person's number.

A mobile number right beside a person's name ("father (Mark Clarke,
07911 ...)") is that person's: the name counts as context, as "mobile"
would.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import ClassVar

import phonenumbers
from phonenumbers import PhoneNumberType

from gateway.detect.recognizer import Assessment, Pattern, Recognizer
from gateway.detect.recognizers.person_name import person_names
from gateway.model import InformationType

_PERSONAL_TYPES = frozenset(
    {
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.PERSONAL_NUMBER,
        PhoneNumberType.VOIP,
    }
)


# What follows a dial-in number on its line: the pauses and meeting ID of a
# one-tap dial string, or (after the same number as a link) the country.
_CONFERENCE_TAIL = re.compile(r",,[0-9]|(?:<tel:[^>\n]{0,60}>)?[ \t]*United Kingdom\b")


# Who may be called on an organisation's number: "us", or the organisation,
# a service or a post ("the Designated Safeguarding Lead", "your housing
# officer"); never a family member, tenant or patient (not on this list).
_ORGANISATION = (
    r"(?:practice|surgery|school|academy|nursery|college|council|trust|centre|center"
    r"|office|team|department|desk|line|helpline|hotline|service|services|unit|ward|clinic"
    r"|hub|mash|hospital|pharmacy|switchboard|reception|lead|dsl|senco|headteacher"
    r"|manager|coordinator|co-ordinator|officer|repairs|housing|appointments)"
)
_CALL = r"(?:call|ring|phone|telephone|contact|text)"
# What a notice says before its organisation's number, up to the number
# (matched against the text before it on its line, anchored at its end).
_ORGANISATION_BEFORE = re.compile(
    r"(?:\b" + _CALL + r"[ \t]+(?:us|(?:the|our|your)[ \t]+(?:[a-z'-]+[ \t]+){0,3}?"
    + _ORGANISATION + r")[ \t]+(?:on|at)"
    # "To report a repair please call", "To book an appointment call",
    # "Book online ... or call", "If your child is absent please call".
    r"|\bto[ \t]+(?:book|report|cancel|rearrange|order|request|register|renew"
    r"|make[ \t]+an?[ \t]+appointment|arrange[ \t]+an?[ \t]+appointment)\b[^.!?;\n]{0,60}?"
    r"\b" + _CALL + r"(?:[ \t]+us)?(?:[ \t]+(?:on|at))?"
    r"|\bbook(?:ings?)?\b[^.!?;\n]{0,60}?\bor[ \t]+" + _CALL + r"(?:[ \t]+us)?(?:[ \t]+(?:on|at))?"
    r"|\bif[ \t]+your[ \t]+child[ \t]+(?:is|will[ \t]+be)[ \t]+(?:absent|ill|unwell|off)"
    r"\b[^.!?;\n]{0,30}?\b" + _CALL + r"(?:[ \t]+us)?(?:[ \t]+(?:on|at))?"
    r"|\bour[ \t]+(?:[a-z]+[ \t]+){0,2}?(?:number|line|phone[ \t]+number)(?:[ \t]+is)?"
    r")[ \t]*:?[ \t]*\Z",
    re.IGNORECASE,
)
# "Call 01632 960520 to book.": only with "call" right before the number
# ("call the tenant on ... to book the repair" is the tenant's).
_CALL_RIGHT_BEFORE = re.compile(r"\b" + _CALL + r"(?:[ \t]+us)?(?:[ \t]+on)?[ \t]*:?[ \t]*\Z", re.I)
_ORGANISATION_AFTER = re.compile(
    r"[ \t]*,?[ \t]*to[ \t]+(?:book|report|cancel|rearrange|make[ \t]+an?[ \t]+appointment"
    r"|arrange[ \t]+an?[ \t]+appointment)\b",
    re.IGNORECASE,
)
# What may stand between a person's name and their number: "Mark Clarke, ",
# "Mark Clarke: ", "Mark Clarke (", "Mark Clarke on ".
_BESIDE_NAME = re.compile(r"[ \t]*(?:[,:;(/-][ \t]*|on[ \t]+)?\Z")


def organisations_number(text: str, start: int, end: int) -> bool:
    """Whether the wording around `text[start:end]` gives it as an
    organisation's own number (see the module docstring)."""
    line_start = text.rfind("\n", 0, start) + 1
    before = text[max(line_start, start - 120) : start]
    if _ORGANISATION_BEFORE.search(before):
        return True
    return bool(
        _ORGANISATION_AFTER.match(text, end, end + 40) and _CALL_RIGHT_BEFORE.search(before)
    )


def beside_a_name(text: str, start: int) -> bool:
    """Whether a person's name ends right before `start` on its line."""
    line_start = text.rfind("\n", 0, start) + 1
    low = max(line_start, start - 40)
    return any(
        _BESIDE_NAME.match(text[name_end:start]) for _, name_end in person_names(text, low, start)
    )


@lru_cache(maxsize=4096)
def classify(digits: str) -> tuple[bool, bool]:
    """(valid personal number, possible number) for a UK number's digits.

    Cached on the digits (never logged): the same office number recurs in
    every message of a thread, and a `phonenumbers` lookup is the costliest
    step of detection.
    """
    try:
        number = phonenumbers.parse(digits, "GB")
    except phonenumbers.NumberParseException:
        return False, False
    if number.country_code != 44:
        return False, False
    kind = phonenumbers.number_type(number)
    if kind is not PhoneNumberType.UNKNOWN:
        return kind in _PERSONAL_TYPES, False
    return False, phonenumbers.is_possible_number(number)


class PhoneNumberRecognizer(Recognizer):
    name = "phone_number"
    info_type = InformationType.UK_PHONE_NUMBER
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("international", r"\+44[ ]?(?:\(0\)[ ]?)?[1-9](?:[ -]?[0-9]){8,9}\b", 0.5),
        Pattern("national", r"\(?0[1-9][0-9]{1,3}\)?(?:[ -]?[0-9]){6,8}\b", 0.5),
    )
    CONTEXT = (
        "tel", "tel.", "telephone", "phone", "mobile", "mob", "mob.", "home number",
        "contact number", "call", "ring", "landline", "mobile number", "phone number",
    )  # fmt: skip
    NEGATIVE_CONTEXT = (
        "switchboard", "reception", "main office", "office", "fax", "helpline",
        "enquiries", "general enquiries", "customer services", "customer service",
        "head office", "freephone", "direct line", "ddi", "ext", "extension",
        "out of hours", "duty desk", "front desk", "main line", "service desk",
        # The writer's own number ("call me on", "my mobile is"): theirs to
        # give, not a person's data being shared.  Phrases that only come
        # before a number, so that "07700 900456, or call me on ..." does not
        # excuse the number before them.
        "me on", "me at", "my mobile", "my phone", "my number", "my work",
        "my landline", "my desk", "my team",
        # An organisation's line, introduced as such on its own line.
        "hr on", "hr at", "hr team", "hr department", "hr:", "team on", "team at",
        # Not "conference" ("case conference", "child protection conference")
        # nor "call in": both are said of people too.
        "dial in", "dial-in", "audio only",
    )  # fmt: skip
    CONTEXT_WINDOW = (50, 10)
    BUSINESS_CONTACT = True

    def assess(self, text: str, start: int, end: int, score: float) -> Assessment | None:
        if _CONFERENCE_TAIL.match(text, end, end + 80):
            return None
        value = text[start:end]
        digits = ("+" if value.startswith("+") else "") + "".join(filter(str.isdigit, value))
        if value.startswith("+44") and "(0)" in value:
            digits = "+44" + digits[3:].removeprefix("0")
        personal, possible = classify(digits)
        if not personal and not possible:
            return None
        if organisations_number(text, start, end):
            return None
        if not personal:
            score -= 0.25
        # A mobile only: a person's own line.  (Ten digits beside a name on
        # a row are as likely an NHS number, which is to keep its type.)
        if digits.startswith(("07", "+447")) and beside_a_name(text, start):
            score += self.CONTEXT_BOOST
        return Assessment(start, end, score)
