"""What the cloud simulator keeps per card and per hospital, and that it survives a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nhi_kit.cloud.cloud import Cloud
from nhi_kit.cloud.codes import CloudCode
from nhi_kit.cloud.server import CloudSimulator
from nhi_kit.cloud.store import CloudStore
from tests.cloud.conftest import Broker, CloudClient, FakeClock, body_of, start_cloud_sam_station

NEXT = "/api/v1/SequelNumber/Next"
ITEM = {"treatmentItem": "01", "babyTreatment": " ", "afterCheck": ""}


def code(answer: dict[str, Any]) -> CloudCode:
    return CloudCode(answer["statusCode"])


def with_virtual_card(broker: Broker, card: str) -> None:
    """The cloud-SAM station holding ``card`` as a virtual card."""
    start_cloud_sam_station(broker)
    broker.ok("DELETE", "/api/hc/v1/Logout")
    token = broker.ok("POST", "/api/sim/v1/VirtualHc/Token", {"card": card})["token"]
    broker.ok("POST", "/api/hc/v1/Verification/VirtualHc", {"token": token})


def next_visit(broker: Broker, cloud: CloudClient) -> dict[str, Any]:
    return cloud.post(NEXT, body_of(broker.sign_hc("03"), **ITEM))


def test_a_card_without_treatments_left_answers_5003_until_updated(
    broker: Broker, kit_cloud: CloudClient
) -> None:
    with_virtual_card(broker, "900000000759")  # 歐陽娜娜: none left
    register = kit_cloud.post("/api/v1/BasicData/Register", body_of(broker.sign_hc("01")))
    assert (register["treatmentCounter"], register["name"]) == ("0", "歐陽娜娜")
    signature = broker.sign_hc("03")
    assert code(kit_cloud.post(NEXT, body_of(signature, **ITEM))) is CloudCode.UPDATE_CARD_FIRST
    update = kit_cloud.post("/api/v1/HcContent/Update", body_of(broker.sign_hc("04")))
    assert code(update) is CloudCode.OK
    retried = kit_cloud.post(NEXT, body_of(signature, **ITEM))  # 5003 spent nothing
    assert code(retried) is CloudCode.OK
    after = kit_cloud.post("/api/v1/BasicData/Register2", body_of(broker.sign_hc("01")))
    assert after["treatmentCounter"] == "5"
    assert after["cardValidity"] > "1140930"  # her expired card got another year


def test_sequence_numbers_count_per_card_per_day_and_tell_a_same_day_visit(
    broker: Broker, kit_cloud: CloudClient
) -> None:
    with_virtual_card(broker, "900000000742")  # 林志明: six left
    first, second = next_visit(broker, kit_cloud), next_visit(broker, kit_cloud)
    assert (first["sequenceNumber"], first["isSameDay"]) == ("0001", False)
    assert (second["sequenceNumber"], second["isSameDay"]) == ("0002", True)
    assert first["treatmentNumber"] != second["treatmentNumber"]
    assert first["treatmentDateTime"] != second["treatmentDateTime"]
    assert len(first["treatmentDateTime"]) == 13
    body = body_of(broker.sign_hc("03"), treatmentDateTime=second["treatmentDateTime"])
    number = kit_cloud.post("/api/v1/TreatmentNumber/Card", body)
    assert number["treatmentNumber"] == second["treatmentNumber"]


def test_codes_and_fees_written_twice_answer_3209_and_read_back_the_last(
    broker: Broker, kit_cloud: CloudClient
) -> None:
    with_virtual_card(broker, "900000000742")
    when = next_visit(broker, kit_cloud)["treatmentDateTime"]
    for main_code, expected in (("J069", CloudCode.OK), ("J209", CloudCode.WRITTEN_AGAIN)):
        body = body_of(
            broker.sign_hc("02"), treatmentDateTime=when, mainCode=main_code, outpatientFee=400
        )
        assert code(kit_cloud.post("/api/v1/Treatment/WriteCodeFee", body)) is expected
    need = kit_cloud.post(
        "/api/v1/Treatment/NeedHPC", body_of(broker.sign_hpc_hc("01"), format="0")
    )
    assert need["treatments"][0] == {
        "treatDateTime": when,
        "mainCode": "J209",
        "subCode1": "",
        "subCode2": "",
        "subCode3": "",
    }
    no_hpc = kit_cloud.post("/api/v1/Treatment/NoNeedHPC", body_of(broker.sign_hc("01")))
    assert no_hpc["treatments"][0]["outpatientFee"] == "400"


def test_a_rollback_gives_the_treatment_back_once(broker: Broker, kit_cloud: CloudClient) -> None:
    with_virtual_card(broker, "900000000742")
    when = next_visit(broker, kit_cloud)["treatmentDateTime"]
    rollback = "/api/v1/SequelNumber/Rollback"
    assert code(
        kit_cloud.post(rollback, body_of(broker.sign_hc("03"), treatmentDateTime=when))
    ) is (CloudCode.OK)
    again = kit_cloud.post(rollback, body_of(broker.sign_hc("03"), treatmentDateTime=when))
    assert code(again) is CloudCode.VISIT_ROLLED_BACK
    unknown = kit_cloud.post(
        rollback, body_of(broker.sign_hc("03"), treatmentDateTime="1130101000000")
    )
    assert code(unknown) is CloudCode.NO_SUCH_VISIT
    counter = kit_cloud.post("/api/v1/BasicData/Register2", body_of(broker.sign_hc("01")))
    assert counter["treatmentCounter"] == "6"
    assert next_visit(broker, kit_cloud)["sequenceNumber"] == "0002"  # never reused


def test_kit_people_come_with_history(broker: Broker, kit_cloud: CloudClient) -> None:
    with_virtual_card(broker, "900000000735")  # 陳美玲
    rx = kit_cloud.post("/api/v1/Prescription/Query", body_of(broker.sign_hpc_hc("01")))
    assert [p["treatmentItemCode"] for p in rx["outpatientPrescriptions"]] == [
        "BC23456100",
        "BC23456100",
        "AC45678100",
    ]
    tel = kit_cloud.post("/api/v1/EmergentTel/Query", body_of(broker.sign_hc("01")))
    assert tel["tel"] == "0939876543"


def test_sam_signatures_serve_tele_medicine_and_cardless_visits(
    broker: Broker, kit_cloud: CloudClient
) -> None:
    start_cloud_sam_station(broker)
    patient = {"patientId": "C120000001"}  # 林志明
    asked = kit_cloud.post(
        "/api/v1/TeleMedicine/RequestToken", body_of(broker.sign_sam("01"), **patient)
    )
    access = {"accessToken": asked["accessToken"]}
    answered = kit_cloud.post(
        "/api/v1/TeleMedicine/ResponseToken", body_of(broker.sign_sam("01"), **access)
    )
    assert code(answered) is CloudCode.OK
    broker.ok("DELETE", "/api/hc/v1/Logout")
    broker.ok("POST", "/api/hc/v1/Verification/VirtualHc", {"token": answered["virtualCardToken"]})
    assert broker.sign_hc("01")["hcId"] == "900000000742"  # the token is a real virtual card
    spent = kit_cloud.post(
        "/api/v1/TeleMedicine/ResponseToken", body_of(broker.sign_sam("01"), **access)
    )
    assert code(spent) is CloudCode.UNKNOWN_ACCESS_TOKEN
    cardless = kit_cloud.post(
        "/api/v1/TreatmentNumber/NoCard", body_of(broker.sign_sam("03"), **patient)
    )
    assert (code(cardless), cardless["hospitalId"]) == (CloudCode.OK, "7777777777")
    applied = kit_cloud.post(
        "/test/v1/ApplyVirtualHc/Apply",
        body_of(broker.sign_sam("06"), sex="M", birthday="0661005", isForeigner=False),
    )
    assert (code(applied), applied["sex"], applied["virtualCardToken"] != "") == (
        CloudCode.OK,
        "M",
        True,
    )


def test_the_cloud_state_survives_a_restart_of_the_simulator(
    broker: Broker, tmp_path: Path
) -> None:
    directory = tmp_path / "kit-cloud"

    def started() -> tuple[CloudSimulator, CloudClient]:
        simulator = CloudSimulator(Cloud(CloudStore(directory)), directory)
        simulator.start()
        return simulator, CloudClient(simulator.url, simulator.cert_path)

    start_cloud_sam_station(broker)
    simulator, cloud = started()
    body = body_of(broker.sign_hc("03"), **ITEM)
    first = cloud.post(NEXT, body)
    cloud.close()
    simulator.stop()
    simulator, cloud = started()
    try:
        assert code(cloud.post(NEXT, body)) is CloudCode.REPLAYED_RANDOM  # spent randoms too
        when = first["treatmentDateTime"]
        number = cloud.post(
            "/api/v1/TreatmentNumber/Card",
            body_of(broker.sign_hc("03"), treatmentDateTime=when),
        )
        assert number["treatmentNumber"] == first["treatmentNumber"]
        left = cloud.post("/api/v1/BasicData/Register2", body_of(broker.sign_hc("01")))
        assert left["treatmentCounter"] == "0"
    finally:
        cloud.close()
        simulator.stop()


def test_sequence_numbers_start_again_on_the_next_day(
    broker: Broker, cloud: CloudClient, clock: FakeClock
) -> None:
    start_cloud_sam_station(broker)
    cloud.post("/api/v1/HcContent/Update", body_of(broker.sign_hc("04")))
    today = next_visit(broker, cloud)
    clock.advance(24 * 3600)
    tomorrow = next_visit(broker, cloud)
    assert (today["sequenceNumber"], tomorrow["sequenceNumber"]) == ("0001", "0001")
    assert tomorrow["isSameDay"] is False
    assert tomorrow["treatmentDateTime"][:7] > today["treatmentDateTime"][:7]


def test_a_refused_write_leaves_nothing_half_written(broker: Broker, cloud: CloudClient) -> None:
    start_cloud_sam_station(broker)
    when = next_visit(broker, cloud)["treatmentDateTime"]
    good = {"treatmentItemCode": "A000001100", "days": "3"}
    body = body_of(broker.sign_hc("02"), treatmentDateTime=when, prescriptions=[good, {"days": []}])
    assert code(cloud.post("/api/v1/Prescription/Write", body)) is CloudCode.BAD_REQUEST
    rx = cloud.post("/api/v1/Prescription/Query", body_of(broker.sign_hpc_hc("01")))
    assert when not in [p["treatmentDateTime"] for p in rx["outpatientPrescriptions"]]
