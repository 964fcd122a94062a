"""Receipts: the addresses that request them, and reading what comes back.

Flow: outbound mail carrying personal data gets per-recipient receipt
addresses (tokens.py); DSNs and MDNs arriving for the receipts domain are
parsed (parse.py), authenticated by their token, turned into audit events
and, under `[passwords] release = "on-receipt"`, release that recipient's
password.
"""

from gateway.receipts.parse import Outcome, Receipt, RecipientStatus, parse_receipt
from gateway.receipts.tokens import (
    ReceiptAddressing,
    ReceiptKind,
    ReceiptRef,
    derive_key,
    envelope_id,
)

__all__ = [
    "Outcome",
    "Receipt",
    "ReceiptAddressing",
    "ReceiptKind",
    "ReceiptRef",
    "RecipientStatus",
    "derive_key",
    "envelope_id",
    "parse_receipt",
]
