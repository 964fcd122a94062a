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
from collections.abc import Iterator
from typing import ClassVar

from gateway.detect.recognizer import Assessment, Pattern, Recognizer
from gateway.detect.recognizers.uk_names import FORENAMES, NOT_NAME_WORDS, SURNAMES
from gateway.model import InformationType

# A bare number is a house number only on the name's own line: at the end of
# the line before, it is that row's last cell ("...<TAB>4857773457\nAmy Smith").
_HOUSE_NUMBER = re.compile(
    r"(?:^|\s)(?:(?:flat|unit|apartment|studio)\s*[0-9]+[A-Za-z]?,?\s*|[0-9]+[A-Za-z]?,?[ \t]*)\Z",
    re.I,
)
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
_TITLES = frozenset({"Mr", "Mrs", "Ms", "Miss", "Mx", "Master", "Dr"})
# A capitalised word as names are written, for `person_names` (Python `re`
# over a short stretch of text, not a pattern of the pass).
_NAME_WORD = re.compile(_TOKEN)
_LOWER_WORD = re.compile(r"[a-z]+(?:-[a-z]+)?")
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


def _is_name_word(token: str) -> bool:
    return token not in NOT_NAME_WORDS or token in FORENAMES or token in SURNAMES


def _known(token: str, names: frozenset[str]) -> bool:
    """A name of the list, or a double-barrelled one with a part on it ("Ellie-Mae")."""
    return token in names or ("-" in token and any(part in names for part in token.split("-")))


def person_names(text: str, low: int, high: int) -> Iterator[tuple[int, int]]:
    """The spans in `text[low:high]` of what are most likely people's names.

    A title and a capitalised word ("Mrs Okonkwo", "Dr. Khan"), or two
    capitalised words one space apart of which the first is a known forename
    or the second a known surname ("Jack Jones", "Priya Patel"), and neither
    a word that is never a name ("Finance Team").  The words the "title" and
    "known forename" patterns take, without their context: for recognizers
    that already have another cue (a valid NHS number on the same row, a
    health word in the same sentence) and look only at a short stretch.
    """
    previous: tuple[str, int, int] | None = None  # the word before: text, start, end
    for match in _NAME_WORD.finditer(text, low, high):
        word = match.group()
        if previous is not None and _is_name_word(word):
            before, started, ended = previous
            gap = text[ended : match.start()]
            if before in _TITLES and gap in (" ", ". "):
                yield match.start(), match.end()
            elif (
                gap == " "
                and _is_name_word(before)
                and (_known(before, FORENAMES) or _known(word, SURNAMES))
            ):
                yield started, match.end()
        # A word joined to a letter before it ("Phone" in "iPhone") is no word.
        joined = match.start() > low and text[match.start() - 1].isalpha()
        previous = None if joined else (word, match.start(), match.end())


def names_a_person(text: str, low: int, high: int) -> bool:
    """Whether `text[low:high]` holds a person's name (`person_names`)."""
    return next(person_names(text, low, high), None) is not None


def lower_case_person_names(text: str, low: int, high: int) -> Iterator[tuple[int, int]]:
    """The spans in `text[low:high]`, written in lower case, of a known
    forename followed by a known surname ("jack jones"): on both lists, as a
    lower-case pair of ordinary words is far more often not a name."""
    previous: tuple[str, int, int] | None = None
    for match in _LOWER_WORD.finditer(text, low, high):
        if match.start() > low and text[match.start() - 1].isalpha():
            previous = None
            continue
        word = match.group().title()
        if (
            previous is not None
            and text[previous[2] : match.start()] == " "
            and _known(previous[0], FORENAMES)
            and _known(word, SURNAMES)
        ):
            yield previous[1], match.end()
        previous = (word, match.start(), match.end())
