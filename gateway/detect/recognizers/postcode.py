"""UK postcode: an outward and an inward code, in Royal Mail's format.

A postcode is an address; it is someone's personal data when it is where a
person lives, so a bare postcode needs context ("lives at", "home address")
or a person's identifier close by.  Office addresses and signatures are not.

A house number and street are found here too, only as the home address of
the person named right before them ("Referral for Jack Wilson of 12 Acacia
Road", "Jack Wilson 12 Acacia Road BD5 7QJ"): a street alone is anyone's
or any office's.  That postcode after the street is that person's too.
"""

from __future__ import annotations

import re
from typing import ClassVar

from gateway.detect.recognizer import Assessment, Pattern, Recognizer
from gateway.detect.recognizers.person_name import (
    STREET_WORDS,
    home_address_before,
    home_street_address,
    record_row,
)
from gateway.model import InformationType

# Outward code: A9, A99, AA9, AA99, A9A, AA9A (Q, V, X never first; I, J, Z
# never second); inward code: digit and two letters without C I K M O V.
_STRICT = re.compile(
    r"(?:GIR ?0AA|(?:[A-PR-UWYZ][0-9]{1,2}|[A-PR-UWYZ][A-HK-Y][0-9]{1,2}"
    r"|[A-PR-UWYZ][0-9][A-HJKPSTUW]|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY]) ?"
    r"[0-9][ABD-HJLNP-UW-Z]{2})"
)

# How a street address's "Flat 3, " starts ("unit", "apar", "hous" too).
_FLAT_WORDS = frozenset({"flat", "unit", "apar", "hous"})


class PostcodeRecognizer(Recognizer):
    name = "postcode"
    info_type = InformationType.UK_POSTCODE
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("postcode", r"\b[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}\b", 0.3),
        # A house number and street, kept only after a person's name
        # (`home_street_address`): what a redacted subject or purpose would
        # otherwise still show of where they live.
        Pattern(
            "street",
            r"\b(?:(?i:flat|apartment|unit|house)[ ][0-9]{1,4}[A-Za-z]?,?[ ])?[0-9]{1,4}[A-Za-z]?,?[ ]"
            r"(?:[A-Z][a-z]+[ ]){1,3}(?i:" + STREET_WORDS + r")\b",
            0.3,
        ),
    )
    CONTEXT = (
        "address", "home address", "lives", "lives at", "living at", "home", "resides",
        "resident", "moved to", "postcode", "residence", "staying at", "placement",
        "family home", "lodging",
    )  # fmt: skip
    NEGATIVE_CONTEXT = (
        "office", "head office", "registered office", "our address", "deliver",
        "delivery", "invoice", "venue", "site", "depot", "warehouse", "conference",
        "headquarters", "company",
    )  # fmt: skip
    CONTEXT_WINDOW = (80, 20)
    SUPPORTED_BY = frozenset(
        {
            InformationType.PERSON_NAME,
            InformationType.UK_NHS_NUMBER,
            InformationType.UK_NATIONAL_INSURANCE_NUMBER,
            InformationType.UK_UNIQUE_PUPIL_NUMBER,
            InformationType.DATE_OF_BIRTH,
        }
    )
    # A venue's postcode in one notice of a newsletter is not where the
    # child its next notice names lives.
    SUPPORT_IN_PARAGRAPH = True
    BUSINESS_CONTACT = True
    # The postcode cell of a one-line record ("Jack Wilson, BD5 7QJ"): where
    # that person lives (a signature's office postcode is never a candidate).
    ROW_BOOST: ClassVar[float] = 0.25
    # A postcode ending a named person's street address, and that street.
    ADDRESS_BOOST: ClassVar[float] = 0.25

    def validate(self, value: str) -> bool:
        return _STRICT.fullmatch(value) is not None

    def assess(self, text: str, start: int, end: int, score: float) -> Assessment | None:
        if not text[start].isalpha() or text[start : start + 4].lower() in _FLAT_WORDS:
            # A street address (the "street" pattern): a home, or nothing.
            if not home_street_address(text, start, end):
                return None
            return Assessment(start, end, score + self.ADDRESS_BOOST)
        if not self.validate(text[start:end]):
            return None
        row = record_row(text, start, end)
        if row is not None and row.postcode == (start, end):
            score += self.ROW_BOOST
        elif home_address_before(text, start):
            score += self.ADDRESS_BOOST
        return Assessment(start, end, score)
