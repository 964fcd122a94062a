"""Date of birth: a real, past date with a birth word near it.

A date alone is not personal data (meetings, invoices, deadlines), so the
base score is below the threshold and only context ("DOB", "born", "date of
birth") lifts it over.  The birth words count as software writes them too: a
CSV column or form field named `date_of_birth`, `date-of-birth`,
`DateOfBirth` or `birth_date` (context is matched in lower case, so camel
case reads as the words run together), and a contact card's `BDAY` property.

Contact cards and calendars (vCard, iCalendar) write a date as YYYYMMDD:
such a date is a candidate only as the value of a vCard `BDAY` or an
iCalendar `DTSTART` property, where it is certainly a date; a `DTSTART` is a
date of birth only with a birth word near it (a "... birthday" event).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import ClassVar

from gateway.detect.recognizer import Assessment, Pattern, Recognizer
from gateway.detect.recognizers.person_name import record_row
from gateway.model import InformationType

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH_RE = (
    r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DAY_RE = r"(?:0?[1-9]|[12][0-9]|3[01])"
_NUMBERS = re.compile(r"[0-9]+")
_WORD = re.compile(r"[A-Za-z]{3,}")
# Phrases that name a date of birth, and how a column or field name joins
# their words (context is matched lower-cased: "DateOfBirth" is "dateofbirth").
_BIRTH_PHRASES = ("date of birth", "birth date")
_JOINERS = ("_", "-", "")


def _field_names(phrases: tuple[str, ...]) -> tuple[str, ...]:
    """Each phrase with its words joined as in a column or field name."""
    return tuple(joiner.join(phrase.split()) for phrase in phrases for joiner in _JOINERS)


def _year(two_or_four: str, today: dt.date) -> int:
    year = int(two_or_four)
    if len(two_or_four) == 2:
        # A two-digit birth year is in the last hundred years.
        year += 2000 if year <= today.year % 100 else 1900
    return year


def parse_date(value: str, today: dt.date) -> dt.date | None:
    """The calendar date `value` names (day first, as in the UK), or None."""
    numbers = _NUMBERS.findall(value)
    word = _WORD.search(value)  # ordinals ("12th") and "of" are too short to match
    try:
        if word is not None:
            month = _MONTHS.get(word.group().lower()[:3])
            if month is None or len(numbers) != 2:
                return None
            return dt.date(_year(numbers[1], today), month, int(numbers[0]))
        if len(numbers) == 1 and len(numbers[0]) == 8:  # vCard/iCalendar 20150312
            compact = numbers[0]
            return dt.date(int(compact[:4]), int(compact[4:6]), int(compact[6:]))
        if len(numbers) != 3:
            return None
        if len(numbers[0]) == 4:  # ISO 2015-03-12
            return dt.date(int(numbers[0]), int(numbers[1]), int(numbers[2]))
        return dt.date(_year(numbers[2], today), int(numbers[1]), int(numbers[0]))
    except ValueError:
        return None


class DateOfBirthRecognizer(Recognizer):
    name = "date_of_birth"
    info_type = InformationType.DATE_OF_BIRTH
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern(
            "numeric",
            rf"\b{_DAY_RE}[/.-](?:0?[1-9]|1[0-2])[/.-](?:19|20)?[0-9]{{2}}\b",
            0.2,
        ),
        Pattern("iso", r"\b(?:19|20)[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])\b", 0.2),
        Pattern(
            "day_month_year",
            rf"\b{_DAY_RE}(?:st|nd|rd|th)?[ ]+(?:of[ ]+)?{_MONTH_RE}\.?,?[ ]+(?:19|20)[0-9]{{2}}\b",
            0.2,
        ),
        Pattern(
            "month_day_year",
            rf"\b{_MONTH_RE}[ ]+{_DAY_RE}(?:st|nd|rd|th)?,?[ ]+(?:19|20)[0-9]{{2}}\b",
            0.2,
        ),
        # "BDAY:20150312", "DTSTART;VALUE=DATE:20150312": a date-time
        # ("...T090000Z") is an appointment, not a day, and never matches.
        Pattern(
            "card_or_calendar",
            r"\b(?i:bday|dtstart)(?:;[^:\r\n]{0,40})?:(?P<value>(?:19|20)[0-9]{2}"
            r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]))\b",
            0.2,
        ),
    )
    CONTEXT = (
        "dob", "d.o.b", "d.o.b.", *_BIRTH_PHRASES, *_field_names(_BIRTH_PHRASES), "born",
        "birthday", "date of birth (dd/mm/yyyy)", "bday",
    )  # fmt: skip
    CONTEXT_BOOST = 0.4
    CONTEXT_WINDOW = (60, 25)
    # The date cell of a one-line record ("Jack Wilson, 14/06/2013, BD5 7QJ"):
    # a person's row holds their date of birth.  Without a postcode beside
    # it, only a date more than a year back: "Sarah Jones, 14/06/2025" is
    # more likely when someone wrote or saw something.
    ROW_BOOST: ClassVar[float] = 0.35
    ROW_MIN_AGE: ClassVar[dt.timedelta] = dt.timedelta(days=365)

    def validate(self, value: str) -> bool:
        today = dt.date.today()
        date = parse_date(value, today)
        return date is not None and dt.date(1900, 1, 1) <= date <= today

    def assess(self, text: str, start: int, end: int, score: float) -> Assessment | None:
        today = dt.date.today()
        date = parse_date(text[start:end], today)
        if date is None or not dt.date(1900, 1, 1) <= date <= today:
            return None
        row = record_row(text, start, end)
        if (
            row is not None
            and row.date == (start, end)
            and (row.postcode is not None or date <= today - self.ROW_MIN_AGE)
        ):
            score += self.ROW_BOOST
        return Assessment(start, end, score)
