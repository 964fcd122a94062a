"""A named person's safeguarding and health facts in social-care shorthand.

The staff tester's finding: social workers, teachers and nurses write a case
as "S47 Leo Fletcher", "Kelly Fletcher - MARAC", "Leo Fletcher is LAC" or
"came in with bruising, says his stepdad did it", and none of it was found
as special category data, so it left in clear and no hold started.  The
same shorthand is other things in ordinary mail (the CP behind the school,
Room S17, a DV reference, an EHCP briefing, a MARAC course and its trainer)
and must stay unfound there.  Names are synthetic.
"""

from __future__ import annotations

import pytest
from engine_support import found

from gateway.model import InformationType, SegmentSource

SPECIAL = InformationType.SPECIAL_CATEGORY
SUBJECT = SegmentSource.SUBJECT
BODY = SegmentSource.BODY

# The tester's subjects and bodies, word for word, each with the word found.
CASES = [
    (SUBJECT, "Section 47 - Leo Fletcher", "Section 47"),
    (SUBJECT, "Leo Fletcher - CP medical", "CP medical"),
    (SUBJECT, "S47 Leo Fletcher", "S47"),
    (SUBJECT, "LAC review Leo Fletcher", "LAC"),
    (SUBJECT, "Leo Fletcher EHCP", "EHCP"),
    (SUBJECT, "Leo Fletcher CIN plan", "CIN"),
    (SUBJECT, "Kelly Fletcher - MARAC", "MARAC"),
    (SUBJECT, "Kelly Fletcher - DV incident", "DV incident"),
    (SUBJECT, "RE: Leo Fletcher - disclosure", "disclosure"),
    (SUBJECT, "MASH referral Leo Fletcher 03.04.15", "MASH"),
    (BODY, "Leo Fletcher was admitted to A&E after an overdose last night.", "overdose"),
    (BODY, "Leo Fletcher was admitted to A&E after an overdose last night.", "admitted to A&E"),
    (BODY, "Leo Fletcher is subject to a CP plan.", "CP plan"),
    (BODY, "Section 47 enquiry started for Leo Fletcher.", "Section 47"),
    (BODY, "Kelly Fletcher has been referred to MARAC.", "MARAC"),
    (BODY, "Leo Fletcher is LAC, placed in Harrogate.", "LAC"),
    (
        BODY,
        "Leo Fletcher came in with bruising to his face again, says his stepdad did it.",
        "bruising",
    ),
    (BODY, "Kelly Fletcher - DV incident last night, police attended.", "DV incident"),
    (
        BODY,
        "leo fletcher came in with bruises again, says step dad did it, on CP plan already.",
        "bruises",
    ),
    (
        BODY,
        "Leo Fletcher, DOB 03/04/2015, disclosed today that his stepdad hits him",
        "disclosed",
    ),
    # A pupil by first name and class: a school names one child so.
    (
        BODY,
        "Leo in 4B came in with a black eye again today and said dad did it.",
        "black eye",
    ),
    # The same rules in other words staff use.
    (SUBJECT, "CLA review - Leo Fletcher", "CLA review"),
    (SUBJECT, "Leo Fletcher - S17", "S17"),
    (SUBJECT, "Kelly Fletcher MAPPA", "MAPPA"),
    (SUBJECT, "Leo Fletcher - MASH referral", "MASH"),
    (BODY, "Leo Fletcher was taken to A&E last night.", "taken to A&E"),
    (BODY, "Kelly Fletcher is a DV victim.", "DV victim"),
    (BODY, "Leo Fletcher has been on a CP plan since March.", "CP plan"),
    (BODY, "MASH referral made for Leo Fletcher, DOB 03/04/2015.", "MASH"),
    (BODY, "MASH referral: Leo Fletcher", "MASH"),
    (SUBJECT, "[SECURE] LAC review Leo Fletcher", "LAC"),
    (BODY, "The CP plan for Leo Fletcher is attached.", "CP plan"),
    (
        BODY,
        "Leo Fletcher in Year 4 has disclosed that his uncle touched him; police informed.",
        "disclosed",
    ),
    (
        BODY,
        "Amy (Y4) arrived with marks on her arms and said mum hit her.",
        "marks on her",
    ),
]


@pytest.mark.parametrize(("source", "text", "word"), CASES)
def test_a_named_persons_case_in_shorthand_is_found(
    source: SegmentSource, text: str, word: str
) -> None:
    assert word in found(text, SPECIAL, source)


# Found before the shorthand rules ("disclosed" near the fact is a person
# word, "(Y4)" after a name makes it a name that supports the word); kept so
# that stays so.
ALREADY_FOUND = [
    (BODY, "Leo Fletcher is on a CIN plan.", "CIN"),
    (BODY, "LF (Y4) has disclosed sexual abuse by an uncle. Police informed.", "sexual abuse"),
    (SUBJECT, "EHCP review - Leo Fletcher (Y4)", "EHCP"),
]


