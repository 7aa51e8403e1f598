"""Codes a clinic client acts on: a QR token's verification count (1525), a blocked HPC told
apart from a wrong PIN, and an empty reader (1102, not 1500)."""

from __future__ import annotations

import falcon.testing

from tests.api.conftest import call

SIM = "/api/sim/v1"
CLOUD = "901000000047"
PERSON = "900000000742"


def token(client: falcon.testing.TestClient) -> str:
    answer = call(client, "POST", f"{SIM}/VirtualHc/Token", {"card": PERSON})
    return str(answer["token"])


def verify(client: falcon.testing.TestClient, qr: str) -> dict[str, object]:
    return call(client, "POST", "/api/hc/v1/Verification/VirtualHc", {"token": qr})


def test_one_qr_token_verifies_three_times_in_a_visit_then_1525(
    client: falcon.testing.TestClient,
) -> None:
    assert call(client, "POST", "/api/common/v1/Initial", {"name": CLOUD})["statusCode"] == 0
    qr = token(client)
    for _ in range(3):  # registration, record writing, a refund
        assert verify(client, qr)["statusCode"] == 0
    over = verify(client, qr)
    assert (over["statusCode"], over["message"]) == (1525, "虛擬卡 Token 已超過驗證次數")


def test_the_qr_verification_count_is_a_setting_of_the_simulated_dc(
    client: falcon.testing.TestClient,
) -> None:
    assert call(client, "POST", "/api/common/v1/Initial", {"name": CLOUD})["statusCode"] == 0
    setting = call(client, "POST", f"{SIM}/Dc/Settings", {"vhcVerifications": 1})
    assert setting["vhcVerifications"] == 1
    qr = token(client)
    assert verify(client, qr)["statusCode"] == 0
    assert verify(client, qr)["statusCode"] == 1525
    refused = call(client, "POST", f"{SIM}/Dc/Settings", {"vhcVerifications": 0})
    assert refused["statusCode"] == 1704
    assert "vhcVerifications" in refused["message"]


def test_a_blocked_hpc_says_so_so_a_client_can_tell_it_from_a_wrong_pin(
    client: falcon.testing.TestClient,
) -> None:
    assert call(client, "POST", "/api/common/v1/Initial", {"name": CLOUD})["statusCode"] == 0
    pin = "/api/hpc/v1/Verification/Hpc"
    wrong = [call(client, "POST", pin, {"pin": "123123"}) for _ in range(3)]
    assert [w["statusCode"] for w in wrong] == [1410, 1410, 1410]
    assert "2 tries left" in str(wrong[0]["detail"])
    assert "1 tries left" in str(wrong[1]["detail"])
    assert "blocked, 0 tries left" in str(wrong[2]["detail"])
    again = call(client, "POST", pin, {"pin": "000000"})  # the right PIN, too late
    assert again["statusCode"] == 1410
    assert "blocked, 0 tries left" in str(again["detail"])


def test_an_empty_reader_where_a_card_is_needed_answers_1102(
    client: falcon.testing.TestClient,
) -> None:
    assert call(client, "POST", "/api/common/v1/Initial", {"name": CLOUD})["statusCode"] == 0
    assert call(client, "POST", f"{SIM}/Remove", {"reader": "Virtual Reader 0"})["statusCode"] == 0
    assert call(client, "POST", f"{SIM}/Remove", {"reader": "Virtual Reader 1"})["statusCode"] == 0
    for method, path, body in (
        ("GET", "/api/hc/v1/BasicData", {}),
        ("POST", "/api/hc/v1/Signature/Hc", {"serviceType": "01"}),
        ("POST", "/api/hpc/v1/Verification/Hpc", {"pin": "000000"}),
    ):
        answer = call(client, method, path, body)
        assert (answer["statusCode"], answer["message"]) == (1102, "未置入卡片"), (path, answer)
