"""The policy: a pure function of one message's facts -> `Verdict`.

    decide(envelope, inspection, findings, settings, recipients=, marking=,
           purpose=, protected_findings=) -> Verdict

Flow (Mailman's rules then chain, Rspamd's symbols then one action): every
rule in `rules.RULES` is run and each one broken becomes a `Reason`; then
exactly one action is taken from the reasons, the mode and the hold rule:

    a message is subject to the rules when personal data is found in clear,
    when it carries an encrypted attachment (its content cannot be ruled
    out), when some part could not be inspected (fail closed), or when it
    carries a protective marking.  Otherwise it is delivered with no reasons.

    enforce   any reason -> REJECT
    protect   only reasons the gateway can fix itself -> PROTECT; any other
              reason -> REJECT (see PROTECT_FIXES)
    monitor   always DELIVER; `would_action` says what enforce would do
    hold      ([policy.hold] enabled) personal data above the configured
              sensitivity that would otherwise be delivered -> HOLD

What protect mode fixes (`PROTECT_FIXES`): personal data in the subject or
message text and in unencrypted attachments (the clear content is moved
into an AES-256 zip whose entries are read-only, the password is held and
sent separately), and a missing subject marking (the subject is marked).
What it cannot fix, so it still rejects: a recipient not on the allow-list
(sending protected data to the wrong person is still a breach), a password
it cannot take out of the message (subject, another attachment), a missing
purpose (only the sender knows it), content it could not inspect (it cannot
know what it would be wrapping), a sender's own weak or editable encryption
(the gateway cannot open it without the password to re-encrypt it, and
wrapping a ZipCrypto file inside AES leaves the recipient with a second,
weak password to deal with), and a sender's guessable password (the file
would still open with it wherever a copy of it went).

`unrewritable(verdict, code, mode)`: the verdict once the transform stage
found the content can never be made fit to deliver (a password in a body
part it cannot rewrite): a refusal for that reason, like any other.

No I/O, no clock: the same inputs always give the same Verdict, which is
what lets `gateway scan` promise the verdict live mail would get.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from gateway.model import (
    Action,
    Envelope,
    Finding,
    InformationType,
    Inspection,
    Reason,
    ReasonCode,
    RecipientEntry,
    Verdict,
)
from gateway.policy.recipients import RecipientList
from gateway.policy.rules import RULES, Facts, unrewritable_reason
from gateway.settings import HoldSettings, Settings

__all__ = [
    "PROTECT_FIXES", "RecipientList", "decide", "match_recipients", "needs_hold", "unrewritable",
]

PROTECT_FIXES = frozenset(
    {
        ReasonCode.PERSONAL_DATA_IN_BODY,
        ReasonCode.UNENCRYPTED_ATTACHMENT,
        ReasonCode.MISSING_SUBJECT_MARKING,
    }
)

# Information types that identify one person each: counting their findings
# estimates how many people a message is about, for the hold rule.
_PER_PERSON = (
    InformationType.UK_NHS_NUMBER,
    InformationType.UK_NATIONAL_INSURANCE_NUMBER,
    InformationType.UK_UNIQUE_PUPIL_NUMBER,
    InformationType.UK_PASSPORT_NUMBER,
    InformationType.UK_DRIVING_LICENCE_NUMBER,
    InformationType.DATE_OF_BIRTH,
    InformationType.PERSON_NAME,
)


def match_recipients(
    envelope: Envelope, recipients: RecipientList | None
) -> tuple[RecipientEntry | None, ...]:
    """The allow-list row for each envelope recipient (None: not allowed)."""
    if recipients is None:
        return tuple(None for _ in envelope.rcpt_tos)
    return tuple(recipients.match(address) for address in envelope.rcpt_tos)


def people_count(findings: Sequence[Finding]) -> int:
    """How many people the findings are about, estimated from the most
    frequent one-per-person identifier (values are never kept, so repeats of
    one person's number count again: the estimate errs towards holding)."""
    counts = dict.fromkeys(_PER_PERSON, 0)
    for finding in findings:
        if finding.info_type in counts:
            counts[finding.info_type] += 1
    return max(counts.values())


def needs_hold(hold: HoldSettings, findings: Sequence[Finding]) -> bool:
    """True when the personal data found is above the configured sensitivity."""
    if not hold.enabled or not findings:
        return False
    if hold.special_category and any(
        f.info_type == InformationType.SPECIAL_CATEGORY for f in findings
    ):
        return True
    return hold.min_people > 0 and people_count(findings) >= hold.min_people


def _enforce_action(reasons: Sequence[Reason], hold: bool) -> Action:
    if reasons:
        return Action.REJECT
    return Action.HOLD if hold else Action.DELIVER


def decide(
    envelope: Envelope,
    inspection: Inspection | None,
    findings: Sequence[Finding],
    settings: Settings,
    *,
    recipients: RecipientList | None = None,
    marking: str | None = None,
    purpose: str | None = None,
    protected_findings: Sequence[Finding] = (),
) -> Verdict:
    """The one action for a message, with every reason behind it.

    `findings` are those in clear (subject, body, unencrypted attachments,
    names readable inside encrypted archives); `protected_findings` those in
    content decrypted with the sender's password.  `recipients` None means no
    allow-list: no recipient may receive personal data.
    """
    if inspection is None:
        # No content stages ran (the relay foundation's seam): nothing to judge.
        return Verdict(action=Action.DELIVER)
    facts = Facts(
        envelope=envelope,
        inspection=inspection,
        findings=tuple(findings),
        protected_findings=tuple(protected_findings),
        policy=settings.policy,
        matches=match_recipients(envelope, recipients),
        marking=marking,
        purpose=purpose,
    )
    all_findings = (*facts.findings, *facts.protected_findings)
    found_types = {f.info_type for f in all_findings}
    information_types = tuple(t for t in InformationType if t in found_types)
    if not facts.subject_to_rules:
        return Verdict(action=Action.DELIVER, information_types=information_types)

    reasons = tuple(reason for rule in RULES if (reason := rule(facts)) is not None)
    hold = needs_hold(settings.policy.hold, all_findings)
    mode = settings.policy.mode
    if mode == "monitor":
        action = Action.DELIVER
        would: Action | None = _enforce_action(reasons, hold)
    elif mode == "protect":
        would = None
        if any(r.code not in PROTECT_FIXES for r in reasons):
            action = Action.REJECT
        elif hold:
            # The transform still protects a held message, so that approval
            # releases exactly what was checked.
            action = Action.HOLD
        else:
            action = Action.PROTECT if reasons else Action.DELIVER
    else:
        would = None
        action = _enforce_action(reasons, hold)
    return Verdict(
        action=action,
        reasons=reasons,
        personal_data=facts.personal_data,
        information_types=information_types,
        marking=marking,
        would_action=would,
    )


def unrewritable(verdict: Verdict, code: ReasonCode, mode: str) -> Verdict:
    """`verdict` once the transform stage found the message's content can
    never be made fit to deliver (gateway.errors.UnrewritableContent), for
    `code`: REJECT, with words the sender can act on.  Answering 451 would
    have the client send it again for days, then bounce it vaguely, with no
    record.  Monitor mode delivers it unchanged all the same, and records
    the refusal as what enforce would do."""
    reasons = verdict.reasons
    if not any(r.code == code for r in reasons):
        reasons = (*reasons, unrewritable_reason(code))
    if mode == "monitor":
        return replace(verdict, reasons=reasons, would_action=Action.REJECT)
    return replace(verdict, action=Action.REJECT, reasons=reasons)
