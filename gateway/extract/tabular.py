"""A table of people read as records: each cell beside what it holds.

A CSV tells the detector what its columns hold only in its header row, and
only the first rows are near enough to it for a context word to count; a
file without a header row tells it nothing: `Jack Wilson,14/06/2013,BD5 7QJ`
is a name, a date and a postcode to the detector, not a person's date of
birth and home.  And a header it does not read as a label (`Surname`,
`Tenant`, `SEN`) does not tie the cells below it to a person either.

`records` reads a table's rows and, when it is a table of people, gives a
second reading of it with every cell labelled as a form would label it:

    Name: Jack Wilson<TAB>Date of birth: 14/06/2013<TAB>Postcode: BD5 7QJ

A table is one of people when a third of its rows at least (and one at least)
hold both a person's name and a cell that places or identifies them: a date
of birth, a postcode, a street address, or a column the header names as a
person's health or needs (`SEN`, `Medical`, `Diagnosis`).  What a cell holds
is what its column's header says (`_HEADER_ROLES`), else what it looks like:
a name (`person_names`: a title and a word, or a known forename or surname
beside another word), a postcode, a house number and street or a flat, or
a date, which beside a name in a table without a header is taken for a date
of birth (under a header that does not say so, a date is only a date: a
meeting's, a start date).

A list of staff and their rooms, a price list or a timetable has no such
cells: it gets no second reading, and reads as before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import Enum

from gateway.detect.recognizers.person_name import person_names


class Role(Enum):
    NAME = "name"
    SURNAME = "surname"
    FORENAME = "forename"
    DATE_OF_BIRTH = "date_of_birth"
    POSTCODE = "postcode"
    ADDRESS = "address"
    NEEDS = "needs"  # a person's health or needs
    OTHER = "other"


# How a record labels a cell of each role; the others keep their header's label.
_LABELS = {
    Role.NAME: "Name",
    Role.SURNAME: "Surname",
    Role.FORENAME: "Forename",
    Role.DATE_OF_BIRTH: "Date of birth",
    Role.POSTCODE: "Postcode",
    Role.ADDRESS: "Address",
}


_NAMES = frozenset({Role.NAME, Role.SURNAME, Role.FORENAME})
_PLACES_OR_IDENTIFIES = frozenset({Role.DATE_OF_BIRTH, Role.POSTCODE, Role.ADDRESS, Role.NEEDS})

# Headers as software and people write them, lower case, words joined by a
# space (`date_of_birth`, `DateOfBirth` and `Date-of-birth` read
# "date of birth").
_HEADER_ROLES: dict[str, Role] = {
    **dict.fromkeys(
        (
            "name", "names", "full name", "fullname", "person", "person name", "child",
            "child name", "child's name", "childs name", "pupil", "pupil name", "patient",
            "patient name", "client", "client name", "tenant", "tenant name", "resident",
            "resident name", "student", "student name", "learner", "learner name",
            "service user", "claimant", "applicant", "applicant name", "young person",
            "parent", "parent name", "carer", "carer name", "mother", "father", "guardian",
        ),
        Role.NAME,
    ),
    **dict.fromkeys(("surname", "last name", "family name", "lastname"), Role.SURNAME),
    **dict.fromkeys(
        ("forename", "forenames", "first name", "first names", "given name", "given names",
         "firstname", "middle name", "legal forename", "preferred name"),
        Role.FORENAME,
    ),
    **dict.fromkeys(
        ("dob", "d o b", "date of birth", "birth date", "birthdate", "birthday", "born"),
        Role.DATE_OF_BIRTH,
    ),
    **dict.fromkeys(("postcode", "post code", "postal code"), Role.POSTCODE),
    **dict.fromkeys(
        ("address", "home address", "addr", "street", "street address", "address line 1",
         "address 1", "address1", "address line1", "current address", "residential address",
         "house", "house number and street"),
        Role.ADDRESS,
    ),
    **dict.fromkeys(
        ("sen", "send", "sen status", "sen need", "sen needs", "send need", "send needs",
         "sen type", "ehcp", "primary need", "needs", "medical", "medical needs",
         "medical condition", "medical conditions", "condition", "conditions", "diagnosis",
         "health", "health needs", "disability", "disabilities", "allergies", "medication",
         "ethnicity", "religion", "safeguarding", "cp status", "cin status"),
        Role.NEEDS,
    ),
}  # fmt: skip

_DIGIT = re.compile(r"[0-9]")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_HEADER_SEPARATORS = re.compile(r"[\s_.\-/]+")
_POSTCODE = re.compile(
    r"(?:[A-PR-UWYZ][0-9]{1,2}|[A-PR-UWYZ][A-HK-Y][0-9]{1,2}|[A-PR-UWYZ][0-9][A-HJKPSTUW]"
    r"|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY]) ?[0-9][ABD-HJLNP-UW-Z]{2}"
)
_WORDS = r"[A-Z][A-Za-z'-]*(?:[ ][A-Za-z][A-Za-z'-]*){0,4}"
# "89 Arnold Plains", "12a High Street", "Flat 3", "Studio 52x, Kelly Grove".
_ADDRESS = re.compile(
    rf"(?:[0-9]{{1,4}}[A-Za-z]?,?[ ]+{_WORDS}"
    rf"|(?i:flat|apartment|apt|studio)\.?[ ]*[0-9]{{1,4}}[A-Za-z]?(?:,?[ ]+{_WORDS})?)"
)
_DATE = re.compile(
    r"(?:0?[1-9]|[12][0-9]|3[01])[/.-](?:0?[1-9]|1[0-2])[/.-](?:19|20)?[0-9]{2}"
    r"|(?:19|20)[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0?[1-9]|[12][0-9]|3[01])(?:st|nd|rd|th)?[ ](?:of[ ])?[A-Za-z]{3,9}\.?,?[ ](?:19|20)[0-9]{2}"
)
# Rows looked at to tell what the table holds.
SAMPLE_ROWS = 200


def _header_key(cell: str) -> str:
    return _HEADER_SEPARATORS.sub(" ", _CAMEL.sub(" ", cell.strip())).strip().lower()


def _looks_like_a_name(cell: str) -> bool:
    """The whole cell is a person's name (`person_names`), a title allowed."""
    return any(start == 0 or cell[:start].rstrip(". ") in {"Mr", "Mrs", "Ms", "Miss", "Mx", "Dr"}
               for start, end in person_names(cell, 0, len(cell)) if end == len(cell))


