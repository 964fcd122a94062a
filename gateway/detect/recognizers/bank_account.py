"""UK bank account: a sort code with an eight-digit account number beside it.

A sort code names a branch, not a person, so it only counts with an account
number within ACCOUNT_REACH characters (either side); the finding then covers
both.  An account number labelled as such counts on its own, unless the text
says it is a customer or supplier account with an organisation.
"""

from __future__ import annotations

import re
from typing import ClassVar

from gateway.detect.recognizer import Assessment, Pattern, Recognizer
from gateway.model import InformationType

_ACCOUNT = re.compile(r"(?<![0-9])[0-9]{8}(?![0-9])")


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
            return Assessment(start, end, score)
        after = _ACCOUNT.search(text, end, min(len(text), end + self.ACCOUNT_REACH))
        if after is not None:
            return Assessment(start, after.end(), score)
        preceding = list(_ACCOUNT.finditer(text, max(0, start - self.ACCOUNT_REACH), start))
        if preceding:  # the closest one before the sort code
            return Assessment(preceding[-1].start(), end, score)
        return None
