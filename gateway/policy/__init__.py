"""The policy: a pure function (envelope, inspection, findings, settings) -> Verdict.

This is the seam of the relay foundation: every message is delivered.  The
secure-sharing rules fill it in without changing its signature.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.model import Action, Envelope, Finding, Inspection, Verdict
from gateway.settings import Settings

__all__ = ["decide"]


def decide(
    envelope: Envelope,
    inspection: Inspection | None,
    findings: Sequence[Finding],
    settings: Settings,
) -> Verdict:
    return Verdict(action=Action.DELIVER)
