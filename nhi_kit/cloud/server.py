"""The simulated cloud as a running service: HTTPS on loopback, faults switchable.

Its directory holds the state file, the TLS certificate (``cloud-simulator.crt``,
what a clinic system trusts) and the port it last listened on, taken again at
the next start when it is free, so a clinic system's base URL keeps working.
"""

from __future__ import annotations

import contextlib
import ssl
from pathlib import Path
from typing import Any

from nhi_https.certificates import ensure_certificate
from nhi_https.simple_https import SimpleHttpsServer
from nhi_kit.cloud.app import Faults, create_app
from nhi_kit.cloud.cloud import Cloud

CERT_STEM = "cloud-simulator"
PORT_FILE = "port"


class CloudSimulator:
    """``Cloud`` served over HTTPS; ``port=None`` takes the port of the last run if free."""

    def __init__(
        self, cloud: Cloud, directory: Path, *, host: str = "127.0.0.1", port: int | None = None
    ) -> None:
        self.cloud = cloud
        self.faults = Faults()
        self._directory = directory
        self._host = host
        self._port = port
        self.cert_path, self._key_path = ensure_certificate(directory, CERT_STEM)
        self._server: SimpleHttpsServer | None = None

    @property
    def url(self) -> str:
        """Base URL (``https://127.0.0.1:PORT``); docs/cloud-protocol.md's paths go after it."""
        if self._server is None:
            raise RuntimeError("the cloud simulator is not started")
        return self._server.url

    def start(self) -> None:
        """Serve: on the asked port, else the remembered one if free, else any free one."""
        remembered = self._remembered_port() if self._port is None else None
        if remembered is not None:
            with contextlib.suppress(OSError):
                self._server = self._serve(remembered)
        if self._server is None:
            self._server = self._serve(self._port or 0)
        if self._port is None:
            (self._directory / PORT_FILE).write_text(f"{self._server.address[1]}\n")

    def stop(self) -> None:
        """Stop serving (a pending simulated delay ends at once); stopping twice is harmless."""
        self.faults.stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.stop()  # also when down: the paused front stops as it is

    def set_faults(self, latency_ms: int | None = None, down: bool | None = None) -> dict[str, Any]:
        """Slow every call down, or refuse connections; returns the faults in force."""
        if self._server is None:
            raise RuntimeError("the cloud simulator is not started")
        with self.faults.lock:
            was_down = self.faults.down
            if latency_ms is not None:
                self.faults.latency_ms = latency_ms
            if down is not None:
                self.faults.down = down
            now_down = self.faults.down
        if now_down and not was_down:
            self._server.pause()  # connections are refused from now on
        elif was_down and not now_down:
            self._server.resume()
        return self.fault_state()

    def fault_state(self) -> dict[str, Any]:
        """The faults in force, in the sim API's names."""
        with self.faults.lock:
            latency, down = self.faults.latency_ms, self.faults.down
        return {"latencyMs": latency, "down": down, "injected": self.cloud.injected()}

    def _serve(self, port: int) -> SimpleHttpsServer:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, self._key_path)
        server = SimpleHttpsServer(create_app(self.cloud, self.faults), self._host, port, context)
        try:
            server.start()
        except OSError:
            server.stop()
            raise
        return server

    def _remembered_port(self) -> int | None:
        try:
            port = int((self._directory / PORT_FILE).read_text().strip())
        except (OSError, ValueError):
            return None
        return port if 0 < port < 65536 else None
