"""The unit's sandbox: its exposure as systemd rates it, and the broker serving under the
system-call filter it sets (tests/app/seccomp_exec.py makes systemd's filters)."""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from nhi_broker.service import packaged
from tests.api.https_client import HisClient
from tests.serving import serving

SECCOMP_EXEC = Path(__file__).with_name("seccomp_exec.py")
# systemd-analyze's 0-10 scale (10: no sandbox). The unit rates 1.7 with systemd 252:
# what is left open is what the broker needs (the unit's comment lists it).
EXPOSURE_BOUND = 2.0


@pytest.fixture
def unit(tmp_path: Path) -> Path:
    path = tmp_path / "nhi-broker.service"
    path.write_bytes(packaged("nhi-broker.service"))
    return path


def exposure(unit: Path) -> float:
    rated = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(rf"Overall exposure level for {unit.name}: (\d+\.\d+)", rated.stdout)
    assert found is not None, rated.stdout + rated.stderr
    return float(found[1])


def test_the_units_exposure_stays_low(unit: Path) -> None:
    assert exposure(unit) <= EXPOSURE_BOUND


def test_the_exposure_rating_sees_a_loosened_unit(unit: Path, tmp_path: Path) -> None:
    loose = tmp_path / "loose.service"
    kept = ("[", "Description", "ExecStart", "Type", "User", "Group")
    lines = unit.read_text().splitlines()
    loose.write_text("\n".join(line for line in lines if line.startswith(kept)) + "\n")
    assert exposure(loose) > EXPOSURE_BOUND


def under_filter(unit: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SECCOMP_EXEC), str(unit), "--", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_filter_refuses_what_the_unit_takes_away(unit: Path) -> None:
    """The filter is real: a privileged call and a writable executable mapping fail."""
    chrooted = under_filter(unit, "chroot", "/", "true")
    assert chrooted.returncode != 0
    assert "Operation not permitted" in chrooted.stderr
    mapping = "import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_WRITE | mmap.PROT_EXEC)"
    mapped = under_filter(unit, sys.executable, "-c", mapping)
    assert "PermissionError" in mapped.stderr
    assert under_filter(unit, "true").returncode == 0


def test_the_broker_serves_under_the_units_system_call_filter(unit: Path, tmp_path: Path) -> None:
    """HAProxy started by setpriv, the waitress pools, the data centre's calls, a stop."""
    data = tmp_path / "data"
    filtered = [sys.executable, str(SECCOMP_EXEC), str(unit), "--"]
    with serving("--profile", "sim", "--data-dir", str(data), under=filtered) as served:
        his = HisClient(served.url, ssl.create_default_context(cafile=str(data / "tls/ca.crt")))
        try:
            assert his.call("POST", "/api/common/v1/Initial")["statusCode"] == 0
            read = his.call("GET", "/api/hc/v1/BasicData")  # verifies the SAM with the DC
            assert (read["statusCode"], read["cardId"]) == (0, "900000000711")
            status, page = his.send("GET", "/console", b"")
            assert (status, page[:15]) == (200, b"<!doctype html>")
        finally:
            his.close()
        rest = served.stop()
    assert served.process.returncode == 0, rest
    events = [json.loads(line).get("event") for line in rest.splitlines() if line.startswith("{")]
    assert "broker.stopped" in events
