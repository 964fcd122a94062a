"""Person's name: capitalised words that the text says belong to a person.

A name alone is everywhere in business mail (colleagues, greetings,
signatures), so names need context.  Four kinds of candidate, strongest first:

    label    "Name: Oliver Smith", "Child's name - Oliver"
    role     "the child Oliver Smith", "mother of Amelia Jones", "patient John Doe"
    cue      "Oliver Smith (DOB ...)", "Oliver Smith, aged 7", "Oliver Smith, Year 4"
    row      a name cell followed by a number cell          (needs support)
    title    "Mrs Smith", "Dr Amir Khan"             (needs context or support)
    known    a common forename and a capitalised word (needs context or support)

Words that are never names ("Pupil Premium", "Finance Team") discard a
candidate; a known forename or surname raises it, an unknown pair lowers it.
"""

from __future__ import annotations

import re
from typing import ClassVar

from gateway.detect.recognizer import Assessment, Pattern, Recognizer
from gateway.detect.recognizers.uk_names import FORENAMES, NOT_NAME_WORDS, SURNAMES
from gateway.model import InformationType

_HOUSE_NUMBER = re.compile(r"(?:^|\s)(?:flat|unit|apartment|studio)?\s*[0-9]+[A-Za-z]?,?\s*$", re.I)
_TOKEN = r"(?:O'|Mc|Mac)?[A-Z][a-z]+(?:-[A-Z][a-z]+)?"
_NAME = rf"{_TOKEN}(?:[ ]{_TOKEN}){{1,2}}"
_NAME_OR_FORENAME = rf"{_TOKEN}(?:[ ]{_TOKEN}){{0,2}}"
_ROLE = (
    r"child|pupil|patient|client|student|learner|young person|service user|resident|tenant"
    r"|claimant|baby|infant|toddler|teenager|boy|girl|son|daughter|mother|father|mum|dad"
    r"|sibling|brother|sister|grandmother|grandfather|grandson|granddaughter|stepfather"
    r"|stepmother|foster carer|carer|parent|guardian|victim|perpetrator|alleged perpetrator"
    r"|(?:mother|father|parent|carer|son|daughter|brother|sister|guardian|sibling|aunt"
    r"|uncle|partner|wife|husband|girlfriend|boyfriend|friend) of|named|called|known as"
)
_LABEL = (
    r"(?:(?:child|pupil|patient|client|student|learner|young person|service user|resident"
    r"|tenant|applicant|claimant|parent|carer|mother|father|baby|full|legal|preferred|first"
    r"|last|family|given|sibling|person)(?:'?s)?[ ]+)?(?:name|forename|surname|names)"
)
_CUE = (
    r"dob|d\.o\.b|date of birth|born|aged|age[ ]+[0-9]|nhs|upn|year[ ]+[0-9]|y[0-9]"
    r"|ni number|national insurance"
)


class PersonNameRecognizer(Recognizer):
    name = "person_name"
    info_type = InformationType.PERSON_NAME
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern(
            "label",
            rf"\b(?i:{_LABEL})[ \t]*[:=-][ \t]*(?P<value>{_NAME_OR_FORENAME})\b",
            0.75,
        ),
        Pattern(
            "role",
            rf"\b(?i:{_ROLE})[,:]?[ ]+(?:(?i:is|was)[ ]+)?(?P<value>{_NAME})\b",
            0.65,
        ),
        Pattern(
            "cue",
            rf"\b(?P<value>{_NAME})[ ]*[,(-]?[ ]*(?i:{_CUE})\b",
            0.65,
        ),
        # A table row: "Oliver Smith<TAB>12/03/2015<TAB>943 476 5919" (needs support).
        Pattern("row", rf"\b(?P<value>{_NAME})[ ]*[\t,;|][ ]*[0-9]", 0.3),
        Pattern(
            "title",
            rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Master|Dr)\.?[ ](?P<value>{_NAME_OR_FORENAME})\b",
            0.3,
        ),
        Pattern(
            "known_forename",
            r"\b(?P<value>(?:" + "|".join(sorted(FORENAMES)) + rf")[ ]{_TOKEN})\b",
            0.3,
        ),
    )
    CONTEXT = (
        "child", "children", "pupil", "patient", "client", "service user", "resident",
        "mother", "father", "mum", "dad", "son", "daughter", "parent", "parents", "carer",
        "baby", "dob", "date of birth", "born", "nhs", "foster carer", "looked after", "aged",
        "young person", "student", "learner", "sibling", "brother", "sister",
    )  # fmt: skip
    NEGATIVE_CONTEXT = (
        "copied in", "cc", "cc'd", "colleague", "who manages", "will chair", "chair",
        "committee", "contract", "quote", "supplier", "invoice", "premium", "ltd", "limited",
        "plc", "llp", "and sons", "governor", "governors",
    )  # fmt: skip
    CONTEXT_WINDOW = (80, 60)
    # A weak name needs an identifier right beside it (the same record or row).
    SUPPORT_WINDOW = 60
    SUPPORTED_BY = frozenset(
        {
            InformationType.UK_NHS_NUMBER,
            InformationType.UK_NATIONAL_INSURANCE_NUMBER,
            InformationType.UK_UNIQUE_PUPIL_NUMBER,
            InformationType.DATE_OF_BIRTH,
            InformationType.SPECIAL_CATEGORY,
            InformationType.UK_PASSPORT_NUMBER,
            InformationType.UK_DRIVING_LICENCE_NUMBER,
        }
    )
    BUSINESS_CONTACT = True
    # A pair of capitalised words that neither list knows is less likely a name.
    UNKNOWN_PENALTY: ClassVar[float] = 0.15

    def assess(self, text: str, start: int, end: int, score: float) -> Assessment | None:
        # "12 Oliver Street", "Flat 3\nRose Court": a house number before it
        # makes it a street.
        if _HOUSE_NUMBER.search(text, max(0, start - 12), start):
            return None
        tokens = text[start:end].split()
        known = tokens[0] in FORENAMES or tokens[-1] in SURNAMES
        for token in tokens:
            if token in NOT_NAME_WORDS and token not in FORENAMES and token not in SURNAMES:
                return None
        if not known:
            score -= self.UNKNOWN_PENALTY
        return Assessment(start, end, score)
