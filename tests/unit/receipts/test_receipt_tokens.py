"""Receipt addresses: made and checked with the HMAC key, robust to case."""

from __future__ import annotations

import pytest

from gateway.receipts import ReceiptAddressing, ReceiptKind, derive_key, envelope_id
from gateway.receipts.tokens import parse_envelope_id

KEY = b"k" * 32
OLD = b"o" * 32
DOMAIN = "receipts.example.org"
QUEUE = "2Q34SGXL1BR53R0M"


@pytest.fixture
def addressing() -> ReceiptAddressing:
    return ReceiptAddressing([KEY], DOMAIN)


def test_round_trip(addressing: ReceiptAddressing) -> None:
    dsn = addressing.return_path(QUEUE, 3)
    mdn = addressing.mdn_address(QUEUE, 3)
    assert dsn.startswith(f"dsn+{QUEUE}-3-") and dsn.endswith(f"@{DOMAIN}")
    assert mdn.startswith(f"mdn+{QUEUE}-3-")
    ref = addressing.parse(dsn)
    assert ref is not None and (ref.kind, ref.queue_id, ref.index) == (ReceiptKind.DSN, QUEUE, 3)
    assert ref.envid == envelope_id(QUEUE, 3) == f"{QUEUE}-3"
    mref = addressing.parse(mdn)
    assert mref is not None and mref.kind is ReceiptKind.MDN


def _swap(address: str, part: int, value: str) -> str:
    local, domain = address.split("@")
    kind, rest = local.split("+")
    pieces = rest.split("-")
    pieces[part] = value
    return f"{kind}+{'-'.join(pieces)}@{domain}"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda a: _swap(a, 0, "2Q34SGXL1BR53R0N"),  # another message
        lambda a: _swap(a, 1, "4"),  # another recipient
        lambda a: _swap(a, 2, "a" * 20),  # a guessed tag
        lambda a: a.replace("dsn+", "mdn+"),  # the other kind
        lambda a: a.replace(DOMAIN, "receipts.example.net"),  # another domain
        lambda a: a.replace("@", "x@"),
        lambda a: "postmaster@" + DOMAIN,
        lambda a: "",
        lambda a: "no-at-sign",
    ],
    ids=["queue", "index", "tag", "kind", "domain", "suffix", "postmaster", "empty", "no_at"],
)
def test_forgeries_do_not_parse(addressing: ReceiptAddressing, mangle: object) -> None:
    assert callable(mangle)
    assert addressing.parse(mangle(addressing.return_path(QUEUE, 3))) is None


def test_token_shaped(addressing: ReceiptAddressing) -> None:
    genuine = addressing.return_path(QUEUE, 0)
    assert addressing.token_shaped(genuine)
    assert addressing.token_shaped(_swap(genuine, 2, "b" * 20))
    assert not addressing.token_shaped("postmaster@" + DOMAIN)
    assert not addressing.token_shaped(genuine.replace(DOMAIN, "elsewhere.example"))


def test_case_folded_addresses_still_verify(addressing: ReceiptAddressing) -> None:
    address = addressing.mdn_address(QUEUE, 1)
    for folded in (address.lower(), address.upper()):
        ref = addressing.parse(folded)
        assert ref is not None and ref.queue_id == QUEUE and ref.index == 1


def test_key_rotation() -> None:
    old = ReceiptAddressing([OLD], DOMAIN)
    both = ReceiptAddressing([KEY, OLD], DOMAIN)
    new_only = ReceiptAddressing([KEY], DOMAIN)
    issued = old.return_path(QUEUE, 0)
    assert both.parse(issued) is not None
    assert new_only.parse(issued) is None
    assert both.return_path(QUEUE, 0) == new_only.return_path(QUEUE, 0)


def test_no_key_is_refused() -> None:
    with pytest.raises(ValueError):
        ReceiptAddressing([], DOMAIN)


def test_derive_key_is_stable_and_separate() -> None:
    assert derive_key(KEY) == derive_key(KEY)
    assert derive_key(KEY) != derive_key(OLD)
    assert derive_key(KEY) != KEY and len(derive_key(KEY)) == 32


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"{QUEUE}-0", (QUEUE, 0)),
        (f" {QUEUE}-12 ", (QUEUE, 12)),
        ("sender-own-envid", None),
        (None, None),
        ("", None),
    ],
)
def test_parse_envelope_id(value: str | None, expected: tuple[str, int] | None) -> None:
    assert parse_envelope_id(value) == expected
