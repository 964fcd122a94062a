"""Made-up identifiers with correct check digits, for tests and the corpus.

Every value is computed from a seeded random generator, never copied from a
real person.  `bad_*` variants keep the shape and break only the check.
"""

from __future__ import annotations

import datetime as dt
import random

from stdnum import luhn
from stdnum.gb import upn as stdnum_upn

# Local authority codes stdnum knows (a UPN's digits 2-4 must be one).
_LA_CODES = (201, 202, 301, 302, 330, 340, 380, 800, 850, 886, 919, 936)


def nhs_number(rng: random.Random) -> str:
    """A ten-digit number with a valid mod-11 check digit, grouped 3-3-4."""
    while True:
        body = str(rng.randint(400_000_000, 799_999_999))
        total = sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True))
        check = 11 - total % 11
        if check == 10:
            continue  # no valid check digit for this body
        digits = body + ("0" if check == 11 else str(check))
        return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def bad_nhs_number(rng: random.Random) -> str:
    good = nhs_number(rng)
    last = int(good[-1])
    return good[:-1] + str((last + 1) % 10)


def upn(rng: random.Random) -> str:
    body = f"{rng.choice(_LA_CODES)}{rng.randint(1000, 9999)}{rng.randint(10, 24)}{rng.randint(0, 999):03d}"
    return stdnum_upn.calc_check_digit(body) + body


def bad_upn(rng: random.Random) -> str:
    good = upn(rng)
    alphabet = "ABCDEFGHJKLMNPQRTUVWXYZ"
    return alphabet[(alphabet.index(good[0]) + 1) % len(alphabet)] + good[1:]


def nino(rng: random.Random, spaced: bool = True) -> str:
    first = rng.choice("ABCEGHJKLMNOPRSTWXYZ")
    while True:
        second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
        if first + second not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
            break
    digits = f"{rng.randint(0, 999999):06d}"
    suffix = rng.choice("ABCD")
    if spaced:
        return f"{first}{second} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"
    return f"{first}{second}{digits}{suffix}"


def card_number(rng: random.Random, prefix: str = "4", length: int = 16) -> str:
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    digits = body + luhn.calc_check_digit(body)
    if length == 15:
        return f"{digits[:4]} {digits[4:10]} {digits[10:]}"
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def bad_card_number(rng: random.Random) -> str:
    good = card_number(rng)
    return good[:-1] + str((int(good[-1]) + 1) % 10)


def driving_licence(
    rng: random.Random, surname: str, born: dt.date, initials: str, female: bool = False
) -> str:
    letters = "".join(ch for ch in surname.upper() if ch.isalpha())[:5].ljust(5, "9")
    month = born.month + (50 if female else 0)
    year = f"{born.year % 100:02d}"
    initials = (initials.upper() + "9")[:2]
    check = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2))
    return f"{letters}{year[0]}{month:02d}{born.day:02d}{year[1]}{initials}9{check}"


def sort_code(rng: random.Random) -> str:
    return f"{rng.randint(10, 99)}-{rng.randint(0, 99):02d}-{rng.randint(0, 99):02d}"


def account_number(rng: random.Random) -> str:
    return f"{rng.randint(10_000_000, 99_999_999)}"


def passport_number(rng: random.Random) -> str:
    return f"{rng.randint(100_000_000, 999_999_999)}"


def mobile_number(rng: random.Random) -> str:
    """Ofcom's drama range: shaped like a mobile, never allocated."""
    return f"07700 900{rng.randint(0, 999):03d}"


def landline_number(rng: random.Random) -> str:
    """Ofcom's drama ranges for geographic numbers (valid, never allocated)."""
    area, prefix = rng.choice(
        (("020", "7946 0"), ("0113", "496 0"), ("0161", "496 0"), ("0121", "496 0"))
    )
    return f"{area} {prefix}{rng.randint(0, 999):03d}"
