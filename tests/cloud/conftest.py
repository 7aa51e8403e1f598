"""A sim broker whose signatures go, over real HTTPS, into the kit's cloud simulator."""

from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon.testing
import pytest

from api.services import ApiServices
from nhi_broker.assembly import RunningBroker
from nhi_broker.webapp import broker_app
from nhi_kit.cloud.cloud import ENDPOINTS, Cloud
from nhi_kit.cloud.server import CloudSimulator
from nhi_kit.cloud.store import CloudStore

CLOUD_SAM = "901000000047"  # the manual's test cloud SAM, hospital 7777777777
LOCAL_HPC_PIN = "000000"  # 測試人員4 in Virtual Reader 1
COM1_DOCTOR_PIN = "222222"  # 測試醫師7 in COM1's HPC slot
SIGNATURE_FIELDS = ("clientRandom", "hospitalId", "samId", "signature")
CARD_FIELDS = ("hcId", "hcIdNo", "hpcId", "hpcIdNo")


class FakeClock:
    """Epoch seconds that move only when told."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CloudClient:
    """A clinic system's side of the cloud: one keep-alive HTTPS connection, JSON bodies."""

    def __init__(self, url: str, cafile: Path) -> None:
        parsed = urllib.parse.urlsplit(url)
        assert parsed.hostname is not None
        context = ssl.create_default_context(cafile=str(cafile))
        self._connection = http.client.HTTPSConnection(
            parsed.hostname, parsed.port, context=context, timeout=30
        )

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One call: HTTP 200, an integer statusCode and every field of the endpoint asserted."""
        self._connection.request(
            "POST",
            path,
            body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        response = self._connection.getresponse()
        raw = response.read()
        assert response.status == 200, raw
        answer: dict[str, Any] = json.loads(raw)
        assert type(answer["statusCode"]) is int, answer
        missing = set(ENDPOINTS[path].fields) - set(answer)
        assert not missing, (path, missing)
        return answer

    def close(self) -> None:
        self._connection.close()


class Broker:
    """The sim broker's Web API (TestClient from loopback: the station ``local``)."""

    def __init__(self, running: RunningBroker) -> None:
        self.running = running
        self._client = falcon.testing.TestClient(
            broker_app(ApiServices(running)), headers={"Host": "localhost"}
        )

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One function; HTTP 200 asserted, the JSON answer returned."""
        result = self._client.simulate_request(method, path, json=body or {})
        assert result.status_code == 200, result.text
        answer: dict[str, Any] = result.json
        return answer

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One function that must succeed."""
        answer = self.call(method, path, body)
        assert answer["statusCode"] == 0, (method, path, answer)
        return answer

    def sign_hc(self, service_type: str) -> dict[str, Any]:
        """Signature/Hc: SAM and HC."""
        return self.ok("POST", "/api/hc/v1/Signature/Hc", {"serviceType": service_type})

    def sign_hpc_hc(self, service_type: str) -> dict[str, Any]:
        """Signature/HpcHc: SAM, HPC and HC."""
        return self.ok("POST", "/api/hc/v1/Signature/HpcHc", {"serviceType": service_type})

    def sign_sam(self, service_type: str) -> dict[str, Any]:
        """SAM Signature."""
        return self.ok("POST", "/api/sam/v1/Signature", {"serviceType": service_type})


def body_of(signature: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A cloud request as a clinic system builds it from a broker signature."""
    fields = {k: signature[k] for k in (*SIGNATURE_FIELDS, *CARD_FIELDS) if k in signature}
    return {**fields, **extra}


@pytest.fixture
def broker(running: RunningBroker) -> Broker:
    return Broker(running)


@pytest.fixture
def kit_cloud(running: RunningBroker) -> Iterator[CloudClient]:
    """A client of the sim broker's own cloud simulator, trusting its certificate."""
    assert running.kit is not None
    assert running.kit.cloud is not None
    client = CloudClient(running.kit.cloud.url, running.kit.cloud.cert_path)
    yield client
    client.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def standalone(tmp_path: Path, clock: FakeClock) -> Iterator[CloudSimulator]:
    """A cloud simulator alone (as ``kit cloud`` runs it), with a clock tests move."""
    simulator = CloudSimulator(
        Cloud(CloudStore(tmp_path / "cloud"), clock=clock), tmp_path / "cloud"
    )
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def cloud(standalone: CloudSimulator) -> Iterator[CloudClient]:
    """A client of the standalone simulator."""
    client = CloudClient(standalone.url, standalone.cert_path)
    yield client
    client.close()


def start_cloud_sam_station(broker: Broker) -> None:
    """Initial with the test cloud SAM, SAM verified, 測試人員4's PIN verified."""
    broker.ok("POST", "/api/common/v1/Initial", {"name": CLOUD_SAM})
    broker.ok("POST", "/api/sam/v1/Verification")
    broker.ok("POST", "/api/hpc/v1/Verification/Hpc", {"pin": LOCAL_HPC_PIN})
