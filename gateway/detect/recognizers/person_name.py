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

A correspondent's or a member of staff's name is not a candidate at all:

    invitation  the CN of a calendar ORGANIZER or ATTENDEE beside its address
    greeting    "Dear Mrs Thompson," "Hi Sarah Jones" (a title or known
                candidate only: "Dear ..., the child Amelia Clarke" is still read)
    staff       "our Designated Safeguarding Lead is Mrs Jones", "Miss Shah,
                the Year 2 teacher", "We welcome Dr Hughes, who joins us as
                a salaried GP" (a title or known candidate only)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import ClassVar, NamedTuple

from gateway.detect.recognizer import Assessment, Pattern, Recognizer
from gateway.detect.recognizers.uk_names import FORENAMES, NOT_NAME_WORDS, SURNAMES
from gateway.detect.signature import business_blocks
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
# The weak patterns' base score: "title", "known_forename", "row".
_WEAK = 0.5
# The CN parameter of an invitation's organiser or attendee, up to the name.
_TITLE_WORDS = r"(?:mr|mrs|ms|miss|mx|dr|prof|master)\.?[ \t]+"
_CALENDAR_PERSON = re.compile(
    r'(?:ORGANIZER|ATTENDEE)[;:][^\n]*?\bCN="?(?:' + _TITLE_WORDS + r")?\Z", re.IGNORECASE
)
_CALENDAR_ADDRESS = re.compile(r'"?[;:][^\n]*?mailto:', re.IGNORECASE)
_GREETING = re.compile(
    r"(?:^|\n)[ \t>]*(?:dear|hi|hello|hiya|good[ \t]+(?:morning|afternoon|evening))[ \t]+"
    r"(?:" + _TITLE_WORDS + r"(?:(?:and|&)[ \t]+)?)*\Z",
    re.IGNORECASE,
)
# How far into its line a greeted name can be: "Good afternoon Mr and Mrs ".
_GREETING_REACH = 200
_GREETING_END = re.compile(r"[ \t]*(?:[,!:\r\n]|\Z|(?:and|&)[ \t])")
# Posts held by staff, whose holders are named in notices and newsletters.
_POST = (
    r"(?:designated[ \t]+safeguarding[ \t]+lead|safeguarding[ \t]+lead|dsl|senco|sendco"
    r"|head[ \t]*teacher|head[ \t]+of[ \t]+[a-z0-9 ]{1,20}?|deputy[ \t]+head|teacher"
    r"|teaching[ \t]+assistant|nurse|practice[ \t]+manager|manager|receptionist|gp|doctor"
    r"|locum|partner[ \t]+gp|gp[ \t]+partner|registrar|pharmacist|health[ \t]+visitor"
    r"|midwife|social[ \t]+worker|housing[ \t]+officer|officer|caseworker|key[ \t]+worker"
    r"|family[ \t]+support[ \t]+worker|coordinator|co-ordinator|administrator|lead"
    r"|bursar|caretaker|cook|clerk|coach|director|chair|mentor)"
)
# "our Designated Safeguarding Lead is Mrs ", "the Year 2 teacher, Miss ",
# "We welcome Dr ": the text before the name, on its line.
_POST_BEFORE = re.compile(
    r"(?:\b(?:our|the|your|a|their|new)[ \t]+(?:[a-z0-9'-]+[ \t]+){0,3}?" + _POST
    + r"s?[ \t]*(?:,|:|-|is|will[ \t]+be|was)?[ \t]*"
    + r"|\bwelcome[ \t]+(?:back[ \t]+)?(?=(?:mr|mrs|ms|miss|mx|dr)\b))"
    + r"(?:" + _TITLE_WORDS + r")?\Z",
    re.IGNORECASE,
)
# ", the Year 2 teacher", ", our Designated Safeguarding Lead", ", who joins us".
_POST_AFTER = re.compile(
    r"[ \t]*,?[ \t]*(?:(?:our|the|your|a|who[ \t]+is[ \t]+(?:our|the|a))[ \t]+"
    r"(?:[a-z0-9'-]+[ \t]+){0,3}?" + _POST + r"s?\b(?!')"
    r"|who[ \t]+(?:joins|joined|has[ \t]+joined|will[ \t]+join|is[ \t]+joining)[ \t]+us\b)",
    re.IGNORECASE,
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


# A name followed by where the person lives: "Paul Roberts, 12 Hill Street",
# "Paul Roberts of 12 Hill Street", "William Jennings has moved to 14 Acacia
# Road", "Jack Wilson's new address is Flat 3, 27 Mill Lane".  A house number
# and a street word: "Sarah Jones, Civic Hall" or "at 2pm" are not.
_ADDRESS_REACH = 120
_STREET = (
    r"(?:road|rd|street|st|lane|ln|avenue|ave|close|drive|way|crescent|grove|place|court"
    r"|gardens|terrace|walk|rise|view|square|mews|row|park|hill|green|parade|vale|fold"
    r"|croft|mount|end|chase|approach|wharf|yard|lea)"
)
STREET_WORDS = _STREET
# What joins a name to the address after it.
_ADDRESS_LINK = (
    r"(?i:'s[ \t]+(?:(?:new|current|home|old|previous)[ \t]+)?address[ \t]+(?:is[ \t]+)?:?"
    r"|[ \t]*,"
    r"|[ \t]+(?:(?:has|have|had|was|is|now)[ \t]+)?(?:of|moved[ \t]+to|moving[ \t]+to"
    r"|lives[ \t]+at|living[ \t]+at|resides[ \t]+at|residing[ \t]+at|staying[ \t]+at))"
)
# A house number and a street: "Flat 3, 27 Mill Lane", "12 Acacia Road".
_STREET_ADDRESS = (
    r"(?:(?i:flat|apartment|unit|house)[ \t]+[0-9]{1,4}[A-Za-z]?,?[ \t]+)?"
    r"[0-9]{1,4}[A-Za-z]?,?[ \t]+(?:[A-Z][a-z]+[ \t]+){1,3}(?i:" + _STREET + r")\b(?!')"
)
# The town after a street, perhaps, and a full postcode.
_TOWN_AND_POSTCODE = (
    r"(?:,?[ \t]+[A-Z][a-z]+(?:[ \t]+[A-Z][a-z]+){0,2})?,?[ \t]+"
    r"[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}\b"
)
_AT_AN_ADDRESS = re.compile(_ADDRESS_LINK + r"[ \t]*" + _STREET_ADDRESS)
# With no word or comma between ("Jack Wilson 12 Acacia Road BD5 7QJ", a
# line written as an envelope is): only with the postcode after it, which
# makes the house number and street words an address and not "Jack
# Wilson 2 Park Lane tickets".
_AT_A_POSTCODED_ADDRESS = re.compile(r"[ \t]+" + _STREET_ADDRESS + _TOWN_AND_POSTCODE)
# The same, read backwards from a street address: the name before it.
_NAME_BEFORE_ADDRESS = re.compile(
    rf"(?P<name>{_NAME})(?P<link>{_ADDRESS_LINK}|[ \t]+)[ \t]*\Z"
)
_POSTCODE_AFTER_STREET = re.compile(_TOWN_AND_POSTCODE)
# A street address and the town, up to a postcode (`home_address_before`).
_STREET_BEFORE_POSTCODE = re.compile(
    rf"(?P<street>{_STREET_ADDRESS})(?:,?[ \t]+[A-Z][a-z]+(?:[ \t]+[A-Z][a-z]+){{0,2}})?,?[ \t]+\Z"
)

# A workplace's address, not a home: "Sarah Jones, 2 Park Square, Civic Hall".
_WORKPLACE = re.compile(
    r"\b(?i:office|offices|council|civic|hall|centre|center|headquarters|hq|depot|reception"
    r"|ltd|limited|plc|llp|school|academy|surgery|clinic|hospital|business park"
    r"|industrial estate)\b"
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
        # A table row: "Oliver Smith<TAB>12/03/2015<TAB>943 476 5919", or
        # a postcode cell after the name: "Oliver Smith, BD5 7QJ" (needs
        # support, or a record row of its own: `record_row`).
        Pattern("row", rf"\b(?P<value>{_NAME})[ ]*[\t,;|][ ]*(?:[0-9]|[A-Z]{{1,2}}[0-9])", 0.3),
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
    # A name whose line is a record of it: a postcode (and a date) beside
    # it and nothing else (`record_row`).
    ROW_BOOST: ClassVar[float] = 0.25
    # A name followed by the street address it lives at (`_AT_AN_ADDRESS`).
    ADDRESS_BOOST: ClassVar[float] = 0.25

    def assess(self, text: str, start: int, end: int, score: float) -> Assessment | None:
        # "12 Oliver Street", "Flat 3\nRose Court": a house number before it
        # makes it a street.
        if _HOUSE_NUMBER.search(text, max(0, start - 12), start):
            return None
        if correspondent_or_staff(text, start, end, weak=score < _WEAK):
            return None
        tokens = text[start:end].split()
        known = tokens[0] in FORENAMES or tokens[-1] in SURNAMES
        for token in tokens:
            if token in NOT_NAME_WORDS and token not in FORENAMES and token not in SURNAMES:
                return None
        if not known:
            score -= self.UNKNOWN_PENALTY
        # "Paul Roberts, 12 Hill Street", "Jack Wilson has moved to 14 Acacia
        # Road": where that person lives, postcode or not.
        if _lives_at_address_after(text, start, end):
            score += self.ADDRESS_BOOST
        # "Jack Wilson, BD5 7QJ" on a line of its own: where that person
        # lives, not a colleague named in passing.  (A row with only a date
        # is raised by the date of birth it holds, when it is one.)
        row = record_row(text, start, end)
        if row is not None and row.postcode is not None and row.name[0] <= start and end == row.name[1]:
            score += self.ROW_BOOST
        return Assessment(start, end, score)


def _workplace_name(text: str, start: int, end: int) -> bool:
    """Whether a word of the "name" at `text[start:end]` is a workplace's
    and no name's ("Civic Hall", not "Jack Hall")."""
    return any(
        _WORKPLACE.fullmatch(word) and word not in FORENAMES and word not in SURNAMES
        for word in text[start:end].split()
    )


def _lives_at_address_after(text: str, start: int, end: int) -> bool:
    """Whether the name at `text[start:end]` is followed by the street
    address it lives at (`_AT_AN_ADDRESS`, or `_AT_A_POSTCODED_ADDRESS`),
    not an office's."""
    high = min(len(text), end + _ADDRESS_REACH)
    address = _AT_AN_ADDRESS.match(text, end, high) or _AT_A_POSTCODED_ADDRESS.match(
        text, end, high
    )
    return (
        address is not None
        and not _WORKPLACE.search(text, end, address.end() + 60)
        and not _workplace_name(text, start, end)
    )


def home_street_address(text: str, start: int, end: int) -> bool:
    """Whether the street address at `text[start:end]` ("12 Acacia Road")
    is where the person named right before it lives: "Jack Wilson of 12
    Acacia Road", "Jack Wilson, 12 Acacia Road", or with no word between
    when a postcode follows ("Jack Wilson 12 Acacia Road BD5 7QJ").  Not an
    office's ("Sarah Jones, Civic Hall, 2 Park Square") and not after a
    workplace's name ("Civic Hall, 2 Park Square, LS1 2AB")."""
    low = max(text.rfind("\n", max(0, start - _ADDRESS_REACH), start) + 1, start - _ADDRESS_REACH)
    before = _NAME_BEFORE_ADDRESS.search(text, low, start)
    if before is None:
        return False
    name_start, name_end = before.span("name")
    if not before.group("link").strip() and not _POSTCODE_AFTER_STREET.match(
        text, end, min(len(text), end + _ADDRESS_REACH)
    ):
        return False
    if not names_a_person(text, name_start, name_end):
        return False
    return not (_WORKPLACE.search(text, name_end, end + 60) or _workplace_name(text, name_start, name_end))


def home_address_before(text: str, start: int) -> bool:
    """Whether the postcode at `text[start:]` ends the home address of a
    person named before it ("Jack Wilson 12 Acacia Road BD5 7QJ")."""
    low = max(text.rfind("\n", max(0, start - _ADDRESS_REACH), start) + 1, start - _ADDRESS_REACH)
    street = _STREET_BEFORE_POSTCODE.search(text, low, start)
    return street is not None and home_street_address(text, *street.span("street"))


def correspondent_or_staff(text: str, start: int, end: int, weak: bool = True) -> bool:
    """Whether the name at `text[start:end]` is an invitation's organiser or
    attendee, or (`weak`: found only by its title or forename) the greeted
    correspondent or a member of staff named in their post."""
    line_start = text.rfind("\n", 0, start) + 1
    before = text[max(line_start, start - 120) : start]
    if _CALENDAR_PERSON.search(before) and _CALENDAR_ADDRESS.match(text, end):
        return True
    if not weak:
        return False
    # A greeting opens its line and is a few words long: searched for only
    # on a line that starts near the name (the search tries every position
    # between, which on one long line of names made a 300 KB text take 24 s).
    greeted = bool(
        start - line_start <= _GREETING_REACH
        and _GREETING.search(text, max(0, line_start - 1), start)
        and _GREETING_END.match(text, end)
    )
    if not (greeted or _POST_BEFORE.search(before) or _POST_AFTER.match(text, end, end + 80)):
        return False
    # Near a special-category word or a postcode the name still counts: it
    # is what makes "Dear Mrs Thompson, Jack has been placed on a child
    # protection plan" (or "... collect your child from <address>") about an
    # identifiable family.  Each reaches as far as its support does.
    # A signature's or reply header's words ("SEND Coordinator", the
    # office's postcode) are about no one.
    for words, reach in _leaning_on_names():
        low, high = max(0, start - reach), min(len(text), end + reach)
        found = [word.start() for word in words.finditer(text, low, high)]
        if found:
            blocks = business_blocks(text, low, high)
            if any(not any(block_start <= at < block_end for block_start, block_end in blocks) for at in found):
                return False
    return True


@cache
def _leaning_on_names() -> tuple[tuple[re.Pattern[str], int], ...]:
    """The patterns of the weak types a name supports (special-category
    words, postcodes), each with how far its support reaches."""
    # Imported here, not at the top: special_category reads names with this
    # module's helpers.
    from gateway.detect.recognizers.postcode import PostcodeRecognizer
    from gateway.detect.recognizers.special_category import SpecialCategoryRecognizer

    return tuple(
        (re.compile("|".join(f"(?:{p.regex})" for p in recognizer.PATTERNS)),
         recognizer.SUPPORT_WINDOW)
        for recognizer in (SpecialCategoryRecognizer, PostcodeRecognizer)
    )


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


# A record written as one line of its own: a person's name, then their date
# of birth and/or postcode as the only other cells ("Jack Wilson, 14/06/2013,
# BD5 7QJ"), perhaps after a short lead-in ("Here you go: ") or a list
# marker.  Lines are read only this far either side of a candidate, so a
# long single-line text costs no more than a short one.
_ROW_REACH = 160
_ROW_NAME = rf"(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.?[ ])?{_NAME}"
_ROW_DATE = r"(?:0?[1-9]|[12][0-9]|3[01])[/.-](?:0?[1-9]|1[0-2])[/.-](?:19|20)?[0-9]{2}"
_ROW_POSTCODE = r"[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}"
_ROW_CELL = r"[ \t]*[,;|\t][ \t]*"
_RECORD_ROW = re.compile(
    r"[ \t]*(?:(?:[A-Za-z][^\n:]{0,40}:|[-*]|[0-9]{1,2}[.)])[ \t]*)?"
    rf"(?P<name>{_ROW_NAME})[ \t]*(?P<separator>[,;|\t])[ \t]*"
    rf"(?:(?P<date>{_ROW_DATE})(?:{_ROW_CELL}(?P<dated_postcode>{_ROW_POSTCODE}))?"
    rf"|(?P<postcode>{_ROW_POSTCODE}))"
    r"[ \t]*\.?[ \t]*\r?\Z"
)


def _headed_column(text: str, newline: int, separator: str) -> bool:
    """Whether the line ending at `newline` is a table's header row (cells
    split by `separator`, no digits): its column names, not the row's
    shape, say what the cells are ("date_of_meeting")."""
    low = max(0, newline - _ROW_REACH)
    start = max(text.rfind("\n", low, newline) + 1, low)
    header = text[start:newline]
    return separator in header and not any(c.isdigit() for c in header)


class RecordRow(NamedTuple):
    """The cells of a one-line record: (start, end) of each, None when absent."""

    name: tuple[int, int]
    date: tuple[int, int] | None
    postcode: tuple[int, int] | None


def record_row(text: str, start: int, end: int) -> RecordRow | None:
    """The one-line record (see `_RECORD_ROW`) that `text[start:end]` is a
    cell of, or None.  The name must be one `person_names` takes (a known
    forename or surname, or a title), so "Finance Team, 14/06/2013" is not
    a record of anyone."""
    line_start = text.rfind("\n", max(0, start - _ROW_REACH), start) + 1
    if line_start == 0 and start > _ROW_REACH:
        return None
    line_end = text.find("\n", end, end + _ROW_REACH)
    if line_end < 0:
        if len(text) - end > _ROW_REACH:
            return None
        line_end = len(text)
    row = _RECORD_ROW.match(text[line_start:line_end])
    if row is None:
        return None
    if line_start > 0 and _headed_column(text, line_start - 1, row.group("separator")):
        return None
    name_start, name_end = line_start + row.start("name"), line_start + row.end("name")
    if not names_a_person(text, name_start, name_end):
        return None
    date = postcode = None
    if row.group("date"):
        date = (line_start + row.start("date"), line_start + row.end("date"))
    for group in ("dated_postcode", "postcode"):
        if row.group(group):
            postcode = (line_start + row.start(group), line_start + row.end(group))
    return RecordRow((name_start, name_end), date, postcode)
