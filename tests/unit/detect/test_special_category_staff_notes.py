"""A named person's health or welfare written the way staff write quick notes.

The staff tester's short operational notes (finding F7): a possessive
("Jack Wilson's asthma plan"), a progressive or passive verb ("is undergoing
chemotherapy", "has taken an overdose", "is on methadone", "is on the autism
pathway") and words staff use for treatment, substance misuse and sexual
health.  Each is a named person's special category data and must be found;
the same words naming a clinic, a post, a course or a programme must not.
"""

from __future__ import annotations

import pytest
from engine_support import found

from gateway.model import InformationType, SegmentSource

SPECIAL = InformationType.SPECIAL_CATEGORY

# The tester's notes, word for word (fn/fn0..fn3.eml and fn/b5..b7.txt).
STAFF_NOTES = [
    (
        "Can you chase the GP for Jack Wilson's asthma plan please? Jack is in Year 3 and has "
        "had two asthma attacks in class this week; we used his inhaler both times.",
        "asthma",
    ),
    (
        "Mr David Jones in flat 3, Castle View block C, has taken an overdose and is in "
        "hospital. Please secure the property today; the front door was forced by the "
        "ambulance crew.",
        "overdose",
    ),
    (
        "Please note Mr Imran Khan is undergoing chemotherapy so is not able to attend the "
        "tenancy review on Thursday. Can we do it by phone in January?",
        "chemotherapy",
    ),
    ("Mr Jones at 5 Mill Court is on methadone (collected daily from Boots).", "methadone"),
    (
        "Mrs Carol Jones had a miscarriage last week, so please be sensitive at tomorrow's "
        "dressing visit.",
        "miscarriage",
    ),
    ("Leo Brown is on the autism pathway.", "autism"),
    ("Mr David Jones has taken an overdose.", "overdose"),
    ("Mr Khan is having chemotherapy.", "chemotherapy"),
    ("Jack Wilson's asthma is getting worse.", "asthma"),
    ("Jack Wilson's asthma plan is attached.", "asthma"),
    ("The tenant, Mr David Jones, is an alcoholic.", "alcoholic"),
    ("Mrs Hughes had a miscarriage last week.", "miscarriage"),
    ("Mrs Hughes has had a miscarriage.", "miscarriage"),
    ("Mr Jones is on methadone.", "methadone"),
    ("Mr Jones takes methadone.", "methadone"),
    (
        "Mr Jones in flat 3 is in hospital after an overdose, please secure the property.",
        "overdose",
    ),
    ("Mr David Jones in flat 3 took an overdose last night and is in hospital.", "overdose"),
]


@pytest.mark.parametrize(("text", "word"), STAFF_NOTES)
def test_a_named_persons_health_in_a_staff_note_is_found(text: str, word: str) -> None:
    assert word in found(text, SPECIAL)


# The ordinary forms the fix covers, with words a council, a school or a
# practice writes about someone's treatment, substance misuse, sexual or
# mental health and safeguarding.
ORDINARY_FORMS = [
    ("Mrs Jones's mental health has got worse since the move.", "mental health"),
    ("Ruby Smith's recent diagnosis of autism came through.", "autism"),
    ("Mrs Priya Patel is receiving radiotherapy at the General.", "radiotherapy"),
    ("Mr Tom Reid has been prescribed methadone.", "methadone"),
    ("Ms Amy Clarke is being treated for depression.", "depression"),
    ("Mr Dean Moore was admitted for an overdose on Saturday.", "overdose"),
    ("Jane Smith is on a child protection plan.", "child protection"),
    ("Ruby Smith is under the CAMHS team.", "CAMHS"),
    ("Sandra Hughes is known to the mental health team.", "mental health"),
    ("Mr Dean Moore is using heroin again.", "heroin"),
    ("Chloe Evans has chlamydia.", "chlamydia"),
    ("Mrs Lisa Ward has a personality disorder.", "personality disorder"),
    ("Kayla Hughes is a victim of sexual exploitation.", "sexual exploitation"),
    ("Mr Paul Green is on dialysis three times a week.", "dialysis"),
    ("Oliver Brown is awaiting an ADHD assessment.", "ADHD"),
    ("Leo Brown's EHCP review is on Friday.", "EHCP"),
    ("Mr Jones is on a methadone script.", "methadone"),
    ("Sam Reid is on the CAMHS waiting list.", "CAMHS"),
    ("Mr Tom Reid is on the methadone programme.", "methadone"),
    ("Sandra Hughes was seen by the crisis team last night.", "crisis team"),
    ("Mr Jones is in hospital after a fall and has dementia.", "dementia"),
    ("Mr Jones has relapsed and is using heroin.", "heroin"),
    ("Priya Patel's mum has cancer.", "cancer"),
]


@pytest.mark.parametrize(("text", "word"), ORDINARY_FORMS)
def test_ordinary_forms_of_a_named_persons_health_are_found(text: str, word: str) -> None:
    assert word in found(text, SPECIAL)


# The same words in ordinary business language: a department, a post, a
# clinic, a course, a programme, a figure of speech, a staff member's team.
NOT_ABOUT_A_PERSON = [
    "Please send the samples to the Chemotherapy Unit on Ward 7.",
    "Dr Sam Ali, methadone clinic lead, will join the meeting.",
    "Dr Ali's methadone clinic moves to Tuesdays from next month.",
    "We are all on the pathway to success this year.",
    "Sarah Johnson is on the CAMHS team.",
    "Mark Hill is on the autism awareness course.",
    "Sarah Jones is the mental health first aider for the school.",
    "Mrs Hughes's mental health first aid course is full.",
    "Jack Jones is undergoing training in autism support.",
    "Mrs Jones had a dementia friends session with the Year 6 class.",
    "Jack Wilson's talk on asthma was very well received.",
    "Mr Khan is receiving the cancer research award on Friday.",
    "Mark Hill has joined the CAMHS team.",
    "Mrs Smith's dementia cafe opens on Friday.",
    "Mark Hill's cannabis factory article was in the paper.",
    "Dr Hughes is on the sexual health clinic rota on Tuesdays.",
    "Emma Wilson, the head, is on the autism steering group.",
    "Jack Jones has been to the autism conference in Leeds.",
    "Sarah Jones is working on the autism pathway redesign.",
    "Mr Patel has taken on the dementia friendly communities project.",
    "Jack Jones in Finance is receiving invoices for the chemotherapy chairs.",
    "Mark Hill, who is on leave, took over the HIV testing pilot.",
    # The name is the one who reports it, not the one it is about.
    "Sarah Jones reported that a neighbour has dementia.",
    "Jack Jones told the panel a tenant has cancer.",
]


@pytest.mark.parametrize("text", NOT_ABOUT_A_PERSON)
def test_the_words_in_business_language_are_not_found(text: str) -> None:
    assert found(text, SPECIAL) == []


def test_a_signature_naming_a_clinic_is_a_business_contact() -> None:
    text = (
        "Please see the rota attached.\n\nKind regards\n\nDr Sam Ali\nMethadone Clinic Lead\n"
        "Northshire Drug and Alcohol Service\nTel: 01632 960123\n"
    )
    assert found(text, SPECIAL, SegmentSource.BODY) == []
