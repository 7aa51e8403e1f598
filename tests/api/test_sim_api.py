"""The sim control API: the kit's cards and readers, moving cards, QR tokens, DC faults."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import falcon.testing
import pytest

from api.services import ApiServices
from broker.state import HcStatus, StationState
from nhi_broker.assembly import RunningBroker
from nhi_broker.webapp import broker_app
from tests.api.conftest import call

SIM = "/api/sim/v1"
STATUS = "/api/common/v1/Status"
CLOUD = "901000000047"
WAIT = 10.0


def _wait(running: RunningBroker, check: Callable[[StationState], bool]) -> StationState:
    found = running.board.wait_for("local", check, WAIT)
    assert found is not None, running.board.get("local")
    return found


def _readers(client: falcon.testing.TestClient) -> dict[str, dict[str, object]]:
    return {r["name"]: r for r in call(client, "GET", f"{SIM}/Readers")["readers"]}


def test_cards_list_the_kit_with_pins_and_puks(client: falcon.testing.TestClient) -> None:
    cards = {c["id"]: c for c in call(client, "GET", f"{SIM}/Cards")["cards"]}
    assert cards["900000000711"]["kind"] == "hc"
    assert cards["900000000711"]["fields"]["name"] == "吳佳蓉"
    hpc = cards["100000291508"]
    assert hpc["kind"] == "hpc"
    assert {"pin", "puk"} <= set(hpc["fields"])
    assert cards[CLOUD]["kind"] == "sam"


def test_readers_show_station_role_and_card(client: falcon.testing.TestClient) -> None:
    readers = _readers(client)
    assert list(readers) == [
        *(f"Virtual Reader {n}" for n in range(5)),
        "COM1 SAM",
        "COM1 HPC",
        "COM1 HC",
    ]
    expected = {
        "Virtual Reader 0": ("local", "hc", "900000000711"),  # local's default reader
        "Virtual Reader 1": ("local", "hpc", "100000291508"),
        "Virtual Reader 2": ("desk2", "hc", "900000000728"),
        "Virtual Reader 3": ("desk2", "hpc", "100000291515"),
        "Virtual Reader 4": (None, "any", None),
        "COM1 SAM": ("local", "sam", "900000000101"),
        "COM1 HPC": ("local", "hpc", "100000291539"),
        "COM1 HC": ("local", "hc", "900000000735"),
    }
    assert {n: (r["station"], r["role"], r["card"]) for n, r in readers.items()} == expected


def test_a_reader_for_both_kinds_is_any(client: falcon.testing.TestClient) -> None:
    call(
        client,
        "POST",
        "/api/settings/v1/PcscReaderReader/SetDefault",
        {"readerName": "Virtual Reader 1"},
    )
    readers = _readers(client)
    assert (readers["Virtual Reader 1"]["station"], readers["Virtual Reader 1"]["role"]) == (
        "local",
        "any",
    )
    assert readers["Virtual Reader 0"]["station"] is None


def test_remove_and_insert_show_in_the_status(
    running: RunningBroker, client: falcon.testing.TestClient
) -> None:
    assert call(client, "POST", "/api/common/v1/Initial", {"name": CLOUD})["statusCode"] == 0
    _wait(running, lambda s: s.hc_status is HcStatus.PRESENT)
    assert call(client, "POST", f"{SIM}/Remove", {"reader": "Virtual Reader 0"})["statusCode"] == 0
    _wait(running, lambda s: s.hc_status is HcStatus.NONE)
    assert call(client, "GET", STATUS)["status"]["hc"]["status"] == 0
    assert _readers(client)["Virtual Reader 0"]["card"] is None
    inserted = call(
        client, "POST", f"{SIM}/Insert", {"reader": "Virtual Reader 0", "card": "900000000742"}
    )
    assert inserted["statusCode"] == 0
    _wait(running, lambda s: s.hc_status is HcStatus.PRESENT)
    assert call(client, "GET", STATUS)["status"]["hc"]["status"] == 1
    assert call(client, "GET", "/api/hc/v1/BasicData")["name"] == "林志明"


def test_the_serial_readers_slots_take_cards_too(
    running: RunningBroker, client: falcon.testing.TestClient
) -> None:
    assert call(client, "POST", "/api/common/v1/Initial", {"name": "COM1"})["statusCode"] == 0
    assert call(client, "POST", "/api/sam/v1/Verification")["statusCode"] == 0
    _wait(running, lambda s: s.hc_status is HcStatus.PRESENT)
    assert call(client, "POST", f"{SIM}/Remove", {"reader": "COM1 HC"})["statusCode"] == 0
    _wait(running, lambda s: s.hc_status is HcStatus.NONE)
    assert _readers(client)["COM1 HC"]["card"] is None
    body = {"reader": "COM1 HC", "card": "900000000742"}
    assert call(client, "POST", f"{SIM}/Insert", body)["statusCode"] == 0
    _wait(running, lambda s: s.hc_status is HcStatus.PRESENT)
    basic = call(client, "GET", "/api/hc/v1/BasicData")
    assert basic.get("cardId") == "900000000742", basic


def test_inserting_a_card_where_it_already_is_changes_nothing(
    client: falcon.testing.TestClient,
) -> None:
    body = {"reader": "Virtual Reader 2", "card": "900000000728"}
    assert call(client, "POST", f"{SIM}/Insert", body)["statusCode"] == 0
    assert _readers(client)["Virtual Reader 2"]["card"] == "900000000728"
    assert call(client, "POST", f"{SIM}/Remove", {"reader": "Virtual Reader 4"})["statusCode"] == 0


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("Insert", {"reader": "Virtual Reader 4", "card": "123"}, "card"),
        ("Insert", {"reader": "Virtual Reader 9", "card": "900000000742"}, "reader"),
        ("Insert", {"reader": "COM1 XYZ", "card": "900000000742"}, "reader"),
        (
            "Insert",
            {"reader": "Virtual Reader 4", "card": "900000000728"},
            "already in 'Virtual Reader 2'",
        ),
        ("Insert", {"reader": "Virtual Reader 4"}, "card"),
        ("Insert", {"card": "900000000742", "reader": 4}, "reader"),
        ("VirtualHc/Token", {"card": "100000291508"}, "card"),  # a professional
        ("VirtualHc/Token", {"card": "000000000000"}, "card"),
        ("VirtualHc/Token", {"card": ""}, "card"),
        ("Sam/Contract", {"samId": "999999999999", "state": "valid"}, "samId"),
        ("Sam/Contract", {"samId": CLOUD, "state": "gone"}, "state"),
        ("Sam/Contract", {"state": "valid"}, "samId"),
    ],
)
def test_a_bad_argument_is_1704_naming_the_field(
    client: falcon.testing.TestClient, path: str, body: dict[str, object], field: str
) -> None:
    answer = call(client, "POST", f"{SIM}/{path}", body)
    assert answer["statusCode"] == 1704
    assert field in answer["message"]
    assert _readers(client)["Virtual Reader 4"]["card"] is None  # nothing was inserted


def test_removing_from_an_unknown_reader_is_1704(client: falcon.testing.TestClient) -> None:
    answer = call(client, "POST", f"{SIM}/Remove", {"reader": "nowhere"})
    assert answer["statusCode"] == 1704
    assert "reader" in answer["message"]
    assert call(client, "POST", f"{SIM}/Remove", {})["statusCode"] == 1704


def test_a_virtual_hc_token_reads_as_its_person(client: falcon.testing.TestClient) -> None:
    token = call(client, "POST", f"{SIM}/VirtualHc/Token", {"card": "900000000711"})["token"]
    assert call(client, "POST", "/api/common/v1/Initial", {"name": CLOUD})["statusCode"] == 0
    read = call(client, "POST", "/api/hc/v1/VirtualHc/ReadBasic", {"token": token})
    assert read["statusCode"] == 0, read
    assert read["name"] == "吳佳蓉"


def test_dc_faults_are_switched(running: RunningBroker, client: falcon.testing.TestClient) -> None:
    answer = call(client, "POST", f"{SIM}/Dc/Fault", {"latencyMs": 5, "down": False})
    assert (answer["statusCode"], answer["latencyMs"], answer["down"]) == (0, 5, False)
    assert running.kit is not None
    assert running.kit.dc.fault_state()["latencyMs"] == 5
    assert call(client, "POST", f"{SIM}/Dc/Fault", {"down": True})["down"] is True
    assert call(client, "POST", "/api/common/v1/Initial", {"name": CLOUD})["statusCode"] == 0
    verify = call(client, "POST", "/api/sam/v1/Verification")
    assert verify["statusCode"] == 1700, verify
    answer = call(client, "POST", f"{SIM}/Dc/Fault", {"down": False, "latencyMs": 0})
    assert (answer["down"], answer["latencyMs"]) == (False, 0)
    assert call(client, "POST", "/api/sam/v1/Verification")["statusCode"] == 0


@pytest.mark.parametrize("body", [{"latencyMs": -1}, {"latencyMs": "5"}, {"down": "yes"}])
def test_bad_dc_faults_are_1704(client: falcon.testing.TestClient, body: dict[str, object]) -> None:
    assert call(client, "POST", f"{SIM}/Dc/Fault", body)["statusCode"] == 1704


def test_a_sam_contract_is_changed(client: falcon.testing.TestClient) -> None:
    answer = call(client, "POST", f"{SIM}/Sam/Contract", {"samId": CLOUD, "state": "expired"})
    assert (answer["statusCode"], answer["state"]) == (0, "expired")
    call(client, "POST", "/api/common/v1/Initial", {"name": CLOUD})
    assert call(client, "POST", "/api/sam/v1/Verification")["statusCode"] == 1302


def test_the_sim_api_is_absent_without_a_kit(running: RunningBroker) -> None:
    hardware_like = dataclasses.replace(running, kit=None)
    client = falcon.testing.TestClient(
        broker_app(ApiServices(hardware_like)), headers={"Host": "localhost"}
    )
    for path in ("Cards", "Readers", "Insert"):
        assert client.simulate_get(f"{SIM}/{path}").status_code == 404
        assert client.simulate_post(f"{SIM}/{path}", json={}).status_code == 404
