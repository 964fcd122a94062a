"""The pipeline's bounds on one inspection: the text a message expands to,
the time it may take, and the smaller bounds of the event loop.

A 30 KB zip of digit text held the gateway for minutes (detection had no
deadline), and a 10 MB class list was answered 451 after a minute at every
retry.  Past either bound the message is now refused as uninspectable, a
definite answer; on the event loop the pipeline hands it to a thread.
"""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import pytest

from gateway.model import Action, Envelope, ReasonCode
from gateway.pipeline import NotForTheLoop, Pipeline
from gateway.settings import Settings

ENVELOPE = Envelope("a@council.example", ("team@recipient.example",))
DIGITS = "0123456789 "


def pipeline(tmp_path: Path, **server: Any) -> Pipeline:
    (tmp_path / "recipients.csv").write_text(
        "address,name,job_title,department,organisation,telephone,secure_route\n"
        "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n",
        encoding="utf-8",
    )
    return Pipeline(Settings.model_validate(
        {"config_dir": tmp_path, "policy": {"mode": "enforce"}, "server": server}))


def message(body: str = "Minutes attached.", attachment: tuple[str, bytes] | None = None) -> bytes:
    mail = EmailMessage(policy=SMTP)
    mail["From"] = "a@council.example"
    mail["To"] = "team@recipient.example"
    mail["Subject"] = "OFFICIAL-SENSITIVE: figures"
    mail["Message-ID"] = "<bounds-1@council.example>"
    mail.set_content(body)
    if attachment is not None:
        name, data = attachment
        mail.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return mail.as_bytes(policy=SMTP)


def digits_zip(members: int, size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for n in range(members):
            zf.writestr(f"f{n}.txt", (DIGITS * (size // len(DIGITS) + 1))[:size])
    return buffer.getvalue()


def uninspectable_text(decision: Any) -> str:
    assert decision.verdict.action == Action.REJECT
    (reason,) = [r for r in decision.verdict.reasons
                 if r.code == ReasonCode.UNINSPECTABLE_CONTENT]
    return f"{reason.text} {reason.fix}"


def test_text_past_the_message_budget_is_refused_as_too_much_to_check(tmp_path: Path) -> None:
    raw = message(attachment=("figures.zip", digits_zip(3, 50_000)))
    decision = pipeline(tmp_path, max_inspected_text=100_000).run(ENVELOPE, raw)
    words = uninspectable_text(decision)
    assert "more text than the gateway can check" in words
    assert "split it" in words


def test_text_within_the_budget_is_read(tmp_path: Path) -> None:
    raw = message(attachment=("figures.zip", digits_zip(1, 50_000)))
    decision = pipeline(tmp_path, max_inspected_text=100_000).run(ENVELOPE, raw)
    assert ReasonCode.UNINSPECTABLE_CONTENT not in {r.code for r in decision.verdict.reasons}


def test_detection_past_the_deadline_is_refused_not_run_on(tmp_path: Path) -> None:
    """inspect_timeout 1s: the inspection's own deadline is 0.75 s, and
    600,000 characters of digit groups take detection seconds."""
    raw = message(body=DIGITS * 55_000)
    decision = pipeline(tmp_path, inspect_timeout="1s").run(ENVELOPE, raw)
    assert "took too long to check" in uninspectable_text(decision)


def test_a_small_message_expanding_past_the_loop_bound_leaves_the_loop(tmp_path: Path) -> None:
    gateway = pipeline(tmp_path)
    raw = message(attachment=("figures.zip", digits_zip(1, 300_000)))
    assert len(raw) < 16_000
    with pytest.raises(NotForTheLoop):
        gateway.run(ENVELOPE, raw, on_loop=True)
    # Off the loop, within the message's own bounds, it is read.
    decision = gateway.run(ENVELOPE, raw)
    assert ReasonCode.UNINSPECTABLE_CONTENT not in {r.code for r in decision.verdict.reasons}


def test_ordinary_mail_is_decided_on_the_loop_as_anywhere(tmp_path: Path) -> None:
    gateway = pipeline(tmp_path)
    raw = message(body="Jo Bloggs, born 03/04/2012, of 1 High Street, Leeds LS1 4AB.\n")
    on_loop = gateway.run(ENVELOPE, raw, on_loop=True)
    assert on_loop.verdict == gateway.run(ENVELOPE, raw).verdict
    assert on_loop.verdict.personal_data
