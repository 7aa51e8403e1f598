"""The Web API over a running sim broker: through falcon's TestClient, and a real HTTPS server."""

from __future__ import annotations

from typing import Any

import falcon.testing
import pytest

from api.services import ApiServices
from nhi_broker.assembly import RunningBroker
from nhi_broker.webapp import broker_app

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
