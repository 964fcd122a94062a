"""inspect_message end to end: segments by source, problems, never raising, fast on plain text."""

from __future__ import annotations

import pytest
from fixtures_content import NHS, aes_zip, docx, mail, ratio_bomb

from gateway.inspect import ContentLimits, inspect_message
from gateway.inspect import engine as engine_module
from gateway.model import Encryption, SegmentSource


def test_segments_by_source() -> None:
    inspection = inspect_message(
        mail(
            "Plain body\n",
            subject="Alex Carter referral",
            html="<p>NHS 943<span>476</span>5919</p>",
            attachments=[("referral.docx", docx([[f"NHS {NHS}"]]), "application/octet-stream")],
        )
    )
    by_source = {(s.source, s.text.strip()) for s in inspection.segments}
    assert (SegmentSource.SUBJECT, "Alex Carter referral") in by_source
    assert (SegmentSource.BODY, "Plain body") in by_source
    assert (SegmentSource.BODY, f"NHS {NHS}") in by_source
    assert (SegmentSource.ATTACHMENT, "referral.docx") in by_source
    assert (SegmentSource.ATTACHMENT, f"NHS {NHS}") in by_source
    (report,) = inspection.attachments
    assert report.content_type.endswith("wordprocessingml.document")
    assert report.encryption is Encryption.NONE
    assert inspection.problems == ()


def test_octet_stream_csv_is_a_csv() -> None:
    inspection = inspect_message(
        mail(
            attachments=[
                (
                    "export.dat",
                    f"Name,NHS\nAlex,{NHS}\nSam,1\n".encode(),
                    "application/octet-stream",
                )
            ]
        )
    )
    assert inspection.attachments[0].content_type == "text/csv"
    assert any(f"Alex\t{NHS}" in s.text for s in inspection.segments)


def test_archive_entries_are_counted() -> None:
    inspection = inspect_message(
        mail(attachments=[("a.zip", aes_zip(256, {"a": b"1", "b": b"2"}), "application/zip")])
    )
    assert inspection.attachments[0].entries == 2


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (mail(attachments=[("bomb.zip", ratio_bomb(), "application/zip")]), "archive_bomb"),
        (b"Content-Type: text/plain\r\nContent-Type: text/html\r\n\r\nx", "ambiguous_mime"),
    ],
)
def test_problems_are_collected(raw: bytes, code: str) -> None:
    assert code in {p.code for p in inspect_message(raw).problems}


@pytest.mark.parametrize(
    "raw", [b"", b"\x00\xff" * 100, b"\r\n\r\n\r\n", b"From: \r\n\r\n", b"-" * 10000]
)
def test_never_raises_on_junk(raw: bytes) -> None:
    inspect_message(raw)


def test_unexpected_failure_is_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("bug")

    monkeypatch.setattr(engine_module, "parse_message", broken)
    inspection = inspect_message(mail("x"))
    assert [p.code for p in inspection.problems] == ["internal_error"]


def test_total_time_budget() -> None:
    inspection = inspect_message(
        mail(attachments=[(f"f{i}.txt", b"x", "text/plain") for i in range(5)]),
        ContentLimits(total_timeout_s=0.0),
    )
    assert "timeout" in {p.code for p in inspection.problems}


@pytest.mark.timeout(10)
def test_plain_text_message_is_fast() -> None:
    # ~0.2 ms each here: 2,000 messages in well under the timeout, even on slow CI.
    raw = mail("Hello, this is an ordinary line of an ordinary message.\n" * 90)
    assert 4000 < len(raw) < 7000
    for _ in range(2000):
        assert inspect_message(raw).problems == ()
