"""Content the transform can never make fit is refused by the pipeline.

UnrewritableContent from the transform becomes a REJECT for its reason
(recorded, 550, the sender's notice, as any refusal); monitor mode delivers
unchanged and records the refusal as what enforce would do.  Any other
failure propagates, for the client to be answered 451.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from fixtures_content import NHS, PASSWORD, aes_zip

import gateway.pipeline
from gateway.errors import ContentError, UnrewritableContent
from gateway.model import Action, Envelope, ReasonCode
from gateway.pipeline import Pipeline
from gateway.settings import Settings

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
)
ENVELOPE = Envelope("jo@council.example", ("team@recipient.example",))
ZIP = aes_zip(256, {"a.csv": NHS.encode()}, read_only=True)


def _pipeline(tmp_path: Path, mode: str = "enforce") -> Pipeline:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    return Pipeline(Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": mode}}))


def _part(header: str, data: bytes) -> bytes:
    return (header.encode() + b"Content-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(data).replace(b"\n", b"\r\n"))


def _message(html_charset: str = "us-ascii") -> bytes:
    """Marked, the password on a line of the plain text, its zip; an HTML
    alternative shows the password again (no "password" word near it) in
    `html_charset`."""
    plain = f"Hello,\r\n\r\nPassword: {PASSWORD}\r\n\r\nJo\r\n".encode()
    html = f"<p>Hello,</p><p>Key - {PASSWORD}</p>".encode()
    return (
        b"From: jo@council.example\r\nTo: team@recipient.example\r\n"
        b"Subject: Private and Confidential: list\r\nMessage-ID: <p1@council.example>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n'
        b'--m\r\nContent-Type: multipart/alternative; boundary="a"\r\n\r\n--a\r\n'
        + _part('Content-Type: text/plain; charset="us-ascii"\r\n', plain) + b"\r\n--a\r\n"
        + _part(f'Content-Type: text/html; charset="{html_charset}"\r\n', html)
        + b"\r\n--a--\r\n\r\n--m\r\n"
        + _part('Content-Type: application/zip\r\nContent-Disposition: attachment; '
                'filename="a.zip"\r\n', ZIP)
        + b"\r\n--m--\r\n"
    )


def _failing(error: Exception) -> Any:
    def prepare(*args: object, **kwargs: object) -> None:
        raise error
    return prepare


@pytest.mark.parametrize("mode", ["enforce", "protect"])
def test_unrewritable_content_is_refused_for_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    error = UnrewritableContent(ReasonCode.PASSWORD_IN_MESSAGE, "synthetic")
    monkeypatch.setattr(gateway.pipeline, "prepare_outbound", _failing(error))
    decision = _pipeline(tmp_path, mode).run(ENVELOPE, _message())
    assert decision.verdict.action == Action.REJECT
    assert [r.code for r in decision.verdict.reasons] == [ReasonCode.PASSWORD_IN_MESSAGE]
    (reason,) = decision.verdict.reasons
    assert reason.text and reason.fix  # words the sender can act on
    assert decision.content == b""
    assert decision.password is None
    assert decision.password_state == "in_message"
    assert decision.method == ""


def test_monitor_mode_delivers_unchanged_and_records_what_enforce_would_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = UnrewritableContent(ReasonCode.PASSWORD_IN_MESSAGE, "synthetic")
    monkeypatch.setattr(gateway.pipeline, "prepare_outbound", _failing(error))
    raw = _message()
    decision = _pipeline(tmp_path, "monitor").run(ENVELOPE, raw)
    assert decision.verdict.action == Action.DELIVER
    assert decision.verdict.would_action == Action.REJECT
    assert [r.code for r in decision.verdict.reasons] == [ReasonCode.PASSWORD_IN_MESSAGE]
    assert decision.content == raw
    assert decision.password is None
    assert decision.method == "email (monitor mode: delivered unchanged)"


@pytest.mark.parametrize(
    "error", [ContentError("synthetic"), MemoryError(), RuntimeError("synthetic")]
)
def test_any_other_failure_propagates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    monkeypatch.setattr(gateway.pipeline, "prepare_outbound", _failing(error))
    with pytest.raises(type(error)):
        _pipeline(tmp_path).run(ENVELOPE, _message())


def test_the_password_again_where_it_cannot_be_taken_out_is_refused(tmp_path: Path) -> None:
    # No stand-in: the HTML alternative, in a charset the gateway has no
    # codec for, shows the password the plain text states.
    decision = _pipeline(tmp_path).run(ENVELOPE, _message("x-council-legacy"))
    assert decision.verdict.action == Action.REJECT
    assert [r.code for r in decision.verdict.reasons] == [ReasonCode.PASSWORD_IN_MESSAGE]
    assert decision.password is None


def test_the_same_message_readable_is_delivered_with_the_password_held(
    tmp_path: Path,
) -> None:
    decision = _pipeline(tmp_path).run(ENVELOPE, _message())
    assert decision.verdict.action == Action.DELIVER
    assert decision.password == PASSWORD
    assert PASSWORD.encode() not in decision.content
