"""A non-editable install (what ``pip install .`` gives a clinic's host) serves the sim profile.

The package must carry everything ``serve`` reads: the embedded default
configuration, the console's files, the kit's test keys.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def run(*command: str | Path, cwd: Path, timeout: float = 300) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def source_copy(tmp_path: Path) -> Path:
    """The repository's tracked files, copied: building a wheel writes build/ beside them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    target = tmp_path / "source"
    for name in filter(None, listed.split("\0")):
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, destination, follow_symlinks=False)  # profiles/ are links
    return target


def installed(tmp_path: Path) -> Path:
    """A fresh venv holding the broker installed from the repo, not editable.

    Its dependencies come from the test run's own environment (a .pth line), so
    nothing is downloaded; the broker's own files are copies in the new venv.
    """
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    lib = next((venv / "lib").glob("python3*")) / "site-packages"
    (lib / "dependencies.pth").write_text(site.getsitepackages()[0] + "\n", encoding="utf-8")
    run(
        venv / "bin" / "pip", "install", "--quiet", "--no-deps", source_copy(tmp_path), cwd=tmp_path
    )
    return venv


def test_an_installed_broker_serves_the_sim_profile(tmp_path: Path) -> None:
    venv = installed(tmp_path)
    where = run(
        venv / "bin" / "python",
        "-c",
        "import broker, api; print(broker.__file__, api.__file__)",
        cwd=tmp_path,
    )
    assert str(REPO) not in where, where  # the copies, not the repository
    env = {**os.environ, "PYTHONPATH": ""}
    process = subprocess.Popen(
        [
            venv / "bin" / "nhi-broker",
            "serve",
            "--profile",
            "sim",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready: dict[str, Any] = {}
    seen: list[str] = []
    announced = threading.Event()

    def drain() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if '"broker.ready"' in line:
                ready.update(json.loads(line))
                announced.set()
        announced.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        assert announced.wait(90), "".join(seen)
        assert ready, "".join(seen[-20:])
        assert ready["profile"] == "sim"
        assert ready["url"].startswith("https://localhost:")
    finally:
        process.terminate()
        process.wait(timeout=30)
        reader.join(timeout=10)
