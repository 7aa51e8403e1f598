"""docs/cloud-protocol.md's visit end to end: broker signatures into the cloud over HTTPS."""

from __future__ import annotations

from typing import Any

from tests.cloud.conftest import (
    COM1_DOCTOR_PIN,
    Broker,
    CloudClient,
    body_of,
    start_cloud_sam_station,
)
from tests.pin_pad import PadTypist

FEES = {
    "outpatientFee": "350",
    "costFee": "50",
    "inpatientFee": "0",
    "inpatient30Fee": "0",
    "inpatient180Fee": "0",
}
DRUG = {
    "days": "3",
    "deliveryNotes": "",
    "totalQuantity": "9",
    "treatmentItem": "1",
    "treatmentItemCode": "A000001100",
    "treatmentPosition": "",
    "usage": "TID",
}
INJECTION = {**DRUG, "treatmentItemCode": "B011111100", "usage": "ST", "days": "1"}


def visit(broker: Broker, cloud: CloudClient, card: str) -> dict[str, dict[str, Any]]:
    """From BasicData/Query to the second Prescription/Write and HC Logout; the answers."""
    answers: dict[str, dict[str, Any]] = {}

    def hc(path: str, service_type: str, **extra: Any) -> dict[str, Any]:
        signature = broker.sign_hc(service_type)
        assert signature["hcId"] == card
        answers[path] = cloud.post(f"/api/v1/{path}", body_of(signature, **extra))
        return answers[path]

    def hpc_hc(path: str, **extra: Any) -> dict[str, Any]:
        body = body_of(broker.sign_hpc_hc("01"), **extra)
        answers[path] = cloud.post(f"/api/v1/{path}", body)
        return answers[path]

    assert hc("BasicData/Query", "01")["cardSn"] == card
    assert hc("EmergentTel/Query", "01")["statusCode"] == 0
    if hc("BasicData/Register2", "01")["treatmentCounter"] == "0":
        assert hc("HcContent/Update", "04")["statusCode"] == 0
    item = {"treatmentItem": "01", "babyTreatment": " ", "afterCheck": ""}
    seq = hc("SequelNumber/Next", "03", **item)
    assert seq["statusCode"] == 0, seq
    when = seq["treatmentDateTime"]
    assert hc("Treatment/NoNeedHPC", "01")["statusCode"] == 0
    for path in ("CriticalIllness/Query", "Treatment/NeedHPC", "Prescription/Query"):
        assert hpc_hc(path, format="0")["statusCode"] == 0, answers[path]
    codes = {"mainCode": "J069", **{f"subCode{n}": "" for n in range(1, 6)}}
    write = hc(
        "Treatment/WriteCodeFee", "02", afterCheck="", treatmentDateTime=when, **codes, **FEES
    )
    assert write["statusCode"] in (0, 3209)
    signature = broker.sign_hc("02")  # one signature, two writes of the visit's prescriptions
    for items in ([DRUG], [INJECTION, DRUG]):
        body = body_of(signature, treatmentDateTime=when, prescriptions=items)
        written = cloud.post("/api/v1/Prescription/Write", body)
        assert written["statusCode"] == 0, written
        assert len(written["signatureItems"]) == len(written["hexSignatureItems"]) == len(items)
    broker.ok("DELETE", "/api/hc/v1/Logout")
    return answers


def refund(broker: Broker, cloud: CloudClient, when: str) -> dict[str, Any]:
    """退掛: Signature/Hc 03 → SequelNumber/Rollback."""
    body = body_of(broker.sign_hc("03"), treatmentDateTime=when)
    return cloud.post("/api/v1/SequelNumber/Rollback", body)


def read_back(broker: Broker, cloud: CloudClient) -> tuple[dict[str, Any], ...]:
    """NoNeedHPC, NeedHPC and Prescription/Query as they stand now."""
    no_hpc = cloud.post("/api/v1/Treatment/NoNeedHPC", body_of(broker.sign_hc("01")))
    need = cloud.post("/api/v1/Treatment/NeedHPC", body_of(broker.sign_hpc_hc("01"), format="0"))
    rx = cloud.post("/api/v1/Prescription/Query", body_of(broker.sign_hpc_hc("01")))
    return no_hpc, need, rx


def test_a_visit_with_a_physical_card_and_the_cloud_sam_is_checked_and_kept(
    broker: Broker, kit_cloud: CloudClient
) -> None:
    broker.call("GET", "/api/common/v1/Status")
    broker.call("POST", "/api/common/v1/Finalize")
    start_cloud_sam_station(broker)
    broker.ok("DELETE", "/api/hc/v1/Logout")
    answers = visit(broker, kit_cloud, "900000000711")
    assert answers["BasicData/Query"]["name"] == "吳佳蓉"
    assert answers["BasicData/Register2"]["treatmentCounter"] == "1"  # her last treatment
    seq = answers["SequelNumber/Next"]
    assert (seq["sequenceNumber"], seq["isSameDay"], seq["hospitalId"]) == (
        "0001",
        False,
        "7777777777",
    )
    when = seq["treatmentDateTime"]
    no_hpc, need, rx = read_back(broker, kit_cloud)
    assert {k: no_hpc["treatments"][0][k] for k in FEES} == FEES
    assert no_hpc["treatments"][0]["treatDateTime"] == when
    assert need["treatments"][0]["mainCode"] == "J069"
    written = [p for p in rx["outpatientPrescriptions"] if p["treatmentDateTime"] == when]
    assert [p["treatmentItemCode"] for p in written] == ["A000001100", "B011111100", "A000001100"]
    assert refund(broker, kit_cloud, when)["statusCode"] == 0
    no_hpc, _, _ = read_back(broker, kit_cloud)
    assert when not in [t["treatDateTime"] for t in no_hpc["treatments"]]


def test_a_visit_with_a_virtual_card_is_checked_against_the_dc_that_verified_it(
    broker: Broker, kit_cloud: CloudClient
) -> None:
    start_cloud_sam_station(broker)
    broker.ok("DELETE", "/api/hc/v1/Logout")
    token = broker.ok("POST", "/api/sim/v1/VirtualHc/Token", {"card": "900000000728"})["token"]
    broker.ok("POST", "/api/hc/v1/Verification/VirtualHc", {"token": token})
    answers = visit(broker, kit_cloud, "900000000728")
    assert answers["BasicData/Query"]["name"] == "王小明"
    assert answers["SequelNumber/Next"]["sequenceNumber"] == "0001"


def test_a_visit_through_the_serial_reader_with_its_physical_sam(
    broker: Broker, kit_cloud: CloudClient
) -> None:
    broker.ok("POST", "/api/common/v1/Initial", {"name": "COM1"})
    broker.ok("POST", "/api/sam/v1/Verification")
    assert broker.running.kit is not None
    with PadTypist(broker.running.kit.serial["COM1"], COM1_DOCTOR_PIN):  # typed on the reader
        broker.ok("POST", "/api/hpc/v1/Verification/Hpc", {"pin": "000000"})
    broker.ok("DELETE", "/api/hc/v1/Logout")
    answers = visit(broker, kit_cloud, "900000000735")
    assert answers["SequelNumber/Next"]["samId"] == "900000000101"
    illnesses = answers["CriticalIllness/Query"]["criticalIllnesses"]
    assert [ci["ciCode"] for ci in illnesses] == ["C509", "N186"]
    assert [set(ci) for ci in answers["Treatment/NoNeedHPC"]["criticalIllnesses"]] == [
        {"validityStart", "validityEnd"}
    ] * 2  # without the HPC, no codes
