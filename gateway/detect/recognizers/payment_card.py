"""Payment card number: 13-19 digits, a known issuer prefix, Luhn check.

Grouped 4-4-4-4 (or Amex 4-6-5) numbers with a valid Luhn digit are cards;
an ungrouped run of digits is as likely an order or tracking number, so it
needs context.
"""

from __future__ import annotations

from typing import ClassVar

from stdnum import luhn

from gateway.detect.recognizer import Pattern, Recognizer
from gateway.model import InformationType

# Issuer identification prefixes (Visa, Mastercard incl. 2-series, Amex,
# Diners, Discover, JCB, Maestro, UnionPay).
_IIN_PREFIXES = ("4", "51", "52", "53", "54", "55", "22", "23", "24", "25", "26", "27",
                 "34", "37", "36", "38", "30", "6011", "65", "64", "35", "50", "56", "57",
                 "58", "6304", "6759", "62", "67")  # fmt: skip


def is_valid_card(value: str) -> bool:
    """True when `value` (spaces and dashes allowed) looks like a real card."""
    digits = "".join(ch for ch in value if ch.isdigit())
    if not 13 <= len(digits) <= 19 or not digits.startswith(_IIN_PREFIXES):
        return False
    if len(set(digits)) < 3:  # 4444 4444 4444 4448 style fillers
        return False
    return bool(luhn.is_valid(digits))


class PaymentCardRecognizer(Recognizer):
    name = "payment_card"
    info_type = InformationType.PAYMENT_CARD_NUMBER
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("grouped_16", r"\b[0-9]{4}(?:[ -][0-9]{4}){3}(?:[ -]?[0-9]{1,3})?\b", 0.6),
        Pattern("grouped_15", r"\b[0-9]{4}[ -][0-9]{6}[ -][0-9]{5}\b", 0.6),
        Pattern("plain", r"\b[0-9]{13,19}\b", 0.3),
    )
    CONTEXT = (
        "card", "card number", "card no", "credit card", "debit card", "visa",
        "mastercard", "amex", "american express", "expiry", "exp", "cvv", "cvc",
        "long number", "pan",
    )  # fmt: skip
    NEGATIVE_CONTEXT = (
        "order", "invoice", "tracking", "reference", "ref", "imei", "serial",
        "barcode", "isbn", "consignment", "parcel",
    )  # fmt: skip

    def validate(self, value: str) -> bool:
        return is_valid_card(value)
