"""UK bank account: a sort code with an eight-digit account number beside it.

A sort code names a branch, not a person, so it only counts with an account
number within ACCOUNT_REACH characters (either side); the finding then covers
both.  An account number labelled as such counts on its own, unless the text
says it is a customer or supplier account with an organisation.

An organisation's own account is business data, not a person's: details
whose account holder is an organisation ("account name Apex Supplies Ltd",
"pay Northtown Parish Council: sort code ...") or that an invoice or a
remittance advice gives for payment.  A person beside the details decides
the other way, whatever the document: a labelled account name that is not
an organisation's, or a person on the details' lines ("the tenant Miss ...",
"Mr ...", "refund", "her account").  The bank's own name ("Barclays Bank
plc") says nothing about whose account it is.
"""

from __future__ import annotations

import re
from typing import ClassVar

from gateway.detect.recognizer import Assessment, Pattern, Recognizer
from gateway.detect.recognizers.person_name import names_a_person
from gateway.model import InformationType

_ACCOUNT = re.compile(r"(?<![0-9])[0-9]{8}(?![0-9])")
# An organisation's name ends in (or holds) one of these words.
_ORGANISATION = re.compile(
    # Not "nhs": "NHS number" names no organisation ("NHS Trust" has "trust").
    r"\b(?:ltd|limited|plc|llp|cic|council|trust|school|academy|college|university"
    r"|practice|surgery|association|society|charity|partnership|federation|foundation"
    r"|church|club|pta|group|services|company|co|inc|hospital|diocese|authority)\b\.?",
    re.IGNORECASE,
)
# A bank's own name, which says nothing about the holder.
_BANK_NAME = re.compile(r"\bbank\b|\bbuilding society\b", re.IGNORECASE)
_HOLDER = re.compile(
    r"\b(?:account[ \t]+name|account[ \t]+holder|name[ \t]+of[ \t]+account|payee|beneficiary"
    r"|(?:made[ \t]+)?payable[ \t]+to|in[ \t]+the[ \t]+name[ \t]+of)[ \t]*[:=-]?[ \t]*"
    r"(?P<holder>[^\n,;]{2,80})",
    re.IGNORECASE,
)
# A person beside the details: a title and a name, a person word, a refund.
_PERSON = re.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.?[ ]+[A-Z]|\b(?i:tenant|resident|claimant|applicant"
    r"|parent|carer|patient|pupil|client|service user|refund|refunded|his|her|personal"
    r"|joint|mum|dad|mother|father)\b"
)
# An invoice or remittance advice names itself on a line of its own, as a
# heading ("Invoice", "TAX INVOICE INV-99291", "Remittance advice"); prose
# about an invoice ("Invoice INV-7 for X is now approved.") is not one.
_DOCUMENT = re.compile(
    r"(?:^|\n)[ \t]*(?:tax[ \t]+)?(?:invoice|remittance(?:[ \t]+advice)?)\b[^\n.!?]{0,40}"
    r"(?:\n|\Z)",
    re.IGNORECASE,
)
# Where the document's heading is looked for: an invoice names itself at
# its top, the bank details come at its foot.
_DOCUMENT_REACH = (3000, 1000)
# Where a sentence ends: the organisation paid is named in the same
# sentence as the details.  A line break ends one too, unless the line leads
# into the details ("Please pay Northtown Parish Council:" above them).
_SENTENCE_END = re.compile(r"[.!?](?=\s)|(?<![:,])(?<![:,][ \t])\n")


class BankAccountRecognizer(Recognizer):
    name = "bank_account"
    info_type = InformationType.UK_BANK_ACCOUNT
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("sort_code", r"\b[0-9]{2}[- ][0-9]{2}[- ][0-9]{2}\b", 0.6),
        Pattern(
            "labelled_sort_code",
            r"\b(?i:sort[ -]?code)[^0-9\n]{0,12}(?P<value>[0-9]{6})\b",
            0.6,
        ),
        Pattern(
            "labelled_account",
            r"\b(?i:account[ ]+(?:number|no\.?)|acc(?:t|ount)?[ ]+no\.?|a/c(?:[ ]+no\.?)?)"
            r"[^0-9\n]{0,12}(?P<value>[0-9]{8})\b",
            0.5,
        ),
    )
    CONTEXT = ("sort code", "bank", "account", "bank details", "payee", "building society")
    NEGATIVE_CONTEXT = (
        "customer", "supplier", "invoice", "order", "our account", "customer account",
        "reference", "vendor",
    )  # fmt: skip
    ACCOUNT_REACH: ClassVar[int] = 60

    def assess(self, text: str, start: int, end: int, score: float) -> Assessment | None:
        if text[start:end].isdigit() and end - start == 8:  # a labelled account number
            found = Assessment(start, end, score)
        elif after := _ACCOUNT.search(text, end, min(len(text), end + self.ACCOUNT_REACH)):
            found = Assessment(start, after.end(), score)
        elif preceding := list(
            _ACCOUNT.finditer(text, max(0, start - self.ACCOUNT_REACH), start)
        ):  # the closest one before the sort code
            found = Assessment(preceding[-1].start(), end, score)
        else:
            return None
        if organisations_account(text, found.start, found.end):
            return None
        return found


def _organisation(name: str) -> bool:
    return bool(_ORGANISATION.search(name)) and not _BANK_NAME.search(name)


def organisations_account(text: str, start: int, end: int) -> bool:
    """Whether the bank details at `text[start:end]` are an organisation's
    own (see the module docstring)."""
    # The details' lines, at most 200 characters either side: the line
    # before them (where "Please pay X:" is written), their own, and the next.
    low = max(text.rfind("\n", 0, max(0, text.rfind("\n", 0, start))) + 1, start - 200)
    high = min(len(text), end + 200)
    line_end = text.find("\n", end, high)
    if line_end >= 0:
        next_end = text.find("\n", line_end + 1, high)
        high = high if next_end < 0 else next_end
    holder = _HOLDER.search(text, low, high)
    if holder is not None:
        return _organisation(holder.group("holder"))
    if _PERSON.search(text, low, high) or names_a_person(text, low, high):
        return False
    sentence_start = max(
        [start - 200, *(m.end() for m in _SENTENCE_END.finditer(text, max(0, start - 200), start))]
    )
    sentence_end = _SENTENCE_END.search(text, end, end + 200)
    sentence = text[max(0, sentence_start) : sentence_end.start() if sentence_end else end + 200]
    if any(
        _organisation(sentence[max(0, m.start() - 60) : m.end()])
        for m in _ORGANISATION.finditer(sentence)
    ):
        return True
    return (
        _DOCUMENT.search(
            text, max(0, start - _DOCUMENT_REACH[0]), min(len(text), end + _DOCUMENT_REACH[1])
        )
        is not None
    )
