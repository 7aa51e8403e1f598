"""The cloud's pure logic, no HTTP: injected answers, the recent-calls list, unknown paths."""

from __future__ import annotations

import pytest

from nhi_kit.cloud.cloud import ENDPOINTS, RECENT_CALLS, Cloud
from nhi_kit.cloud.codes import CloudCode
from nhi_kit.cloud.store import CloudStore

NEXT = "/api/v1/SequelNumber/Next"


@pytest.fixture
def cloud() -> Cloud:
    return Cloud(CloudStore(None))  # state in memory only


def test_injected_answers_count_down_and_zero_clears_them(cloud: Cloud) -> None:
    cloud.inject(NEXT, 5003, 2)
    assert cloud.call(NEXT, {})["statusCode"] == 5003
    assert cloud.injected() == {NEXT: {"statusCode": 5003, "count": 1}}
    cloud.inject(NEXT, 5003, 0)
    assert cloud.injected() == {}
    assert cloud.call(NEXT, {})["statusCode"] == int(CloudCode.BAD_REQUEST)


def test_the_recent_calls_keep_the_newest(cloud: Cloud) -> None:
    for n in range(RECENT_CALLS + 5):
        cloud.call("/api/v1/BasicData/Query", {"hcId": f"{n:012d}"})
    recent = cloud.recent_calls()
    assert len(recent) == RECENT_CALLS
    assert recent[0]["card"] == f"{RECENT_CALLS + 4:012d}"


def test_unknown_paths_are_not_endpoints(cloud: Cloud) -> None:
    with pytest.raises(KeyError):
        cloud.call("/api/v1/No/Such", {})
    with pytest.raises(KeyError):
        cloud.inject("/api/v1/No/Such", 1, 1)


def test_every_endpoint_of_the_contract_is_served() -> None:
    assert len(ENDPOINTS) == 18
    assert all(p.startswith(("/api/v1/", "/test/v1/")) for p in ENDPOINTS)
