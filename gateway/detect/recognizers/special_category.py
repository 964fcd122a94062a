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
"has", "was seen", "diagnosed", "is undergoing", "has taken an", "is on the
... pathway"), then the word ("Mrs Jane Jones is HIV positive", "Priya Patel
has been self-harming"), or a possessive whose word is the person's own
("Jack Wilson's asthma plan").  Not when the word names a
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
    # treatment, and the conditions staff write about in quick notes
    r"|radiotherapy|dialysis|palliative care|end of life care|stillbirth|stillborn"
    r"|termination of (?:a |her )?pregnancy|abortion|ivf|fertility treatment"
    r"|leukaemia|hepatitis [abc]|tuberculosis|multiple sclerosis"
    r"|motor neurone disease|parkinson'?s|alzheimer'?s|stoma|colostomy|incontinen(?:t|ce)"
    r"|seizures?|heart attack|wheelchair user|hearing impair(?:ed|ment)"
    r"|visual(?:ly)? impair(?:ed|ment)|developmental delay"
    # mental health
    r"|personality disorder|panic attacks?|psychotic|antidepressants?|antipsychotics?"
    r"|attempted suicide|crisis team"
    # substance misuse
    r"|methadone|buprenorphine|subutex|heroin|crack cocaine|cocaine|cannabis|opiates?"
    r"|alcoholic|alcohol addiction|drug addiction|gambling addiction|drug use|drug dependency"
    r"|rehab"
    # sexual health
    r"|sexually transmitted (?:infections?|diseases?)|chlamydia|gonorrho?ea|syphilis"
    r"|genital (?:warts|herpes)|sexual health"
    # safeguarding
    r"|child protection|child in need|looked[- ]after child(?:ren)?|sexual(?:ly)? abused?"
    r"|physical(?:ly)? abused?|emotional(?:ly)? abused?|abused?|neglected|neglect"
    r"|domestic (?:violence|abuse)|grooming|groomed|sexual(?:ly)? exploit(?:ation|ed)"
    r"|criminal(?:ly)? exploit(?:ation|ed)|exploitation|exploited|coercive control"
    r"|sexual(?:ly)? assault(?:ed)?|raped?|trafficked|modern slavery|honour[- ]based violence"
    r"|protection register|care order"
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
# Between the name and the word: a few words ("in Year 4", "aged 7", "in
# flat 3, Castle View block C"), a verb saying what the person is or has,
# then only words that carry the fact on ("has been diagnosed with", "was
# seen by CAMHS today for", "is undergoing", "has taken an", "is in hospital
# after an").  Anything else ("has written a report on", "is chairing the")
# makes the name the writer of a topic, not the person it is about.
_GAP_WORD = re.compile(r"[A-Za-z0-9']+")
_LEADING_WORDS = 8
_LINKING_VERBS = frozenset(
    {
        "is", "was", "has", "had", "have", "suffers", "suffered", "disclosed", "takes",
        "took", "needs", "lives", "uses",
    }
)  # fmt: skip
_CARRYING_WORDS = frozenset(
    {
        "a", "an", "and", "or", "also", "now", "just", "recently", "currently", "been",
        "being", "diagnosed", "with", "seen", "by", "referred", "to", "for", "suffering",
        "from", "disclosed", "type", "1", "2", "severe", "mild", "suspected", "possible",
        "today", "yesterday", "taking", "on", "at", "risk", "of", "known", "got", "signs",
        "symptoms", "history", "under", "subject", "self",
        # treatment and its course: "is undergoing", "has had a", "was admitted
        # for", "is in hospital after an", "is awaiting an", "is a victim of"
        "had", "taken", "having", "undergoing", "receiving", "treated", "admitted",
        "hospital", "in", "after", "following", "using", "awaiting", "victim", "still",
        "again", "started", "starting", "another", "further", "second", "open",
    }
)  # fmt: skip
# Words that start another clause about someone else.
_REPORTING_WORDS = frozenset(
    {
        "that", "said", "says", "told", "tells", "reported", "reports", "explained",
        "confirmed", "thinks", "believes", "asked", "mentioned", "whose",
    }
)  # fmt: skip
# After these the person is a service's patient or client, so a team or
# service named next is none they work in, and an article still carries the
# fact on: "is under the mental health team", "is known to the CAMHS team",
# "was referred to the", "was seen by the" (but "is on the CAMHS team" is a
# member of staff).
_CLIENT_OF: frozenset[tuple[str, ...]] = frozenset(
    {("under",), ("known", "to"), ("referred", "to"), ("seen", "by"), ("open", "to")}
)
# "On the" carries the fact only onto a list a person is put on: "is on the
# autism pathway", "is on the child protection register", "is on the methadone
# programme" (not "is on the autism steering group").
_ON_A_LIST = re.compile(
    r"[ ]+(?:pathway|register|waiting list|list|plan|caseload|programme|scheme)\b", re.I
)
# What a possessive may hold before the word: "Jack Wilson's asthma plan",
# "Mrs Jones's mental health", "Ruby Smith's recent diagnosis of autism".
_POSSESSIVE = re.compile(r"'s?[ ]")
_POSSESSED_WORDS = frozenset(
    {
        "recent", "current", "ongoing", "severe", "mild", "worsening", "suspected",
        "possible", "diagnosis", "of", "type", "1", "2",
    }
)  # fmt: skip
_POSSESSED_REACH = 3
# And what may follow it: the person's own plan, treatment or symptoms, or
# the rest of a sentence about it ("Jack Wilson's asthma is getting worse").
# Any other noun makes it a thing the person runs or wrote ("Mrs Smith's
# dementia cafe", "Mark Hill's cannabis factory article").
_NEXT_WORD = re.compile(r"[ ]+([A-Za-z']+)")
_POSSESSED_AFTER = frozenset(
    {
        "plan", "plans", "care", "medication", "medicine", "medicines", "inhaler", "treatment",
        "diagnosis", "assessment", "appointment", "appointments", "review", "symptoms",
        "attack", "attacks", "referral", "needs", "condition", "support", "is", "was", "has",
        "had", "have", "got", "gets", "getting", "seems", "means", "and", "or", "which",
        "that", "so", "but", "isn't", "hasn't", "wasn't", "pathway", "status", "result",
        "results", "test", "tests", "history", "will", "should", "may", "might", "can",
        "could", "came", "went", "continues", "affects", "makes", "appears", "worsened",
        "improved", "improving", "worse", "better", "flared", "returned",
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
    r"(?:[ ]+|-)(?:support[ ]+)?(?:team|teams|service|services|officer|officers|lead|leads"
    r"|coordinator|co-ordinator"
    r"|manager|worker|workers|nurse|nurses|practitioner|practitioners|clinic|clinics|unit"
    r"|panel|meeting|meetings|department|hub|board|forum|network|group|charity|specialist"
    r"|consultant|adviser|advisor|champion|chaplain|advocate|training|course|policy|provision"
    r"|base|provider|research|referrals|screening|cover|awareness|session|sessions|programme"
    r"|project|campaign|week|day|month|event|events|lunch|fundraiser|walk|run|first aid"
    r"|first aider|first aiders|friends|friendly|champions|ambassador|ambassadors|volunteer"
    r"|volunteers|talk|talks|presentation|workshop|workshops|seminar|webinar|assembly|lesson"
    r"|lessons|article|survey|study|fundraising|appeal|cafe|cafes|club|clubs|conference"
    r"|conferences|committee|steering|partnership|strategy|society|association|trust"
    r"|foundation|alliance|pilot|contract|commissioning)\b",
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
        "audit", "module", "e-learning", "toolkit", "framework", "statistics",
        # an awareness week, not "last week": a case note's dates are no topic
        "health week", "acceptance week", "action week",
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
    ("Jack Jones has been diagnosed with epilepsy") or owning it ("Jack
    Wilson's asthma plan"), the word naming no service ("the CAMHS team")
    unless the person is that service's client ("is under the CAMHS team")."""
    if _VERB_TERMS.fullmatch(text, start, end):
        return False
    service = _SERVICE_NOUN.match(text, end) is not None
    begin = _sentence_start(text, start)
    if begin >= start:
        return False
    names = list(person_names(text, begin, start)) or list(
        lower_case_person_names(text, begin, start)
    )
    if not names or start - names[-1][1] > _LINK_REACH:
        return False
    name_end = names[-1][1]
    words = _GAP_WORD.findall(text, name_end, start)
    on_a_list = words[-2:] == ["on", "the"] and _ON_A_LIST.match(text, end) is not None
    if service and not (on_a_list or _client_of(words)):
        return False
    if _ADJACENT.fullmatch(text, name_end, start):
        return (
            text[start:end] not in _SERVICE_ACRONYMS and _CAPITALISED_NEXT.match(text, end) is None
        )
    possessive = _POSSESSIVE.match(text, name_end)
    if possessive is not None:
        owned = _GAP_WORD.findall(text, possessive.end(), start)
        if (
            len(owned) <= _POSSESSED_REACH
            and all(word.lower() in _POSSESSED_WORDS or _TERM.fullmatch(word) for word in owned)
            and _owned_by_the_person(text, end)
        ):
            return True
    # Any verb among the leading words may be the one ("Mr Jones is in
    # hospital after a fall and has dementia"), up to a verb that reports
    # what someone else said ("Jack Jones told us that a tenant has cancer":
    # the fact is not about the name).
    for index, word in enumerate(words[: _LEADING_WORDS + 1]):
        lower = word.lower()
        if lower in _REPORTING_WORDS:
            return False
        if lower in _LINKING_VERBS and _carries(words[index + 1 :], on_a_list):
            return True
    return False


def _owned_by_the_person(text: str, end: int) -> bool:
    """After a possessive, the word ends its phrase or names the person's own
    plan, treatment or symptoms."""
    following = _NEXT_WORD.match(text, end)
    return following is None or following.group(1).lower() in _POSSESSED_AFTER


def _carries(words: list[str], on_a_list: bool) -> bool:
    """Whether the words after the verb carry the fact on to the word; "the"
    only after a patient's or client's phrase, or after "on" before a list."""
    for index, word in enumerate(words):
        lower = word.lower()
        if lower == "the":
            carried = (on_a_list and index == len(words) - 1) or _client_of(words[:index])
        else:
            carried = lower in _CARRYING_WORDS or _TERM.fullmatch(word) is not None
        if not carried:
            return False
    return True


def _client_of(words: list[str]) -> bool:
    """The words (before the service's name, an article aside) end with a
    phrase that makes the person its patient or client."""
    last = [word.lower() for word in words[-3:]]
    if last and last[-1] == "the":
        last.pop()
    return any(tuple(last[index:]) in _CLIENT_OF for index in range(len(last)))
