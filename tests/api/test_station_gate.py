"""One station's calls in flight are capped; other stations and Version are not held up."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import falcon.testing
import pykka
import pytest

from api.gate import StationGate
from api.services import ApiServices, token_hash
from broker import config
from nhi_broker.assembly import RunningBroker, assemble
from nhi_broker.webapp import broker_app

DESK2 = {"Authorization": "Bearer desk2-token-for-tests"}
CLOUD_SAM = {"name": "901000000047"}
READER_TIME = "/api/common/v1/ReaderTime"
WAIT = 20.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RunningBroker]:
    base = config.sim_profile()
    stations = tuple(
        dataclasses.replace(s, token_sha256=token_hash("desk2-token-for-tests"))
        if s.name == "desk2"
        else s
        for s in base.stations
    )
    running = assemble(dataclasses.replace(base, data_dir=tmp_path, stations=stations))
    yield running
    running.close()
    pykka.ActorRegistry.stop_all()


def test_a_station_past_its_cap_is_refused_while_others_and_version_are_served(
    broker: RunningBroker,
) -> None:
    services = ApiServices(broker, station_calls=1)
    client = falcon.testing.TestClient(broker_app(services), headers={"Host": "localhost"})
    for headers in ({}, DESK2):
        answer = client.simulate_post("/api/common/v1/Initial", json=CLOUD_SAM, headers=headers)
        assert answer.json["statusCode"] == 0
    assert broker.kit is not None
    broker.kit.dc.set_faults(latency_ms=1500)
    gate = services.gate
    assert gate is not None
    assert isinstance(gate, StationGate)
    slow = threading.Thread(target=client.simulate_get, args=(READER_TIME,))
    slow.start()
    assert gate.wait_for("local", 1, WAIT)

    refused = client.simulate_get(READER_TIME)
    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "1")
    assert client.simulate_get("/api/common/v1/Version").json["statusCode"] == 0
    other = client.simulate_get(READER_TIME, headers=DESK2)
    assert (other.status_code, other.json["statusCode"]) == (200, 0)
    slow.join(WAIT)
    broker.kit.dc.set_faults(latency_ms=0)
    assert client.simulate_get(READER_TIME).json["statusCode"] == 0
