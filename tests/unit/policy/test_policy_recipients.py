"""The recipient allow-list: validation, exact and @domain matching, reloads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gateway.policy.recipients import (
    RecipientsFile,
    RecipientsFileError,
    check_recipients_file,
    parse_recipients,
)
from gateway.settings import Settings

HEADER = "address,name,job_title,department,organisation,telephone,secure_route\n"
GOOD = (
    HEADER
    + "duty.team@childrens.example.gov.uk,Duty Team,Duty Social Worker,Children's Services,"
    "Example County Council,0161 496 0000,\n"
    "@school.example.sch.uk,School Office,Designated Safeguarding Lead,,Example Academy,"
    "020 7946 0001,\n"
    "Referrals@Health.example.nhs.uk,Referrals Desk,Coordinator,Paediatrics,Example NHS Trust,"
    "+44 161 496 0002,nhsmail\n"
)


def good():  # type: ignore[no-untyped-def]
    return parse_recipients(GOOD, {"nhsmail"})


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("duty.team@childrens.example.gov.uk", "duty.team@childrens.example.gov.uk"),
        ("DUTY.Team@Childrens.Example.GOV.uk", "duty.team@childrens.example.gov.uk"),
        ("<duty.team@childrens.example.gov.uk>", "duty.team@childrens.example.gov.uk"),
        ("head@school.example.sch.uk", "@school.example.sch.uk"),
        ("Head@SCHOOL.example.sch.uk", "@school.example.sch.uk"),
        ("referrals@health.example.nhs.uk", "referrals@health.example.nhs.uk"),
    ],
)
def test_matches(address: str, expected: str) -> None:
    entry = good().match(address)
    assert entry is not None and entry.address == expected


@pytest.mark.parametrize(
    "address",
    [
        "head@school.example.sch.uk.evil.example",
        "head@evilschool.example.sch.uk",
        "head@staff.school.example.sch.uk",  # subdomains only when listed
        "head@school-example.sch.uk",
        "head@school.example.sch.u",
        "other@childrens.example.gov.uk",  # an address row allows that address only
        "duty.team@childrens.example.gov.uk.evil.example",
        "duty.team+x@childrens.example.gov.uk",
        "school.example.sch.uk",
        "@school.example.sch.uk",
        "",
        "duty.team@childrens.example.gov.uk@evil.example",
    ],
)
def test_look_alikes_do_not_match(address: str) -> None:
    assert good().match(address) is None


def test_entry_fields() -> None:
    entry = good().match("referrals@health.example.nhs.uk")
    assert entry is not None
    assert entry.name == "Referrals Desk"
    assert entry.department == "Paediatrics"
    assert entry.secure_route == "nhsmail"
    assert entry.telephone == "+44 161 496 0002"


def test_blank_and_comment_lines_are_ignored() -> None:
    text = GOOD + "\n# retired,,,,,,\n"
    assert len(parse_recipients(text, {"nhsmail"})) == 3


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("not-an-email,A,B,,C,0161 496 0000,", "not a valid email address"),
        ("a@@b.example,A,B,,C,0161 496 0000,", "not a valid email address"),
        ("@-bad-.example,A,B,,C,0161 496 0000,", "not a valid @domain"),
        ("a@b.example,A,B,,C,12345,", "not a valid UK telephone"),
        ("a@b.example,A,B,,C,,", "telephone: must not be empty"),
        ("a@b.example,,B,,C,0161 496 0000,", "name: must not be empty"),
        ("a@b.example,A,,,C,0161 496 0000,", "job_title: must not be empty"),
        ("a@b.example,A,B,,,0161 496 0000,", "organisation: must not be empty"),
        ("a@b.example,A,B,,C,0161 496 0000,nosuch", "secure_route: 'nosuch' is not"),
        ("a@b.example,A,B,C,0161 496 0000,", "expected 7 columns"),
        ("duty.team@childrens.example.gov.uk,A,B,,C,0161 496 0000,", "listed twice"),
        ("*@b.example,A,B,,C,0161 496 0000,", "write @b.example to allow the whole domain"),
        # A closing quote missing: the rest of the file is one cell, named
        # by the line it starts on, not the file's last.
        ('a@b.example,"A,B,,C,0161 496 0000,\nc@d.example,A,B,,C,0161 496 0000,',
         'a quoted value opened here is not closed (a " missing, so lines 5-6'),
    ],
)
def test_validation_problems_name_the_line(row: str, problem: str) -> None:
    with pytest.raises(RecipientsFileError) as caught:
        parse_recipients(GOOD + row + "\n", {"nhsmail"}, "r.csv")
    assert any(problem in p and "r.csv: line 5" in p for p in caught.value.problems), (
        caught.value.problems
    )


def test_a_file_excel_saved_in_windows_1252_names_the_line_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "recipients.csv"
    path.write_bytes((GOOD + "a@b.example,A,B,Children\u2019s,C,0161 496 0000,\n").encode("cp1252"))
    settings = Settings(config_dir=tmp_path)
    assert check_recipients_file(settings) == [
        f'{path}: line 5: not UTF-8 text (in Excel, save as "CSV UTF-8 (Comma delimited)")'
    ]


def test_every_problem_is_reported() -> None:
    text = HEADER + "bad,,,,,,\nalso bad,A,B,,C,1,x\n"
    with pytest.raises(RecipientsFileError) as caught:
        parse_recipients(text, set())
    assert len(caught.value.problems) >= 6


def test_wrong_header() -> None:
    with pytest.raises(RecipientsFileError, match="header"):
        parse_recipients("address,name,job_title,organisation,telephone\n", set())


def test_check_recipients_file(tmp_path: Path) -> None:
    path = tmp_path / "recipients.csv"
    path.write_text(GOOD, encoding="utf-8")
    settings = Settings(config_dir=tmp_path)
    assert check_recipients_file(settings) == [
        f"{path}: line 4: secure_route: 'nhsmail' is not a [routes.NAME] table (none configured)"
    ]
    settings = Settings.model_validate(
        {"config_dir": tmp_path, "routes": {"nhsmail": {"host": "x.example", "tls": "starttls"}}}
    )
    assert check_recipients_file(settings) == []
    path.unlink()
    assert "file not found" in check_recipients_file(settings)[0]


def test_example_config_allow_list_is_valid() -> None:
    from gateway.settings import load_settings

    repo = Path(__file__).resolve().parents[3]
    settings = load_settings(repo / "config" / "gateway.toml", environ={})
    assert check_recipients_file(settings) == []


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _touch(path: Path, text: str, mtime: int) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(mtime * 10**9, mtime * 10**9))


def test_reload_on_change_at_most_every_interval(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    _touch(path, GOOD, 1000)
    clock = Clock()
    source = RecipientsFile(path, {"nhsmail"}, check_interval=5, clock=clock)
    assert source.current().match("new@partner.example") is None
    _touch(path, GOOD + "new@partner.example,N,J,,O,0161 496 0009,\n", 2000)
    clock.now = 1
    assert source.current().match("new@partner.example") is None  # not looked yet
    clock.now = 6
    with capture_logs() as logs:
        assert source.current().match("new@partner.example") is not None
    assert logs[0]["event"] == "recipients_reloaded"


def test_broken_file_keeps_last_good_list_and_logs_without_content(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    _touch(path, GOOD, 1000)
    clock = Clock()
    source = RecipientsFile(path, {"nhsmail"}, check_interval=1, clock=clock)
    _touch(path, GOOD + "secret.person@leak.example,Jane Secret,J,,O,bad-phone,\n", 2000)
    clock.now = 2
    with capture_logs() as logs:
        assert source.current().match("duty.team@childrens.example.gov.uk") is not None
    assert [entry["event"] for entry in logs] == ["recipients_reload_failed"]
    assert logs[0]["log_level"] == "error"
    logged = repr(logs)
    assert "secret.person" not in logged and "Jane Secret" not in logged
    assert "bad-phone" not in logged
    assert "line 5" in logged
    # Fixed again: the new list takes effect.
    _touch(path, GOOD + "secret.person@leak.example,Jane Secret,J,,O,0161 496 0003,\n", 3000)
    clock.now = 4
    assert source.current().match("secret.person@leak.example") is not None


def test_a_header_alone_keeps_the_list_in_force(tmp_path: Path) -> None:
    # A write cut short (a full disk, an interrupted copy) leaves the header:
    # taken, it emptied the allow-list and every message with personal data
    # was refused for good.
    path = tmp_path / "r.csv"
    _touch(path, GOOD, 1000)
    clock = Clock()
    source = RecipientsFile(path, {"nhsmail"}, check_interval=1, clock=clock)
    _touch(path, HEADER, 2000)
    with capture_logs() as logs:
        assert source.reload() is False
    assert len(source.current()) == 3
    assert source.current().match("duty.team@childrens.example.gov.uk") is not None
    assert [(entry["event"], entry["log_level"]) for entry in logs] == [
        ("recipients_reload_failed", "error")]
    assert "no entries (the 3 in force are kept" in logs[0]["problems"][0]
    # Written in full again: taken.
    _touch(path, GOOD + "new@partner.example,N,J,,O,0161 496 0009,\n", 3000)
    assert source.reload() is True
    assert len(source.current()) == 4


def test_an_empty_list_takes_effect_at_start(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(HEADER, encoding="utf-8")
    assert len(RecipientsFile(path, {"nhsmail"}).current()) == 0


def test_a_list_losing_more_than_half_its_entries_is_taken_with_a_warning(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.csv"
    _touch(path, GOOD, 1000)
    source = RecipientsFile(path, {"nhsmail"}, check_interval=1, clock=Clock())
    _touch(path, GOOD.rsplit("\n", 3)[0] + "\n", 2000)  # the first entry alone
    with capture_logs() as logs:
        assert source.reload() is True
    assert len(source.current()) == 1
    assert [(entry["event"], entry["log_level"]) for entry in logs] == [
        ("recipients_reload_shrank", "warning"), ("recipients_reloaded", "info")]
    assert (logs[0]["entries"], logs[0]["entries_before"]) == (1, 3)


def test_missing_file_at_start_allows_nobody(tmp_path: Path) -> None:
    with capture_logs() as logs:
        source = RecipientsFile(tmp_path / "absent.csv", set())
    assert len(source.current()) == 0
    assert logs[0]["event"] == "recipients_file_missing"


def test_broken_file_at_start_raises(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(HEADER + "broken,,,,,,\n", encoding="utf-8")
    with pytest.raises(RecipientsFileError):
        RecipientsFile(path, set())
