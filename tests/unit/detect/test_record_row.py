"""A person's record written as one line of its own: name, date of birth,
postcode ("Jack Wilson, 14/06/2013, BD5 7QJ"), with or without a lead-in,
as the only line of a short reply or above a quoted question.

Neither cell says "DOB" or "lives at", yet the row is that person's
record; it used to pass as three weak candidates that supported nothing.
A signature's own name and office postcode, a dated meeting line and a
table whose header names the date column otherwise still pass.
"""

from __future__ import annotations

import datetime as dt

import pytest
from engine_support import engine, found
from faker import Faker

from gateway.detect.recognizers.uk_names import FORENAMES, SURNAMES
from gateway.model import InformationType, SegmentSource, TextSegment

NAME = InformationType.PERSON_NAME
DOB = InformationType.DATE_OF_BIRTH
POSTCODE = InformationType.UK_POSTCODE


def _people(count: int, seed: int) -> list[tuple[str, str, str]]:
    """Synthetic (name, date of birth, postcode): Faker en_GB, a forename the
    built-in list knows (a name nothing says is one must be known)."""
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    people: list[tuple[str, str, str]] = []
    while len(people) < count:
        first, last = fake.first_name(), fake.last_name()
        if first not in FORENAMES and last not in SURNAMES:
            continue
        dob = fake.date_of_birth(minimum_age=3, maximum_age=15).strftime("%d/%m/%Y")
        people.append((f"{first} {last}", dob, fake.postcode()))
    return people


PEOPLE = _people(4, 20260603)


def _types(text: str) -> set[InformationType]:
    return {f.info_type for f in engine().detect([TextSegment("1", SegmentSource.BODY, text)])}


@pytest.mark.parametrize(("name", "dob", "postcode"), PEOPLE)
@pytest.mark.parametrize(
    "layout",
    [
        "Here you go: {row}\n\nOn Tue, 3 Jun 2025 at 10:00, Sam Jones "
        "<sam@partner.example.org> wrote:\n> Can you send me the child's details?\n",
        "Hi Sam,\n\n{row}\n",
        "{row}\n\nThanks\n",
        "{row}\n",
        "- {row}\n",
    ],
    ids=["reply-lead-in", "after-greeting", "above-sign-off", "alone", "list-item"],
)
def test_a_name_dob_postcode_row_is_found(name: str, dob: str, postcode: str, layout: str) -> None:
    text = layout.format(row=f"{name}, {dob}, {postcode}")
    assert found(text, NAME) == [name]
    assert found(text, DOB) == [dob]
    assert found(text, POSTCODE) == [postcode]


def test_two_rows_are_two_records() -> None:
    (a, a_dob, a_pc), (b, b_dob, b_pc) = PEOPLE[:2]
    text = f"{a}, {a_dob}, {a_pc}\n{b}, {b_dob}, {b_pc}\n"
    assert found(text, NAME) == [a, b]
    assert found(text, DOB) == [a_dob, b_dob]


def test_name_and_date_of_birth_alone() -> None:
    name, dob, _ = PEOPLE[0]
    text = f"{name}, {dob}\n"
    assert found(text, NAME) == [name]
    assert found(text, DOB) == [dob]


def test_name_and_postcode_alone() -> None:
    name, _, postcode = PEOPLE[1]
    text = f"{name}, {postcode}\n"
    assert found(text, NAME) == [name]
    assert found(text, POSTCODE) == [postcode]


def test_a_row_after_a_sign_off_still_has_its_date_of_birth() -> None:
    name, dob, postcode = PEOPLE[2]
    assert found(f"Thanks\n{name}, {dob}, {postcode}\n", DOB) == [dob]


RECENT = (dt.date.today() - dt.timedelta(days=30)).strftime("%d/%m/%Y")


@pytest.mark.parametrize(
    "text",
    [
        # The sender's own signature: name, phone, office postcode.
        "Please see the minutes attached.\n\nKind regards\n\nSarah Jones\nHousing Officer\n"
        "Tel: 0113 496 0000\nCivic Hall, Leeds, LS1 1UR\n",
        "Thanks,\nSarah Jones, LS1 1UR\n",
        # A dated line: a recent date beside a colleague's name is no birth date.
        f"Minutes taken by: Sarah Jones, {RECENT}\n",
        f"Sarah Jones, {RECENT}\n",
        # A meeting invite.
        "Meeting: Budget review\nWhen: 14/06/2026 10:00-11:00\nWhere: Room 2, Civic Hall, "
        "LS1 1UR\nOrganiser: Sarah Jones\n",
        # Not a name: a team.
        "Finance Team, 14/06/2013, LS1 1UR\n",
        # A row with more cells is not this shape (other cues decide it).
        "Jack Wilson, 14/06/2013, 3 hours, overtime approved\n",
    ],
    ids=["signature", "sign-off-name-postcode", "minutes-recent", "name-recent-date", "invite",
         "team", "more-cells"],
)
def test_near_misses_pass(text: str) -> None:
    assert _types(text) & {NAME, DOB, POSTCODE} == set()


def test_a_table_header_naming_the_date_column_decides() -> None:
    assert found("name\tdate_of_meeting\nJacob Hall\t04/11/2016\n", DOB) == []
