"""NHS number: ten digits, the last a mod-11 check digit (stdnum.gb.nhs).

A number of one digit repeated passes the check (000 000 0000, 111 111
1111, 999 999 9999) but is never issued: it is a form's placeholder or a
spreadsheet's digit-place format ("000 000 0000"), not a patient.

Grouped 3-3-4 with spaces or dashes, as the NHS prints it, a valid number is
enough.  Grouped with dots, slashes or tabs (a US telephone number's style,
a reference's, table cells), or not grouped at all, one random ten-digit
number in eleven passes the check, so it needs an NHS word nearby, or, when
ungrouped, a person's name on the same line: a clinic list or a
spreadsheet's row ("Jack Jones<TAB>14/03/2015<TAB>4857773457") gives no
other context.  Only a number in the ranges issued to patients counts so
(England, Wales and the Isle of Man: 400-499 and 600-799 million; Northern
Ireland: 320-399 million), and not on a line that says what else it is
(an invoice, order, ticket, meeting or case number, "call ... on").
"""

from __future__ import annotations

import re
from typing import ClassVar

from stdnum.gb import nhs

from gateway.detect.recognizer import Assessment, Pattern, Recognizer, words_regex
from gateway.detect.recognizers.person_name import names_a_person
from gateway.model import InformationType

_NOT_DIGITS = re.compile(r"[^0-9]")
# How far along its line a row's name is looked for: a row of a table or a
# list, not the rest of a long paragraph.
_ROW_REACH = 80
# First digits of the numbers issued to patients (see the module docstring).
_ISSUED_FIRST_DIGITS = frozenset("3467")
# Words on a line that make its number something else than a patient's: only
# for the row rule (a grouped number or one beside "NHS" keeps its score).
_NOT_A_PATIENTS_ROW = words_regex(
    (
        "order", "invoice", "ref", "reference", "tracking", "po", "ticket", "budget",
        "cost centre", "code", "transaction", "payment", "receipt", "parcel", "consignment",
        "barcode", "isbn", "sku", "account", "serial", "customer", "member", "membership",
        "policy", "claim", "voucher", "licence", "card", "case", "job", "project", "asset",
        "batch", "item", "product", "supplier", "meeting", "zoom", "teams", "webex",
        "passcode", "pin", "id", "booking", "room", "conference", "dial", "call", "contact",
        "ext", "extension", "tel", "telephone", "phone", "mobile", "fax",
    )
)  # fmt: skip


# 3-3-4 with spaces or dashes, as the NHS prints a number.
_PRINTED = re.compile(r"[0-9]{3}([ -])[0-9]{3}\1[0-9]{4}")
_REFERENCE = re.compile(r"(?<![a-z0-9])(?:ref|reference)(?![a-z0-9])")


