"""The policy as a pure function: each rule alone, several together, modes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from policy_support import (
    ALLOWED,
    Case,
    finding,
    inspection,
    settings,
    with_attachment,
    zip_report,
)

from gateway.model import (
    Action,
    Encryption,
    Envelope,
    InformationType,
    PasswordCandidate,
    Problem,
    ReasonCode,
    SegmentSource,
)
from gateway.policy import PROTECT_FIXES, decide

Breaker = Callable[[Case], dict[str, Any]]


def _body(case: Case) -> dict[str, Any]:
    case.findings = (finding(InformationType.UK_NHS_NUMBER, SegmentSource.BODY),)
    return {}


def _subject(case: Case) -> dict[str, Any]:
    case.findings = (finding(InformationType.DATE_OF_BIRTH, SegmentSource.SUBJECT, "0"),)
    return {}


def _plain_attachment(case: Case) -> dict[str, Any]:
    case.attachments = (*case.attachments, zip_report(Encryption.NONE, None, "3", "text/csv"))
    case.findings = (finding(InformationType.UK_NHS_NUMBER, SegmentSource.ATTACHMENT, "3"),)
    return {}


def _zipcrypto(case: Case) -> dict[str, Any]:
    with_attachment(case, encryption=Encryption.ZIPCRYPTO)
    return {}


def _rc4(case: Case) -> dict[str, Any]:
    with_attachment(case, encryption=Encryption.RC4, content_type="application/pdf")
    return {}


def _blowfish(case: Case) -> dict[str, Any]:
    with_attachment(case, encryption=Encryption.BLOWFISH,
                    content_type="application/vnd.oasis.opendocument")
    return {}


def _aes128_below_256(case: Case) -> dict[str, Any]:
    with_attachment(case, encryption=Encryption.AES_128)
    return {"min_encryption": "aes-256"}


def _editable(case: Case) -> dict[str, Any]:
    with_attachment(case, read_only=False)
    return {}


def _read_only_unknown(case: Case) -> dict[str, Any]:
    with_attachment(case, read_only=None)
    return {}


def _no_marking(case: Case) -> dict[str, Any]:
    case.subject = "Referral for tomorrow"
    return {}


def _password_in_subject(case: Case) -> dict[str, Any]:
    case.passwords = (PasswordCandidate("correct horse", "subject", "", False, opens=True),)
    return {}


def _password_in_other_attachment(case: Case) -> dict[str, Any]:
    case.passwords = (PasswordCandidate("correct horse", "attachment", "3", False, opens=True),)
    return {}


def _stranger(case: Case) -> dict[str, Any]:
    case.rcpts = (ALLOWED, "someone@gmail.example")
    return {}


def _no_purpose(case: Case) -> dict[str, Any]:
    case.purpose = None
    return {"require_purpose": True}


def _corrupt(case: Case) -> dict[str, Any]:
    case.problems = (Problem("3", "corrupt", "bad zip"),)
    return {}


def _unknown_cipher(case: Case) -> dict[str, Any]:
    with_attachment(case, encryption=Encryption.UNKNOWN, read_only=None)
    return {}


ALONE: list[tuple[str, Breaker, ReasonCode]] = [
    ("body", _body, ReasonCode.PERSONAL_DATA_IN_BODY),
    ("subject", _subject, ReasonCode.PERSONAL_DATA_IN_BODY),
    ("plain attachment", _plain_attachment, ReasonCode.UNENCRYPTED_ATTACHMENT),
    ("zipcrypto", _zipcrypto, ReasonCode.WEAK_ENCRYPTION),
    ("rc4", _rc4, ReasonCode.WEAK_ENCRYPTION),
    ("blowfish", _blowfish, ReasonCode.WEAK_ENCRYPTION),
    ("aes-128 under aes-256", _aes128_below_256, ReasonCode.WEAK_ENCRYPTION),
    ("editable", _editable, ReasonCode.NOT_READ_ONLY),
    ("read-only unknown", _read_only_unknown, ReasonCode.NOT_READ_ONLY),
    ("no marking", _no_marking, ReasonCode.MISSING_SUBJECT_MARKING),
    ("password in subject", _password_in_subject, ReasonCode.PASSWORD_IN_MESSAGE),
    ("password in attachment", _password_in_other_attachment, ReasonCode.PASSWORD_IN_MESSAGE),
    ("stranger", _stranger, ReasonCode.RECIPIENT_NOT_ALLOWED),
    ("no purpose", _no_purpose, ReasonCode.MISSING_PURPOSE),
    ("corrupt part", _corrupt, ReasonCode.UNINSPECTABLE_CONTENT),
    ("unknown cipher", _unknown_cipher, ReasonCode.UNINSPECTABLE_CONTENT),
]


def test_compliant_message_is_delivered() -> None:
    verdict = Case().decide()
    assert verdict.action == Action.DELIVER
    assert verdict.reasons == ()
    assert verdict.personal_data is True
    assert verdict.information_types == (InformationType.UK_NHS_NUMBER,)


def test_aes128_meets_default_minimum() -> None:
    case = Case()
    with_attachment(case, encryption=Encryption.AES_128)
    assert case.decide().reasons == ()


@pytest.mark.parametrize(("name", "breaker", "code"), ALONE, ids=[a[0] for a in ALONE])
def test_each_rule_alone_gives_exactly_its_reason(
    name: str, breaker: Breaker, code: ReasonCode
) -> None:
    case = Case()
    policy = breaker(case)
    verdict = case.decide(**policy)
    assert [r.code for r in verdict.reasons] == [code]
    assert verdict.action == Action.REJECT
    reason = verdict.reasons[0]
    assert reason.text and reason.fix
    assert "correct horse" not in reason.text + reason.fix


def test_every_broken_rule_is_reported_in_table_order() -> None:
    case = Case()
    policy: dict[str, Any] = {}
    for breaker in (_body, _editable, _no_marking, _stranger, _no_purpose, _corrupt, _zipcrypto):
        policy.update(breaker(case))
    verdict = case.decide(**policy)
    assert [r.code for r in verdict.reasons] == [
        ReasonCode.PERSONAL_DATA_IN_BODY,
        ReasonCode.WEAK_ENCRYPTION,
        ReasonCode.NOT_READ_ONLY,
        ReasonCode.MISSING_SUBJECT_MARKING,
        ReasonCode.RECIPIENT_NOT_ALLOWED,
        ReasonCode.MISSING_PURPOSE,
        ReasonCode.UNINSPECTABLE_CONTENT,
    ]
    assert verdict.action == Action.REJECT


def test_clean_mail_is_not_subject_to_the_rules() -> None:
    verdict = decide(
        Envelope("a@sender.example", ("stranger@elsewhere.example",)),
        inspection(subject="Lunch on Friday?"),
        (),
        settings(require_purpose=True),
        recipients=None,
    )
    assert verdict.action == Action.DELIVER
    assert verdict.reasons == ()
    assert verdict.personal_data is False


def test_unencrypted_attachment_without_personal_data_is_fine() -> None:
    case = Case()
    case.attachments = (*case.attachments, zip_report(Encryption.NONE, None, "3", "application/pdf"))
    assert case.decide().reasons == ()


def test_unencrypted_agenda_alone_is_not_subject_to_rules() -> None:
    verdict = decide(
        Envelope("a@sender.example", ("stranger@elsewhere.example",)),
        inspection("Agenda", (zip_report(Encryption.NONE, None, "2", "application/pdf"),)),
        (),
        settings(),
    )
    assert verdict.action == Action.DELIVER and verdict.reasons == ()


def test_no_inspection_delivers() -> None:
    verdict = decide(Envelope("a@b.example", ("c@d.example",)), None, (), settings())
    assert verdict.action == Action.DELIVER


def test_names_visible_in_encrypted_zip() -> None:
    case = Case()
    case.findings = (finding(InformationType.PERSON_NAME, SegmentSource.ATTACHMENT, "2"),)
    verdict = case.decide()
    assert [r.code for r in verdict.reasons] == [ReasonCode.UNENCRYPTED_ATTACHMENT]
    assert "file names" in verdict.reasons[0].text


def test_findings_inside_an_attachment_path_map_to_it() -> None:
    case = Case()
    case.attachments = (*case.attachments, zip_report(Encryption.NONE, None, "3", "application/zip"))
    case.findings = (finding(InformationType.UK_NHS_NUMBER, SegmentSource.ATTACHMENT, "3/a.csv"),)
    verdict = case.decide()
    assert [r.code for r in verdict.reasons] == [ReasonCode.UNENCRYPTED_ATTACHMENT]
    assert "Attachment 2" in verdict.reasons[0].text


def test_read_only_not_required() -> None:
    case = Case()
    with_attachment(case, read_only=False)
    assert case.decide(require_read_only=False).reasons == ()


def test_subject_marking_is_case_and_space_insensitive() -> None:
    case = Case()
    case.subject = "RE:  private   AND confidential - meeting"
    assert case.decide().reasons == ()


def test_custom_subject_marking() -> None:
    case = Case()
    verdict = case.decide(subject_marking="OFFICIAL-SENSITIVE")
    assert [r.code for r in verdict.reasons] == [ReasonCode.MISSING_SUBJECT_MARKING]
    assert "OFFICIAL-SENSITIVE" in verdict.reasons[0].text


def test_removable_password_is_not_a_reason() -> None:
    case = Case()
    case.passwords = (PasswordCandidate("x", "header", "", True),)
    assert case.decide().reasons == ()


def test_no_allow_list_refuses_every_recipient() -> None:
    case = Case()
    case.recipients = None
    verdict = case.decide()
    assert [r.code for r in verdict.reasons] == [ReasonCode.RECIPIENT_NOT_ALLOWED]


def test_purpose_given_satisfies_requirement() -> None:
    assert Case().decide(require_purpose=True).reasons == ()


def test_reason_texts_never_quote_the_values_or_file_names() -> None:
    case = Case()
    _body(case)
    _plain_attachment(case)
    case.findings = (
        finding(InformationType.UK_NHS_NUMBER, SegmentSource.BODY),
        finding(InformationType.UK_NHS_NUMBER, SegmentSource.ATTACHMENT, "3"),
    )
    verdict = case.decide()
    for reason in verdict.reasons:
        assert "referral.zip" not in reason.text + reason.fix
    assert "NHS number" in verdict.reasons[0].text


# -- markings --------------------------------------------------------------


def test_marking_alone_makes_clear_content_a_breach() -> None:
    verdict = decide(
        Envelope("a@sender.example", (ALLOWED,)),
        inspection("OFFICIAL-SENSITIVE: Private and Confidential: staffing"),
        (),
        settings(),
        recipients=Case().recipients,
        marking="OFFICIAL-SENSITIVE",
    )
    assert [r.code for r in verdict.reasons] == [ReasonCode.PERSONAL_DATA_IN_BODY]
    assert verdict.marking == "OFFICIAL-SENSITIVE"
    assert "OFFICIAL-SENSITIVE" in verdict.reasons[0].text


def test_marked_message_with_protected_attachment_is_compliant() -> None:
    case = Case()
    case.marking = "RESTRICTED"
    verdict = case.decide()
    assert verdict.reasons == () and verdict.marking == "RESTRICTED"


def test_marked_message_to_stranger_and_plain_attachment() -> None:
    case = Case()
    case.marking = "PROTECT"
    case.protected = ()
    case.rcpts = ("someone@elsewhere.example",)
    case.attachments = (*case.attachments, zip_report(Encryption.NONE, None, "3", "application/pdf"))
    verdict = case.decide()
    assert [r.code for r in verdict.reasons] == [
        ReasonCode.UNENCRYPTED_ATTACHMENT,
        ReasonCode.RECIPIENT_NOT_ALLOWED,
    ]


def test_marking_without_personal_data_still_checks_recipients() -> None:
    verdict = decide(
        Envelope("a@sender.example", ("x@elsewhere.example",)),
        inspection("Private and Confidential"),
        (),
        settings(),
        recipients=Case().recipients,
        marking="CONFIDENTIAL",
    )
    assert ReasonCode.RECIPIENT_NOT_ALLOWED in [r.code for r in verdict.reasons]


# -- modes -----------------------------------------------------------------


@pytest.mark.parametrize(("name", "breaker", "code"), ALONE, ids=[a[0] for a in ALONE])
def test_protect_mode_fixes_or_rejects(name: str, breaker: Breaker, code: ReasonCode) -> None:
    case = Case()
    policy = breaker(case)
    verdict = case.decide(mode="protect", **policy)
    expected = Action.PROTECT if code in PROTECT_FIXES else Action.REJECT
    assert verdict.action == expected
    assert [r.code for r in verdict.reasons] == [code]


def test_protect_mode_with_fixable_and_unfixable_rejects_with_all_reasons() -> None:
    case = Case()
    _body(case)
    _stranger(case)
    verdict = case.decide(mode="protect")
    assert verdict.action == Action.REJECT
    assert {r.code for r in verdict.reasons} == {
        ReasonCode.PERSONAL_DATA_IN_BODY,
        ReasonCode.RECIPIENT_NOT_ALLOWED,
    }


def test_protect_mode_compliant_is_delivered() -> None:
    assert Case().decide(mode="protect").action == Action.DELIVER


@pytest.mark.parametrize(("name", "breaker", "code"), ALONE, ids=[a[0] for a in ALONE])
def test_monitor_mode_delivers_and_says_what_enforce_would(
    name: str, breaker: Breaker, code: ReasonCode
) -> None:
    case = Case()
    policy = breaker(case)
    verdict = case.decide(mode="monitor", **policy)
    assert verdict.action == Action.DELIVER
    assert verdict.would_action == Action.REJECT
    assert [r.code for r in verdict.reasons] == [code]


def test_monitor_mode_compliant() -> None:
    verdict = Case().decide(mode="monitor")
    assert verdict.action == Action.DELIVER and verdict.would_action == Action.DELIVER


# -- hold ------------------------------------------------------------------


def _special(case: Case) -> None:
    case.protected = (
        *case.protected,
        finding(InformationType.SPECIAL_CATEGORY, SegmentSource.ATTACHMENT, "2"),
    )


def test_hold_on_special_category() -> None:
    case = Case()
    _special(case)
    assert case.decide(hold={"enabled": True}).action == Action.HOLD


def test_hold_disabled_by_default() -> None:
    case = Case()
    _special(case)
    assert case.decide().action == Action.DELIVER


def test_hold_special_category_can_be_switched_off() -> None:
    case = Case()
    _special(case)
    verdict = case.decide(hold={"enabled": True, "special_category": False})
    assert verdict.action == Action.DELIVER


def test_hold_on_many_people() -> None:
    case = Case()
    case.protected = tuple(
        finding(InformationType.UK_NHS_NUMBER, SegmentSource.ATTACHMENT, "2", i * 20, i * 20 + 10)
        for i in range(5)
    )
    hold = {"enabled": True, "special_category": False, "min_people": 5}
    assert case.decide(hold=hold).action == Action.HOLD
    hold["min_people"] = 6
    assert case.decide(hold=hold).action == Action.DELIVER


def test_reject_wins_over_hold() -> None:
    case = Case()
    _special(case)
    _stranger(case)
    assert case.decide(hold={"enabled": True}).action == Action.REJECT


def test_hold_in_protect_mode_even_when_protecting() -> None:
    case = Case()
    _special(case)
    _body(case)
    verdict = case.decide(mode="protect", hold={"enabled": True})
    assert verdict.action == Action.HOLD
    assert [r.code for r in verdict.reasons] == [ReasonCode.PERSONAL_DATA_IN_BODY]


def test_hold_in_monitor_mode_only_recorded() -> None:
    case = Case()
    _special(case)
    verdict = case.decide(mode="monitor", hold={"enabled": True})
    assert verdict.action == Action.DELIVER and verdict.would_action == Action.HOLD


def test_purity_same_inputs_same_verdict() -> None:
    case = Case()
    _body(case)
    _stranger(case)
    assert case.decide() == case.decide()


def test_password_text_that_opens_nothing_is_not_a_reason() -> None:
    case = Case()
    with_attachment(case, password_opens=False)
    case.passwords = (PasswordCandidate("reset-me", "attachment", "3", False),)
    assert case.decide().reasons == ()


def test_same_password_in_body_and_subject_is_in_message() -> None:
    case = Case()
    case.passwords = (
        PasswordCandidate("correct horse", "subject", "", False, opens=True),
        PasswordCandidate("correct horse", "body", "1", True),
    )
    verdict = case.decide()
    assert [r.code for r in verdict.reasons] == [ReasonCode.PASSWORD_IN_MESSAGE]
    assert "subject line" in verdict.reasons[0].text


def test_legacy_office_partial_extraction_is_not_uninspectable() -> None:
    case = Case()
    case.problems = (Problem("3", "partial_extraction", "strings"),)
    assert case.decide().reasons == ()


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("archive_bomb", "zip bomb"),
        ("malformed_document", "damaged"),
        ("header_too_large", "headers too large"),
        ("too_large", "too large to check"),
        ("internal_error", "could not be read"),
    ],
)
def test_uninspectable_words(code: str, words: str) -> None:
    case = Case()
    case.problems = (Problem("2", code, "detail not shown"),)
    verdict = case.decide()
    assert [r.code for r in verdict.reasons] == [ReasonCode.UNINSPECTABLE_CONTENT]
    assert words in verdict.reasons[0].text
    assert "Attachment 1" in verdict.reasons[0].text or "attachment 1" in verdict.reasons[0].text
    assert "detail not shown" not in verdict.reasons[0].text
