"""The Web API needs only its port (api/ports.py): built around a small fake of the stations,
it reads the request's fields into typed arguments, shows the answer's records by their wire
names, and turns a refusal into the manual's envelope. The fake stands in for the actors only;
the configuration, read model, settings and store are the real ones."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import falcon.testing
import pytest

from actors.messages import Context
from actors.registry import ActorEntry
from api.app import create_app
from api.services import ApiServices
from broker import config
from broker.answers import Answer, CardIds, HcBasic, Signature, Signed
from broker.arguments import Arguments
from broker.codes import Code
from broker.config import BrokerConfig
from broker.dc.client import DcClient, DcConfig
from broker.errors import BrokerError
from broker.rules import Function
from broker.settings import Settings
from broker.state import HcStatus, StateBoard
from broker.store import CloudSamStore

PATIENT = HcBasic(
    card_id="900000000711",
    id_no="A123456789",
    name="王小明",
    birthday="0600101",
    sex="M",
    identity_status="1",
    date_issue="1100101",
)
SIGNED = Signed(
    client_random=b"\x07" * 8,
    sam_id="901000000047",
    hospital_id="3501200000",
    service_type="01",
    hc=CardIds(PATIENT.card_id, PATIENT.id_no),
)


@dataclass
class FakeStations:
    """The supervisor's part the API uses: answers from a table, every call remembered."""

    answers: dict[Function, Answer | BrokerError] = field(default_factory=dict)
    calls: list[tuple[str, Function, Arguments]] = field(default_factory=list)

    def call(
        self, station: str, function: Function, args: Arguments, context: Context, timeout: float
    ) -> Answer:
        self.calls.append((station, function, args))
        answer = self.answers.get(function)
        if isinstance(answer, BrokerError):
            raise answer
        return answer

    def names(self, station: str) -> list[str]:
        return ["COM1"]

    def pcsc_reader_names(self) -> list[str]:
        return []

    def reader_has_card(self, reader: str) -> bool:
        return False

    def reader_owner(self, reader: str) -> str | None:
        return None

    def actors(self) -> list[ActorEntry]:
        return [ActorEntry("station:local", "local", "running", 0, 0)]

    def restart(self, name: str) -> list[str]:
        raise KeyError(name)

    def ping(self, timeout: float) -> None:
        return


@dataclass
class FakeBroker:
    """A broker with no actors: the real configuration, board, settings and store."""

    config: BrokerConfig
    board: StateBoard
    supervisor: FakeStations
    settings: Settings
    store: CloudSamStore
    dc: DcClient


@pytest.fixture
def stations() -> FakeStations:
    return FakeStations()


@pytest.fixture
def broker(tmp_path: Path, stations: FakeStations) -> FakeBroker:
    data = tmp_path / "data"
    return FakeBroker(
        config=dataclasses.replace(config.sim_profile(), data_dir=data),
        board=StateBoard(),
        supervisor=stations,
        settings=Settings(data),
        store=CloudSamStore(data, None),
        dc=DcClient(DcConfig("https://dc.invalid")),  # never called: no actor asks it
    )


@pytest.fixture
def client(broker: FakeBroker) -> falcon.testing.TestClient:
    app = create_app(ApiServices(broker))
    return falcon.testing.TestClient(app, headers={"Host": "localhost"})


def test_a_signature_answer_is_shown_by_its_wire_names(
    client: falcon.testing.TestClient, stations: FakeStations
) -> None:
    stations.answers[Function.HC_SIGN] = Signature(SIGNED, b"\x01\x02")
    reply = client.simulate_post("/api/hc/v1/Signature/Hc", json={"serviceType": "01"}).json
    assert reply["statusCode"] == 0
    assert reply["hcId"] == PATIENT.card_id
    assert reply["hcIdNo"] == PATIENT.id_no
    assert reply["signature"] == "AQI="
    assert reply["clientRandom"] == "BwcHBwcHBwc="
    assert "hpcId" not in reply
    assert stations.calls == [("local", Function.HC_SIGN, Arguments(service_type="01"))]


def test_the_request_fields_reach_the_function_typed_and_extras_are_dropped(
    client: falcon.testing.TestClient, stations: FakeStations
) -> None:
    body = {"puk": "12345678", "newPin": "654321", "hisVersion": "7.1"}
    assert client.simulate_put("/api/hpc/v1/Pin", json=body).json["statusCode"] == 0
    assert stations.calls[-1][2] == Arguments(puk="12345678", new_pin="654321")


def test_basic_data_shows_the_issue_date_and_the_envelope(
    client: falcon.testing.TestClient, stations: FakeStations
) -> None:
    stations.answers[Function.HC_BASIC] = PATIENT
    reply = client.simulate_get("/api/hc/v1/BasicData").json
    assert reply == {
        "statusCode": 0,
        "message": Code.OK.message,
        "cardId": "900000000711",
        "idNo": "A123456789",
        "name": "王小明",
        "birthday": "0600101",
        "sex": "M",
        "identityStatus": "1",
        "dateIssue": "1100101",
    }


def test_a_refusal_is_its_code_in_the_envelope_with_http_200(
    client: falcon.testing.TestClient, stations: FakeStations
) -> None:
    stations.answers[Function.HC_BASIC] = BrokerError("no card", code=Code.NO_CARD)
    result = client.simulate_get("/api/hc/v1/BasicData")
    assert result.status_code == 200
    assert result.json["statusCode"] == int(Code.NO_CARD)
    assert "cardId" not in result.json


def test_status_is_the_read_model_by_its_wire_names(
    client: falcon.testing.TestClient, broker: FakeBroker
) -> None:
    broker.board.update("local", initialized=True, device_name="COM1", hc_status=HcStatus.PRESENT)
    status = client.simulate_get("/api/common/v1/Status").json["status"]
    assert status["initialized"] is True
    assert status["deviceName"] == "COM1"
    assert status["hc"]["status"] == 1


def test_a_bad_body_never_reaches_the_stations(
    client: falcon.testing.TestClient, stations: FakeStations
) -> None:
    reply = client.simulate_post("/api/hc/v1/Signature/Hc", json={"serviceType": "1"}).json
    assert reply["statusCode"] == int(Code.INVALID_PARAMETER)
    assert stations.calls == []