class NhsNumberRecognizer(Recognizer):
    name = "nhs_number"
    info_type = InformationType.UK_NHS_NUMBER
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        # 3-3-4 is how the NHS prints it: valid check digit alone is enough.
        Pattern("grouped", r"\b[0-9]{3}[ -][0-9]{3}[ -][0-9]{4}\b", 0.55),
        # Dots, slashes, tabs (an HTML table's cells are one or two tabs
        # apart in the extracted text): other things are grouped so too.
        Pattern("separated", r"\b[0-9]{3}(?:[./]|\t{1,2})[0-9]{3}(?:[./]|\t{1,2})[0-9]{4}\b", 0.3),
        # One in eleven random ten-digit numbers passes mod 11: needs context.
        Pattern("plain", r"\b[0-9]{10}\b", 0.3),
        # Hard-wrapped between its groups ("NHS number 485 253\n8883", an
        # HTML <br>), quote marks on the next line or not: needs context.
        # The one pattern that reaches into the next line: it starts on the
        # first, so a signature or reply header below does not hide it.
        Pattern(
            "wrapped",
            r"\b[0-9]{3}(?:[ -]?[0-9]{3}[ \t]*\r?\n[ \t>]*|[ \t]*\r?\n[ \t>]*[0-9]{3}[ -])"
            r"[0-9]{4}\b",
            0.3,
        ),
        # Each group on a line of its own ("NHS number:\n945\n807\n3022", a
        # form's cells, HTML's <br>) or a space between every digit ("9 4 5
        # 8 0 7 3 0 2 2", boxes on a form): only straight after an NHS
        # label (see `assess`).
        Pattern(
            "lines",
            r"\b[0-9]{3}[ \t]*\r?\n[ \t>]*[0-9]{3}[ \t]*\r?\n[ \t>]*[0-9]{4}\b",
            0.3,
        ),
        Pattern("spaced", r"\b[0-9](?:[ ][0-9]){9}\b", 0.3),
    )
    CONTEXT = (
        "nhs", "nhs no", "nhs number", "patient", "patients", "hospital", "gp",
        "health number", "n.h.s", "n.h.s.", "n h s",
    )  # fmt: skip
    # "ref" and "reference" lower only a number not grouped 3-3-4 (see
    # `assess`): the NHS prints its numbers so, and "ref 485 253 8883" with
    # a valid check digit is one; "File ref 485/253/8883" is not.
    NEGATIVE_CONTEXT = (
        "order", "invoice", "tracking", "po", "purchase order",
        "tel", "telephone", "phone", "mobile", "fax", "call", "account", "serial",
    )  # fmt: skip
    # An ungrouped number with a person's name on its line: a patient's row.
    ROW_BOOST: ClassVar[float] = 0.25

    def validate(self, value: str) -> bool:
        digits = _NOT_DIGITS.sub("", value)
        return len(digits) == 10 and len(set(digits)) > 1 and bool(nhs.is_valid(digits))

    def assess(self, text: str, start: int, end: int, score: float) -> Assessment | None:
        value = text[start:end]
        if not self.validate(value):
            return None
        if (value.count("\n") > 1 or value.count(" ") == 9) and not _nhs_label_before(
            text, start
        ):
            return None
        if not _PRINTED.fullmatch(value) and _reference_on_line(text, start, end):
            score -= self.NEGATIVE_PENALTY
        if (
            value.isdigit()
            and value[0] in _ISSUED_FIRST_DIGITS
            and _on_a_persons_row(text, start, end)
        ):
            score += self.ROW_BOOST
        return Assessment(start, end, score)


# "NHS number:", "N.H.S. no.", "NHS" at the end of the line before or of
# the number's own: a label, not a health word in the paragraph above.
_NHS_LABEL = re.compile(
    r"(?<![a-z0-9])(?:nhs|n\.h\.s\.?|n h s)(?:[ \t]+(?:number|no\.?|num\.?|#))?"
    r"[ \t]*[:.#-]?[ \t]*(?:\r?\n[ \t>]*)?\Z"
)
_LABEL_REACH = 40


def _nhs_label_before(text: str, start: int) -> bool:
    """Whether an NHS label ends right before `start` (`_NHS_LABEL`)."""
    return _NHS_LABEL.search(text[max(0, start - _LABEL_REACH) : start].lower()) is not None


def _reference_on_line(text: str, start: int, end: int) -> bool:
    """"ref" or "reference" on the number's own line, within the context window."""
    before, after = NhsNumberRecognizer.CONTEXT_WINDOW
    low = max(0, start - before)
    line_start = text.rfind("\n", low, start) + 1 or low
    high = min(len(text), end + after)
    line_end = text.find("\n", end, high)
    if line_end < 0:
        line_end = high
    return bool(
        _REFERENCE.search(text[line_start:start].lower())
        or _REFERENCE.search(text[end:line_end].lower())
    )


def _on_a_persons_row(text: str, start: int, end: int) -> bool:
    """A person's name on the number's own line, within `_ROW_REACH`."""
    low = max(0, start - _ROW_REACH)
    line_start = text.rfind("\n", low, start) + 1 or low
    high = min(len(text), end + _ROW_REACH)
    line_end = text.find("\n", end, high)
    if line_end < 0:
        line_end = high
    if not (names_a_person(text, line_start, start) or names_a_person(text, end, line_end)):
        return False
    row = text[line_start:line_end].lower()
    return _NOT_A_PATIENTS_ROW is None or _NOT_A_PATIENTS_ROW.search(row) is None
