"""The admin API: actors listed and restarted, behind the admin token; other stations unmoved."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon.testing
import pykka
import pytest

from api.services import ApiServices, token_hash
from broker import config
from nhi_broker.assembly import RunningBroker, assemble
from nhi_broker.webapp import broker_app
from tests.api.conftest import call

ADMIN = "admin-secret"
DESK2 = "desk2-secret"
ACTORS = "/api/admin/v1/Actors"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
AS_DESK2 = {"Authorization": f"Bearer {DESK2}"}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RunningBroker]:
    """The sim profile with an admin token and a token for desk2."""
    base = config.sim_profile()
    stations = tuple(
        dataclasses.replace(s, token_sha256=token_hash(DESK2)) if s.name == "desk2" else s
        for s in base.stations
    )
    running = assemble(
        dataclasses.replace(
            base,
            data_dir=tmp_path / "data",
            admin_token_sha256=token_hash(ADMIN),
            stations=stations,
        )
    )
    yield running
    running.close()
    pykka.ActorRegistry.stop_all()


@pytest.fixture
def admin(broker: RunningBroker) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(broker_app(ApiServices(broker)), headers={"Host": "localhost"})


def _ok(client: falcon.testing.TestClient, method: str, path: str, **kw: Any) -> Any:
    result = client.simulate_request(method, path, json={}, **kw)
    assert result.status_code == 200, result.text
    return result.json


def test_admin_paths_need_the_admin_token_even_on_loopback(
    admin: falcon.testing.TestClient,
) -> None:
    restart = f"{ACTORS}/hc:local/Restart"
    for method, path in (("GET", ACTORS), ("POST", restart)):
        assert admin.simulate_request(method, path).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert admin.simulate_request(method, path, headers=wrong).status_code == 403
        assert admin.simulate_request(method, path, headers=AS_DESK2).status_code == 403


def test_actors_are_listed_with_state_restarts_and_inbox(
    admin: falcon.testing.TestClient,
) -> None:
    actors = _ok(admin, "GET", ACTORS, headers=AS_ADMIN)["actors"]
    by_name = {a["name"]: a for a in actors}
    assert {"station:local", "hc:local", "hca:local", "station:desk2", "reader:COM1"} <= set(
        by_name
    )
    assert by_name["hc:desk2"] == {
        "name": "hc:desk2",
        "station": "desk2",
        "state": "running",
        "restarts": 0,
        "inbox": 0,
        "device": None,  # not a reader
    }
    assert by_name["sam:COM1"]["station"] is None
    assert by_name["reader:COM1"]["device"] == "present"


def test_one_actor_is_restarted(admin: falcon.testing.TestClient) -> None:
    answer = _ok(admin, "POST", f"{ACTORS}/hc:local/Restart", headers=AS_ADMIN)
    assert answer == {"restarted": ["hc:local"]}
    actors = {a["name"]: a for a in _ok(admin, "GET", ACTORS, headers=AS_ADMIN)["actors"]}
    assert actors["hc:local"]["restarts"] == 1
    assert actors["hc:local"]["state"] == "running"
    assert actors["hca:local"]["restarts"] == 0


def test_a_whole_station_is_restarted_by_either_name(admin: falcon.testing.TestClient) -> None:
    for name in ("desk2", "station:desk2"):
        answer = _ok(admin, "POST", f"{ACTORS}/{name}/Restart", headers=AS_ADMIN)
        assert answer == {"restarted": ["hca:desk2", "hc:desk2", "station:desk2"]}
    actors = {a["name"]: a for a in _ok(admin, "GET", ACTORS, headers=AS_ADMIN)["actors"]}
    assert actors["station:desk2"]["restarts"] == 2
    assert actors["station:local"]["restarts"] == 0


def test_a_reader_with_spaces_in_its_name_is_restarted(admin: falcon.testing.TestClient) -> None:
    answer = _ok(admin, "POST", f"{ACTORS}/reader:Virtual%20Reader%204/Restart", headers=AS_ADMIN)
    assert answer == {"restarted": ["reader:Virtual Reader 4"]}


def test_an_unknown_actor_is_404(admin: falcon.testing.TestClient) -> None:
    result = admin.simulate_post(f"{ACTORS}/hc:nowhere/Restart", headers=AS_ADMIN)
    assert result.status_code == 404
    assert "hc:nowhere" in result.json["description"]


class Desk2Caller(threading.Thread):
    """Calls desk2's Status and HC BasicData over and over, keeping every answer."""

    def __init__(self, client: falcon.testing.TestClient) -> None:
        super().__init__(daemon=True)
        self._client = client
        self.failures: list[str] = []
        self.rounds = 0
        self._halt = threading.Event()
        self._progress = threading.Condition()

    def run(self) -> None:
        while not self._halt.is_set():
            for path in ("/api/common/v1/Status", "/api/hc/v1/BasicData"):
                result = self._client.simulate_get(path, json={}, headers=AS_DESK2)
                if result.status_code != 200 or result.json["statusCode"] != 0:
                    self.failures.append(f"{path}: {result.status_code} {result.text}")
            with self._progress:
                self.rounds += 1
                self._progress.notify_all()

    def wait_rounds(self, count: int) -> None:
        with self._progress:
            assert self._progress.wait_for(lambda: self.rounds >= count, 30)

    def stop(self) -> None:
        self._halt.set()
        self.join(30)


def test_restarts_elsewhere_leave_desk2_serving(admin: falcon.testing.TestClient) -> None:
    initial = _ok(admin, "POST", "/api/common/v1/Initial", headers=AS_DESK2)
    assert initial["statusCode"] == 0, initial
    assert call(admin, "POST", "/api/common/v1/Initial", {"name": "COM1"})["statusCode"] == 0
    caller = Desk2Caller(admin)
    caller.start()
    try:
        caller.wait_rounds(1)
        for target in ("local", "reader:COM1", "sam:COM1", "reader:Virtual Reader 0", "local"):
            _ok(admin, "POST", f"{ACTORS}/{target}/Restart", headers=AS_ADMIN)
            done = caller.rounds
            caller.wait_rounds(done + 2)  # desk2 answered while and after each restart
    finally:
        caller.stop()
    assert caller.failures == []
    assert caller.rounds >= 10
