"""What the record keeps of X-Authorised-By and X-Sharing-Purpose when
they name the person the message is about.

"Dr Amit Patel re Jack Wilson DOB 14/06/2013" was kept as "Dr Amit Patel
re Jack Wilson DOB [redacted]": every name in the authoriser was kept as
the authoriser's own.  A name the text says is someone the message is
about (a date of birth or an address straight after it) is redacted; the
authoriser's name and contact details stay.  "Referral for Jack Wilson of
12 Acacia Road" kept the street: it is found now, with the name.
"""

from __future__ import annotations

from faker import Faker

from gateway.detect import build_engine
from gateway.pipeline import REDACTED, redact_sharing
from gateway.transform import SharingFacts

_FAKE = Faker("en_GB")
_FAKE.seed_instance(20260611)
AUTHORISER = "Dr Amit Patel"
CHILD = "Jack Wilson"
STREET = f"{_FAKE.building_number()} Acacia Road"
BORN = _FAKE.date_of_birth(minimum_age=5, maximum_age=15).strftime("%d/%m/%Y")


def _cleaned(purpose: str | None = None, authorised_by: str | None = None) -> SharingFacts:
    return redact_sharing(
        build_engine(), SharingFacts(purpose=purpose, consent=None, authorised_by=authorised_by)
    )


def test_a_child_named_with_a_date_of_birth_in_the_authoriser_is_redacted() -> None:
    kept = _cleaned(authorised_by=f"{AUTHORISER} re {CHILD} DOB {BORN}").authorised_by
    assert kept == f"{AUTHORISER} re {REDACTED} DOB {REDACTED}"


def test_a_child_named_with_an_address_in_the_authoriser_is_redacted() -> None:
    kept = _cleaned(authorised_by=f"{AUTHORISER} re {CHILD} of {STREET}").authorised_by
    assert kept == f"{AUTHORISER} re {REDACTED} of {REDACTED}"


def test_the_authorisers_own_name_and_number_stay() -> None:
    value = f"{AUTHORISER} 07700 900123"
    assert _cleaned(authorised_by=value).authorised_by == value


def test_the_street_address_after_a_name_in_the_purpose_is_redacted() -> None:
    kept = _cleaned(purpose=f"Referral for {CHILD} of {STREET}").purpose
    assert kept == f"Referral for {REDACTED} of {REDACTED}"
