"""`[server] spool_dir` is tried at start, as the receive stage uses it (an
anonymous temporary file): one that is missing, a file or not writable is
refused by `check-config` and `serve` in one line naming the key and the
folder, exit 1.  It used to pass both, and `/readyz`; every message over
1 MiB was then answered 451.  The other commands do not spool, and do not
try it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from gwtest import clean_env, write_config

from gateway.cli import main
from gateway.cli.core import spool_problem
from gateway.settings import load_settings

RECIPIENTS = "address,name,job_title,department,organisation,telephone,secure_route\n"


def config(tmp_path: Path, spool_dir: str) -> Path:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    return write_config(tmp_path / "gw.toml", {
        "server": {"listen": "127.0.0.1:0", "spool_dir": spool_dir},
        "metrics": {"listen": ""},
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}"},
    })


def spool_problems(path: Path) -> list[str]:
    problem = spool_problem(load_settings(path, environ={}))
    return [] if problem is None else [problem]


def test_a_missing_spool_folder_is_refused_naming_it(tmp_path: Path):
    missing = tmp_path / "no" / "such"
    (problem,) = spool_problems(config(tmp_path, str(missing)))
    assert problem == (f"server.spool_dir: cannot make a temporary file in {missing} "
                       "(No such file or directory)")


def test_a_spool_dir_that_is_a_file_is_refused(tmp_path: Path):
    (problem,) = spool_problems(config(tmp_path, "recipients.csv"))  # relative: the config's
    assert f"in {tmp_path / 'recipients.csv'} (Not a directory)" in problem


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in any folder")
def test_a_spool_folder_not_writable_is_refused(tmp_path: Path):
    folder = tmp_path / "spool"
    folder.mkdir(mode=0o500)
    (problem,) = spool_problems(config(tmp_path, str(folder)))
    assert f"in {folder} (Permission denied)" in problem


def test_an_empty_spool_dir_is_tried_in_the_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """"" is $TMPDIR, as Python finds it (tempfile.gettempdir, which the
    receive stage uses too): that folder is tried."""
    gone = tmp_path / "tmp-gone"
    monkeypatch.setattr(tempfile, "tempdir", str(gone))
    (problem,) = spool_problems(config(tmp_path, ""))
    assert f"server.spool_dir: cannot make a temporary file in {gone} ($TMPDIR)" in problem


def test_a_usable_spool_folder_passes_and_is_left_empty(tmp_path: Path):
    folder = tmp_path / "spool"
    folder.mkdir()
    assert spool_problems(config(tmp_path, "spool")) == []
    assert spool_problems(config(tmp_path, "")) == []
    assert list(folder.iterdir()) == []


def test_check_config_refuses_it_in_one_line_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    missing = tmp_path / "missing"
    assert main(["check-config", "--config", str(config(tmp_path, str(missing)))]) == 1
    out = capsys.readouterr()
    assert "ok" not in out.out
    (line,) = out.err.splitlines()
    assert line.startswith("error: server.spool_dir: ") and str(missing) in line


def test_other_commands_do_not_try_it(tmp_path: Path):
    """`db upgrade`, `queue list` ... never spool; an operator may run them
    as a user that cannot write in the gateway's spool folder."""
    assert main(["db", "upgrade", "--config", str(config(tmp_path, str(tmp_path / "x")))]) == 0


def test_serve_refuses_to_start_with_it(tmp_path: Path):
    missing = tmp_path / "missing"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "gateway", "serve", "--config",
             str(config(tmp_path, str(missing))), "--log-format", "console"],
            capture_output=True, text=True, env=clean_env(), timeout=30,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"serve started instead of refusing: {exc.stderr!r}")
    assert "Traceback" not in done.stderr + done.stdout
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert "server.spool_dir" in line and str(missing) in line
    assert done.returncode == 1
