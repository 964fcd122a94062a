import random

import pytest
from engine_support import found
from synthetic_ids import bad_nhs_number, nhs_number

from gateway.model import InformationType

rng = random.Random(4)
GOOD = nhs_number(rng)
GOOD_PLAIN = nhs_number(rng).replace(" ", "")
BAD = bad_nhs_number(rng)

CASES = [
    # (text, the value that must be found, or None when nothing must be)
    (f"NHS number: {GOOD}", GOOD),
    (f"Her number is {GOOD} as on the letter", GOOD),
    (f"NHS No {GOOD_PLAIN}", GOOD_PLAIN),
    (f"patient {GOOD.replace(' ', '-')}", GOOD.replace(" ", "-")),
    (f"NHS number: {BAD}", None),  # right shape, wrong check digit
    (f"Order number {GOOD_PLAIN} dispatched", None),  # plain digits, order context
    (f"Invoice ref {GOOD_PLAIN}", None),
    (f"reference X{GOOD_PLAIN}", None),  # not a whole token
    (f"{GOOD_PLAIN}1 units", None),  # eleven digits
    # One digit repeated passes mod 11 but is a placeholder, never issued.
    ("NHS number: 000 000 0000", None),
    ("NHS No 1111111111", None),
    ("NHS number: 999-999-9999", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_nhs_number(text: str, expected: str | None) -> None:
    hits = found(text, InformationType.UK_NHS_NUMBER)
    assert hits == ([expected] if expected else [])


def issued_plain(first_digits: str) -> str:
    """An ungrouped valid number starting with one of `first_digits`."""
    while True:
        digits = nhs_number(rng).replace(" ", "")
        if digits[0] in first_digits:
            return digits


# An ungrouped number on a person's row: a name on the same line is the
# context a clinic list or a spreadsheet export gives (no "NHS" word).  Only
# numbers in the ranges issued to patients (first digit 3, 4, 6 or 7).
ROW_PLAIN = issued_plain("467")
SECOND_PLAIN = issued_plain("467")
NEVER_ISSUED_PLAIN = issued_plain("5")
ROW_CASES = [
    (
        f"Clinic list for Tuesday:\nJack Jones 14/03/2015 {ROW_PLAIN}\n"
        f"Amy Smith 02/07/2016 {SECOND_PLAIN}",
        [ROW_PLAIN, SECOND_PLAIN],
    ),
    (
        f"Patients for clinic:\nJack Jones {ROW_PLAIN}\nAmy Smith {SECOND_PLAIN}",
        [ROW_PLAIN, SECOND_PLAIN],
    ),
    (f"Jack Jones {ROW_PLAIN}", [ROW_PLAIN]),
    (f"| Jack Jones | 14/03/2015 | {ROW_PLAIN} |", [ROW_PLAIN]),
    (f"Jack Jones\t14/03/2015\t{ROW_PLAIN}\t\n", [ROW_PLAIN]),
    (f"Jack Jones,14/03/2015,{ROW_PLAIN}\n", [ROW_PLAIN]),
    (f"Mrs Okonkwo {ROW_PLAIN}", [ROW_PLAIN]),
    # Numbers that are not about a person stay out, a name beside them or not.
    (f"Budget code {ROW_PLAIN} cost centre", []),
    (f"Invoice {ROW_PLAIN} for Jack Jones dated 14/03/2015", []),
    (f"Jack Jones raised PO {ROW_PLAIN} today", []),
    (f"Ticket {ROW_PLAIN} opened by Amy Smith", []),
    (f"Tracking number {ROW_PLAIN} for Jack Jones", []),
    (f"Jack Jones, customer account {ROW_PLAIN}", []),
    (f"Payment {ROW_PLAIN} received 14/03/2015", []),  # a date alone is no person
    (f"Jack Jones\n\nThe batch number is {ROW_PLAIN}", []),  # another line
    (f"Our Finance Team {ROW_PLAIN}", []),  # capitalised words, not a name
    (f"Jack Jones {BAD.replace(' ', '')}", []),  # wrong check digit
    (f"Jack Jones {NEVER_ISSUED_PLAIN}", []),  # valid, but no patient has such a number
    (f"Meeting ID {ROW_PLAIN}: Jack Jones is the host", []),
    (f"Contact Amy Smith on {ROW_PLAIN}", []),
]


@pytest.mark.parametrize(("text", "expected"), ROW_CASES)
def test_nhs_number_on_a_persons_row(text: str, expected: list[str]) -> None:
    assert found(text, InformationType.UK_NHS_NUMBER) == expected


# Other separators between the 3-3-4 groups: an NHS number with its word.
SEPARATED_CASES = [
    (f"NHS number {GOOD.replace(' ', '.')}", GOOD.replace(" ", ".")),
    (f"NHS number {GOOD.replace(' ', '/')}", GOOD.replace(" ", "/")),
    (f"NHS number {GOOD.replace(' ', chr(9))}", GOOD.replace(" ", "\t")),
    # An HTML table's cells, as the HTML extractor writes them.
    ("\tNHS\t\t" + GOOD.replace(" ", "\t\t") + "\t", GOOD.replace(" ", "\t\t")),
    # Without the word, dots are a US telephone number's style, slashes a reference's.
    (f"Call 1-{GOOD.replace(' ', '.')} for support", None),
    (f"File ref {GOOD.replace(' ', '/')}", None),
    (f"Rows {GOOD.replace(' ', chr(9))}", None),
]


@pytest.mark.parametrize(("text", "expected"), SEPARATED_CASES)
def test_nhs_number_groups_with_other_separators(text: str, expected: str | None) -> None:
    hits = found(text, InformationType.UK_NHS_NUMBER)
    assert hits == ([expected] if expected else [])


def test_a_persons_row_names_the_person_too() -> None:
    text = f"Jack Jones {ROW_PLAIN}"
    assert found(text, InformationType.PERSON_NAME) == ["Jack Jones"]


# Written as staff write it: hard-wrapped between its groups (a plain-text
# client's 72 columns, an HTML <br> as the extractor writes it), its word
# spelt with full stops, or called a "ref" while grouped as the NHS prints it.
WRAPPED = GOOD[:7] + "\n" + GOOD[8:]
WRITTEN_CASES = [
    (f"could you update the record for the child, NHS number {GOOD[:7]}\n{GOOD[8:]}, "
     "as the GP has changed", WRAPPED),
    (f"NHS number {GOOD[:7]}\r\n{GOOD[8:]} thanks", GOOD[:7] + "\r\n" + GOOD[8:]),
    (f"> NHS number {GOOD[:7]}\n> {GOOD[8:]}", GOOD[:7] + "\n> " + GOOD[8:]),
    (f"NHS number {GOOD[:3]}\n{GOOD[4:]}", GOOD[:3] + "\n" + GOOD[4:]),
    (f"his N.H.S. number is {GOOD_PLAIN}", GOOD_PLAIN),
    (f"Hi, ref {GOOD} please.", GOOD),
    (f"Our reference: {GOOD.replace(' ', '-')}", GOOD.replace(" ", "-")),
    # Near misses: still out.
    (f"Hi, ref {BAD} please.", None),  # wrong check digit
    ("Hi, ref 123 456 7890 please.", None),  # no valid check digit either
    (f"Order ref {GOOD}", None),  # an order's reference
    (f"File ref {GOOD_PLAIN} NHS", None),  # ungrouped: "ref" still says what it is
    (f"The figures were {GOOD[:7]}\n{GOOD[8:]} in total", None),  # wrapped, no NHS word
    (f"NHS Trust switchboard, tel {GOOD[:7]}\n{GOOD[8:]}", None),  # a telephone line
]


@pytest.mark.parametrize(("text", "expected"), WRITTEN_CASES)
def test_nhs_number_as_staff_write_it(text: str, expected: str | None) -> None:
    hits = found(text, InformationType.UK_NHS_NUMBER)
    assert hits == ([expected] if expected else [])
