"""A named person's special category facts the black-box tester found
passing in clear (t_evasion_cases b1, b2, b6, b7, b9), and the near misses
that must stay unfound.

Names are synthetic: Faker en_GB with a fixed seed, kept to forenames the
name lists know (as a school's or a council's mail would spell them).
"""

from __future__ import annotations

import pytest
from engine_support import found
from faker import Faker

from gateway.detect.recognizers.uk_names import FORENAMES
from gateway.model import InformationType

SPECIAL = InformationType.SPECIAL_CATEGORY
NAME = InformationType.PERSON_NAME


def _people(count: int, seed: int) -> list[str]:
    """Synthetic full names: Faker en_GB, forenames on the list."""
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    people: list[str] = []
    while len(people) < count:
        first, last = fake.first_name(), fake.last_name()
        name = f"{first} {last}"
        if first in FORENAMES and last.isalpha() and name not in people:
            people.append(name)
    return people


PEOPLE = _people(4, 20260605)
ONE = PEOPLE[0]


# A list row: the name, then several words after a dash, or in brackets.
def test_a_pupil_list_with_the_plan_before_the_condition_is_found() -> None:
    text = "Year 4 SEN list:\n" + "".join(f"{name} - EHCP, autism\n" for name in PEOPLE)
    assert found(text, SPECIAL) == ["autism"] * len(PEOPLE)


@pytest.mark.parametrize(
    ("row", "word"),
    [
        ("{name} - EHCP, ADHD", "ADHD"),
        ("{name}: SEN/autism", "autism"),
        ("{name} (LAC)", "LAC"),
        ("{name} (EHCP, autism)", "autism"),
        ("{name} (CP plan)", "CP plan"),
    ],
)
def test_a_list_row_of_a_named_persons_needs_is_found(row: str, word: str) -> None:
    text = "LAC and SEN list for the review:\n" + row.format(name=ONE) + "\n"
    assert word in found(text, SPECIAL)


@pytest.mark.parametrize(
    "text",
    [
        "Present: Sarah Jones (LAC), Mark Hill (Police), Amy Smith (MARAC)",
        "Apologies:\nSarah Jones (LAC)\nMark Hill (YOT)",
        "Sarah Jones (LAC nurse) will attend.",
        "Sarah Jones (EHCP) and Mark Hill (SEND) lead the briefing.",
        "Sarah Jones - EHCP, SEND Officer",
        "Sarah Jones - EHCP, autism lead",
    ],
)
def test_a_list_of_staff_with_their_remit_is_not_found(text: str) -> None:
    assert found(text, SPECIAL) == []


# An absence and what it is for: the words of a sickness record.
@pytest.mark.parametrize(
    ("sentence", "word"),
    [
        ("{name} has been off sick with stress and depression since March.", "depression"),
        ("{name} is signed off with anxiety until the end of the month.", "anxiety"),
        ("{name} has been absent due to cancer treatment.", "cancer"),
    ],
)
def test_a_named_persons_sickness_absence_is_found(sentence: str, word: str) -> None:
    text = sentence.format(name=ONE)
    assert word in found(text, SPECIAL)
    assert found(text, NAME) == [ONE]


@pytest.mark.parametrize(
    "text",
    [
        "Staff off sick with stress should speak to their line manager and HR; see the "
        "absence policy for depression and anxiety support.",
        "Staff off sick with stress and depression should contact Occupational Health.",
        "Mark Hill is off work to run the autism awareness course.",
        "Sarah Jones is on leave; the depression support group meets on Friday.",
    ],
)
def test_an_absence_policy_or_staff_on_leave_is_not_found(text: str) -> None:
    assert found(text, SPECIAL) == []


# Who did it, with what they did: a disclosure of domestic abuse about the
# person named before it in the sentence.
@pytest.mark.parametrize(
    "sentence",
    [
        "{name} rang again, her partner hit her last night and she's going to the refuge.",
        "{name} said her husband has hit her again.",
        "{name} (Y5) told us his stepdad kicked him on Sunday.",
    ],
)
def test_a_named_persons_account_of_who_harmed_them_is_found(sentence: str) -> None:
    text = sentence.format(name=ONE)
    assert len(found(text, SPECIAL)) == 1
    assert found(text, NAME) == [ONE]


