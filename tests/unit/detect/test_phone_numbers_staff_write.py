"""Telephone numbers as staff write them: the staff tester's business numbers
refused as personal, and a parent's or carer's mobile that was missed.

Business: an organisation's, a team's or a post's number, or a member of
staff's work number given as a business contact (a disclaimer, a notice, a
meeting's dial-in, a signature with no sign-off, a company footer, an
out-of-office reply, a meeting invitation's organiser).  Personal: a family
member's or a named person's mobile, which stays found however close its
wording is to the business cases.  Synthetic numbers only: Ofcom's drama
ranges (01632 960xxx, 07700 900xxx) and the tester's office numbers.
"""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from engine_support import engine, found

from gateway.detect.signature import business_blocks
from gateway.inspect import inspect_message
from gateway.model import InformationType

PHONE = InformationType.UK_PHONE_NUMBER
POSTCODE = InformationType.UK_POSTCODE

BUSINESS_NUMBERS = [
    pytest.param(
        "Are we still on for lunch Thursday?\n\nThis email and any attachments are "
        "confidential. If you have received it in error please notify the sender on "
        "01609 780780 and delete it.",
        id="disclaimer-this-email-and-any-attachments",
    ),
    pytest.param(
        "Minutes attached.\n\nThis e-mail (including any attachments) is intended only for "
        "the addressee. Tell us on 0113 496 0001 if it reached you by mistake.",
        id="disclaimer-including-any-attachments",
    ),
    pytest.param(
        "See you then.\n\nIf you have received this email in error please telephone "
        "01632 960001 and delete it.",
        id="disclaimer-received-in-error",
    ),
    pytest.param(
        "See you then.\n\nCONFIDENTIALITY NOTICE\nThe information in this message may be "
        "privileged. Please ring 01632 960002 if you are not the intended recipient.",
        id="disclaimer-confidentiality-notice",
    ),
    pytest.param(
        "See you then.\n\nDisclaimer: Northshire Council may monitor email traffic. Queries "
        "to 0113 496 0000.",
        id="disclaimer-label",
    ),
    pytest.param(
        "Thank you for your enquiry. You can contact Children's Services on 01609 780780 "
        "(Mon-Fri 9-5).",
        id="service-without-article",
    ),
    pytest.param(
        "For admissions, phone 01609 533679 or email admissions@school.example.sch.uk.",
        id="topic-then-number",
    ),
    pytest.param("For more information please call 0113 496 0000.", id="topic-more-information"),
    pytest.param("The Emergency Duty Team number is 01609 780780.", id="team-number-is"),
    pytest.param(
        "Join by phone: 020 3443 2107, conference ID 887 223 119#",
        id="teams-one-line-dial-in",
    ),
    pytest.param(
        "Please see the agenda attached.\n\nJo Bloggs\nSocial Worker\n"
        "T 01609 532123  M 07700 900456",
        id="unsigned-signature-labels-without-colon",
    ),
    pytest.param(
        "Notes attached.\n\nJo Bloggs\nFamily Support Worker\nNorthshire County Council\n"
        "T 0113 496 0999  M 07911 123456\n",
        id="unsigned-signature-valid-numbers",
    ),
    pytest.param(
        "Accounts Receivable, Northdale Coaches Ltd, Unit 4 Mill Lane, Thirsk YO7 1RQ, "
        "01845 522100",
        id="company-footer-line",
    ),
    pytest.param(
        "I am out of the office until Monday. For urgent matters please contact my colleague "
        "Sarah Hughes on 01609 532124.",
        id="out-of-office-colleague",
    ),
    pytest.param(
        "I am on leave. Please contact my manager, Mrs Jane Smith, on 0113 496 0124.",
        id="out-of-office-manager",
    ),
    pytest.param("Contact the duty social worker on 07911 123456.", id="post-without-article"),
    pytest.param(
        "Road closure: Manningham Lane closed northbound 20-24 October for resurfacing.\n"
        "Diversion via Oak Lane. Queries: Highways 01632 960888. Contractor: Tarmac Ltd, "
        "site manager Gary Fox 07700 900321.",
        id="contractors-site-manager",
    ),
    pytest.param(
        "Scaffolding: Acme Scaffolding Ltd - contracts manager: 07700 900321",
        id="company-post-without-a-name",
    ),
]


@pytest.mark.parametrize("text", BUSINESS_NUMBERS)
def test_a_business_number_is_not_personal(text: str) -> None:
    assert found(text, PHONE) == []


def test_a_disclaimer_is_a_business_block_of_its_own_paragraph() -> None:
    text = (
        "Mum's mobile is 07700 900456.\n\nThis email and any attachments are confidential."
        "\nIf received in error call 01609 780780.\n\nSecond paragraph.\n"
    )
    opening = text.index("This email")
    assert business_blocks(text) == [(opening, text.index("\n\nSecond"))]
    assert found(text, PHONE) == ["07700 900456"]


