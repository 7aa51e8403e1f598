"""Every bench runs as the README shows (``.venv/bin/python bench/<name>.py``), in its quick mode.

A bench that is never run rots unseen; ``--quick`` runs a few iterations and still
prints every figure line. None starts pcscd in quick mode: those that need it say
which part they left out.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Each bench and lines its output must hold (its figures, with their units).
FIGURES = {
    "bench_apdu": [
        r"HC READ profile \(57 bytes\), median of \d+ APDUs",
        r"local \(in process\) +[\d.]+ ms +[\d.]+x local",
        r"serial \(pty \+ pyserial\) +[\d.]+ ms +[\d.]+x local",
        r"PC/SC \(pcscd \+ vpcd\) +skipped with --quick \(needs pcscd",
    ],
    "bench_actors": [
        r"status_json\(board\.get\('desk2'\)\) +p50 +[\d.]+ ms +p99 +[\d.]+ ms",
        r"VERSION on local +p50 +[\d.]+ ms +p99 +[\d.]+ ms",
        r"VERSION on desk2 itself \(its station busy with the verification\) took \d+ ms",
        r"1 station alone +[\d.]+ calls/s",
        r"4 stations at once +[\d.]+ calls/s",
        r"summary: status p99 goal (met|NOT met); 4-station goal (met|NOT met)",
    ],
    "bench_hotplug": [
        r"in-process reader +p50 +[\d.]+ ms +p99 +[\d.]+ ms",
        r"serial reader \(pty\) +p50 +[\d.]+ ms +p99 +[\d.]+ ms",
        r"HPC pulled at the DC +p50 +[\d.]+ ms +p99 +[\d.]+ ms",
    ],
    "bench_http": [
        r"\(a\) skipped with --quick \(it needs pcscd",
        r"broker +: +\d+ requests/s \(\d+ in [\d.]+ s, 0 failures\)",
        r"bare, HAProxy +: +\d+ requests/s \(\d+ in [\d.]+ s, 0 failures\)",
        r"bare, waitress +: +\d+ requests/s \(\d+ in [\d.]+ s, 0 failures\)",
        r"ratio broker / bare through HAProxy: [\d.]+",
    ],
    "bench_serving": [
        r"\(d\) Status, 200 calls each on a new connection:",
        r"10 calls on a 3 s DC, 4 streams: ",
        r"\(e\) a closed event stream's slot is free again after:",
    ],
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(FIGURES))
def test_the_bench_runs_as_a_script_and_prints_its_figures(name: str) -> None:
    shown = subprocess.run(
        [sys.executable, f"bench/{name}.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    for figure in FIGURES[name]:
        assert any(re.search(figure, line) for line in shown.stdout.splitlines()), (
            figure,
            shown.stdout,
        )


def test_every_bench_is_run_here() -> None:
    assert sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py")) == sorted(FIGURES)
