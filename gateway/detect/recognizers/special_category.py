"""Special category data: health, safeguarding, ethnicity, religion, sexuality.

The words are everywhere in a council's or a school's business mail
("safeguarding training", "mental health awareness week"), so a word only
counts near a person: a person word ("she", "the pupil", "his mother") or a
finding that identifies someone (a name, an NHS number, a date of birth).
"Policy", "training" and the like near the word mean it is about the topic,
not about somebody.

A name counts as a person when the word says something about them in the
same sentence: a name (`person_name.person_names`, or a known forename and
surname in lower case), then a verb that says what they are or have ("is",
"has", "was seen", "diagnosed"), then the word ("Mrs Jane Jones is HIV
positive", "Priya Patel has been self-harming").  Not when the word names a
team, a post or a service ("Sarah Johnson is our SEND officer", "has joined
the CAMHS team"): staff are named beside those words every day.
"""

from __future__ import annotations

import re
from typing import ClassVar

from gateway.detect.recognizer import Assessment, Pattern, Recognizer
from gateway.detect.recognizers.person_name import lower_case_person_names, person_names
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
    r"|terminal(?:ly)? ill|adhd|ptsd|dementia|cerebral palsy|down'?s syndrome|sickle cell"
    # safeguarding
    r"|child protection|child in need|looked[- ]after child(?:ren)?|sexual(?:ly)? abused?"
    r"|physical(?:ly)? abused?|emotional(?:ly)? abused?|abused?|neglected|neglect"
    r"|domestic (?:violence|abuse)|grooming|groomed|exploitation|exploited"
    r"|female genital mutilation|section 47|forced marriage|county lines|radicali[sz]ation"
    r"|criminal record|convicted|conviction|probation|youth offending"
    # ethnicity, religion, sexuality, beliefs, membership
    r"|ethnicity|ethnic origin|white british|black british|asian british|mixed race"
    r"|gypsy|roma|irish traveller|religion|religious belief|muslim|christianity|catholic|islam|jewish|hindu"
    r"|sikh|buddhist|sexual orientation|sexuality|gay|lesbian|bisexual|transgender"
    r"|gender identity|trade union member(?:ship)?|political opinions?"
)
_ACRONYMS = r"ASD|SEND|SEN|EHCP|CAMHS|CIN|CSE|CCE|FGM|MASH|LADO|HIV|LGBTQ?|OCD"

# How far back in its sentence a name is looked for, and how far before the
# word it may end.
_NAME_REACH = 100
_LINK_REACH = 60
# Between the name and the word: a few words ("in Year 4", "aged 7"), a verb
# saying what the person is or has, then only words that carry the fact on
# ("has been diagnosed with", "was seen by CAMHS today for").  Anything else
# ("has written a report on", "is chairing the") makes the name the writer
# of a topic, not the person it is about.
_GAP_WORD = re.compile(r"[A-Za-z0-9']+")
_LEADING_WORDS = 4
_LINKING_VERBS = frozenset(
    {"is", "was", "has", "had", "have", "suffers", "suffered", "disclosed", "takes", "needs"}
)
_CARRYING_WORDS = frozenset(
    {
        "a", "an", "and", "or", "also", "now", "just", "recently", "currently", "been",
        "being", "diagnosed", "with", "seen", "by", "referred", "to", "for", "suffering",
        "from", "disclosed", "type", "1", "2", "severe", "mild", "suspected", "possible",
        "today", "yesterday", "taking", "on", "at", "risk", "of", "known", "got", "signs",
        "symptoms", "history", "under", "subject", "self",
    }
)  # fmt: skip
# Nothing but a dash, colon or comma between the name and the word, as a
# subject, a file name or a list writes it ("Jane Jones - HIV positive
# result"), when the word is a condition rather than a service's acronym and
# is not the start of an organisation's name ("Autism Education Trust").
_ADJACENT = re.compile(r"[ ]?[-:,]?[ ]?")
_SERVICE_ACRONYMS = frozenset({"SEND", "SEN", "EHCP", "CAMHS", "CIN", "MASH", "LADO"})
_CAPITALISED_NEXT = re.compile(r"[ ]+[A-Z]")
_TERM = re.compile(rf"(?i:{_WORDS})|{_ACRONYMS}")
# Verbs among the words, which a condition follows ("diagnosed with ..."):
# the condition is the fact, "diagnosed as the best manager" none.
_VERB_TERMS = re.compile(r"(?i:diagnos(?:is|ed)|prescribed)")
# The word names a team, a post or a service when one of these follows it.
_SERVICE_NOUN = re.compile(
    r"[ ]+(?:team|teams|service|services|officer|officers|lead|leads|coordinator|co-ordinator"
    r"|manager|worker|workers|nurse|nurses|practitioner|practitioners|clinic|clinics|unit"
    r"|panel|meeting|meetings|department|hub|board|forum|network|group|charity|specialist"
    r"|consultant|adviser|advisor|champion|chaplain|advocate|training|course|policy|provision"
    r"|base|provider|research|referrals|screening|cover|awareness|session|sessions|programme"
    r"|project|campaign|week|day|month|event|events|lunch|fundraiser|walk|run)\b",
    re.I,
)
_SENTENCE_END = re.compile(r"[.!?;](?:\s|$)|\n")
_TITLE_BEFORE = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Master)\Z")


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
    # A named person the word is about in the same sentence: as sure as a person word.
    NAMED_PERSON_BOOST: ClassVar[float] = 0.35

    def assess(self, text: str, start: int, end: int, score: float) -> Assessment | None:
        if _about_a_named_person(text, start, end):
            score += self.NAMED_PERSON_BOOST
        return Assessment(start, end, score)


def _sentence_start(text: str, start: int) -> int:
    """Where the sentence holding `start` begins, looking back `_NAME_REACH` at most."""
    low = max(0, start - _NAME_REACH)
    begin = low
    for match in _SENTENCE_END.finditer(text, low, start):
        # "Mrs. Jones": the full stop of a title ends no sentence.
        if match.group()[0] == "." and _TITLE_BEFORE.search(text, low, match.start()):
            continue
        begin = match.end()
    return begin


def _about_a_named_person(text: str, start: int, end: int) -> bool:
    """A name earlier in the sentence, linked to the word by a verb
    ("Jack Jones has been diagnosed with epilepsy"), the word naming no
    service ("the CAMHS team")."""
    if _SERVICE_NOUN.match(text, end) or _VERB_TERMS.fullmatch(text, start, end):
        return False
    begin = _sentence_start(text, start)
    if begin >= start:
        return False
    names = list(person_names(text, begin, start)) or list(
        lower_case_person_names(text, begin, start)
    )
    if not names or start - names[-1][1] > _LINK_REACH:
        return False
    if _ADJACENT.fullmatch(text, names[-1][1], start):
        return (
            text[start:end] not in _SERVICE_ACRONYMS and _CAPITALISED_NEXT.match(text, end) is None
        )
    words = _GAP_WORD.findall(text, names[-1][1], start)
    for index, word in enumerate(words[: _LEADING_WORDS + 1]):
        if word.lower() in _LINKING_VERBS:
            return all(
                after.lower() in _CARRYING_WORDS or _TERM.fullmatch(after)
                for after in words[index + 1 :]
            )
    return False
