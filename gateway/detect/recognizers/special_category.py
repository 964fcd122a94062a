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

Social workers, teachers and nurses write a case in shorthand ("S47 Leo
Fletcher", "Kelly Fletcher - MARAC", "Leo Fletcher is LAC", "is subject to a
CP plan", "was admitted to A&E").  Those words (`_SHORTHAND`) are other
things elsewhere (the CP behind the school, Room S17, a DV reference), so
they count only tied to a named person, never by a person word or a name
somewhere near.  A case is also written procedure first, the person after
("MASH referral Leo Fletcher", "Section 47 enquiry started for Leo
Fletcher"): a procedure, or a word with a case noun ("EHCP review"), then
nothing but connecting words, then the name ending the line or sentence.
An injury ("came in with bruising") counts only with an account of who did
it in the same sentence ("says his stepdad did it"), and a disclosure only
with one ("disclosed that his stepdad hits him") or as a case heading ("RE:
Leo Fletcher - disclosure").  A known forename with the pupil's class ("Leo
in 4B", "Amy (Y4)") or initials with it ("LF (Y4)") name a pupil as well as
a full name does.
"""

from __future__ import annotations

import re
from typing import ClassVar

from gateway.detect.recognizer import Assessment, Pattern, Recognizer
from gateway.detect.recognizers.person_name import lower_case_person_names, person_names
from gateway.detect.recognizers.uk_names import FORENAMES, NOT_NAME_WORDS
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
    # ethnic origin as a sentence gives it: "is of Pakistani heritage"
    r"|(?:pakistani|indian|bangladeshi|kashmiri|punjabi|chinese|somali|nigerian|ghanaian"
    r"|eritrean|ethiopian|sudanese|jamaican|caribbean|african|arab|kurdish|syrian|afghan"
    r"|iraqi|iranian|turkish|polish|romanian|roma|slovak|czech|lithuanian|latvian|albanian"
    r"|vietnamese|filipino|sri[ ]lankan|tamil|nepali|irish|gypsy|traveller|mixed|asian"
    r"|black|white)[ ](?:heritage|descent|ethnic[ ]origin|ethnicity)"
)
# Criminal offence data (UK GDPR article 10), trade union membership and
# immigration status.  Each is ordinary news or a notice without a named
# person ("police arrested two men", "Unison members are invited", "the
# asylum seeker contract"), so, like the shorthand, these count only tied
# to one (`_TIED_ONLY`): "William Jennings was arrested", "Paul Roberts is a
# Unison member", "Amir Khan has no recourse to public funds".
_UNIONS = r"unison|unite|gmb|neu|nasuwt|ucu|rcn|bma|pcs|usdaw|naht|ascl|rmt|aslef|cwu|fbu"
_TIED_WORDS = (
    r"arrested|cautioned|(?:a|police|youth|simple|conditional)[ ]caution|shoplifting"
    r"|charged[ ]with[ ](?:an?[ ])?(?:offence|assault|theft|burglary|robbery|fraud|possession"
    r"|harassment|affray|criminal[ ]damage|drink[- ]driving|murder|manslaughter)"
    r"|remanded|on[ ](?:police[ ])?bail|sentenced|imprisoned|in[ ]prison"
    r"|in[ ](?:police[ ])?custody"
    rf"|(?:{_UNIONS}|union)[ ]member(?:s|ship)?|member[ ]of[ ](?:the[ ])?(?:{_UNIONS}|union)"
    r"|no[ ]recourse[ ]to[ ]public[ ]funds|nrpf|asylum[ ](?:seeker|claim|application|support)"
    r"|refugee[ ]status|immigration[ ](?:status|bail|detention)|leave[ ]to[ ]remain"
    r"|overstayer|deport(?:ed|ation)"
)
# The verbs among them, of which a name may be the subject as well as the
# object: "PC Mark Hill arrested two men", "Judge Hill has sentenced".
_OFFENCE_VERB = re.compile(r"(?i:arrested|cautioned|remanded|sentenced|imprisoned|deported)")
_ACTIVE_BEFORE = frozenset({"has", "have", "had", "who"})
_ACRONYMS = r"ASD|SEND|SEN|EHCP|CAMHS|CIN|CSE|CCE|FGM|MASH|LADO|HIV|LGBTQ?|OCD"
# Social-care, safeguarding and NHS shorthand.  Each is something else in
# ordinary mail ("the CP" is a car park or a school, S17 a room, LAC a Local
# Area Coordinator, "disclosure" a DBS check, "admitted to A&E" a waiting-
# times figure), so these count only tied to a named person, never by a
# person word or a name somewhere near (`_TIED_ONLY`).  CP and DV only with
# the noun that makes them a case ("CP plan", "DV incident"); CLA (also the
# Copyright Licensing Agency) only with its review or placement.
_SHORTHAND = (
    r"CP[ ](?i:plans?|medical|register|enquiry|investigation|concerns|case)"
    r"|S[ ]?47|S[ ]?17|(?i:section[ ]17)|LAC|CLA[ ](?i:review|placement|status)|MARAC|MAPPA"
    r"|DV[ ](?i:incidents?|victim|perpetrator|disclosure|concerns|history)"
    r"|(?i:domestic[ ]incidents?|disclos(?:ed|ure))"
    # a patient's admission, not staff who work or go there
    r"|(?i:admitted|taken|brought|rushed|attended|presented)[ ](?i:to[ ]|at[ ])?A&E"
)
# An injury is a child's or a patient's health and, with who did it, a
# safeguarding fact; without that ("a sports injury", "marks" out of ten) it
# is too often nothing, so it needs the account in its sentence.
_INJURIES = (
    r"bruis(?:ing|es|ed|e)|black[ ]eye|injur(?:y|ies|ed)|burns?|swelling|fractured?"
    r"|broken[ ](?:arm|wrist|leg|nose|ribs?|finger|collarbone)|marks[ ]on[ ](?:his|her|their)"
)
# Who did it with what they did, as a disclosure is written down: "her
# partner hit her", "his stepdad kicked him", "my husband has hit me": an
# account of abuse that needs no other word ("refuge", "DV").  It counts
# only with a named person earlier in its sentence (`_harmed_person_named`).
_PERPETRATORS = (
    r"(?:ex[- ]?)?(?:partner|husband|wife|boyfriend|girlfriend)|step[- ]?(?:dad|father|mum|mother)"
    r"|dad|father|mum|mother|uncle|aunt|brother|sister|cousin|grandad|grandfather|carer"
)
_HARM_VERBS = (
    r"hit|hits|hitting|hurt|hurts|kick(?:s|ed)?|punch(?:es|ed)?|slap(?:s|ped)?|beat(?:s|en)?"
    r"|smack(?:s|ed)?|push(?:es|ed)|strangl(?:es|ed)|chok(?:es|ed)|throttl(?:es|ed)|burnt"
    r"|bit|bites|whack(?:s|ed)|thump(?:s|ed)|threaten(?:s|ed)|rap(?:es|ed)|assault(?:s|ed)"
    r"|attack(?:s|ed)|touch(?:es|ed)"
)
_PERPETRATED = (
    rf"(?:{_PERPETRATORS})[ ](?:(?:has|had|keeps|kept|always|often|again|then|also|just"
    rf"|allegedly|repeatedly)[ ]){{0,2}}(?:{_HARM_VERBS})[ ](?:him|her|me|them)"
)
_PERPETRATOR = re.compile(rf"(?i:{_PERPETRATED})")
# Between the name and the account, a person the account would be about
# instead: "Sarah Jones says the tenant's partner hit her".
_SOMEONE_ELSE = frozenset(
    {
        "tenant", "tenants", "client", "clients", "resident", "neighbour", "neighbours",
        "woman", "man", "girl", "boy", "child", "pupil", "patient", "mother", "mum", "friend",
        "sister", "daughter", "victim", "caller", "lady",
    }
)  # fmt: skip

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
_GAP_WORD = re.compile(r"[A-Za-z0-9'&]+")
_LEADING_WORDS = 8
_LINKING_VERBS = frozenset(
    {
        "is", "was", "has", "had", "have", "suffers", "suffered", "disclosed", "takes",
        "took", "needs", "lives", "uses",
        # how a teacher or a nurse writes an injury or an admission: "came in
        # with bruising", "arrived with a black eye", "presented with"
        "came", "arrived", "presented",
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
        # "was admitted to A&E after an overdose"
        "a&e",
        # an absence and what it is for: "has been off sick with stress and
        # depression", "is signed off with anxiety", "is absent due to"
        "off", "sick", "signed", "absent", "due", "leave", "work", "stress",
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
# A list row gives several after the name, the word among them ("Jack
# Wilson - EHCP, autism", "Leo Fletcher: ADHD/ASD"), or puts them in
# brackets ("Jack Wilson (LAC)", "Amy Smith (EHCP, autism)"): the name, a
# dash, colon, comma or bracket, then only other such words before it.
_LIST_LEAD = re.compile(r"[ ]?(?:(?P<bracket>\()|[-:,])?[ ]?")
_LIST_SEPARATOR = re.compile(r"[ ]?[,/&+][ ]?|[ ]and[ ]")
# A bracket closed after the word on its line, with only more such words
# before it: "(EHCP, autism)".
_BRACKET_CLOSE = re.compile(r"[^()\n]{0,40}\)")
# Who attends or is sent something lists each with their team or role in
# brackets ("Present: Sarah Jones (LAC), Mark Hill (Police)"): not a case.
_ATTENDANCE = re.compile(
    r"\b(?i:attendees|attending|present|apologies|invitees|invited|distribution|panel"
    r"|members|contacts|circulation)\b"
)
_ATTENDANCE_REACH = 300
_SERVICE_ACRONYMS = frozenset({"SEND", "SEN", "EHCP", "CAMHS", "CIN", "MASH", "LADO"})
# A plan a child has, not a team: after a name and a bare space, as a subject
# or a file name joins them ("Leo Fletcher EHCP", "Leo Fletcher CIN plan"),
# it is that child's.  A dash or a comma between is how a list gives a member
# of staff's remit ("Jane Smith - EHCP"), so it needs a case noun after it.
_CHILDS_PLANS = frozenset({"EHCP", "CIN"})
# What a case record calls its parts: "LAC review", "MASH referral", "CP
# medical", "EHCP review", "Section 47 enquiry".  After a service's acronym
# they make it one person's case, not the service.  Not a document's or a
# meeting's words ("update", "report", "minutes", "concerns"): "Mental
# health update - Sarah Jones" is as often its author, "Child protection
# concerns - Sarah Jones" whom to tell.
_CASE_NOUNS = frozenset(
    {
        "review", "referral", "medical", "plan", "enquiry", "enquiries", "investigation",
        "chronology", "disclosure", "incident", "assessment", "placement",
    }
)  # fmt: skip
# Between a procedure and the name it is about, when the name comes after:
# "Section 47 enquiry started for Leo Fletcher", "MASH referral re Leo
# Fletcher", "Section 47 - Leo Fletcher".  Not "to", "by", "with" or "from":
# "sent to Jo Bloggs", "chaired by" name the staff who handle it.
_CONNECTING_WORDS = frozenset(
    {
        "for", "re", "regarding", "concerning", "about", "on", "into", "started", "opened",
        "begun", "began", "completed", "closed", "held", "made", "requested", "arranged",
        "booked", "agreed", "today", "yesterday", "has", "have", "been", "is", "was", "now",
        "initiated", "underway", "urgent",
    }
)  # fmt: skip
_CONNECTING_REACH = 6
# Procedure shorthand that names a case without a case noun after it.
_PROCEDURE = re.compile(rf"{_SHORTHAND}|(?i:section[ ]47)")
# After a name that a procedure came before: the end of the line or
# sentence, what identifies the person further (a date, DOB, age, year), or
# the verb of a sentence about the case ("The CP plan for Leo Fletcher is
# attached"), but not "for Sarah Jones to sign".
_NAME_ENDS_CASE = re.compile(
    r"[ ]*(?:\Z|\n|[.!?;](?:\s|\Z)|[ ,(-]*(?:[0-9]{1,2}[./-][0-9]{1,2}[./-][0-9]{2,4}"
    r"|(?i:dob|d\.o\.b|born|aged|age[ ]+[0-9]|year[ ]*[0-9]|y[0-9]|nhs|upn)\b)"
    r"|[ ]+(?:is|was|has|have|will)\b)"
)
# After a disclosure in a case heading: its line or sentence ends ("RE: Leo
# Fletcher - disclosure"), or a date follows; "Jo Bloggs - disclosure of
# interests" is a form.
_HEADING_END = re.compile(
    r"[ ]*(?:\Z|\n|[.!?;](?:\s|\Z)|[ ,(-]*[0-9]{1,2}[./-][0-9]{1,2}[./-][0-9]{2,4})"
)
_CAPITALISED_NEXT = re.compile(r"[ ]+[A-Z]")
_TERM = re.compile(rf"(?i:{_WORDS})|{_ACRONYMS}|{_SHORTHAND}|(?i:{_TIED_WORDS})")
_TIED_ONLY = re.compile(rf"{_SHORTHAND}|(?i:{_TIED_WORDS})|(?i:{_PERPETRATED})")
_INJURY = re.compile(rf"(?i:{_INJURIES})")
_DISCLOSURE = re.compile(r"(?i:disclos(?:ed|ure))")
# Rooms and places named like the sections: "in S17", "Room S47".
_ROOM_CODE = re.compile(r"S[ ]?[0-9]+")
_PLACE_BEFORE = re.compile(r"\b(?i:in|at|to|from|room|block)[ ]+\Z")
_PLACE_REACH = 8
# The bare acronyms among the shorthand, which also name a remit.
_BARE_PROCEDURE = re.compile(r"LAC|MARAC|MAPPA|S[ ]?47|S[ ]?17")
# "attended A&E as the on-call consultant", "to see a patient": staff.
_STAFF_AT_AE = re.compile(r"[ ]+(?i:as|to)\b")
# Before a procedure whose name follows: the procedure is the object of a
# post or a label ("Designated teacher for LAC: Mark Hill", "Governor for
# LAC - Sarah Jones"), not the heading of a case.
_TOPIC_BEFORE = re.compile(r"\b(?i:for|of|on|in|with|about|to)[ ]+\Z")
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
    r"|foundation|alliance|pilot|contract|commissioning"
    # a member of staff's part in it: "MAPPA trained", "MARAC rep", "LAC link governor"
    r"|trained|trainer|trainers|accredited|qualified|rep|reps|representative|chair|link)\b",
    re.I,
)
_SENTENCE_END = re.compile(r"[.!?;](?:\s|$)|\n")
_TITLE_BEFORE = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Master)\Z")
# A pupil named as a school names them: a known forename, or initials, with
# their class or year ("Leo in 4B", "Leo (Y4)", "LF (Y4)", "Amy in Year 3").
_CLASS = r"(?:(?i:year)[ ]?[0-9]{1,2}|Y[0-9]{1,2}|[0-9]{1,2}[A-Z]{1,3}|Reception|Nursery)"
_PUPIL = re.compile(
    rf"\b(?:(?P<forename>[A-Z][a-z]+)[ ]+in[ ]+{_CLASS}\b|(?P<named>[A-Z][a-z]+|[A-Z]{{2,3}})"
    rf"[ ]*\({_CLASS}\))"
)
# Capitals before a class that are a school's subjects, staff or groups,
# not a pupil's initials: "RE (Y4): Islam", "TA (Y2)", "SLT (Y6)".
_NOT_INITIALS = frozenset(
    {
        "RE", "PE", "DT", "IT", "ICT", "RSE", "SRE", "PSE", "MFL", "SEN", "EAL", "TA", "CT",
        "KS", "HT", "DHT", "SLT", "FSM", "PP", "GB", "ART", "SEF", "SIP", "EYFS",
    }
)  # fmt: skip
# Between a name and its disclosure: what identifies the person ("in Year
# 4", ", DOB 03/04/2015,", "(Y4)") and the auxiliaries of "has now disclosed".
_IDENTIFYING = re.compile(r"[0-9]+[A-Za-z]{0,3}|[Yy][0-9]{1,2}")
_AUXILIARY = frozenset(
    {
        "dob", "born", "aged", "age", "in", "year", "reception", "nursery", "has", "had",
        "have", "also", "now", "just", "today", "yesterday", "recently", "again", "then",
        "this", "morning", "afternoon", "finally", "made", "a", "another",
    }
)  # fmt: skip
# Who did it, after an injury or a disclosure: "says his stepdad did it",
# "disclosed that her uncle touched her", "said mum hits him".  A harm verb
# with the person it was done to, so "did it" or "hit" alone in a sentence
# about budgets or targets is not one ("them" neither: "hit them with a late
# invoice").
_HARM_ACCOUNT = re.compile(
    r"\b(?:did[ ](?:it|this|that)|(?:hit|hits|hitting|hurt|hurts|hurting|kick(?:s|ed|ing)?"
    r"|punch(?:es|ed|ing)?|slap(?:s|ped|ping)?|beat(?:s|en|ing)?|smack(?:s|ed|ing)?"
    r"|push(?:es|ed|ing)?|grab(?:s|bed|bing)?|shov(?:es|ed|ing)|strangl(?:es|ed|ing)"
    r"|chok(?:es|ed|ing)|throttl(?:es|ed|ing)|burn(?:s|ed|t)|bit|bites|bitten"
    r"|touch(?:es|ed|ing)|whack(?:s|ed)|thump(?:s|ed)|threaten(?:s|ed|ing)|lock(?:s|ed))"
    r"[ ](?:him|her|me))\b",
    re.I,
)


class SpecialCategoryRecognizer(Recognizer):
    name = "special_category"
    info_type = InformationType.SPECIAL_CATEGORY
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("words", rf"\b(?i:{_WORDS})\b", 0.3),
        Pattern("acronyms", rf"\b(?:{_ACRONYMS})\b", 0.3),
        # Count only tied to a named person (`assess`).
        Pattern("shorthand", rf"\b(?:{_SHORTHAND})\b", 0.3),
        Pattern("injuries", rf"\b(?i:{_INJURIES})\b", 0.3),
        # Count only tied to a named person (`assess`).
        Pattern("perpetrated", rf"\b(?i:{_PERPETRATED})\b", 0.3),
        Pattern("offences_membership_status", rf"\b(?i:{_TIED_WORDS})\b", 0.3),
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
    # A newsletter's flu-jab notice is not about the child its next notice
    # congratulates ("Her design will appear ..."): a name, or a person
    # word, counts for the word only within its paragraph.
    SUPPORT_IN_PARAGRAPH = True
    CONTEXT_IN_PARAGRAPH = True
    BUSINESS_CONTACT = True
    # A named person the word is about in the same sentence: as sure as a person word.
    NAMED_PERSON_BOOST: ClassVar[float] = 0.35

    def assess(self, text: str, start: int, end: int, score: float) -> Assessment | None:
        if text.endswith("A&E", start, end) and _STAFF_AT_AE.match(text, end):
            return None
        if _INJURY.fullmatch(text, start, end):
            tied = _about_a_named_person(text, start, end) and _harm_account(text, end)
        elif _PERPETRATOR.fullmatch(text, start, end):
            tied = _harmed_person_named(text, start)
        elif _DISCLOSURE.fullmatch(text, start, end):
            tied = _disclosed_by_a_named_person(text, start, end)
        else:
            tied = _about_a_named_person(text, start, end) or _named_after(text, start, end)
        if tied:
            return Assessment(start, end, score + self.NAMED_PERSON_BOOST)
        # Shorthand and injuries mean something else unless tied: no person
        # word or name nearby may raise them to the threshold.
        if _TIED_ONLY.fullmatch(text, start, end) or _INJURY.fullmatch(text, start, end):
            return None
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
    if _ROOM_CODE.fullmatch(text, start, end) and _in_a_room(text, start):
        return False
    name_end = _name_before(text, start)
    if name_end is None:
        return False
    words = _GAP_WORD.findall(text, name_end, start)
    # "PC Mark Hill arrested ...", "Mark Hill has cautioned ...": the name
    # did it to someone else.
    if _OFFENCE_VERB.fullmatch(text, start, end) and (
        text[name_end:start] == " " or (words and words[-1].lower() in _ACTIVE_BEFORE)
    ):
        return False
    on_a_list = words[-2:] == ["on", "the"] and _ON_A_LIST.match(text, end) is not None
    if service and not (on_a_list or _client_of(words)):
        return False
    if _listed_beside(text, name_end, start, end):
        if _CAPITALISED_NEXT.match(text, end) is not None:
            return False
        word = text[start:end]
        # "Sarah Jones, MAPPA" is a list's or a signature's remit; a case
        # heading joins a name and its procedure with a dash or a space.
        if "," in text[name_end:start] and _BARE_PROCEDURE.fullmatch(word):
            return False
        if word not in _SERVICE_ACRONYMS:
            return True
        return (word in _CHILDS_PLANS and text[name_end:start] == " ") or _case_noun_after(
            text, end
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


def _listed_beside(text: str, name_end: int, start: int, end: int) -> bool:
    """The word is written beside the name as a subject, a file name or a
    list row writes it: nothing but a dash, colon or comma between
    (`_ADJACENT`), or other such words before it in the row ("Jack Wilson -
    EHCP, autism"), or in brackets after the name ("Jack Wilson (LAC)")
    unless the brackets give attendees' roles."""
    if _ADJACENT.fullmatch(text, name_end, start):
        return True
    lead = _LIST_LEAD.match(text, name_end, start)
    if lead is None:
        return False
    position = lead.end()
    while position < start:
        term = _TERM.match(text, position, start)
        if term is None:
            return False
        separator = _LIST_SEPARATOR.match(text, term.end(), start)
        if separator is None:
            return False
        position = separator.end()
    if position != start:
        return False
    if lead.group("bracket") is None:
        return True
    return (
        _BRACKET_CLOSE.match(text, end) is not None
        and _ATTENDANCE.search(text, max(0, name_end - _ATTENDANCE_REACH), name_end) is None
    )


def _in_a_room(text: str, start: int) -> bool:
    """A section's code after "in", "at", "Room" is a room: "is in S17"."""
    return _PLACE_BEFORE.search(text, max(0, start - _PLACE_REACH), start) is not None


def _names_in(text: str, low: int, high: int) -> list[tuple[int, int]]:
    """The spans of people's names in `text[low:high]`: capitalised, else in
    lower case ("leo fletcher"), else a pupil by forename or initials and
    class ("Leo in 4B", "LF (Y4)")."""
    return (
        list(person_names(text, low, high))
        or list(lower_case_person_names(text, low, high))
        or list(_pupils(text, low, high))
    )


def _pupils(text: str, low: int, high: int) -> list[tuple[int, int]]:
    """A known forename, or initials, followed by a class or year: in a
    school's mail that names one pupil ("Leo in 4B", "Amy (Y4)", "LF (Y4)")."""
    spans = []
    for match in _PUPIL.finditer(text, low, high):
        group = "forename" if match.group("forename") else "named"
        word = match.group(group)
        initials = word.isupper()
        if (initials and word in _NOT_INITIALS) or (not initials and not _forename(word)):
            continue
        spans.append(match.span(group))
    return spans


def _forename(word: str) -> bool:
    return word in FORENAMES and word not in NOT_NAME_WORDS


def _name_before(text: str, start: int) -> int | None:
    """Where the last name before `start` in its sentence ends, when it ends
    within `_LINK_REACH` of it."""
    begin = _sentence_start(text, start)
    if begin >= start:
        return None
    names = _names_in(text, begin, start)
    if not names or start - names[-1][1] > _LINK_REACH:
        return None
    return names[-1][1]


def _case_noun_after(text: str, end: int) -> bool:
    following = _NEXT_WORD.match(text, end)
    return following is not None and following.group(1).lower() in _CASE_NOUNS


def _named_after(text: str, start: int, end: int) -> bool:
    """A procedure, or a word with a case noun, then the name it is about:
    "S47 Leo Fletcher", "LAC review Leo Fletcher", "MASH referral Leo
    Fletcher 03.04.15", "Section 47 enquiry started for Leo Fletcher."

    Only connecting words between, and the name ends the line or sentence
    or is followed by what identifies the person further: "Safeguarding -
    MARAC awareness, trainer Sarah Jones" and "CP plan sent to Sarah Jones"
    name the staff."""
    position = end
    case_nouns = 0
    while (following := _NEXT_WORD.match(text, position)) is not None and (
        following.group(1).lower() in _CASE_NOUNS
    ):
        position = following.end()
        case_nouns += 1
    if not case_nouns and not _PROCEDURE.fullmatch(text, start, end):
        return False
    if _SERVICE_NOUN.match(text, end):
        return False
    room_code = _ROOM_CODE.fullmatch(text, start, end) is not None
    if room_code and _in_a_room(text, start):
        return False
    if _TOPIC_BEFORE.search(text, max(0, start - _PLACE_REACH), start):
        return False
    stop = _sentence_end(text, position)
    names = _names_in(text, position, stop)
    if not names:
        return False
    name_start, name_end = names[0]
    gap = _GAP_WORD.findall(text, position, name_start)
    if len(gap) > _CONNECTING_REACH or any(w.lower() not in _CONNECTING_WORDS for w in gap):
        return False
    # Nothing but a dash, colon or spaces besides the words: "Section 47 -
    # Leo Fletcher", not "EHCP (Sarah Jones)".
    if re.search(r"[^\sA-Za-z0-9'&:-]", text[position:name_start]):
        return False
    # A bare "S17" or "S47" is also a room, and a room list writes "S17 -
    # Sarah Jones": a section's code names a case when the name follows it
    # straight ("S47 Leo Fletcher") or after a case noun ("S47 enquiry -").
    if room_code and not case_nouns and text[position:name_start] != " ":
        return False
    # "LAC: Mark Hill", "MARAC: Sarah Jones" label who covers it.
    if not case_nouns and ":" in text[position:name_start]:
        return False
    return _NAME_ENDS_CASE.match(text, name_end) is not None


def _sentence_end(text: str, position: int) -> int:
    """Where the sentence holding `position` ends, looking on `_NAME_REACH` at most."""
    high = min(len(text), position + _NAME_REACH)
    for match in _SENTENCE_END.finditer(text, position, high):
        if match.group()[0] == "." and _TITLE_BEFORE.search(text, position, match.start()):
            continue
        return match.start()
    return high


def _harm_account(text: str, end: int) -> bool:
    """Who did it, later in the same sentence: "says his stepdad did it"."""
    return _HARM_ACCOUNT.search(text, end, _sentence_end(text, end)) is not None


def _harmed_person_named(text: str, start: int) -> bool:
    """A named person earlier in the sentence of an account of who harmed
    them ("Kelly Wilson rang again, her partner hit her last night"), with
    no one else named by their role in between ("Sarah Jones says the
    tenant's partner hit her": the tenant is who it is about)."""
    name_end = _name_before(text, start)
    if name_end is None:
        return False
    words = _GAP_WORD.findall(text, name_end, start)
    return not any(word.lower().removesuffix("'s") in _SOMEONE_ELSE for word in words)


def _disclosed_by_a_named_person(text: str, start: int, end: int) -> bool:
    """A disclosure as a case heading ("RE: Leo Fletcher - disclosure"), or a
    named person's disclosure of who harmed them ("Leo Fletcher, DOB
    03/04/2015, disclosed today that his stepdad hits him").  A disclosure
    of anything else (figures, a DBS check, interests) is no fact about them."""
    name_end = _name_before(text, start)
    if name_end is None:
        return False
    if _ADJACENT.fullmatch(text, name_end, start):
        return _HEADING_END.match(text, end) is not None or _harm_account(text, end)
    if not _harm_account(text, end):
        return False
    # The name is who disclosed: between them only what identifies the
    # person ("in Year 4", ", DOB 03/04/2015,", "(Y4)") and "has", "today".
    words = _GAP_WORD.findall(text, name_end, start)
    return len(words) <= _LEADING_WORDS and all(_identifying_or_auxiliary(w) for w in words)


def _identifying_or_auxiliary(word: str) -> bool:
    return _IDENTIFYING.fullmatch(word) is not None or word.lower() in _AUXILIARY


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
