"""Envelope address validation and command-argument parsing, table-driven."""

from __future__ import annotations

import pytest

from gateway.receive import replies
from gateway.receive.addresses import address_problem
from gateway.receive.server import _parse_params, _split_path

VALID = [
    "alice@example.org",
    "a.b+tag@sub.example.co.uk",
    "o'neil@example.org",
    "x_y-z@xn--bcher-kva.example",
    "UPPER@EXAMPLE.ORG",
    "a@example.org.",
    '"john smith"@example.org',
    '"john..smith."@example.org',
]
INVALID = [
    ("a@b@c.example", "exactly one @"),
    ("@route.example:u@x.example", "source routes"),
    ("@a.example,@b.example:u@x.example", "source routes"),
    ("u%x.example@gw.example", "%-routing"),
    ("u!x@y.example", "!-paths"),
    ('"a@x.example"@y.example', ""),
    ('"a\\"b"@y.example', "quoted"),
    ('"a,b"@y.example', "quoted"),
    ('"a"b"@y.example', "quoted"),
    ('" "@y.example', "empty"),
    ("a\r@x.example", "control"),
    ("a\n@x.example", "control"),
    ("a\x00b@x.example", "control"),
    ("a\x9bb@x.example", "control"),  # C1, even under SMTPUTF8 (below)
    ("head\u202egpj.exe@x.example", "control"),
    ("a\u2066b@x.example", "control"),
    ("u@[192.0.2.1]", ""),
    ("u@[IPv6:2001:db8::1]", ""),
    ("u@localhost", "fully qualified"),
    ("@x.example", ""),
    ("u@", ""),
    ("noat.example", "exactly one @"),
    (".u@x.example", "malformed local part"),
    ("u.@x.example", "malformed local part"),
    ("u..v@x.example", "malformed local part"),
    ("u v@x.example", "malformed local part"),
    ("u@-x.example", "malformed domain"),
    ("u@x_y.example", "malformed domain"),
    ("u@x..example", "malformed domain"),
    ("x" * 65 + "@x.example", "too long"),
    ("u@" + "a" * 64 + ".example", "malformed domain"),
    ("j\u00f6rg@example.org", "non-ASCII"),
]


@pytest.mark.parametrize("address", VALID)
def test_valid_addresses(address):
    assert address_problem(address) is None


@pytest.mark.parametrize(("address", "why"), INVALID)
def test_invalid_addresses(address, why):
    problem = address_problem(address)
    assert problem is not None
    assert why in problem


@pytest.mark.parametrize("address", ["a\x9bb@x.example", "head\u202egpj.exe@x.example"])
def test_c1_and_bidi_controls_refused_under_smtputf8(address):
    assert "control" in (address_problem(address, allow_utf8=True) or "")


@pytest.mark.parametrize("address", ["j\u00f6rg@example.org", "\u00e9lodie@b\u00fccher.example"])
def test_utf8_addresses_need_smtputf8(address):
    assert address_problem(address) is not None
    assert address_problem(address, allow_utf8=True) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<a@b.example>", ("a@b.example", "")),
        ("<a@b.example> SIZE=10 BODY=8BITMIME", ("a@b.example", "SIZE=10 BODY=8BITMIME")),
        ("  <>  ", ("", "")),
        ("a@b.example", ("a@b.example", "")),
        ("a@b.example SIZE=10", ("a@b.example", "SIZE=10")),
        ('"a b"@b.example', None),
        ("<a@b.example", None),
        ("<<a@b.example>>", None),
        ('<"x@y"@b.example>', ('"x@y"@b.example', "")),
        ('<"a> b"@b.example> SIZE=1', ('"a> b"@b.example', "SIZE=1")),
    ],
)
def test_split_path(text, expected):
    assert _split_path(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("SIZE=10 smtputf8", {"SIZE": "10", "SMTPUTF8": None}),
        ("ENVID=Ab+2Bc", {"ENVID": "Ab+2Bc"}),
        ("SIZE=1 SIZE=2", None),
        ("SIZE=", None),
        ("BAD-NAME=1", None),
    ],
)
def test_parse_params(text, expected):
    assert _parse_params(text) == expected


def test_replies_carry_enhanced_status_codes():
    for name in dir(replies):
        if not name.startswith("S") or not name[1:4].isdigit():
            continue
        value = getattr(replies, name)
        code = value[:3]
        assert code == name[1:4], name
        if code not in ("220", "354"):
            enhanced = value.split()[1]
            assert enhanced[0] == code[0] and enhanced.count(".") == 2, name


@pytest.mark.parametrize(
    ("address", "listed", "expected"),
    [
        ("a@x.example", ["a@x.example"], True),
        ("a@X.Example", ["a@x.example"], True),
        ("a@x.example.", ["a@x.example"], True),
        ("A@x.example", ["a@x.example"], False),
        ("a@y.example", ["a@x.example"], False),
        ("a@x.example", [], False),
    ],
)
def test_same_mailbox_listed(address, listed, expected):
    from gateway.receive.server import _same_mailbox_listed

    assert _same_mailbox_listed(address, listed) is expected
