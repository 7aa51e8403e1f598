"""The simulated cloud's HTTP face: every path of docs/cloud-protocol.md, POST, JSON."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import falcon

from nhi_kit.cloud.cloud import ENDPOINTS, Cloud

NOT_JSON = object()  # a body that does not parse: the cloud answers 6001, every field present


@dataclass
class Faults:
    """What the HTTP face does to every call: delay it, or (with the server) refuse it."""

    latency_ms: int = 0
    down: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)  # ends a pending delay


class LatencyMiddleware:
    """Holds every request for the injected latency before the endpoint runs."""

    def __init__(self, faults: Faults) -> None:
        self._faults = faults

    def process_request(self, _req: falcon.Request, _resp: falcon.Response) -> None:
        """Wait the simulated latency (cut short when the simulator stops)."""
        with self._faults.lock:
            latency = self._faults.latency_ms
        if latency:
            self._faults.stopping.wait(latency / 1000)


class EndpointResource:
    """One cloud path: the body to ``Cloud.call``, its answer as JSON (always HTTP 200)."""

    def __init__(self, cloud: Cloud, path: str) -> None:
        self._cloud = cloud
        self._path = path

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer the call."""
        body: Any
        try:
            body = req.get_media(default_when_empty={})
        except falcon.MediaMalformedError:
            body = NOT_JSON
        resp.media = self._cloud.call(self._path, body)


def create_app(cloud: Cloud, faults: Faults) -> falcon.App[falcon.Request, falcon.Response]:
    """The cloud's application: the paths of docs/cloud-protocol.md, nothing else."""
    app = falcon.App(middleware=[LatencyMiddleware(faults)])
    for path in ENDPOINTS:
        app.add_route(path, EndpointResource(cloud, path))
    return app
