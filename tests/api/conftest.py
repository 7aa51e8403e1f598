"""The Web API over a running sim broker: through falcon's TestClient, and a real HTTPS server."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon.testing
import pykka
import pytest

from api.services import ApiServices
from broker import config
from nhi_broker.assembly import RunningBroker
from nhi_broker.serve import RunningServer, start
from nhi_broker.webapp import broker_app
from tests.api.https_client import HisClient, trusting

LOOPBACK = "127.0.0.1"


@pytest.fixture
def services(running: RunningBroker) -> ApiServices:
    return ApiServices(running)


@pytest.fixture
def client(services: ApiServices) -> falcon.testing.TestClient:
    """A TestClient whose requests come from loopback (the station ``local``)."""
    return falcon.testing.TestClient(broker_app(services), headers={"Host": "localhost"})


def call(
    client: falcon.testing.TestClient, method: str, path: str, body: Any = None, **kw: Any
) -> dict[str, Any]:
    """One request; asserts HTTP 200 and returns the JSON body."""
    result = client.simulate_request(method, path, json=body if body is not None else {}, **kw)
    assert result.status_code == 200, result.text
    payload: dict[str, Any] = result.json
    return payload


@pytest.fixture
def server(tmp_path: Path, log_lines: io.StringIO) -> Iterator[RunningServer]:
    """The sim profile served over HTTPS on a free loopback port."""
    settings = dataclasses.replace(config.sim_profile(), port=0, data_dir=tmp_path / "data")
    running = start(settings)
    yield running
    running.stop()
    pykka.ActorRegistry.stop_all()


@pytest.fixture
def his(server: RunningServer) -> Iterator[HisClient]:
    client = HisClient(server.url, trusting(server))
    yield client
    client.close()
