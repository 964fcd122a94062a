import pytest
from engine_support import found

from gateway.model import InformationType

CASES = [
    ("Mum's mobile is 07700 900123", "07700 900123"),  # drama range: possible + context
    ("Please ring her at home on 0113 496 0555.", "0113 496 0555"),
    ("Dad: +44 (0)20 7946 0321", "+44 (0)20 7946 0321"),
    ("contact 0161 496 0000 after 6pm", "0161 496 0000"),
    ("Call our switchboard on 0113 496 0000", None),  # business contact
    ("Freephone 0800 123 4567 for advice", None),  # not a person's line
    ("Order 01234 from stock", None),
    ("Kind regards,\nJo Bloggs\nFamily Support Worker\nTel: 0113 496 0999\n", None),
    ("-- \nJo Bloggs | Head of Year 9\nM: 07700 900456\n", None),
    ("The number 0999 999 9999 is not real", None),  # invalid range
    # The writer's own number: theirs to give.
    ("If anything is unclear please call me on 0161 496 0123.", None),
    ("Please ring me on my mobile 07700 900123 this afternoon.", None),
    ("My mobile is 07700 900123 if you need me.", None),
    # ... which excuses no one else's number beside it.
    ("Mum's mobile is 07700 900456, or call me on 0161 496 0123.", "07700 900456"),
    ("Her mobile is 07700 900456, my mobile is 07700 900999.", "07700 900456"),
    # A number the text's own signature gives is the writer's, however spelt.
    ("Jo's mobile for the visit: +44 7700 900123.\n\nKind regards\nJo Bloggs\n"
     "Family Support Worker\nM: 07700 900 123 | T: 0113 496 0999\n", None),
    ("Mobile for the visit: 07700 900123\n\nKind regards,\nJo Bloggs\n"
     "Family Support Worker\nMob: +44 (0)7700 900123\n", None),
    # ... and no other number.
    ("Mum's mobile is 07700 900456.\n\nKind regards,\nJo Bloggs\n"
     "Family Support Worker\nMob: 07700 900123\n", "07700 900456"),
    # A meeting invitation's dial-in numbers are conference bridges.
    ("Dial in by phone\n+44 20 3443 8765 United Kingdom, London\n", None),
    ("Or call in (audio only)\n+44 20 3855 4748,,318456912#<tel:+442038554748,,318456912#>"
     "   United Kingdom, London\nPhone Conference ID: 318 456 912#\n", None),
    ("Dial by your location\n        +44 131 460 1196 United Kingdom\n", None),
    ("Dial-in: 0113 496 0000, then the meeting ID", None),
    # An organisation's line, introduced as one.
    ("Contact HR on 0114 273 0000.", None),
    ("Please ring the team on 0114 273 0000 with any questions.", None),
    # ... and a person's number stays one, even in a meeting or next to HR.
    ("Mum can be reached on 0114 273 0000 for the case conference.", "0114 273 0000"),
    ("Dial in by phone\nMum's mobile: 07700 900456\n", "07700 900456"),
    ("I have told HR.\nHer home number is 0114 273 0000.", "0114 273 0000"),
    ("Dad moved back to the United Kingdom, his mobile is 07700 900456.", "07700 900456"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_phone_number(text: str, expected: str | None) -> None:
    hits = found(text, InformationType.UK_PHONE_NUMBER)
    assert hits == ([expected] if expected else [])
