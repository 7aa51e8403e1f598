"""An HIS client of the broker's HTTPS server: the connection, its TLS contexts, the sim kit.

Plain helpers shared by the HTTPS server tests (and their fixtures in conftest.py).
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse
from collections.abc import Mapping
from typing import Any

from nhi_broker.serve import RunningServer
from nhi_kit.sim_kit import SimKit

STATUS = "/api/common/v1/Status"


class HisClient:
    """One keep-alive HTTPS connection sending JSON bodies on every method, as HIS clients do."""

    def __init__(self, url: str, context: ssl.SSLContext) -> None:
        parsed = urllib.parse.urlsplit(url)
        assert parsed.hostname is not None
        self._connection = http.client.HTTPSConnection(
            parsed.hostname, parsed.port, context=context, timeout=30
        )

    def send(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        """One request with a raw body (and more headers); the HTTP status and the raw answer."""
        sent = {"Content-Type": "application/json", **(headers or {})}
        self._connection.request(method, path, body=body, headers=sent)
        response = self._connection.getresponse()
        return response.status, response.read()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One function call: HTTP 200 asserted, the JSON answer returned."""
        status, raw = self.send(method, path, json.dumps(body or {}).encode())
        assert status == 200, raw
        answer: dict[str, Any] = json.loads(raw)
        assert isinstance(answer["statusCode"], int)
        return answer

    def open_stream(self, path: str) -> None:
        """Send a GET whose answer (an event stream) is never read."""
        self._connection.request("GET", path)

    def close(self) -> None:
        self._connection.close()


def trusting(server: RunningServer) -> ssl.SSLContext:
    """A client context that verifies the broker's certificate against its own CA."""
    return ssl.create_default_context(cafile=str(server.broker.config.data_dir / "tls/ca.crt"))


def unverified() -> ssl.SSLContext:
    """What today's HIS clients use: ``verify=False``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def kit_of(server: RunningServer) -> SimKit:
    assert server.broker.kit is not None
    return server.broker.kit
