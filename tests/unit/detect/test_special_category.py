import pytest
from engine_support import found

from gateway.model import InformationType

CASES = [
    ("She was diagnosed with epilepsy last year.", ["diagnosed", "epilepsy"]),
    ("The pupil has ADHD and an EHCP.", ["ADHD", "EHCP"]),
    ("Name: Oliver Smith. Religion: Muslim", ["Religion", "Muslim"]),
    ("There are child protection concerns about her.", ["child protection"]),
    ("Please complete the safeguarding training by Friday.", []),  # topic, not a person
    ("Mental health awareness week starts on Monday.", []),
    ("The SEND policy has been updated.", []),
    ("Kind regards,\nJo Bloggs\nDesignated Safeguarding Lead\nTel: 0113 496 0000", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_special_category(text: str, expected: list[str]) -> None:
    assert found(text, InformationType.SPECIAL_CATEGORY) == expected


# A named person and a health or safeguarding fact in one sentence: the name
# is the person the word is about ("near a person").
NAMED_CASES = [
    ("Mrs Jane Jones is HIV positive.", ["HIV positive"]),
    ("Priya Patel has been self-harming.", ["self-harming"]),
    ("Ellie-Mae O'Connor-Smith has been self-harming.", ["self-harming"]),
    ("Jack Jones has been diagnosed with epilepsy.", ["epilepsy"]),  # the condition is the fact
    ("Jack Jones in Year 4 has disclosed abuse at home; social worker informed.", ["abuse"]),
    (
        "Hi, just to let you know Jack Jones was seen by CAMHS today for anxiety.",
        ["CAMHS", "anxiety"],
    ),
    ("Mohammed Al-Hassan has type 1 diabetes.", ["diabetes"]),
    ("jack jones has autism and adhd", ["autism", "adhd"]),
    # A subject or a file name: the name and the word side by side.
    ("Jane Jones - HIV positive result", ["HIV positive"]),
    ("Jane Jones HIV result.png", ["HIV"]),
    ("Jack Jones, diabetes; Amy Smith, asthma", ["diabetes", "asthma"]),
    # No person, or the word names a team, a post or a service, not a condition.
    ("Jane Smith - Mental Health Lead", []),
    ("Jane Smith, SEND Officer", []),
    ("Sarah Jones, Autism Education Trust", []),
    ("Thanks Jack Jones - cancer screening invites went out", []),
    ("The HIV clinic moves to Ward 4.", []),
    ("Our new manager, Sarah Johnson, starts Monday", []),
    ("Jack Jones from Finance is on leave", []),
    ("Sarah Johnson is our new SEND officer.", []),
    ("Mark Hill has joined the CAMHS team.", []),
    ("Jack Jones will run the autism awareness course.", []),
    ("David Brown has written a report on domestic abuse in the borough.", []),
    ("Mark Hill is chairing the anxiety support group.", []),
    ("Peter Green is a Muslim chaplain at the hospital.", []),
    ("Jack Jones said the policy on abuse is under review.", []),
    ("Jack Jones sent this. Epilepsy Action have a leaflet.", []),  # another sentence
    ("please report abuse to the safeguarding team", []),
]


@pytest.mark.parametrize(("text", "expected"), NAMED_CASES)
def test_special_category_about_a_named_person(text: str, expected: list[str]) -> None:
    assert found(text, InformationType.SPECIAL_CATEGORY) == expected
