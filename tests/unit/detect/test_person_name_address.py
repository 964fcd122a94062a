"""A named person's street address: "Paul Roberts, 12 Hill Street",
"William Jennings has moved to 14 Acacia Road, Headingley, Leeds.", with a
postcode or without one.

The name used to need an identifier beside it, and a postcode beside the
name no "lives at": a tenant's arrears sentence passed whole.  A house
number and a street word straight after the name (or after "of", "has
moved to", "lives at", "'s new address is") now make it where that person
lives; an office's address, a meeting place or a number of hours do not.
"""

from __future__ import annotations

import re

import pytest
from engine_support import found
from faker import Faker

from gateway.detect.recognizers.uk_names import FORENAMES
from gateway.model import InformationType

NAME = InformationType.PERSON_NAME
POSTCODE = InformationType.UK_POSTCODE
_STREET_WORD = re.compile(r" (?:Road|Street|Lane|Avenue|Close|Drive|Way|Grove|Place|Court)$")


def _residents(count: int, seed: int) -> list[tuple[str, str]]:
    """Synthetic (name, street address): Faker en_GB."""
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    residents: list[tuple[str, str]] = []
    while len(residents) < count:
        first, street = fake.first_name(), fake.street_name()
        if first in FORENAMES and _STREET_WORD.search(street) and street.count(" ") <= 3:
            residents.append((f"{first} {fake.last_name()}", f"{fake.building_number()} {street}"))
    return residents


RESIDENTS = _residents(3, 20260604)


@pytest.mark.parametrize(("name", "address"), RESIDENTS)
@pytest.mark.parametrize(
    "sentence",
    [
        "{name} has moved to {address}, Headingley, Leeds.",
        "{name}'s new address is Flat 3, {address}, Bradford.",
        "{name} of {address} is in rent arrears of £1,240.",
        "Mr {name}, {address}, rent arrears £1,240, eviction notice served.",
        "{name} now lives at {address}.",
    ],
    ids=["moved-to", "new-address-flat", "of", "tenant-row", "lives-at"],
)
def test_a_name_at_a_street_address_is_found(name: str, address: str, sentence: str) -> None:
    (hit,) = found(sentence.format(name=name, address=address), NAME)
    assert hit.endswith(name)  # "Mr Paul Roberts" or "Paul Roberts"


def test_the_postcode_beside_a_named_tenant_is_found_too() -> None:
    name, address = RESIDENTS[0]
    text = f"Mr {name}, {address}, Leeds LS6 2AB, rent arrears £1,240, eviction notice served."
    (hit,) = found(text, NAME)
    assert hit.endswith(name)
    assert found(text, POSTCODE) == [address, "LS6 2AB"]  # the street is where they live too


@pytest.mark.parametrize(
    "text",
    [
        "Meeting with Sarah Jones at 2 Park Square at 10am.",
        "Sarah Jones, 2 hours overtime approved.",
        "Please post it to Sarah Jones, 2 Park Square, Civic Hall, Leeds.",
        "Sarah Jones, 110 Merrion Way, Merrion Centre, Leeds",
        "Kind regards\n\nSarah Jones, 2 Park Square, Leeds\nTel: 0113 496 0000\n",
        "The family have moved to 14 Acacia Road, Headingley, Leeds.",  # no one named
    ],
    ids=["meeting-place", "hours", "office-hall", "office-centre", "signature", "no-name"],
)
def test_near_misses_name_no_one_living_there(text: str) -> None:
    assert found(text, NAME) == []
