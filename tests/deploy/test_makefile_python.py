"""Which interpreter `make` builds .venv with (Makefile, README "Two commands").

The distribution's Python (`SYSTEM_PYTHON`, /usr/bin/python3) when it is
3.11 or newer and can make venvs, else `python3` on the PATH; `PYTHON=...`
overrides both.  Checked with `make -n` (nothing is built) and stand-in
interpreters: shell scripts that answer the Makefile's two probes.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _venv_command(tmp_path: Path, *overrides: str) -> str:
    """The command `make venv` would make the venv with, for a venv that does not exist."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = tmp_path / "venv"
    done = subprocess.run(
        ["make", "-n", "venv", f"VENV={venv}", f"BIN={venv}/bin", f"STAMP={venv}/.stamp",
         *overrides],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    (line,) = [ln for ln in done.stdout.splitlines() if "-m venv" in ln]
    return line.rsplit(";", 2)[-2].strip()  # "<python> -m venv <dir>"


def _stand_in(tmp_path: Path, name: str, status: int) -> Path:
    """An 'interpreter' whose every probe exits with `status`."""
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\nexit {status}\n")
    path.chmod(0o755)
    return path


def test_the_distributions_python_is_used_when_it_can_make_venvs(tmp_path: Path) -> None:
    system = _stand_in(tmp_path, "system-python", 0)
    assert _venv_command(tmp_path, f"SYSTEM_PYTHON={system}") == f"{system} -m venv {tmp_path}/venv"


def test_python3_on_the_path_when_the_distributions_cannot(tmp_path: Path) -> None:
    # Too old, or no venv module (Debian without python3-venv): a probe fails.
    refusing = _stand_in(tmp_path, "old-python", 1)
    assert _venv_command(tmp_path, f"SYSTEM_PYTHON={refusing}") == f"python3 -m venv {tmp_path}/venv"


def test_python3_on_the_path_when_there_is_no_distribution_python(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-python"
    assert _venv_command(tmp_path, f"SYSTEM_PYTHON={missing}") == f"python3 -m venv {tmp_path}/venv"


def test_python_given_on_the_command_line_wins(tmp_path: Path) -> None:
    system = _stand_in(tmp_path, "system-python", 0)
    chosen = _venv_command(tmp_path, f"SYSTEM_PYTHON={system}", "PYTHON=python3.12")
    assert chosen == f"python3.12 -m venv {tmp_path}/venv"
