"""Who may call: foreign origins are refused before anything runs; tokens pick the station."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import falcon.testing
import pykka
import pytest

from api.auth import bare_host
from api.services import ApiServices, token_hash
from broker import config
from nhi_broker.assembly import RunningBroker, assemble
from nhi_broker.webapp import broker_app

EVIL = "https://evil.example"
DESK2_TOKEN = "desk2-token-for-tests"
REMOTE = "192.0.2.10"


@pytest.fixture
def tokened(tmp_path: Path) -> Iterator[falcon.testing.TestClient]:
    """The sim broker with a token for desk2."""
    base = config.sim_profile()
    stations = tuple(
        dataclasses.replace(s, token_sha256=token_hash(DESK2_TOKEN)) if s.name == "desk2" else s
        for s in base.stations
    )
    broker = assemble(dataclasses.replace(base, data_dir=tmp_path, stations=stations))
    yield falcon.testing.TestClient(broker_app(ApiServices(broker)), headers={"Host": "localhost"})
    broker.close()
    pykka.ActorRegistry.stop_all()


def test_a_foreign_origin_can_neither_read_nor_change_anything(
    client: falcon.testing.TestClient, running: RunningBroker
) -> None:
    read = client.simulate_get("/api/common/v1/Status", headers={"Origin": EVIL})
    assert read.status_code == 403
    assert "Access-Control-Allow-Origin" not in read.headers
    change = client.simulate_post(
        "/api/common/v1/Initial", json={"name": "COM1"}, headers={"Origin": EVIL}
    )
    assert change.status_code == 403
    assert not running.board.get("local").initialized  # nothing ran
    cors = client.simulate_post(
        "/api/settings/v1/Cors/Add", json={"host": "evil.example"}, headers={"Origin": EVIL}
    )
    assert cors.status_code == 403
    assert running.settings.cors_hosts == []
    preflight = client.simulate_options(
        "/api/common/v1/Initial",
        headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 403


def test_localhost_origins_get_cors_headers_and_a_private_network_preflight(
    client: falcon.testing.TestClient,
) -> None:
    origin = "http://localhost:8080"
    answer = client.simulate_get("/api/common/v1/Status", headers={"Origin": origin})
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == origin
    assert "Origin" in answer.headers["Vary"]
    preflight = client.simulate_options(
        "/api/sam/v1/Signature",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Private-Network"] == "true"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


def test_callers_off_this_machine_need_a_station_token(
    tokened: falcon.testing.TestClient,
) -> None:
    status = "/api/common/v1/Status"
    assert tokened.simulate_get(status, remote_addr=REMOTE).status_code == 401
    wrong = {"Authorization": "Bearer not-a-token"}
    assert tokened.simulate_get(status, remote_addr=REMOTE, headers=wrong).status_code == 401
    desk2 = {"Authorization": f"Bearer {DESK2_TOKEN}"}
    connected = tokened.simulate_post(
        "/api/common/v1/Initial", json={}, remote_addr=REMOTE, headers=desk2
    )
    assert connected.json["statusCode"] == 0
    mine = tokened.simulate_get(status, remote_addr=REMOTE, headers=desk2).json["status"]
    assert mine["deviceName"] == "901000000047"  # desk2's device
    local = tokened.simulate_get(status).json["status"]
    assert not local["initialized"]  # loopback without a token is local, untouched


def test_only_the_local_station_changes_settings(tokened: falcon.testing.TestClient) -> None:
    desk2 = {"Authorization": f"Bearer {DESK2_TOKEN}"}
    answer = tokened.simulate_post(
        "/api/settings/v1/Cors/Add",
        json={"host": "www.nhi.gov.tw"},
        remote_addr=REMOTE,
        headers=desk2,
    )
    assert answer.status_code == 403
    listed = tokened.simulate_get("/api/settings/v1/Cors/Get", remote_addr=REMOTE, headers=desk2)
    assert listed.json["hosts"] == []


def test_admin_paths_need_the_admin_token_even_on_loopback(
    client: falcon.testing.TestClient,
) -> None:
    assert client.simulate_get("/api/admin/v1/Actors").status_code == 401
    wrong = {"Authorization": "Bearer guess"}
    assert client.simulate_get("/api/admin/v1/Actors", headers=wrong).status_code == 403


def test_a_name_in_the_configuration_is_one_of_the_brokers_own(tmp_path: Path) -> None:
    base = config.sim_profile()
    named = dataclasses.replace(base, data_dir=tmp_path, names=("Reader-Host.clinic.example",))
    broker = assemble(named)
    try:
        client = falcon.testing.TestClient(broker_app(ApiServices(broker)))
        status = "/api/common/v1/Status"
        for host in ("reader-host.clinic.example", "reader-host.clinic.example:5066"):
            assert client.simulate_get(status, headers={"Host": host}).status_code == 200
        for host in ("clinic.example", "evil.example", ""):
            assert client.simulate_get(status, headers={"Host": host}).status_code == 421
    finally:
        broker.close()
        pykka.ActorRegistry.stop_all()


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:5066", "localhost"),
        ("[::1]:5066", "::1"),
        ("[::1]", "::1"),
        ("LOCALHOST.", "localhost"),
        ("192.0.2.20", "192.0.2.20"),
        ("::1", "::1"),  # a bare IPv6 address is not a name and a port
    ],
)
def test_the_host_header_is_compared_without_its_port(header: str, name: str) -> None:
    assert bare_host(header) == name
