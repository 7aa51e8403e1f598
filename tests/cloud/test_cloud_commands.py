"""``nhi-broker kit cloud`` alone, and the sim profile's ``broker.ready`` line naming the cloud."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from nhi_kit.cloud.codes import CloudCode
from tests.cloud.conftest import CloudClient

NHI_BROKER = Path(sys.executable).parent / "nhi-broker"


def test_kit_cloud_serves_the_simulator_until_stopped(tmp_path: Path) -> None:
    command: list[str | Path] = [
        NHI_BROKER,
        "kit",
        "cloud",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:")
        client = CloudClient(url, tmp_path / "cloud-simulator.crt")
        answer = client.post("/api/v1/EmergentTel/Query", {"samId": "901000000047"})
        assert answer["statusCode"] == int(CloudCode.BAD_REQUEST)
        assert answer["tel"] == ""
        client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_the_sim_profile_names_its_cloud_in_the_ready_line(tmp_path: Path) -> None:
    command: list[str | Path] = [NHI_BROKER, "serve", "--profile", "sim", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = next(line for line in process.stdout if '"broker.ready"' in line)
        cloud = json.loads(ready)["cloud"]
        assert cloud.startswith("https://127.0.0.1:")
        certificate = tmp_path / "data" / "cloud-simulator" / "cloud-simulator.crt"
        client = CloudClient(cloud, certificate)
        assert "statusCode" in client.post("/api/v1/BasicData/Register2", {})
        client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0
