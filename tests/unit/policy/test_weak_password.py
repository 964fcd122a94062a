"""weak_password: protection anyone who gets the file could guess.

An attachment a common password opened (the message's, or one the gateway
tried), or whose password in the message is shorter than `[policy]
min_password_length` (8 by default), does not count as protected: refused
in enforce and protect alike (the gateway cannot encrypt it again without
the sender), its text kind and specific, never quoting the password.
"""

from __future__ import annotations

import pytest
from policy_support import Case, with_attachment

from gateway.model import Action, ReasonCode
from gateway.settings import Settings


def test_an_attachment_a_common_password_opened_is_refused() -> None:
    case = Case()
    with_attachment(case, password_opens=False, common_password=True)
    verdict = case.decide()
    assert verdict.action == Action.REJECT
    (reason,) = verdict.reasons
    assert reason.code == ReasonCode.WEAK_PASSWORD
    assert reason.text == (
        "The password on attachment 1 (a zip archive) is too easy to guess (one of the most "
        "common passwords): anyone who gets the file could open it."
    )
    assert "at least 8 characters" in reason.fix


@pytest.mark.parametrize("length", [1, 4, 7])
def test_a_password_in_the_message_shorter_than_the_minimum_is_refused(length: int) -> None:
    case = Case()
    with_attachment(case, password_length=length)
    (reason,) = case.decide().reasons
    assert reason.code == ReasonCode.WEAK_PASSWORD
    assert "shorter than 8 characters" in reason.text


@pytest.mark.parametrize("mode", ["enforce", "protect"])
def test_protect_mode_cannot_fix_it(mode: str) -> None:
    case = Case()
    with_attachment(case, password_length=4)
    assert case.decide(mode=mode).action == Action.REJECT


def test_monitor_mode_records_it() -> None:
    case = Case()
    with_attachment(case, password_length=4)
    verdict = case.decide(mode="monitor")
    assert verdict.action == Action.DELIVER
    assert [r.code for r in verdict.reasons] == [ReasonCode.WEAK_PASSWORD]


@pytest.mark.parametrize(("length", "minimum"), [(8, 8), (12, 12), (4, 4), (1, 0)])
def test_a_password_as_long_as_the_minimum_is_protection(length: int, minimum: int) -> None:
    case = Case()
    with_attachment(case, password_length=length)
    assert case.decide(min_password_length=minimum).reasons == ()


def test_no_minimum_still_refuses_a_common_password() -> None:
    case = Case()
    with_attachment(case, password_length=4, common_password=True)
    (reason,) = case.decide(min_password_length=0).reasons
    assert reason.code == ReasonCode.WEAK_PASSWORD
    assert "characters" not in reason.text + reason.fix


def test_the_minimum_is_a_setting_with_a_default_of_eight() -> None:
    assert Settings().policy.min_password_length == 8
    with pytest.raises(ValueError, match="min_password_length"):
        Settings.model_validate({"policy": {"min_password_length": -1}})
