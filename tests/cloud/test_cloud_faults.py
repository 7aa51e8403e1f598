"""Cloud faults through the sim control API: down, slow, a chosen statusCode; the calls list."""

from __future__ import annotations

import time

import pytest

from nhi_broker.assembly import RunningBroker
from nhi_kit.cloud.codes import CloudCode
from tests.cloud.conftest import Broker, CloudClient, body_of, start_cloud_sam_station

FAULT = "/api/sim/v1/Cloud/Fault"
QUERY = "/api/v1/BasicData/Query"


def fresh_client(running: RunningBroker) -> CloudClient:
    assert running.kit is not None
    assert running.kit.cloud is not None
    return CloudClient(running.kit.cloud.url, running.kit.cloud.cert_path)


def test_a_cloud_taken_down_refuses_connections_and_comes_back(
    broker: Broker, running: RunningBroker
) -> None:
    start_cloud_sam_station(broker)
    assert broker.ok("POST", FAULT, {"down": True})["down"] is True
    client = fresh_client(running)
    with pytest.raises(ConnectionRefusedError):
        client.post(QUERY, body_of(broker.sign_hc("01")))
    client.close()
    broker.ok("POST", FAULT, {"down": False})
    client = fresh_client(running)
    try:
        assert client.post(QUERY, body_of(broker.sign_hc("01")))["statusCode"] == 0
    finally:
        client.close()


def test_a_slow_cloud_answers_after_the_latency(broker: Broker, kit_cloud: CloudClient) -> None:
    start_cloud_sam_station(broker)
    assert broker.ok("POST", FAULT, {"latencyMs": 300})["latencyMs"] == 300
    body = body_of(broker.sign_hc("01"))
    started = time.monotonic()
    assert kit_cloud.post(QUERY, body)["statusCode"] == 0
    assert time.monotonic() - started >= 0.3
    broker.ok("POST", FAULT, {"latencyMs": 0})


def test_an_injected_status_code_answers_the_next_n_calls_of_that_endpoint(
    broker: Broker, kit_cloud: CloudClient
) -> None:
    start_cloud_sam_station(broker)
    injected = broker.ok(
        "POST", FAULT, {"endpoint": "SequelNumber/Next", "statusCode": 5003, "count": 2}
    )
    assert injected["injected"] == {"/api/v1/SequelNumber/Next": {"statusCode": 5003, "count": 2}}
    body = body_of(broker.sign_hc("03"), treatmentItem="01", babyTreatment=" ", afterCheck="")
    answers = [kit_cloud.post("/api/v1/SequelNumber/Next", body) for _ in range(3)]
    assert [a["statusCode"] for a in answers] == [5003, 5003, 0]
    assert answers[0]["isSameDay"] is False  # every field, even in an injected answer
    assert kit_cloud.post(QUERY, body_of(broker.sign_hc("01")))["statusCode"] == 0  # only Next


def test_endpoints_are_named_by_path_or_by_what_follows_v1(broker: Broker) -> None:
    for endpoint in ("ApplyVirtualHc/Apply", "/api/v1/BasicData/Query"):
        broker.ok("POST", FAULT, {"endpoint": endpoint, "statusCode": 9, "count": 1})
    injected = broker.ok("POST", FAULT, {})["injected"]
    assert set(injected) == {"/test/v1/ApplyVirtualHc/Apply", QUERY}


def test_unknown_endpoints_and_half_injections_are_refused_with_1704(broker: Broker) -> None:
    for fault in (
        {"endpoint": "No/Such", "statusCode": 1},
        {"endpoint": "SequelNumber/Next"},
        {"latencyMs": -1},
    ):
        assert broker.call("POST", FAULT, fault)["statusCode"] == 1704, fault


def test_recent_calls_show_endpoint_card_and_code_newest_first(
    broker: Broker, kit_cloud: CloudClient
) -> None:
    start_cloud_sam_station(broker)
    body = body_of(broker.sign_hc("01"))
    kit_cloud.post(QUERY, body)
    kit_cloud.post(QUERY, body)
    calls = broker.ok("GET", "/api/sim/v1/Cloud/Calls")["calls"]
    assert [(c["endpoint"], c["card"], c["statusCode"]) for c in calls[:2]] == [
        (QUERY, "900000000711", int(CloudCode.REPLAYED_RANDOM)),
        (QUERY, "900000000711", 0),
    ]
