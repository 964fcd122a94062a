"""`gateway scan`: arguments, envelope from headers, JSON fields, readable output."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.cli.scan import Progress, collect, envelope_for

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
)
CLEAN = (
    b"From: Alice <alice@sender.example>\r\nTo: bob@recipient.example\r\n"
    b"Cc: Carol <carol@elsewhere.example>, bob@recipient.example\r\n"
    b"Subject: Lunch\r\n\r\nShall we meet at one?\r\n"
)
LEAK = (
    b"From: alice@sender.example\r\nTo: someone@elsewhere.example\r\nSubject: Referral\r\n\r\n"
    b"Patient NHS number 943 476 5919, date of birth 01/02/2015.\r\n"
)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    path = tmp_path / "gateway.toml"
    path.write_text('[policy]\nmode = "enforce"\n', encoding="utf-8")
    return path


def _files(tmp_path: Path) -> Path:
    folder = tmp_path / "mail"
    (folder / "sub").mkdir(parents=True)
    (folder / "clean.eml").write_bytes(CLEAN)
    (folder / "sub" / "leak.EML").write_bytes(LEAK)
    (folder / "notes.txt").write_text("not mail")
    return folder


def test_envelope_from_headers() -> None:
    envelope = envelope_for(CLEAN, None, None)
    assert envelope.mail_from == "alice@sender.example"
    assert envelope.rcpt_tos == ("bob@recipient.example", "carol@elsewhere.example")


def test_envelope_from_arguments() -> None:
    envelope = envelope_for(CLEAN, "x@y.example", ["z@w.example"])
    assert envelope.mail_from == "x@y.example" and envelope.rcpt_tos == ("z@w.example",)


def test_collect_folder_recursively_only_eml(tmp_path: Path) -> None:
    files, problems = collect([str(_files(tmp_path))])
    assert [f.name for f in files] == ["clean.eml", "leak.EML"]
    assert problems == []


def test_json_lines_have_exactly_the_design_fields(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _files(tmp_path)
    assert main(["scan", "--config", str(config), "--json", str(folder)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [Path(d["file"]).name for d in lines] == ["clean.eml", "leak.EML"]
    for doc in lines:
        assert list(doc) == ["file", "personal_data", "information_types", "verdict", "reasons",
                             "password", "attachments"]
    clean, leak = lines
    assert clean["verdict"] == "deliver" and clean["personal_data"] is False
    assert clean["password"] == "none" and clean["reasons"] == []
    assert leak["verdict"] == "reject" and leak["personal_data"] is True
    assert "uk_nhs_number" in leak["information_types"]
    assert {r["code"] for r in leak["reasons"]} == {
        "personal_data_in_body", "missing_subject_marking", "recipient_not_allowed",
    }
    assert all(set(r) == {"code", "text"} for r in leak["reasons"])
    assert "943 476 5919" not in json.dumps(leak)


def test_readable_output_has_reasons_and_fixes(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "leak.eml"
    path.write_bytes(LEAK)
    assert main(["scan", "--config", str(config), str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: REJECT" in out
    assert "- recipient_not_allowed:" in out
    assert out.count("fix:") == 3
    assert "1 file(s) scanned: 1 reject" in out


def test_envelope_options_change_the_verdict(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "leak.eml"
    path.write_bytes(LEAK)
    args = ["scan", "--config", str(config), "--json", "--from", "a@sender.example",
            "--to", "team@recipient.example", str(path)]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "recipient_not_allowed" not in {r["code"] for r in doc["reasons"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["does-not-exist.eml"], "no such file or folder"),
        (["--from", "a@b.example", "x.eml"], "--from needs at least one --to"),
    ],
)
def test_bad_arguments_exit_2(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], args: list[str],
    message: str,
) -> None:
    assert main(["scan", "--config", str(config), *[
        str(tmp_path / a) if a.endswith(".eml") else a for a in args
    ]]) == 2
    assert message in capsys.readouterr().err


def test_missing_path_argument_is_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["scan"])
    assert caught.value.code == 2


def test_progress_off_terminal_only_for_many_files() -> None:
    stream = io.StringIO()
    Progress(10, stream).update(5)
    assert stream.getvalue() == ""
    progress = Progress(100, stream)
    for done in range(1, 101):
        progress.update(done)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "scanning: 1/100 files" and lines[-1] == "scanning: 100/100 files"
    assert len(lines) == 11


def test_a_marked_message_too_deep_to_check_is_not_called_unmarked(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    depth = 3000
    head = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'
                   for i in range(depth))
    tail = "".join(f"\r\n--b{i}--\r\n" for i in reversed(range(depth)))
    deep = tmp_path / "deep.eml"
    deep.write_bytes((
        "From: alice@sender.example\r\nTo: bob@recipient.example\r\n"
        f"Subject: Private and Confidential: notes\r\n{head}Content-Type: text/plain\r\n\r\n"
        f"leaf{tail}").encode())
    assert main(["scan", "--json", "--config", str(config), str(deep)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["verdict"] == "reject"
    assert [r["code"] for r in result["reasons"]] == ["uninspectable_content"]
