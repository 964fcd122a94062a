"""Signature and reply-header blocks, and how the engine's pass finds them.

The engine does not call `business_blocks`: its pass over a body stops at
every `BLOCK_START` line and asks `block_at`, jumping over each block found.
These tests hold the two ways to the same blocks, and the candidates the pass
keeps to those outside them.
"""

from __future__ import annotations

import random
import re

import pytest
from engine_support import engine
from synthetic_ids import nhs_number

from gateway.detect._regex import fold
from gateway.detect.signature import BLOCK_START, block_at, business_blocks
from gateway.model import InformationType, SegmentSource, TextSegment

NHS = nhs_number(random.Random(5))

SIGNATURE = "Kind regards,\nJo Bloggs\nHead of Year 9\nTel: 0113 496 0999\nj.bloggs@gmail.com\n"
REPLY = "On Tue, 4 Mar 2025 at 09:12, Sam Lee <sam.lee@gmail.com> wrote:\n"
OUTLOOK = (
    "-----Original Message-----\nFrom: Sam Lee <sam.lee@gmail.com>\n"
    "Sent: 04 March 2025 09:12\nTo: Jo Bloggs <jo@x.org>\nSubject: rota\n"
)

TEXTS = [
    "Please see the agenda attached.\n\n" + SIGNATURE,
    "Thanks for sending this over so quickly, it helps a lot with the planning.\n"
    "Call me on 07700 900456 about it.\n",
    SIGNATURE + "\n" + REPLY + "> Dear Jo,\n> Fine.\n>\n> " + SIGNATURE.replace("\n", "\n> "),
    "Hi,\n\nDone.\n\n" + SIGNATURE + "\n" + OUTLOOK + "\nDear Jo,\nFine.\n\n" + SIGNATURE,
    SIGNATURE.replace("\n", "\r\n") + "\r\n" + REPLY.replace("\n", "\r\n"),
    "Best wishes,\nJo\nChild: Oliver Smith, mobile 07700 900456\n",  # a leak ends the block
    "on\x1cTue Sam Lee <sam.lee@gmail.com>\nwrote:\nCall 07700 900456\n",
    "  > > Regards,\n  > > Sam Lee\n  > > 07700 900123\n\nCheers\nsam.lee@gmail.com\n",
    "Cheers Oliver Smith (DOB 12/03/2015)\nTel 07700 900456\n",  # a candidate at the sign-off
    "P.S. thanks\nThanks,\nJo\nP.S. ring 07700 900456\n",
    "Sent from my iPhone\n\n" + OUTLOOK + "\n\nSee you, 07700 900456",
]


def _anchors_by_pattern(text: str) -> list[int]:
    pattern = re.compile(BLOCK_START.encode("ascii"))
    data = fold(text)[0]
    return [i for i in range(len(data)) if pattern.match(data, i)]


@pytest.mark.parametrize("text", TEXTS)
def test_block_start_finds_the_lines_business_blocks_starts_from(text: str) -> None:
    blocks = business_blocks(text)
    anchors = _anchors_by_pattern(text)
    # Every block starts at such a line, and a line that starts no block
    # either starts none or lies inside an earlier block.
    assert {start for start, _ in blocks} <= set(anchors)
    for anchor in anchors:
        if any(start < anchor < end for start, end in blocks):
            continue
        found = block_at(text, anchor)
        assert (found in blocks) if found is not None else anchor not in dict(blocks)


@pytest.mark.parametrize("text", TEXTS)
def test_the_pass_drops_business_candidates_inside_the_blocks_only(text: str) -> None:
    detector = engine()
    data, folded = fold(text)
    blocks = business_blocks(folded)
    kept = detector._recognize_outside_blocks(data, folded)
    # The subject's pass, which knows no blocks: every candidate.
    every = detector._recognize(detector._full, detector._entries, data, 0, len(data))
    expected = [
        c
        for c in every
        if not c[2].recognizer.BUSINESS_CONTACT or not any(s <= c[0] < e for s, e in blocks)
    ]
    assert [c[:2] + c[3:] for c in kept] == [c[:2] + c[3:] for c in expected]


def test_block_at_reads_reply_headers_and_signatures() -> None:
    text = OUTLOOK + "\n" + SIGNATURE
    assert block_at(text, 0) == (0, len("-----Original Message-----"))
    header = text.index("From:")
    assert block_at(text, header) == (header, text.index("\n\n"))
    sign_off = text.index("Kind regards")
    assert block_at(text, sign_off) == (sign_off, len(text) - 1)  # its last line, no "\n"
    assert block_at("Thanks for all of your help with the rota this week, Jo.", 0) is None
    assert block_at("", 0) is None


def test_a_block_right_after_a_block_is_read_too() -> None:
    text = SIGNATURE + OUTLOOK + "\n" + SIGNATURE
    assert engine().detect([TextSegment("1", SegmentSource.BODY, text)]) == ()


def test_a_phone_after_a_sign_off_line_that_opens_no_block_is_found() -> None:
    text = (
        "Thanks for sending this over so quickly, it helps a lot with the planning of it all.\n"
        "Mum's mobile is 07700 900456.\n"
    )
    findings = engine().detect([TextSegment("1", SegmentSource.BODY, text)])
    assert [f.info_type for f in findings] == [InformationType.UK_PHONE_NUMBER]


def test_a_leak_on_the_sign_off_line_itself_is_found() -> None:
    text = f"Cheers Oliver Smith NHS {NHS}\nJo\n"
    types = {f.info_type for f in engine().detect([TextSegment("1", SegmentSource.BODY, text)])}
    assert InformationType.UK_NHS_NUMBER in types