def _content_role(cell: str, *, dates: bool) -> Role:
    """What a cell holds by its look (`dates`: a date is a date of birth)."""
    if not cell:
        return Role.OTHER
    if _DIGIT.search(cell) is None:
        return Role.NAME if len(cell) <= 60 and _looks_like_a_name(cell) else Role.OTHER
    if _POSTCODE.fullmatch(cell.upper()):
        return Role.POSTCODE
    if dates and _DATE.fullmatch(cell):
        return Role.DATE_OF_BIRTH
    if _ADDRESS.fullmatch(cell):
        return Role.ADDRESS
    return Role.OTHER


def _header(first: Sequence[str]) -> list[Role | None] | None:
    """The roles the first row names for its columns (None for a column it
    says nothing of) when it is a header row, else None: a header row has no
    digits, and names a column or holds no one's name."""
    cells = [cell.strip() for cell in first]
    if any(_DIGIT.search(cell) for cell in cells):
        return None
    roles = [_HEADER_ROLES.get(_header_key(cell)) for cell in cells]
    if any(role is not None for role in roles) or not any(map(_looks_like_a_name, cells)):
        return roles
    return None


class Table:
    """What a table's columns hold, from its header and its first rows."""

    def __init__(self, sample: Sequence[Sequence[str]]) -> None:
        self.header = _header(sample[0]) if sample else None
        self.labels = [cell.strip() for cell in sample[0]] if self.header is not None else []
        self.rows = sample[1:] if self.header is not None else sample

    def roles(self, row: Sequence[str]) -> list[Role]:
        header = self.header or []
        roles: list[Role] = []
        for index, value in enumerate(row):
            cell = value.strip()
            named = header[index] if index < len(header) else None
            if named is not None:
                roles.append(named if cell else Role.OTHER)
            else:
                # Under a header that does not say so, a date is only a date.
                labelled = index < len(self.labels) and bool(self.labels[index])
                roles.append(_content_role(cell, dates=not labelled))
        return roles

    def of_people(self) -> bool:
        """A third of the rows at least (one at least) hold a person's name
        and a cell that places or identifies them: a cell's line break left
        unquoted splits a record over two rows."""
        rows = [row for row in self.rows if any(cell.strip() for cell in row)]
        if not rows:
            return False
        people = 0
        for row in rows:
            roles = set(self.roles(row))
            if roles & _NAMES and roles & _PLACES_OR_IDENTIFIES:
                people += 1
        return people * 3 >= len(rows)

    def record(self, row: Sequence[str]) -> str:
        """One row as a record: each cell after its label."""
        cells: list[str] = []
        for index, (value, role) in enumerate(zip(row, self.roles(row), strict=True)):
            cell = value.strip()
            label = _LABELS.get(role) or (self.labels[index] if index < len(self.labels) else "")
            cells.append(f"{label}: {cell}" if label and cell else cell)
        return "\t".join(cells)


def people_table(rows: Sequence[Sequence[str]]) -> Table | None:
    """The table whose first rows are `rows` (the header and `SAMPLE_ROWS`
    more are read), when it is a table of people (`Table.of_people`), else None."""
    table = Table(rows[: SAMPLE_ROWS + 1])
    return table if table.of_people() else None
