""""Private & Confidential" is the marking as often as "Private and
Confidential": a black-box member of staff was refused with "The subject
line is not marked 'Private and Confidential'" while the words were there
to see.  The protect transform does not mark such a subject a second time."""

from __future__ import annotations

import pytest
from policy_support import Case

from gateway.model import ReasonCode
from gateway.transform.subject import is_marked


@pytest.mark.parametrize("subject", [
    "Private & Confidential - report",
    "PRIVATE&CONFIDENTIAL: report",
    "RE: private  &  confidential",
])
def test_an_ampersand_is_and(subject: str) -> None:
    case = Case()
    case.subject = subject
    assert case.decide().reasons == ()
    assert is_marked(subject, "Private and Confidential")


@pytest.mark.parametrize("subject", ["Private Confidential report", "Private & report",
                                     "Confidential & Private"])
def test_the_words_are_still_needed_in_order(subject: str) -> None:
    case = Case()
    case.subject = subject
    assert [r.code for r in case.decide().reasons] == [ReasonCode.MISSING_SUBJECT_MARKING]


def test_a_marking_configured_with_an_ampersand_takes_and_too() -> None:
    assert is_marked("Private and Confidential: x", "Private & Confidential")
