"""Special category data: health, safeguarding, ethnicity, religion, sexuality.

The words are everywhere in a council's or a school's business mail
("safeguarding training", "mental health awareness week"), so a word only
counts near a person: a person word ("she", "the pupil", "his mother") or a
finding that identifies someone (a name, an NHS number, a date of birth).
"Policy", "training" and the like near the word mean it is about the topic,
not about somebody.
"""

from __future__ import annotations

from typing import ClassVar

from gateway.detect.recognizer import Pattern, Recognizer
from gateway.model import InformationType

_WORDS = (
    # health
    r"mental health|depress(?:ion|ed)|anxiety|self[- ]harm(?:ing|ed)?|suicid(?:e|al)"
    r"|overdosed?|autis(?:m|tic)|asperger'?s|dyslexi(?:a|c)|asthma|diabet(?:es|ic)"
    r"|epilep(?:sy|tic)|cancer|chemotherapy|pregnan(?:t|cy)|miscarriage|medication"
    r"|prescribed|diagnos(?:is|ed)|disabilit(?:y|ies)|disabled|special educational needs"
    r"|learning difficult(?:y|ies)|eating disorder|anorexi(?:a|c)|bulimi(?:a|c)"
    r"|psychiatric|psychosis|schizophreni(?:a|c)|bipolar|sectioned|substance misuse"
    r"|drug misuse|alcohol (?:dependency|misuse|abuse)|alcoholism|hiv positive"
    r"|terminal(?:ly)? ill|dementia|cerebral palsy|down'?s syndrome|sickle cell"
    # safeguarding
    r"|child protection|child in need|looked[- ]after child(?:ren)?|sexual(?:ly)? abused?"
    r"|physical(?:ly)? abused?|emotional(?:ly)? abused?|abused|neglected|neglect"
    r"|domestic (?:violence|abuse)|grooming|groomed|exploitation|exploited"
    r"|female genital mutilation|section 47|forced marriage|county lines|radicali[sz]ation"
    r"|criminal record|convicted|conviction|probation|youth offending"
    # ethnicity, religion, sexuality, beliefs, membership
    r"|ethnicity|ethnic origin|white british|black british|asian british|mixed race"
    r"|gypsy|roma|irish traveller|religion|religious belief|muslim|christianity|catholic|islam|jewish|hindu"
    r"|sikh|buddhist|sexual orientation|sexuality|gay|lesbian|bisexual|transgender"
    r"|gender identity|trade union member(?:ship)?|political opinions?"
)
_ACRONYMS = r"ADHD|ASD|SEND|SEN|EHCP|CAMHS|CIN|CSE|CCE|FGM|MASH|LADO|HIV|LGBTQ?|PTSD|OCD"


class SpecialCategoryRecognizer(Recognizer):
    name = "special_category"
    info_type = InformationType.SPECIAL_CATEGORY
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("words", rf"\b(?i:{_WORDS})\b", 0.3),
        Pattern("acronyms", rf"\b(?:{_ACRONYMS})\b", 0.3),
    )
    CONTEXT = (
        "child", "pupil", "patient", "client", "service user", "resident", "he", "she",
        "his", "her", "him", "mother", "father", "mum", "dad", "son", "daughter", "boy",
        "girl", "young person", "baby", "sibling", "brother", "sister", "parent", "carer",
        "was diagnosed", "disclosed", "disclosure", "identifies as",
        # a record's field labels: "Religion: Sikh; ethnicity: White British"
        "religion:", "ethnicity:", "diagnosis:", "medical conditions:", "sen status:",
        "sexuality:", "disability:",
    )  # fmt: skip
    NEGATIVE_CONTEXT = (
        "policy", "policies", "training", "awareness", "procedure", "procedures",
        "course", "webinar", "newsletter", "conference", "strategy", "guidance",
        "audit", "module", "e-learning", "toolkit", "week", "framework", "statistics",
        "funding", "budget",
    )  # fmt: skip
    CONTEXT_WINDOW = (100, 100)
    SUPPORTED_BY = frozenset(
        {
            InformationType.PERSON_NAME,
            InformationType.UK_NHS_NUMBER,
            InformationType.UK_NATIONAL_INSURANCE_NUMBER,
            InformationType.UK_UNIQUE_PUPIL_NUMBER,
            InformationType.DATE_OF_BIRTH,
        }
    )
    SUPPORT_WINDOW = 300
    BUSINESS_CONTACT = True
