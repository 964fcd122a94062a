import pytest

from gateway.detect import find_marking
from gateway.model import ParsedMessage

GUID = "3f4e6c2a-1b2c-4d5e-8f90-123456789abc"

CASES = [
    ("OFFICIAL-SENSITIVE: pupil list", (), "OFFICIAL-SENSITIVE"),
    ("[RESTRICTED] case notes", (), "RESTRICTED"),
    ("RE: FW: PROTECT - PERSONAL referral", (), "PROTECT"),
    ("CONFIDENTIAL", (), "CONFIDENTIAL"),
    ("OFFICIAL SENSITIVE minutes", (), "OFFICIAL-SENSITIVE"),
    ("Protect your password", (), None),  # an ordinary word, not a marking
    ("Minutes: confidential items", (), None),  # not at the start
    ("PROTECTION plan", (), None),
    # OFFICIAL-SENSITIVE, a phrase no one writes by chance: any case, any
    # dash or space between, invisible characters ignored.
    ("Official-Sensitive: strategy minutes", (), "OFFICIAL-SENSITIVE"),
    ("Official Sensitive - strategy minutes", (), "OFFICIAL-SENSITIVE"),
    ("official-sensitive: strategy minutes", (), "OFFICIAL-SENSITIVE"),
    ("OFFICIAL\u2013SENSITIVE: strategy minutes", (), "OFFICIAL-SENSITIVE"),
    ("OFFICIAL \u2013 SENSITIVE: strategy minutes", (), "OFFICIAL-SENSITIVE"),
    ("OFFICIAL\u2011SENSITIVE: strategy minutes", (), "OFFICIAL-SENSITIVE"),
    ("OFFICIAL-\u200bSENSITIVE: strategy minutes", (), "OFFICIAL-SENSITIVE"),
    ("Re: [Official\u2014Sensitive] minutes", (), "OFFICIAL-SENSITIVE"),
    ("OFFICIAL-SENSITIVE\u2013PERSONAL: referral", (), "OFFICIAL-SENSITIVE"),
    ("PRO\u200bTECT: referral", (), "PROTECT"),
    ("Officially sensitive topic", (), None),
    # The single words stay upper case only: in lower case they are ordinary.
    ("Confidential: strategy minutes", (), None),
    ("Restricted access car park", (), None),
    (
        "Budget",
        (("X-Protective-Marking", "SEC=OFFICIAL\u2013SENSITIVE"),),
        "OFFICIAL-SENSITIVE",
    ),
    (
        "Budget",
        (("X-Protective-Marking", "VER=2012.3, NS=gov.uk, SEC=OFFICIAL-SENSITIVE"),),
        "OFFICIAL-SENSITIVE",
    ),
    ("Budget", (("X-Protective-Marking", "RESTRICTED"),), "RESTRICTED"),
    ("Budget", (("X-Protective-Marking", "SEC=OFFICIAL, ORIGIN=x@y"),), None),
    (
        "Budget",
        (
            (
                "msip_labels",
                f"MSIP_Label_{GUID}_Enabled=true; MSIP_Label_{GUID}_Name=Official-Sensitive; MSIP_Label_{GUID}_SiteId=abc",
            ),
        ),
        "OFFICIAL-SENSITIVE",
    ),
    (
        "Budget",
        (("msip_labels", f"MSIP_Label_{GUID}_Enabled=false; MSIP_Label_{GUID}_Name=Confidential"),),
        None,
    ),
    ("Budget", ((f"MSIP_Label_{GUID}_Name", "Highly Confidential"),), "CONFIDENTIAL"),
    (
        "Budget",
        (("msip_labels", f"MSIP_Label_{GUID}_Enabled=true; MSIP_Label_{GUID}_Name=Public"),),
        None,
    ),
]


@pytest.mark.parametrize(("subject", "headers", "expected"), CASES)
def test_find_marking(
    subject: str, headers: tuple[tuple[str, str], ...], expected: str | None
) -> None:
    message = ParsedMessage(subject=subject, headers=headers, parts=())
    assert find_marking(message) == expected
