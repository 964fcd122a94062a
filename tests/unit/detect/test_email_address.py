import pytest
from engine_support import found

from gateway.model import InformationType

CASES = [
    ("You can reach her on kelly.jones84@hotmail.co.uk", "kelly.jones84@hotmail.co.uk"),
    ("Parent email: d.smith@acme-widgets.co.uk", "d.smith@acme-widgets.co.uk"),
    ("Send it to accounts@supplier.co.uk by Friday", None),  # role mailbox
    ("I have copied in j.bloggs@leeds.gov.uk for the budget", None),  # colleague, business
    ("Best wishes,\nJo\nj.bloggs@gmail.com", None),  # in the sender's signature
    ("On Tue, 4 Mar 2025, Sam Lee <sam.lee@gmail.com> wrote:", None),  # reply header
    ("noreply@gmail.com sent a notice", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_email_address(text: str, expected: str | None) -> None:
    hits = found(text, InformationType.EMAIL_ADDRESS)
    assert hits == ([expected] if expected else [])
