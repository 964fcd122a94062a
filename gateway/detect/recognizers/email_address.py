"""E-mail address: a person's own address, not an organisation's.

A free-mail or ISP address (gmail, hotmail, btinternet…) is almost always a
private person's, so it counts on its own.  An address on an organisation's
domain is a business contact unless the text around it says whose it is
("mum's email", "personal email").  Role mailboxes (info@, referrals@) are
never personal data.
"""

from __future__ import annotations

from typing import ClassVar

from gateway.detect.recognizer import Assessment, Pattern, Recognizer
from gateway.model import InformationType

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "hotmail.com", "hotmail.co.uk", "outlook.com",
        "live.com", "live.co.uk", "msn.com", "yahoo.com", "yahoo.co.uk", "ymail.com",
        "icloud.com", "me.com", "mac.com", "aol.com", "aol.co.uk", "btinternet.com",
        "btopenworld.com", "sky.com", "virginmedia.com", "ntlworld.com", "blueyonder.co.uk",
        "talktalk.net", "tiscali.co.uk", "plus.com", "mail.com", "gmx.com", "gmx.co.uk",
        "protonmail.com", "proton.me", "zoho.com", "yandex.com", "fastmail.com",
    }
)  # fmt: skip

ROLE_LOCAL_PARTS = frozenset(
    {
        "info", "admin", "office", "enquiries", "enquiry", "reception", "contact", "hello",
        "support", "help", "helpdesk", "servicedesk", "noreply", "no-reply", "donotreply",
        "do-not-reply", "accounts", "finance", "hr", "payroll", "sales", "team", "mail",
        "safeguarding", "mash", "referrals", "admissions", "postmaster", "webmaster",
        "abuse", "press", "media", "marketing", "bookings", "orders", "invoices", "it",
        "governors", "clerk", "headteacher", "head", "bursar", "dpo", "dataprotection",
        "foi", "complaints", "feedback", "careers", "recruitment", "jobs", "ict",
    }
)  # fmt: skip


class EmailAddressRecognizer(Recognizer):
    name = "email_address"
    info_type = InformationType.EMAIL_ADDRESS
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern(
            "address",
            r"\b[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}\b",
            0.6,
        ),
    )
    CONTEXT = (
        "parent", "parents", "mum", "mum's", "dad", "dad's", "mother", "father", "carer",
        "guardian", "home email", "personal email", "private email", "his email",
        "her email", "their email", "pupil", "child", "patient", "client", "family",
        "service user", "resident", "tenant",
    )  # fmt: skip
    CONTEXT_WINDOW = (60, 10)
    BUSINESS_CONTACT = True
    # An organisation's address starts this much lower than a private one.
    ORGANISATION_PENALTY: ClassVar[float] = 0.25

    def assess(self, text: str, start: int, end: int, score: float) -> Assessment | None:
        local, _, domain = text[start:end].lower().rpartition("@")
        if local.strip(".") in ROLE_LOCAL_PARTS or local.startswith(("noreply", "no-reply")):
            return None
        if domain not in FREE_MAIL_DOMAINS:
            score -= self.ORGANISATION_PENALTY
        return Assessment(start, end, score)
