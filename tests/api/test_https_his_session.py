"""A HIS session through a real HTTPS server, as today's HIS clients call it.

The ★ paths are replayed in the order a real HIS uses them, over one
keep-alive connection, each answer HTTP 200 with the manual's integer code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from broker.codes import Code
from broker.state import HcStatus
from broker.transport.serial_frames import Slot
from nhi_broker.serve import RunningServer
from tests.api.https_client import STATUS, HisClient, kit_of
from tests.conftest import SETTLE
from tests.pin_pad import PadTypist

COM1_DOCTOR_PIN, COM1_DOCTOR_PUK = "222222", "22222222"
COM1_HC, COM1_DOCTOR, COM1_SAM = "900000000735", "100000291539", "900000000101"
VIRTUAL_PERSON = "900000000711"  # 吳佳蓉
SIGN = {"serviceType": "01"}
Check = Callable[[dict[str, Any]], None]


def fields(**expected: Any) -> Check:
    """A check that the answer carries these values."""

    def check(answer: dict[str, Any]) -> None:
        assert {k: answer.get(k) for k in expected} == expected, answer

    return check


def status_is(**expected: Any) -> Check:
    """A check on Status's ``status`` object (nested values compared as given)."""

    def check(answer: dict[str, Any]) -> None:
        status = answer["status"]
        for key, value in expected.items():
            if isinstance(value, dict):
                assert {k: status[key][k] for k in value} == value, status
            else:
                assert status[key] == value, status

    return check


def signed(*keys: str) -> Check:
    """A signature answer with these identity fields beside the signature."""

    def check(answer: dict[str, Any]) -> None:
        assert (answer["samId"], answer["serviceType"]) == (COM1_SAM, "01")
        for key in ("signature", "clientRandom", *keys):
            assert answer[key], (key, answer)

    return check


Step = tuple[str, str, dict[str, Any], Code, Check | None]
HC_PIN = "/api/hc/v1/Pin"

DOCTOR_SIGNS: list[Step] = [
    ("GET", STATUS, {}, Code.OK, status_is(initialized=False)),
    ("POST", "/api/common/v1/Initial", {"name": "COM1"}, Code.OK, None),
    ("POST", "/api/common/v1/Initial", {"name": "COM1"}, Code.ALREADY_INITIALIZED, None),
    ("POST", "/api/sam/v1/Verification", {}, Code.OK, None),
    ("POST", "/api/sam/v1/Signature", SIGN, Code.OK, signed("hospitalId")),
    ("POST", "/api/hpc/v1/Verification/Hpc", {"pin": "000000"}, Code.OK, None),  # a placeholder
    ("POST", "/api/hpc/v1/Signature", SIGN, Code.OK, signed("hpcId", "hpcIdNo")),
    ("POST", "/api/hc/v1/Signature/Hc", SIGN, Code.OK, fields(hcId=COM1_HC)),
    ("POST", "/api/hc/v1/Signature/HpcHc", SIGN, Code.OK, fields(hcId=COM1_HC, hpcId=COM1_DOCTOR)),
    ("GET", HC_PIN, {}, Code.OK, fields(hasPin=False)),  # this patient has no PIN yet
    ("PUT", HC_PIN, {"newPin": "112233"}, Code.OK, None),
    ("GET", HC_PIN, {}, Code.OK, fields(hasPin=True)),
    ("POST", HC_PIN, {"pin": "112233"}, Code.HC_PIN_ALREADY_VERIFIED, None),
]
PATIENT_CAME_BACK: list[Step] = [  # the card was pulled and inserted again: PIN not verified
    ("POST", "/api/hc/v1/Signature/Hc", SIGN, Code.OK, fields(hcId=COM1_HC)),
    ("GET", STATUS, {}, Code.OK, status_is(hc={"hasPin": True, "pinVerified": False})),
    ("POST", HC_PIN, {"pin": "000000"}, Code.HC_PIN_FAILED, None),
    ("POST", HC_PIN, {"pin": "112233"}, Code.OK, None),
    ("DELETE", HC_PIN, {}, Code.OK, None),
    ("GET", HC_PIN, {}, Code.OK, fields(hasPin=False)),
    ("DELETE", "/api/hc/v1/Logout", {}, Code.OK, None),
]


def virtual_card_then_goodbye(token: dict[str, Any]) -> list[Step]:
    """A patient's QR code after the physical card's logout; then everyone logs out."""
    return [
        ("POST", "/api/hc/v1/Verification/VirtualHc", token, Code.OK, None),
        ("GET", STATUS, {}, Code.OK, status_is(hc={"type": 2, "status": 2})),
        ("POST", "/api/hc/v1/Signature/Hc", SIGN, Code.OK, fields(hcId=VIRTUAL_PERSON)),
        (
            "POST",
            "/api/hc/v1/VirtualHc/ReadBasic",
            token,
            Code.OK,
            fields(cardId=VIRTUAL_PERSON, name="吳佳蓉"),
        ),
        ("DELETE", "/api/hc/v1/Logout", {}, Code.OK, None),
        ("POST", "/api/hpc/v1/Pin", {"newPin": "333333"}, Code.OK, None),
        ("DELETE", "/api/hpc/v1/Logout", {}, Code.OK, None),
        (
            "PUT",
            "/api/hpc/v1/Pin",
            {"puk": COM1_DOCTOR_PUK, "newPin": COM1_DOCTOR_PIN},
            Code.OK,
            None,
        ),
        ("POST", "/api/common/v1/Finalize", {}, Code.OK, None),
        ("GET", STATUS, {}, Code.OK, status_is(initialized=False)),
    ]


def test_a_his_session_over_https_takes_every_star_path_in_order(
    server: RunningServer, his: HisClient
) -> None:
    with PadTypist(kit_of(server).serial["COM1"], COM1_DOCTOR_PIN):  # 專屬讀卡機: on the pad
        run(his, DOCTOR_SIGNS)
    reinsert_com1_hc(server)
    run(his, PATIENT_CAME_BACK)
    token = {"token": kit_of(server).dc.dc.issue_token(VIRTUAL_PERSON)}  # a patient's QR code
    run(his, virtual_card_then_goodbye(token))


def reinsert_com1_hc(server: RunningServer) -> None:
    """Pull COM1's health card and put it back; wait until the station sees each move."""
    kit, board = kit_of(server), server.broker.board
    card = kit.cards.card(COM1_HC)
    kit.serial["COM1"].remove(Slot.HC)
    assert board.wait_for("local", lambda s: s.hc_status is HcStatus.NONE, SETTLE)
    kit.serial["COM1"].insert(Slot.HC, card)
    assert board.wait_for("local", lambda s: s.hc_status is HcStatus.PRESENT, SETTLE)


def run(his: HisClient, steps: list[Step]) -> None:
    for method, path, body, code, check in steps:
        answer = his.call(method, path, body)
        assert answer["statusCode"] == int(code), (method, path, answer)
        if check is not None:
            check(answer)
