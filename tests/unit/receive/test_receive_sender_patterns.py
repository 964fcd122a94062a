"""`[[users]] senders` patterns and the minimum-quoting form of addresses."""

from __future__ import annotations

import pytest

from gateway.receive.addresses import canonical
from gateway.receive.server import sender_pattern


@pytest.mark.parametrize(
    ("patterns", "address", "owned"),
    [
        (["*@council.example"], "scan.desk@council.example", True),
        (["*@council.example"], "Scan.Desk@Council.Example".lower(), True),
        (["*@council.example"], "ceo@elsewhere.example", False),
        (["*@council.example"], "x@council.example.evil.example", False),
        (["*@council.example"], "x@sub.council.example", False),
        (["scanner@council.example"], "scanner@council.example", True),
        (["scanner@council.example"], "scannerx@council.example", False),
        (["a.b@council.example"], "aXb@council.example", False),  # the dot is not a wildcard
        (["scanner@council.example", "*@schools.example"], "head@schools.example", True),
        (["*@council.example"], '"john smith"@council.example', True),
    ],
)
def test_sender_patterns(patterns, address, owned):
    pattern = sender_pattern(patterns)
    assert pattern is not None
    assert bool(pattern.fullmatch(address)) is owned


def test_no_patterns_means_any_sender():
    assert sender_pattern([]) is None


@pytest.mark.parametrize(
    ("address", "relayed_as"),
    [
        ('"john.smith"@example.org', "john.smith@example.org"),
        ('"john smith"@example.org', '"john smith"@example.org'),
        ('"john..smith"@example.org', '"john..smith"@example.org'),
        ('".john"@example.org', '".john"@example.org'),
        ("plain@example.org", "plain@example.org"),
    ],
)
def test_canonical_keeps_only_the_quotes_needed(address, relayed_as):
    assert canonical(address) == relayed_as
