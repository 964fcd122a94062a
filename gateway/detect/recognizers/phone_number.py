"""UK telephone number, checked against Ofcom's ranges by `phonenumbers`.

Valid fixed and mobile numbers count; a number that only has the right
length (an unallocated range) needs context.  Freephone, premium and
non-geographic numbers belong to organisations, and a number introduced as a
switchboard, reception or office line, or as a team's or HR's, is a business
contact: neither counts.

Neither does a conference bridge.  A meeting invitation (Teams, Zoom, Webex)
lists its dial-in numbers with the meeting's ID after a pause
("+44 20 3855 4748,,318456912#") or with the country they are in
("+44 20 3443 8765 United Kingdom, London"); no one writes a person's own
number either way.

Nor is a number a notice gives as the organisation's own: "call us on",
"call the practice / the contact centre / the Designated Safeguarding Lead
on", "to report a repair please call", "if your child is absent please call",
"call ... to book".  Only an organisation or a post may stand between "call"
and the number: "call mum on", "call the tenant on" stay a person's number.

Nor, more generally, is a number the wording gives as a service's or a
post's: with no article ("contact Children's Services on"), as its number
("The Emergency Duty Team number is", "Organiser mobile"), for a topic
("For admissions, phone ..."), a colleague's ("contact my colleague Sarah
Hughes on", as an out-of-office reply says), or on an organisation's footer
line ("Northdale Coaches Ltd, Unit 4 Mill Lane, Thirsk, 01845 ...") or
its member of staff by their post ("Contractor: Tarmac Ltd, site manager
Gary Fox 07700 ...").  No
family word may stand in that wording: "call mum at the office on" is
mum's.

A mobile number right beside a person's name ("father (Mark Clarke,
07911 ...)") is that person's: the name counts as context, as "mobile"
would.  So does a family word before it in the same clause ("Mum's number
07700 ...", "Mum: 07700...", "the child's mother on 07700 ...") and a
first name the reader is told to call ("Contact Kelly on 07700 ..."): a
parent's or carer's mobile is the number most often shared about a child,
and it is written with no "mobile" or "tel" beside it.  These only add
context: they never undo the business rules above.

Flow of `assess`: a conference bridge is dropped; the digits are checked
against Ofcom's ranges; a number worded as an organisation's is dropped;
a mobile beside a name or a family word gains context.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import ClassVar

import phonenumbers
from phonenumbers import PhoneNumberType

from gateway.detect.recognizer import Assessment, Pattern, Recognizer
from gateway.detect.recognizers.person_name import person_names
from gateway.model import InformationType

_PERSONAL_TYPES = frozenset(
    {
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.PERSONAL_NUMBER,
        PhoneNumberType.VOIP,
    }
)


# What follows a dial-in number on its line: the pauses and meeting ID of a
# one-tap dial string, or (after the same number as a link) the country.
_CONFERENCE_TAIL = re.compile(
    r",,[0-9]|(?:<tel:[^>\n]{0,60}>)?[ \t]*United Kingdom\b"
    # "020 3443 2107, conference ID 887 223 119#": the bridge and its ID on
    # one line, as Teams writes "Join by phone" in plain text.
    r"|[ \t]*[,;(]?[ \t]*(?:phone[ \t]+)?(?:conference|meeting|access)[ \t]+(?:id|code)\b",
    re.IGNORECASE,
)


# Who may be called on an organisation's number: "us", or the organisation,
# a service or a post ("the Designated Safeguarding Lead", "your housing
# officer", "my colleague"); never a family member, tenant or patient (not
# on this list).
_ORGANISATION = (
    r"(?:practice|surgery|school|academy|nursery|college|council|trust|centre|center"
    r"|office|team|department|desk|line|helpline|hotline|service|services|unit|ward|clinic"
    r"|hub|mash|hospital|pharmacy|switchboard|reception|lead|dsl|senco|headteacher"
    r"|manager|coordinator|co-ordinator|officer|repairs|housing|appointments|admissions"
    r"|enquiries|colleague|colleagues|worker|organiser|organizer)"
)
_CALL = r"(?:call|ring|phone|telephone|contact|text)"
# A post's holder named after it: "my colleague Sarah Hughes", "the DSL,
# Mrs Jones,".  Case-sensitive: a name is capitalised.
_HOLDER = (
    r"(?:,?[ \t]+(?-i:(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.?[ \t]+)?[A-Z][a-z'-]+"
    r"(?:[ \t]+[A-Z][a-z'-]+){0,2}),?)?"
)
# A family member, as a parent's or carer's number is introduced ("Mum's
# number", "the child's mother on", "his step-dad:").  Singular: "parents
# and carers can call the office" is a notice.
_FAMILY_WORDS = (
    r"(?:mum|mummy|mom|mother|dad|daddy|father|parent|carer|guardian|nan|nana|nanna"
    r"|gran|granny|grandma|grandmother|grandad|granddad|grandpa|grandfather|grandparent"
    r"|step-?(?:mum|dad|mother|father|parent)|aunt|auntie|aunty|uncle|brother|sister"
    r"|husband|wife|(?:his|her|their)[ \t]+partner)"
)
_FAMILY = re.compile(r"\b" + _FAMILY_WORDS + r"\b", re.IGNORECASE)
# A word between "call" and the organisation or post: never a family
# member's, nor a place a person is at ("call mum at the office on",
# "contact Leo at school on" are theirs).
_WORD = r"(?!(?:at|in|from|with|via|by|for)\b)(?!" + _FAMILY_WORDS + r"\b)[a-z'-]+[ \t]+"
# What a notice says before its organisation's number, up to the number
# (matched against the text before it on its line, anchored at its end).
_ORGANISATION_BEFORE = re.compile(
    r"(?:\b" + _CALL + r"[ \t]+(?:us|(?:the|our|your|my)[ \t]+(?:" + _WORD + r"){0,3}?"
    + _ORGANISATION + _HOLDER + r")[ \t]+(?:on|at)"
    # "To report a repair please call", "To book an appointment call",
    # "Book online ... or call", "If your child is absent please call".
    r"|\bto[ \t]+(?:book|report|cancel|rearrange|order|request|register|renew"
    r"|make[ \t]+an?[ \t]+appointment|arrange[ \t]+an?[ \t]+appointment)\b[^.!?;\n]{0,60}?"
    r"\b" + _CALL + r"(?:[ \t]+us)?(?:[ \t]+(?:on|at))?"
    r"|\bbook(?:ings?)?\b[^.!?;\n]{0,60}?\bor[ \t]+" + _CALL + r"(?:[ \t]+us)?(?:[ \t]+(?:on|at))?"
    r"|\bif[ \t]+your[ \t]+child[ \t]+(?:is|will[ \t]+be)[ \t]+(?:absent|ill|unwell|off)"
    r"\b[^.!?;\n]{0,30}?\b" + _CALL + r"(?:[ \t]+us)?(?:[ \t]+(?:on|at))?"
    r"|\bour[ \t]+(?:[a-z]+[ \t]+){0,2}?(?:number|line|phone[ \t]+number)(?:[ \t]+is)?"
    r")[ \t]*:?[ \t]*\Z",
    re.IGNORECASE,
)
# A service's or a post's number in looser wording, trusted only when no
# family word is in the clause (`_FAMILY`): "call mum at the office on" and
# "Mum's office number is" stay mum's.
_SERVICE_BEFORE = re.compile(
    # "You can contact Children's Services on": the service with no article.
    # Not "contact Leo at school on": a person at a place.
    r"(?:\b" + _CALL + r"[ \t]+(?:" + _WORD + r"){0,3}?" + _ORGANISATION + _HOLDER
    + r"[ \t]+(?:on|at)"
    # "The Emergency Duty Team number is", "Reception line:", "Organiser
    # mobile" (a meeting invitation's): the number as the service's or the
    # post's own.
    r"|\b" + _ORGANISATION + r"(?:'s)?[ \t]+(?:(?:main|direct|duty|office|contact|phone"
    r"|telephone)[ \t]+){0,2}(?:number|line|no\.?|mobile|phone|tel\.?)(?:[ \t]+(?:is|are))?"
    # "For admissions, phone", "For more information please call": a topic
    # and the number to call for it, at the start of a clause.
    r"|(?:\A|[.!?;:(][ \t]*)for[ \t]+(?:[a-z'-]+[ \t]+){0,3}?[a-z'-]+[ \t]*,?[ \t]*"
    r"(?:please[ \t]+)?" + _CALL + r"(?:[ \t]+us)?(?:[ \t]+(?:on|at))?"
    r")[ \t]*:?[ \t]*\Z",
    re.IGNORECASE,
)
# An organisation's footer line: its registered name, then comma- or
# bar-separated parts of its address (each capitalised or a number, so no
# prose) and the number: "Accounts Receivable, Northdale Coaches Ltd, Unit 4
# Mill Lane, Thirsk YO7 1RQ, 01845 522100".
_FOOTER = re.compile(
    r"[A-Z][A-Za-z&'-]*[ \t]+(?i:ltd|limited|plc|llp|cic|council|trust)\.?"
    r"(?:[ \t]*[,|][ \t]*(?!(?i:her|his|their|my|mobile)\b)[A-Z0-9][^,|\n.!?;:]{0,40}?){0,6}"
    r"[ \t]*[,|][ \t]*(?:(?i:t|tel|telephone|phone)[ \t]*[.:]?[ \t]*)?\Z"
)
# A company's member of staff by their post on its line, as a notice gives
# a contractor's contact: "Contractor: Tarmac Ltd, site manager Gary Fox
# 07700 900321", "Acme Scaffolding Ltd - contracts manager: 07700 ...".
_COMPANY_POST = re.compile(
    r"[A-Z][A-Za-z&'-]*[ \t]+(?i:ltd|limited|plc|llp|cic|council|trust)\.?[ \t]*[,:-][ \t]*"
    r"(?i:(?:[a-z'-]+[ \t]+){0,3}?(?:" + _ORGANISATION[3:-1]
    + r"|supervisor|foreman|engineer|agent|surveyor|representative|rep|contact))"
    + _HOLDER + r"[ \t]*[,:(-]?[ \t]*(?i:(?:t|tel|telephone|phone|mob|mobile|on)[ \t]*[.:]?[ \t]*)?\Z"
)
# "Call 01632 960520 to book.": only with "call" right before the number
# ("call the tenant on ... to book the repair" is the tenant's).
_CALL_RIGHT_BEFORE = re.compile(r"\b" + _CALL + r"(?:[ \t]+us)?(?:[ \t]+on)?[ \t]*:?[ \t]*\Z", re.I)
_ORGANISATION_AFTER = re.compile(
    r"[ \t]*,?[ \t]*to[ \t]+(?:book|report|cancel|rearrange|make[ \t]+an?[ \t]+appointment"
    r"|arrange[ \t]+an?[ \t]+appointment)\b",
    re.IGNORECASE,
)
# What may stand between a person's name and their number: "Mark Clarke, ",
# "Mark Clarke: ", "Mark Clarke (", "Mark Clarke on ".
_BESIDE_NAME = re.compile(r"[ \t]*(?:[,:;(/-][ \t]*|on[ \t]+)?\Z")
# "Contact Kelly on": someone the reader is told to call by their first
# name (an organisation or a post there is `_ORGANISATION_BEFORE`'s).
_CALL_A_NAME = re.compile(
    r"\b" + _CALL + r"[ \t]+(?-i:[A-Z][a-z'-]+(?:[ \t]+[A-Z][a-z'-]+)?)[ \t]+on[ \t]*:?[ \t]*\Z",
    re.IGNORECASE,
)
# Where a clause ends, for the family word that must be in the number's own.
_CLAUSE_END = re.compile(r"[.!?;](?:[ \t]|\Z)")
# How far before the number a family word still introduces it.
_FAMILY_REACH = 60


def _line_before(text: str, start: int) -> str:
    """The number's own line up to it (at most 120 characters)."""
    line_start = text.rfind("\n", 0, start) + 1
    return text[max(line_start, start - 120) : start]


