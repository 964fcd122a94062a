"""How guessable the password that opened an attachment is.

An encrypted attachment nothing in the message opens is tried with the
most common passwords (`COMMON_PASSWORDS`); one that opens it is reported
as `common_password`, its text read as protected content, and is no
password of the message (never a candidate to take out or hold).  A
password the message wrote is reported by its length alone, and as common
when it is one of them.
"""

from __future__ import annotations

import pytest
from fixtures_content import NHS, PASSWORD, aes_zip, mail

import gateway.inspect.engine as inspect_engine
from gateway.inspect import inspect_message


def _zip_mail(password: str, body: str) -> bytes:
    archive = aes_zip(256, {"a.csv": NHS.encode()}, password=password, read_only=True)
    return mail(body, attachments=[("a.zip", archive, "application/zip")])


@pytest.mark.parametrize("password", ["1234", "password", "123456", "qwerty"])
def test_a_common_password_the_message_never_gives_is_found(password: str) -> None:
    inspection = inspect_message(_zip_mail(password, "I will phone you with it.\n"))
    (report,) = inspection.attachments
    assert report.common_password
    assert not report.password_opens and report.password_length == 0
    assert inspection.passwords == ()
    assert any(s.inside_encrypted and NHS in s.text for s in inspection.segments)


def test_a_short_password_in_the_message_is_reported_by_its_length() -> None:
    inspection = inspect_message(_zip_mail("Kq7", "Password: Kq7\n"))
    (report,) = inspection.attachments
    assert report.password_opens and report.password_length == 3
    assert not report.common_password


@pytest.mark.parametrize(
    ("password", "body"),
    [("PASSWORD1", "Password: PASSWORD1\n"), ("password", "I will phone with the password.\n")],
)
def test_a_common_password_in_the_message_is_common(password: str, body: str) -> None:
    (report,) = inspect_message(_zip_mail(password, body)).attachments
    assert report.password_opens and report.common_password


def test_a_telephoned_password_that_is_not_common_is_neither() -> None:
    inspection = inspect_message(_zip_mail(PASSWORD, "I will phone you with the password.\n"))
    (report,) = inspection.attachments
    assert not report.common_password and not report.password_opens
    assert report.password_length == 0
    assert not any(s.inside_encrypted for s in inspection.segments)


def test_a_slow_machine_still_tries_every_common_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each try made slow, as on a loaded machine: the tries are counted,
    not timed, so the twelfth common password is still tried (a stop after
    a tenth of a second accepted the attachment as protected)."""
    original = inspect_engine._Run.attempt
    clock = [1000.0]

    def slow_attempt(self, attachment, opener, password):  # type: ignore[no-untyped-def]
        clock[0] += 0.05  # each try takes 50 ms of this clock
        return original(self, attachment, opener, password)

    monkeypatch.setattr(inspect_engine._Run, "attempt", slow_attempt)
    monkeypatch.setattr(inspect_engine.time, "monotonic", lambda: clock[0])
    twelfth = inspect_engine.COMMON_PASSWORDS[inspect_engine._COMMON_TRIES["zip"] - 1]
    (report,) = inspect_message(_zip_mail(twelfth, "I will phone you with it.\n")).attachments
    assert report.common_password
