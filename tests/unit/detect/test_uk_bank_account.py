import random

import pytest
from engine_support import found
from synthetic_ids import account_number, sort_code

from gateway.model import InformationType

rng = random.Random(7)
SORT, ACCOUNT = sort_code(rng), account_number(rng)

CASES = [
    (f"Sort code {SORT}, account {ACCOUNT}", f"{SORT}, account {ACCOUNT}"),
    (f"Account {ACCOUNT} sort code {SORT}", f"{ACCOUNT} sort code {SORT}"),
    (f"Sort Code,Account Number\n{SORT},{ACCOUNT}", f"{SORT},{ACCOUNT}"),
    (
        f"Sort code: {SORT.replace('-', '')} account no: {ACCOUNT}",
        f"{SORT.replace('-', '')} account no: {ACCOUNT}",
    ),
    (f"Account number: {ACCOUNT}", ACCOUNT),
    (f"Sort code {SORT} is the Leeds branch", None),  # a branch, no account
    (f"Our customer account number is {ACCOUNT}", None),  # business account
    (f"Invoice {ACCOUNT} for {SORT} items", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_bank_account(text: str, expected: str | None) -> None:
    hits = found(text, InformationType.UK_BANK_ACCOUNT)
    assert hits == ([expected] if expected else [])