def _own_clause(before: str) -> str:
    """The last clause of `before`: a family word in the sentence before
    says nothing about this number ("Mum is aware. Call the office on")."""
    ends = [m.end() for m in _CLAUSE_END.finditer(before)]
    return before[ends[-1] :] if ends else before


def organisations_number(text: str, start: int, end: int) -> bool:
    """Whether the wording around `text[start:end]` gives it as an
    organisation's own number (see the module docstring)."""
    before = _line_before(text, start)
    if _ORGANISATION_BEFORE.search(before):
        return True
    if _ORGANISATION_AFTER.match(text, end, end + 40) and _CALL_RIGHT_BEFORE.search(before):
        return True
    # The looser wordings, unless a family member is in the clause, before
    # the number or after it ("For the visit, call 07700 900456 (mum)").
    after = text[end : end + 40]
    if _FAMILY.search(_own_clause(before)) or _FAMILY.search(_CLAUSE_END.split(after, 1)[0]):
        return False
    if _SERVICE_BEFORE.search(before):
        return True
    if _FAMILY.search(before):
        return False
    return _FOOTER.search(before) is not None or _COMPANY_POST.search(before) is not None


def introduced_as_a_persons(text: str, start: int) -> bool:
    """Whether a family word ("Mum's number", "the child's mother on") or a
    first name to call ("Contact Kelly on") introduces the number at `start`."""
    before = _line_before(text, start)
    if _CALL_A_NAME.search(before):
        return True
    clause = _own_clause(before)
    return _FAMILY.search(clause, max(0, len(clause) - _FAMILY_REACH)) is not None


