"""A real ``nhi-broker serve`` process for tests: started, read until ready, stopped."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import signal
import ssl
import subprocess
import sys
import urllib.parse
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
    started: list[str] = dataclasses.field(default_factory=list)  # its lines up to ready

    @property
    def haproxy(self) -> int:
        """The process id of the HAProxy it started."""
        [pid] = [json.loads(line)["pid"] for line in self.started if '"tls.started"' in line]
        return int(pid)

    @property
    def url(self) -> str:
        return str(self.ready["url"])

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def read_until(self, wanted: str) -> dict[str, Any]:
        """Its next line containing ``wanted`` (lines before it are passed over), as JSON."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if wanted in line:
                found: dict[str, Any] = json.loads(line)
                return found
        raise AssertionError(f"serve ended before {wanted!r}")

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
        yield ServeProcess(process, *_ready_line(process))
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def _ready_line(process: subprocess.Popen[str]) -> tuple[dict[str, Any], list[str]]:
    assert process.stdout is not None
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line)
        if '"broker.ready"' in line:
            ready: dict[str, Any] = json.loads(line)
            return ready, seen
    raise AssertionError("serve ended before it was ready:\n" + "".join(seen))


def https(url: str) -> http.client.HTTPSConnection:
    """A connection to ``url`` that takes whatever certificate it shows."""
    parsed = urllib.parse.urlsplit(url)
    context = ssl.create_default_context(cafile=None)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return http.client.HTTPSConnection(
        parsed.hostname or "", parsed.port, context=context, timeout=60
    )


def call(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One request on a connection of its own: its HTTP status and body."""
    connection = https(url)
    try:
        connection.request(method, path, body=json.dumps(body or {}).encode())
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def station_inbox(url: str) -> int:
    """Messages waiting in the ``local`` station's inbox, from the metrics."""
    _status, raw = call(url, "GET", "/metrics")
    wanted = 'nhi_broker_actor_inbox_depth{actor="station:local"} '
    [line] = [line for line in raw.decode().splitlines() if line.startswith(wanted)]
    return int(float(line.split()[-1]))
