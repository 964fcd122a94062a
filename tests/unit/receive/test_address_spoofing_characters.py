"""Over a real socket: under SMTPUTF8 an address holding a C1 control or a
bidirectional formatting character is refused at MAIL and RCPT as a C0
control is (553 5.1.3), and an ORCPT holding a control character is an
invalid parameter (501 5.5.4); the letters of other scripts still pass."""

from __future__ import annotations

import pytest
from gwtest import SmtpConn
from receive_listener import Listener

DOMAIN = "school.example.sch.uk"
SPOOFING = [
    pytest.param(f"a\x1b[31mred@{DOMAIN}", id="C0-escape"),
    pytest.param(f"a\x9b2J\x9b31mred@{DOMAIN}", id="C1-CSI"),
    pytest.param(f"a\x85b@{DOMAIN}", id="C1-next-line"),
    pytest.param(f"head\u202egpj.exe@{DOMAIN}", id="right-to-left-override"),
    pytest.param(f"a\u202ab@{DOMAIN}", id="left-to-right-embedding"),
    pytest.param(f"\u2067head@{DOMAIN}", id="right-to-left-isolate"),
    pytest.param(f"a\u2069b@{DOMAIN}", id="pop-directional-isolate"),
    pytest.param(f"head\u200f@{DOMAIN}", id="right-to-left-mark"),
    pytest.param(f'"a\u202eb"@{DOMAIN}', id="quoted-override"),
]


async def session(port: int) -> SmtpConn:
    conn = await SmtpConn.open(port)
    assert (await conn.cmd("EHLO client.example"))[0] == 250
    return conn


@pytest.mark.parametrize("address", SPOOFING)
async def test_spoofing_characters_refused_at_rcpt(listener: Listener, address: str) -> None:
    port, captured = await listener()
    conn = await session(port)
    assert (await conn.cmd("MAIL FROM:<staff@council.example> SMTPUTF8"))[0] == 250
    code, text = await conn.cmd(f"RCPT TO:<{address}>")
    assert code == 553 and text.startswith("5.1.3 Address not allowed"), text
    # The transaction goes on: a good recipient is still taken.
    assert (await conn.cmd(f"RCPT TO:<duty.team@{DOMAIN}>"))[0] == 250
    await conn.close()
    assert captured.messages == []


@pytest.mark.parametrize("address", SPOOFING)
async def test_spoofing_characters_refused_at_mail(listener: Listener, address: str) -> None:
    port, _ = await listener()
    conn = await session(port)
    code, text = await conn.cmd(f"MAIL FROM:<{address}> SMTPUTF8")
    assert code == 553 and text.startswith("5.1.3 Address not allowed"), text
    await conn.close()


@pytest.mark.parametrize("address", [f"j\u00f6rg@{DOMAIN}", f"\u05e9\u05dc\u05d5\u05dd@{DOMAIN}",
                                     f"\u674e\u96f7@{DOMAIN}"])
async def test_other_scripts_still_accepted(listener: Listener, address: str) -> None:
    port, _ = await listener()
    conn = await session(port)
    assert (await conn.cmd(f"MAIL FROM:<{address}> SMTPUTF8"))[0] == 250
    assert (await conn.cmd(f"RCPT TO:<{address}>"))[0] == 250
    await conn.close()


@pytest.mark.parametrize("orcpt", ["rfc822;a\x00b@x.example", "rfc822;a\x1bb@x.example",
                                   "utf-8;a\x9bb@x.example", "rfc822;a\x7fb@x.example"])
async def test_orcpt_with_a_control_is_an_invalid_parameter(listener: Listener, orcpt: str) -> None:
    port, _ = await listener()
    conn = await session(port)
    assert (await conn.cmd("MAIL FROM:<staff@council.example> SMTPUTF8"))[0] == 250
    code, text = await conn.cmd(f"RCPT TO:<duty.team@{DOMAIN}> ORCPT={orcpt}")
    assert (code, text) == (501, "5.5.4 Invalid parameter ORCPT")
    assert (await conn.cmd(f"RCPT TO:<duty.team@{DOMAIN}> ORCPT=rfc822;duty.team@{DOMAIN}"))[
        0] == 250
    await conn.close()