def test_a_company_footers_postcode_is_not_personal_either() -> None:
    text = (
        "Accounts Receivable, Northdale Coaches Ltd, Unit 4 Mill Lane, Thirsk YO7 1RQ, "
        "01845 522100"
    )
    assert found(text, POSTCODE) == []


def _invitation(description: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Sarah Jones <sarah.jones@nhs.net>"
    message["To"] = "team@example.org"
    message["Subject"] = "Team meeting"
    message.set_content("Hello.")
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "METHOD:REQUEST", "BEGIN:VEVENT",
        "ORGANIZER;CN=Sarah Jones:mailto:sarah.jones@nhs.net",
        "SUMMARY:Team meeting", f"DESCRIPTION:{description}",
        "UID:abc", "DTSTART:20261225T123000Z", "END:VEVENT", "END:VCALENDAR",
    ]  # fmt: skip
    message.add_alternative("\r\n".join(lines) + "\r\n", subtype="calendar")
    return bytes(message)


def _numbers_in(raw: bytes) -> list[str]:
    """Telephone findings in a message read as the gateway reads it."""
    inspection = inspect_message(raw)
    texts = {(s.part_path, s.source): s.text for s in inspection.segments}
    return [
        texts[(f.part_path, f.source)][f.start : f.end]
        for f in engine().detect(inspection.segments)
        if f.info_type is PHONE
    ]


def test_an_invitations_organiser_mobile_is_a_business_contact() -> None:
    assert _numbers_in(_invitation("Organiser mobile 07700 900456")) == []


def test_a_parents_mobile_in_an_invitation_is_still_found() -> None:
    assert _numbers_in(_invitation("Review meeting. Mum's mobile 07700 900456")) == [
        "07700 900456"
    ]


# A parent's or carer's number, and the personal twins of the business
# wordings above.
PERSONAL_NUMBERS = [
    pytest.param("Mum's number 07700 900123", "07700 900123", id="mums-number"),
    pytest.param("Mum: 07700900123", "07700900123", id="mum-label"),
    pytest.param(
        "Contact Kelly on 07700 900123 about Leo's CP medical.", "07700 900123",
        id="call-a-first-name",
    ),
    pytest.param("Dad's mobile is 07700 900987", "07700 900987", id="dads-mobile"),
    pytest.param("His step-dad: 07700 900456", "07700 900456", id="step-dad"),
    pytest.param("Please ring her foster carer on 07700 900456.", "07700 900456",
                 id="foster-carer"),
    pytest.param("Grandma can be reached on 07700 900456", "07700 900456", id="grandma"),
    pytest.param("Nan's mobile 07700 900456 (she collects him on Fridays).", "07700 900456",
                 id="nan"),
    pytest.param("you can reach the child's mother on 07700 900456", "07700 900456",
                 id="childs-mother"),
    pytest.param("her mobile is 07700 900456", "07700 900456", id="her-mobile"),
    pytest.param("contact the mother at the hospital on 07700 900456", "07700 900456",
                 id="person-at-a-place"),
    pytest.param("For the visit, call 07700 900456 (mum).", "07700 900456",
                 id="topic-with-family-word-after"),
    pytest.param("For Leo's mum, ring 07911 123456.", "07911 123456", id="topic-is-a-parent"),
    pytest.param(
        "This email and any attachments contain Leo's details: mum's mobile 07911 123456.",
        "07911 123456", id="not-a-disclaimer-opening",
    ),
    pytest.param("This email is confidential. Mum's mobile is 07911 123456.", "07911 123456",
                 id="confidential-alone-is-no-disclaimer"),
    pytest.param("Northdale Coaches Ltd employs dad, his mobile is 07911 123456.",
                 "07911 123456", id="company-named-in-prose"),
    pytest.param("Mum's mobile 07700 900456, conference is on Monday.", "07700 900456",
                 id="conference-word-after-a-parents-mobile"),
    pytest.param("Disclaimer aside, mum's mobile is 07911 123456.", "07911 123456",
                 id="disclaimer-word-in-prose"),
    pytest.param("Tarmac Ltd, site manager Gary Fox's wife 07911 123456", "07911 123456",
                 id="company-post-then-a-family-word"),
    pytest.param("Tenant: Gary Fox, works for Tarmac Ltd, mobile 07911 123456",
                 "07911 123456", id="tenant-who-works-for-a-company"),
]


@pytest.mark.parametrize(("text", "number"), PERSONAL_NUMBERS)
def test_a_family_members_or_named_persons_number_is_found(text: str, number: str) -> None:
    assert found(text, PHONE) == [number]


def test_a_list_of_pupils_with_home_numbers_is_still_found() -> None:
    text = (
        "Pupils and home numbers:\nLeo Smith - 0113 496 0111\nAmy Jones - 0113 496 0222\n"
        "Jack Wilson, 07700 900333 (mum)\n"
    )
    assert found(text, PHONE) == ["0113 496 0111", "0113 496 0222", "07700 900333"]
