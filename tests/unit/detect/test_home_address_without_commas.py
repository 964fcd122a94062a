"""A home address written as an envelope is, with no comma or "of": "Jack
Wilson 12 Acacia Road BD5 7QJ".

It passed whole: the name needed a comma or "lives at" before its street,
and the postcode a context word.  A full postcode after a house number and
street, after a person's name, is where that person lives; the street is
found too (what a redacted subject or purpose would otherwise still show).
An organisation's address is not: "Civic Hall, 2 Park Square, LS1 2AB" in
its footer, a signature's office.
"""

from __future__ import annotations

import re

import pytest
from engine_support import found
from faker import Faker

from gateway.detect.recognizers.uk_names import FORENAMES
from gateway.model import InformationType, SegmentSource

NAME = InformationType.PERSON_NAME
POSTCODE = InformationType.UK_POSTCODE
_STREET_WORD = re.compile(r" (?:Road|Street|Lane|Avenue|Close|Drive|Way|Grove|Place|Court)$")


def _homes(count: int, seed: int) -> list[tuple[str, str, str]]:
    """Synthetic (name, street address, postcode): Faker en_GB."""
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    homes: list[tuple[str, str, str]] = []
    while len(homes) < count:
        first, street = fake.first_name(), fake.street_name()
        if first in FORENAMES and _STREET_WORD.search(street) and street.count(" ") <= 3:
            homes.append(
                (f"{first} {fake.last_name()}", f"{fake.building_number()} {street}",
                 fake.postcode())
            )
    return homes


HOMES = _homes(3, 20260611)


@pytest.mark.parametrize(("name", "street", "postcode"), HOMES)
@pytest.mark.parametrize("source", [SegmentSource.BODY, SegmentSource.SUBJECT])
def test_a_name_street_and_postcode_with_no_commas_are_found(
    name: str, street: str, postcode: str, source: SegmentSource
) -> None:
    line = f"{name} {street} {postcode}"
    assert found(line, NAME, source) == [name]
    assert sorted(found(line, POSTCODE, source)) == sorted([street, postcode])


@pytest.mark.parametrize(("name", "street", "postcode"), HOMES)
def test_with_the_town_between_and_in_a_sentence(name: str, street: str, postcode: str) -> None:
    text = f"Hi,\n\nPlease update the file for {name} {street} Bradford {postcode} today.\n"
    assert found(text, NAME) == [name]
    assert postcode in found(text, POSTCODE)


@pytest.mark.parametrize(("name", "street", "postcode"), HOMES)
def test_the_street_after_a_name_and_of_is_found(name: str, street: str, postcode: str) -> None:
    assert found(f"Referral for {name} of {street}", POSTCODE, SegmentSource.SUBJECT) == [street]


@pytest.mark.parametrize(
    "text",
    [
        "Civic Hall, 2 Park Square, LS1 2AB",
        "Kind regards\n\nSarah Jones\nHousing Officer\nLeeds City Council\n"
        "Civic Hall, 2 Park Square, LS1 2AB\n",
        "Thanks,\nSarah Jones\nCivic Hall 2 Park Square LS1 2AB\n",
        "The meeting is at 2 Park Square LS1 2AB on Tuesday.",
        "Our office is at 14 Mill Lane, Bradford BD5 7QJ.",
        "Sarah Jones, Civic Hall, 2 Park Square, LS1 2AB",
    ],
    ids=["footer-line", "signature", "signature-no-commas", "venue", "office", "at-work"],
)
def test_an_organisations_address_is_not_a_home(text: str) -> None:
    assert found(text, POSTCODE) == []
    assert found(text, NAME) == []


def test_a_street_with_no_name_before_it_is_not_found() -> None:
    assert found("Road closures: 12 Acacia Road and 4 Mill Lane from Monday.", POSTCODE) == []
