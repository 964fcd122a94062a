"""A CSV of people is read as records, with or without a header row.

`Jack Wilson,14/06/2013,BD5 7QJ` rows passed in clear: without a header
nothing told the detector that the date is a date of birth or the postcode a
home.  Nor did a header the detector does not take as a label (`Surname,
Forename,Year,SEN`, `Tenant,Address,Arrears`).  A table whose rows hold a
person's name and a date of birth, postcode, street address or a column of
their needs now gets a second reading, each cell after its label
(gateway.extract.tabular); staff lists, price lists and timetables do not.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from faker import Faker
from fixtures_content import mail

from gateway.extract import ExtractContext, build_registry, detect_format
from gateway.model import Action, Envelope, InformationType
from gateway.parse import ContentLimits
from gateway.pipeline import Pipeline
from gateway.settings import Settings

REGISTRY = build_registry()
_FAKE = Faker("en_GB")
_FAKE.seed_instance(6130)
_RNG = random.Random(6130)
# Common names, so that the detector knows them for names without a header.
_FORENAMES = ("Jack", "Lily", "Amir", "Sophie", "Oliver", "Grace", "Harry", "Emily")
_SURNAMES = ("Wilson", "Khan", "Taylor", "Brown", "Evans", "Patel", "Walker", "Hughes")
PEOPLE = [f"{_RNG.choice(_FORENAMES)} {_RNG.choice(_SURNAMES)}" for _ in range(5)]
DATES = [_FAKE.date_of_birth(minimum_age=4, maximum_age=15).strftime("%d/%m/%Y") for _ in PEOPLE]
POSTCODES = ["BD5 7QJ", "LS6 2AB", "M14 5RT", "SW1A 2AA", "CF10 3AT"]
STREETS = [f"{_RNG.randint(1, 300)} {_FAKE.street_name()}" for _ in PEOPLE]


def extract(data: bytes) -> list[str]:
    ctx = ExtractContext.start(ContentLimits(), REGISTRY, "2")
    return [t.text for t in REGISTRY.extract(data, ctx)]


# -- the records reading -----------------------------------------------------------------


def test_a_table_without_a_header_is_read_as_records() -> None:
    data = "".join(f"{n},{d},{p}\n" for n, d, p in zip(PEOPLE, DATES, POSTCODES, strict=True))
    texts = extract(data.encode())
    assert texts[-1].splitlines()[0] == (
        f"Name: {PEOPLE[0]}\tDate of birth: {DATES[0]}\tPostcode: {POSTCODES[0]}"
    )


def test_a_header_names_the_cells_of_every_row() -> None:
    data = "Surname,Forename,Year,SEN\nWilson,Jack,Y5,EHCP - autism\nKhan,Amir,Y2,none\n"
    texts = extract(data.encode())
    assert texts[-1] == (
        "Surname: Wilson\tForename: Jack\tYear: Y5\tSEN: EHCP - autism\n"
        "Surname: Khan\tForename: Amir\tYear: Y2\tSEN: none\n"
    )


def test_a_record_broken_over_two_rows_is_still_a_csv() -> None:
    # A street address's line break left unquoted: the rows are ragged.
    data = "Jack Wilson,Flat 3\nRose Court,Leeds,LS6 2AB\nLily Khan,12 Kerr Walk,Leeds,LS6 1AA\n"
    assert detect_format(data.encode()) == "csv"


@pytest.mark.parametrize(
    "data",
    [
        "Item,Price,Stock\nBlue Widget,3.50,12\nRed Gadget,4.00,7\n",
        "Blue Widget,3.50,12\nRed Gadget,4.00,7\nGreen Sprocket,1.25,40\n",
        "Room,Capacity,Booked by\nRoom 1,12,Sarah Jones\nRoom 2,6,Tom Evans\n",
        "Room 1,12,Sarah Jones\nRoom 2,6,Tom Evans\nRoom 3,20,Grace Hughes\n",
        "Surname,Forename,Room,Extension\nJones,Sarah,G12,4471\nEvans,Tom,G14,4472\n",
        "Meeting,Date,Chair\nBudget review,14/06/2025,Sarah Jones\nRota,21/06/2025,Tom Evans\n",
    ],
    ids=["prices", "prices-no-header", "rooms", "rooms-no-header", "staff-extensions",
         "meetings-dated"],
)
def test_tables_of_things_and_staff_get_no_records(data: str) -> None:
    assert len(extract(data.encode())) == 1


def test_prose_with_commas_is_still_text() -> None:
    data = b"Hello, all.\nThe rota, as agreed, is below.\nThanks, Sam.\n"
    assert detect_format(data) == "text"


# -- the whole pipeline ------------------------------------------------------------------

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
)


def decide(tmp_path: Path, data: str) -> tuple[Action, set[InformationType]]:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    settings = Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": "enforce"}})
    raw = mail("Please find attached.", subject="List",
               attachments=[("list.csv", data.encode(), "text/csv")])
    decision = Pipeline(settings).run(
        Envelope("worker@council.example", ("team@recipient.example",)), raw
    )
    return decision.verdict.action, set(decision.verdict.information_types)


NAME = InformationType.PERSON_NAME
DOB = InformationType.DATE_OF_BIRTH
POSTCODE = InformationType.UK_POSTCODE
SPECIAL = InformationType.SPECIAL_CATEGORY

PEOPLE_TABLES = [
    pytest.param("".join(f"{n},{d},{p}\n" for n, d, p in zip(PEOPLE, DATES, POSTCODES,
                                                            strict=True)),
                 {NAME, DOB, POSTCODE}, id="no-header-dob-postcode"),
    pytest.param("".join(f"{n},{d}\n" for n, d in zip(PEOPLE, DATES, strict=True)),
                 {NAME, DOB}, id="no-header-dob"),
    pytest.param("".join(f"Mr {n},{d}\n" for n, d in zip(PEOPLE, DATES, strict=True)),
                 {NAME, DOB}, id="no-header-titles"),
    pytest.param("".join(f"{n},{s},Leeds,{p}\n" for n, s, p in zip(PEOPLE, STREETS, POSTCODES,
                                                                  strict=True)),
                 {NAME, POSTCODE}, id="no-header-address-postcode"),
    pytest.param("".join(f"{n},Flat {i},{s},Leeds\n" for i, (n, s) in enumerate(
        zip(PEOPLE, STREETS, strict=True), 1)), {NAME}, id="no-header-flat-street"),
    pytest.param("".join(f"{n},Flat {i}\n{s},Leeds\n" for i, (n, s) in enumerate(
        zip(PEOPLE, STREETS, strict=True), 1)), {NAME}, id="no-header-ragged-rows"),
    pytest.param("Surname,Forename,Year,SEN,FSM\n" + "".join(
        f"{n.split()[1]},{n.split()[0]},Y{i},EHCP - autism,Y\n" for i, n in enumerate(PEOPLE, 1)),
                 {NAME, SPECIAL}, id="header-pupils-sen"),
    pytest.param("Tenant,Address,Arrears\n" + "".join(
        f"{_FAKE.name()},{s},£{_RNG.randint(100, 3000)}\n" for s in STREETS),
                 {NAME}, id="header-tenants-arrears"),
]


@pytest.mark.parametrize(("data", "types"), PEOPLE_TABLES)
def test_a_table_of_people_is_not_delivered_in_clear(
    tmp_path: Path, data: str, types: set[InformationType]
) -> None:
    action, found = decide(tmp_path, data)
    assert action != Action.DELIVER
    assert types <= found


@pytest.mark.parametrize(
    "data",
    [
        "Item,Price,Stock\nBlue Widget,3.50,12\nRed Gadget,4.00,7\n",
        "Room 1,12,Sarah Jones\nRoom 2,6,Tom Evans\nRoom 3,20,Grace Hughes\n",
        "Surname,Forename,Room,Extension\nJones,Sarah,G12,4471\nEvans,Tom,G14,4472\n",
        "Surname,Forename,Year,Class\nWilson,Jack,Y5,B\nKhan,Amir,Y2,C\n",
    ],
    ids=["prices", "rooms-no-header", "staff-extensions", "class-list"],
)
def test_tables_of_things_and_staff_are_delivered(tmp_path: Path, data: str) -> None:
    action, found = decide(tmp_path, data)
    assert action == Action.DELIVER
    assert found == set()