@pytest.mark.parametrize(("source", "text", "word"), ALREADY_FOUND)
def test_what_was_found_stays_found(source: SegmentSource, text: str, word: str) -> None:
    assert word in found(text, SPECIAL, source)


# The shorthand in ordinary business mail: no person, or the named person is
# the member of staff, the trainer, the author or the one in a room.
NOT_ABOUT_A_PERSON = [
    (BODY, "Parking in the CP behind the school"),
    (BODY, "Parking in the CP behind the school is closed; Mark Hill will move the cones."),
    (BODY, "Cambridge Primary (CP) results: well done Sarah Jones and Mark Hill."),
    (BODY, "Please see the CP plan for the car park layout, Mark Hill."),
    (SUBJECT, "CP car park - Mark Hill"),
    (BODY, "LAC"),
    (BODY, "The LAC figures are attached. Mark Hill will present them."),
    (BODY, "Sarah Jones is our LAC nurse."),
    (BODY, "Sarah Jones is LAC lead for the virtual school."),
    (SUBJECT, "LAC figures Q3 - Mark Hill"),
    (BODY, "Kind regards\nSarah Jones\nLAC Nurse\nNorthshire NHS\nTel 01632 960123"),
    (BODY, "Section 47 of the Act places a duty on the local authority to make enquiries."),
    (BODY, "Section 47 of the Act places a duty on the council; Sarah Jones will explain."),
    (SUBJECT, "Section 17 of the Housing Act - Sarah Jones"),
    (BODY, "Sarah Jones is in S17 this afternoon."),
    (BODY, "Mark Hill has moved to Room S47."),
    (BODY, "S17 - Sarah Jones"),
    (BODY, "A&E waiting times rose in March"),
    (BODY, "A&E waiting times rose in March, Sarah Jones reported."),
    (BODY, "Sarah Jones went to A&E to collect the rota."),
    (BODY, "Safeguarding Level 3 - MARAC awareness, trainer Jo Bloggs"),
    (SUBJECT, "Safeguarding Level 3 - MARAC awareness, trainer Sarah Jones"),
    (BODY, "MARAC meeting chaired by Sarah Jones on Tuesday."),
    (BODY, "The MARAC referral form was sent to Sarah Jones."),
    (SUBJECT, "MAPPA training - Sarah Jones"),
    (BODY, "Jo Bloggs, DV Coordinator"),
    (SUBJECT, "Sarah Jones - DV Coordinator"),
    (BODY, "Sarah Jones is the DV lead."),
    (BODY, "Ref: DV/2024/113 - Sarah Jones"),
    (SUBJECT, "DV/2024/113 Sarah Jones"),
    (BODY, "EHCP annual review process briefing for SENCOs"),
    (SUBJECT, "EHCP annual review process briefing for SENCOs"),
    (BODY, "EHCP annual review process briefing for SENCOs, led by Sarah Jones."),
    (BODY, "Sarah Jones - EHCP"),
    (BODY, "Sarah Jones, EHCP Coordinator"),
    (SUBJECT, "Sarah Jones - CLA licence renewal"),
    (BODY, "Sarah Jones disclosed the budget figures to governors."),
    (BODY, "Sarah Jones made a disclosure of interests at the start of the meeting."),
    (SUBJECT, "Sarah Jones - DBS disclosure"),
    (SUBJECT, "Sarah Jones - disclosure of interests form"),
    (BODY, "Sarah Jones has a sports injury and will miss the match."),
    (BODY, "Mark Hill came in with the injury claims forms, says the insurer did it."),
    (BODY, "The team hit their targets; Sarah Jones did it again!"),
    (BODY, "Leo in 4B won the spelling bee and said his dad helped."),
    # A post or a label for the procedure, then the member of staff.
    (BODY, "Designated teacher for LAC: Mark Hill"),
    (BODY, "Governor for LAC - Sarah Jones"),
    (BODY, "LAC: Mark Hill"),
    (BODY, "MARAC rep - Sarah Jones"),
    (BODY, "Sarah Jones is MAPPA trained."),
    (BODY, "Sarah Jones, MAPPA"),
    (BODY, "Mark Hill attended A&E as the on-call consultant."),
    (BODY, "Sarah Jones has a disclosure meeting at 2pm."),
    (BODY, "Mark Hill disclosed that the contractor hit them with a late invoice."),
    (SUBJECT, "Sarah Jones - injury at work form"),
    (BODY, "RE (Y4): Islam and Christianity, with Sarah Jones."),
    (
        BODY,
        "In this week's newsletter: congratulations to Mrs Sarah Jones on completing her "
        "MARAC training, and thanks to Mark Hill for the EHCP review briefing.",
    ),
    (
        BODY,
        "Newsletter: Mark Hill has joined as our new LAC designated teacher. Sarah Jones is "
        "in S17 on Thursdays.",
    ),
]


@pytest.mark.parametrize(("source", "text"), NOT_ABOUT_A_PERSON)
def test_the_shorthand_in_business_mail_is_not_found(source: SegmentSource, text: str) -> None:
    assert found(text, SPECIAL, source) == []