@pytest.mark.parametrize(
    "text",
    [
        "Sarah Jones says the tenant's partner hit her.",
        "Trainer Sarah Jones: if a child says their stepdad hit them, record their words.",
        "Mark Hill and his partner hit the shops on Saturday.",
        "Her partner hit her last night.",  # no one named
    ],
)
def test_an_account_about_no_named_person_is_not_found(text: str) -> None:
    assert found(text, SPECIAL) == []


# Criminal offence data, ethnic origin, trade union membership and
# immigration status of a named person.
@pytest.mark.parametrize(
    ("sentence", "word"),
    [
        ("{name} was arrested for shoplifting on Saturday and has a caution.", "arrested"),
        ("{name} was arrested for shoplifting on Saturday and has a caution.", "a caution"),
        ("{name} has been remanded in custody.", "remanded"),
        ("{name} is of Pakistani heritage and speaks Urdu at home.", "Pakistani heritage"),
        ("{name} is a Unison member and wants a rep at the disciplinary.", "Unison member"),
        (
            "{name} has no recourse to public funds and his asylum claim was refused.",
            "no recourse to public funds",
        ),
    ],
)
def test_a_named_persons_offences_origin_membership_or_status_is_found(
    sentence: str, word: str
) -> None:
    text = sentence.format(name=ONE)
    assert word in found(text, SPECIAL)
    assert found(text, NAME) == [ONE]


@pytest.mark.parametrize(
    "text",
    [
        "PC Mark Hill arrested two men in Shipley on Saturday.",
        "Mark Hill has cautioned two youths for criminal damage.",
        "Police arrested a man for shoplifting; he has a caution.",
        "Please proceed with caution, Sarah Jones.",
        "Mark Hill was charged with organising the summer party.",
        "Unison members are invited to the branch meeting on Tuesday at 5pm in Room 2. "
        "Contact Sarah Jones, branch secretary, to join the union; GMB members welcome.",
        "Equality newsletter: our residents' survey shows 12% of residents are of "
        "Pakistani heritage. Ethnicity data helps us plan services. Sarah Jones leads "
        "the equality team.",
        "Sarah Jones is leading the asylum seeker accommodation contract review.",
    ],
)
def test_the_words_in_news_notices_and_staff_duties_are_not_found(text: str) -> None:
    assert found(text, SPECIAL) == []


# A newsletter's notices: a child congratulated in one is not who the next
# one's health words or venue postcode are about.
NEWSLETTER = (
    "Community News - October\n\n"
    "Half-term activities\n\n"
    "Free holiday activities at Northcliffe Library, 12 Market Street, Shipley BD18 3QB. "
    "Book on 01632 960555 or at the library desk.\n\n"
    "Congratulations\n\n"
    "Well done to {name}, aged 9, from St Mary's Primary, who won our Bin It poster "
    "competition! Her design will appear on our recycling lorries.\n\n"
    "Winter flu jabs\n\n"
    "Over 65, pregnant, or have a long-term health condition such as diabetes or asthma? "
    "You can get a free flu jab at your GP or pharmacy.\n"
)


def test_a_newsletters_notices_do_not_lend_a_named_child_their_words() -> None:
    text = NEWSLETTER.format(name=ONE)
    assert found(text, NAME) == [ONE]  # a child with their age: still personal data
    assert found(text, SPECIAL) == []
    assert found(text, InformationType.UK_POSTCODE) == []


def test_a_name_still_supports_the_words_of_its_own_paragraph() -> None:
    text = f"{ONE}, aged 9, St Mary's Primary. Over 65, pregnant, or asthma? Flu jab."
    assert "pregnant" in found(text, SPECIAL)
    text = f"{ONE}, aged 9, St Mary's Primary, Shipley BD18 3QB."
    assert found(text, InformationType.UK_POSTCODE) == ["BD18 3QB"]
