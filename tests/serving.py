"""A real ``nhi-broker serve`` process for tests: started, read until ready, stopped."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

NHI_BROKER = Path(sys.executable).parent / "nhi-broker"
DEFAULT_TOML = Path(__file__).resolve().parents[1] / "config" / "default.toml"


@dataclasses.dataclass
class ServeProcess:
    """A running ``serve`` and its ``broker.ready`` line."""

    process: subprocess.Popen[str]
    ready: dict[str, Any]

    @property
    def url(self) -> str:
        return str(self.ready["url"])

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> str:
        """SIGTERM, then the rest of its output."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        remaining, _ = self.process.communicate(timeout=30)
        return remaining


def sim_config_with_names(path: Path, names: list[str]) -> Path:
    """The sim profile's TOML with ``[server] names`` added."""
    listed = ", ".join(json.dumps(n) for n in names)
    text = DEFAULT_TOML.read_text(encoding="utf-8")
    path.write_text(text.replace("[server]\n", f"[server]\nnames = [{listed}]\n", 1))
    return path


@contextlib.contextmanager
def serving(
    *args: str, env: dict[str, str] | None = None, under: Sequence[str] = ()
) -> Iterator[ServeProcess]:
    """``nhi-broker serve --port 0 ARGS`` (run by the command ``under``, if any) until its
    ready line; killed if still running after."""
    process = subprocess.Popen(
        [*under, NHI_BROKER, "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        yield ServeProcess(process, _ready_line(process))
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def _ready_line(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line)
        if '"broker.ready"' in line:
            ready: dict[str, Any] = json.loads(line)
            return ready
    raise AssertionError("serve ended before it was ready:\n" + "".join(seen))
