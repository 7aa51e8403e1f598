"""Each signature check refuses with its own code (docs/cloud-protocol.md)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from nhi_kit.cloud.codes import CloudCode
from tests.cloud.conftest import Broker, CloudClient, FakeClock, body_of, start_cloud_sam_station

QUERY = "/api/v1/BasicData/Query"
OTHER_PATIENT = {"hcId": "900000000728", "hcIdNo": "A123456789"}  # 王小明, not in the reader


@pytest.fixture
def station(broker: Broker) -> Broker:
    """The cloud-SAM station with 吳佳蓉's card and 測試人員4's HPC verified."""
    start_cloud_sam_station(broker)
    return broker


def code(answer: dict[str, Any]) -> CloudCode:
    return CloudCode(answer["statusCode"])


def test_a_signature_made_for_another_service_type_is_refused(
    station: Broker, kit_cloud: CloudClient
) -> None:
    answer = kit_cloud.post(QUERY, body_of(station.sign_hc("02")))
    assert code(answer) is CloudCode.WRONG_SERVICE_TYPE
    assert "02" in answer["message"]
    answer = kit_cloud.post(QUERY, body_of(station.sign_hc("01"), serviceType="03"))
    assert code(answer) is CloudCode.WRONG_SERVICE_TYPE


def test_another_cards_ids_on_a_signature_are_refused(
    station: Broker, kit_cloud: CloudClient
) -> None:
    answer = kit_cloud.post(QUERY, {**body_of(station.sign_hc("01")), **OTHER_PATIENT})
    assert code(answer) is CloudCode.HC_NOT_SIGNER
    mixed = {**body_of(station.sign_hc("01")), "hcIdNo": "A123456789"}
    assert code(kit_cloud.post(QUERY, mixed)) is CloudCode.HC_NOT_SIGNER
    unknown = {**body_of(station.sign_hc("01")), "hcId": "900000009999"}
    assert code(kit_cloud.post(QUERY, unknown)) is CloudCode.UNKNOWN_HC


def test_another_hpcs_ids_on_a_three_card_signature_are_refused(
    station: Broker, kit_cloud: CloudClient
) -> None:
    other_hpc = {"hpcId": "100000291515", "hpcIdNo": "F223456789"}
    body = {**body_of(station.sign_hpc_hc("01")), **other_hpc}
    answer = kit_cloud.post("/api/v1/CriticalIllness/Query", body)
    assert code(answer) is CloudCode.HPC_NOT_SIGNER


def test_a_replayed_client_random_is_refused(station: Broker, kit_cloud: CloudClient) -> None:
    body = body_of(station.sign_hc("01"))
    assert code(kit_cloud.post(QUERY, body)) is CloudCode.OK
    again = kit_cloud.post(QUERY, body)
    assert code(again) is CloudCode.REPLAYED_RANDOM
    assert "BasicData/Query" in again["message"]
    assert code(kit_cloud.post("/api/v1/EmergentTel/Query", body)) is CloudCode.REPLAYED_RANDOM


def test_a_sam_of_another_hospital_is_refused(station: Broker, kit_cloud: CloudClient) -> None:
    body = {**body_of(station.sign_hc("01")), "hospitalId": "3501200000"}
    assert code(kit_cloud.post(QUERY, body)) is CloudCode.SAM_NOT_OF_HOSPITAL
    unknown = {**body_of(station.sign_hc("01")), "samId": "909999999999"}
    assert code(kit_cloud.post(QUERY, unknown)) is CloudCode.UNKNOWN_SAM


def test_a_tampered_signature_is_refused(station: Broker, kit_cloud: CloudClient) -> None:
    body = body_of(station.sign_hc("01"))
    raw = bytearray(base64.b64decode(body["signature"]))
    raw[10] ^= 0x01
    tampered = {**body, "signature": base64.b64encode(raw).decode()}
    assert code(kit_cloud.post(QUERY, tampered)) is CloudCode.BAD_SIGNATURE
    other_random = {**body, "clientRandom": base64.b64encode(b"12345678").decode()}
    assert code(kit_cloud.post(QUERY, other_random)) is CloudCode.BAD_SIGNATURE
    assert code(kit_cloud.post(QUERY, body)) is CloudCode.OK  # a refusal spends nothing


def test_malformed_fields_are_refused_with_every_field_present(
    station: Broker, kit_cloud: CloudClient
) -> None:
    body = body_of(station.sign_hc("01"))
    for broken in (
        {**body, "clientRandom": "***"},
        {k: v for k, v in body.items() if k != "samId"},
    ):
        answer = kit_cloud.post(QUERY, broken)
        assert code(answer) is CloudCode.BAD_REQUEST
        assert answer["cardSn"] == answer["name"] == ""


def test_a_random_is_forgotten_after_the_window(
    station: Broker, cloud: CloudClient, clock: FakeClock
) -> None:
    body = body_of(station.sign_hc("01"))
    assert code(cloud.post(QUERY, body)) is CloudCode.OK
    clock.advance(599)
    assert code(cloud.post(QUERY, body)) is CloudCode.REPLAYED_RANDOM
    clock.advance(2)
    assert code(cloud.post(QUERY, body)) is CloudCode.OK


def test_a_virtual_card_cannot_be_checked_by_a_cloud_without_the_dc(
    station: Broker, cloud: CloudClient, kit_cloud: CloudClient
) -> None:
    station.ok("DELETE", "/api/hc/v1/Logout")
    token = station.ok("POST", "/api/sim/v1/VirtualHc/Token", {"card": "900000000728"})["token"]
    station.ok("POST", "/api/hc/v1/Verification/VirtualHc", {"token": token})
    body = body_of(station.sign_hc("01"))
    assert code(cloud.post(QUERY, body)) is CloudCode.BAD_SIGNATURE  # standalone: no DC at hand
    assert code(kit_cloud.post(QUERY, body)) is CloudCode.OK  # the sim broker's own cloud


def test_a_prescription_write_signature_serves_its_visit_only(
    station: Broker, kit_cloud: CloudClient
) -> None:
    kit_cloud.post("/api/v1/HcContent/Update", body_of(station.sign_hc("04")))  # six more
    visits = []
    for _ in range(2):
        body = body_of(station.sign_hc("03"), treatmentItem="01", babyTreatment=" ", afterCheck="")
        answer = kit_cloud.post("/api/v1/SequelNumber/Next", body)
        assert code(answer) is CloudCode.OK
        visits.append(answer["treatmentDateTime"])
    signature = station.sign_hc("02")
    item = {"treatmentItemCode": "A000001100", "days": "3", "totalQuantity": "9"}
    first = body_of(signature, treatmentDateTime=visits[0], prescriptions=[item])
    assert code(kit_cloud.post("/api/v1/Prescription/Write", first)) is CloudCode.OK
    assert code(kit_cloud.post("/api/v1/Prescription/Write", first)) is CloudCode.OK
    other = body_of(signature, treatmentDateTime=visits[1], prescriptions=[item])
    assert code(kit_cloud.post("/api/v1/Prescription/Write", other)) is CloudCode.REPLAYED_RANDOM
