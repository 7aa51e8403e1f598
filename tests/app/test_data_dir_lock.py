"""One broker per data directory, through real ``nhi-broker`` processes: a second start is
refused in one line naming the holder, before it touches anything; a killed holder's lock
is gone at once; ``kit dc`` and ``kit cloud`` share the rule for the directories they use."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
from pathlib import Path

import pytest

from nhi_broker.data_lock import hold
from tests.api.https_client import HisClient
from tests.serving import NHI_BROKER, ServeProcess, serving

STATUS = "/api/common/v1/Status"


def nhi_broker(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NHI_BROKER, *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


def tree(directory: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under ``directory`` (sockets too): its mode, size and modification time."""
    entries = {}
    for path in directory.rglob("*"):
        info = path.lstat()
        entries[str(path.relative_to(directory))] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return entries


def client(served: ServeProcess, data_dir: Path) -> HisClient:
    """A station trusting the broker's CA."""
    return HisClient(served.url, ssl.create_default_context(cafile=str(data_dir / "tls/ca.crt")))


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused start prints; it printed nothing else and announced nothing."""
    assert result.returncode == 1, result
    assert "broker.ready" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def default_dir(tmp_path: Path) -> dict[str, str]:
    """The environment of a user whose default data directory is fresh."""
    return {**os.environ, "XDG_DATA_HOME": str(tmp_path / "share")}


def test_a_second_broker_on_a_held_data_directory_is_refused_and_the_first_keeps_serving(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    with serving("--profile", "sim", "--data-dir", str(data_dir)) as first:
        before = tree(data_dir)
        second = nhi_broker("serve", "--profile", "sim", "--port", "0", "--data-dir", str(data_dir))
        line = refusal(second)
        assert line.startswith(f"nhi-broker: {data_dir} is in use by nhi-broker serve ")
        assert f"(PID {first.process.pid})" in line
        assert "--data-dir" in line
        assert tree(data_dir) == before  # its sockets, HAProxy's files, the store: untouched

        station = client(first, data_dir)
        station.call("POST", "/api/common/v1/Initial", {"name": "901000000047"})
        assert station.call("GET", STATUS)["status"]["initialized"] is True
        station.close()
        remaining = first.stop()
    assert first.process.returncode == 0, remaining
    assert '"tls.request"' not in remaining  # no 503s of a HAProxy whose sockets were taken


def test_a_broker_killed_with_sigkill_leaves_its_data_directory_free_at_once(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    with serving("--profile", "sim", "--data-dir", str(data_dir)) as killed:
        killed.process.send_signal(signal.SIGKILL)
        killed.process.wait(timeout=30)
    with serving("--profile", "sim", "--data-dir", str(data_dir)) as next_one:
        station = client(next_one, data_dir)
        assert station.call("GET", STATUS)["statusCode"] == 0
        station.close()
        next_one.stop()
    assert next_one.process.returncode == 0


def test_kit_dc_is_refused_the_directory_of_a_sim_broker_on_the_default_data_directory(
    default_dir: dict[str, str],
) -> None:
    with serving("--profile", "sim", env=default_dir) as broker:
        data_dir = Path(str(broker.ready["data_dir"]))
        assert data_dir == Path(default_dir["XDG_DATA_HOME"]) / "nhi-broker"
        line = refusal(
            nhi_broker("kit", "dc", "--port", "0", "--control-port", "0", env=default_dir)
        )
        assert line.startswith(f"nhi-broker: {data_dir / 'dc-simulator'} is in use by ")
        assert f"nhi-broker serve (PID {broker.process.pid})" in line
        broker.stop()


def test_a_sim_broker_is_refused_the_directory_kit_cloud_runs_on_and_kit_cloud_keeps_it(
    default_dir: dict[str, str],
) -> None:
    cloud = subprocess.Popen(
        [NHI_BROKER, "kit", "cloud", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=default_dir,
    )
    try:
        assert cloud.stdout is not None
        assert cloud.stdout.readline().startswith("https://127.0.0.1:")  # it is serving
        line = refusal(nhi_broker("serve", "--profile", "sim", "--port", "0", env=default_dir))
        cloud_dir = Path(default_dir["XDG_DATA_HOME"]) / "nhi-broker" / "cloud-simulator"
        assert line.startswith(f"nhi-broker: {cloud_dir} is in use by nhi-broker kit cloud ")
        assert f"(PID {cloud.pid})" in line
        assert cloud.poll() is None
        # The refused broker let go of the data directory it had taken before.
        hold([cloud_dir.parent], holder="a test", hint="").release()
    finally:
        cloud.send_signal(signal.SIGTERM)
        assert cloud.wait(timeout=30) == 0
