"""Bounded fuzzing of `inspect_message` for CI: the atheris target under
libFuzzer for a fixed time when atheris is installed, and the seeded
random-mutation loop in any case."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.faults

HERE = Path(__file__).resolve().parent
SECONDS = int(os.environ.get("GATEWAY_FUZZ_SECONDS", "60"))


@pytest.mark.timeout(SECONDS * 3 + 60)
def test_plain_mutation_loop_finds_no_crash():
    sys.path.insert(0, str(HERE))
    from fuzz_parse import run_plain

    ran = run_plain(seconds=SECONDS, seed=int(os.environ.get("GATEWAY_FUZZ_SEED", "1")))
    print(f"\nplain mutation loop: {ran} inputs in {SECONDS}s, no failure")
    assert ran > 100


@pytest.mark.timeout(SECONDS * 3 + 120)
def test_atheris_coverage_guided_for_a_bounded_time(tmp_path):
    pytest.importorskip("atheris", reason="atheris is not installed (pip install atheris)")
    corpus = tmp_path / "corpus"
    result = subprocess.run(
        [sys.executable, str(HERE / "fuzz_parse.py"), f"-max_total_time={SECONDS}",
         "-rss_limit_mb=2048", "-timeout=20", f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, timeout=SECONDS * 3 + 60, cwd=str(tmp_path),
    )
    tail = "\n".join(result.stderr.splitlines()[-15:])
    # atheris prints an uncaught exception's traceback on stdout, then exits:
    # libFuzzer's stderr only says "fuzz target exited".
    uncaught = result.stdout.partition("=== Uncaught Python exception: ===")[2]
    if uncaught:
        tail = f"uncaught exception:{uncaught[-3000:]}\n{tail}"
    print(f"\natheris ({SECONDS}s):\n{tail}")
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash", "timeout", "oom")))
    # The inputs themselves, so a CI failure can be replayed
    # (`base64 -d > crash.eml`); fuzzer bytes, no personal data.
    for name in crashes:
        data = (tmp_path / name).read_bytes()
        tail += f"\n{name} ({len(data)} bytes, base64):\n{base64.b64encode(data[:16384]).decode()}"
    assert result.returncode == 0 and not crashes, f"fuzzer found {crashes}:\n{tail}"
