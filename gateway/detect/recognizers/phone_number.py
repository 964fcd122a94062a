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
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import ClassVar

import phonenumbers
from phonenumbers import PhoneNumberType

from gateway.detect.recognizer import Assessment, Pattern, Recognizer
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
        if personal:
            return Assessment(start, end, score)
        if possible:
            return Assessment(start, end, score - 0.25)
        return None