def beside_a_name(text: str, start: int) -> bool:
    """Whether a person's name ends right before `start` on its line."""
    line_start = text.rfind("\n", 0, start) + 1
    low = max(line_start, start - 40)
    return any(
        _BESIDE_NAME.match(text[name_end:start]) for _, name_end in person_names(text, low, start)
    )


@lru_cache(maxsize=4096)
def classify(digits: str) -> tuple[bool, bool]:
    """(valid personal number, possible number) for a UK number's digits.

    Cached on the digits (never logged): the same office number recurs in
    every message of a thread, and a `phonenumbers` lookup is the costliest
    step of detection.
    """
    try:
        number = phonenumbers.parse(digits, "GB")
    except phonenumbers.NumberParseException:
        return False, False
    if number.country_code != 44:
        return False, False
    kind = phonenumbers.number_type(number)
    if kind is not PhoneNumberType.UNKNOWN:
        return kind in _PERSONAL_TYPES, False
    return False, phonenumbers.is_possible_number(number)


class PhoneNumberRecognizer(Recognizer):
    name = "phone_number"
    info_type = InformationType.UK_PHONE_NUMBER
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("international", r"\+44[ ]?(?:\(0\)[ ]?)?[1-9](?:[ -]?[0-9]){8,9}\b", 0.5),
        Pattern("national", r"\(?0[1-9][0-9]{1,3}\)?(?:[ -]?[0-9]){6,8}\b", 0.5),
    )
    CONTEXT = (
        "tel", "tel.", "telephone", "phone", "mobile", "mob", "mob.", "home number",
        "contact number", "call", "ring", "landline", "mobile number", "phone number",
    )  # fmt: skip
    NEGATIVE_CONTEXT = (
        "switchboard", "reception", "main office", "office", "fax", "helpline",
        "enquiries", "general enquiries", "customer services", "customer service",
        "head office", "freephone", "direct line", "ddi", "ext", "extension",
        "out of hours", "duty desk", "front desk", "main line", "service desk",
        # The writer's own number ("call me on", "my mobile is"): theirs to
        # give, not a person's data being shared.  Phrases that only come
        # before a number, so that "07700 900456, or call me on ..." does not
        # excuse the number before them.
        "me on", "me at", "my mobile", "my phone", "my number", "my work",
        "my landline", "my desk", "my team",
        # An organisation's line, introduced as such on its own line.
        "hr on", "hr at", "hr team", "hr department", "hr:", "team on", "team at",
        # Not "conference" ("case conference", "child protection conference")
        # nor "call in": both are said of people too.
        "dial in", "dial-in", "audio only",
    )  # fmt: skip
    CONTEXT_WINDOW = (50, 10)
    BUSINESS_CONTACT = True

    def assess(self, text: str, start: int, end: int, score: float) -> Assessment | None:
        if _CONFERENCE_TAIL.match(text, end, end + 80):
            return None
        value = text[start:end]
        digits = ("+" if value.startswith("+") else "") + "".join(filter(str.isdigit, value))
        if value.startswith("+44") and "(0)" in value:
            digits = "+44" + digits[3:].removeprefix("0")
        personal, possible = classify(digits)
        if not personal and not possible:
            return None
        if organisations_number(text, start, end):
            return None
        if not personal:
            score -= 0.25
        # A mobile only: a person's own line.  (Ten digits beside a name on
        # a row are as likely an NHS number, which is to keep its type.)
        # A family word or a first name before it counts as "mobile" would.
        if digits.startswith(("07", "+447")) and (
            beside_a_name(text, start) or introduced_as_a_persons(text, start)
        ):
            score += self.CONTEXT_BOOST
        return Assessment(start, end, score)
