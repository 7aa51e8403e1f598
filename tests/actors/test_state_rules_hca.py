"""The executable-state table through the real actors: the HCA (醫事人員卡) rows.

No PIN is ever entered automatically; wrong PINs are tried once each; a blocked
card is reset with its PUK; the mobile HCA; on the PIN-pad reader only the pad's
PIN reaches the card (tests/actors/state_table.py says what each row's test proves).
"""

from __future__ import annotations

import time

import pytest

from broker.cards.commands import Ins
from broker.codes import Code
from broker.errors import PinBlockedError, WrongPinError
from broker.state import HcaStatus, HcaType, HcStatus, SamStatus
from nhi_broker.assembly import RunningBroker
from nhi_kit.emulators.dc.hca import make_mobile_assertion
from nhi_kit.emulators.people import HPCS
from tests.actors.conftest import Call, code_of, state
from tests.actors.state_table import (
    BLOCKED_HPC,
    DESK2_HC,
    DESK2_HPC,
    DESK2_PUK,
    SIGN,
    TEST_CLOUD,
    TEST_HOSPITAL,
    F,
    hpc,
    kit_of,
    needing,
    refusal,
    verifies,
)
from tests.pin_pad import PadTypist

# --- HCA ---------------------------------------------------------------------------------


def test_no_pin_is_entered_automatically_functions_needing_hca_3_are_1402(
    broker: RunningBroker, desk2: Call
) -> None:
    desk2(F.INITIAL)
    desk2(F.SAM_SIGN, **SIGN)  # the cloud SAM verified, so only the HCA rule is in question
    before = state(broker, "desk2")
    pins = verifies(hpc(broker, DESK2_HPC))
    needs_3 = needing(lambda need: need.hca == (HcaStatus.PIN_VERIFIED,))
    assert F.HC_THREE_CARD_SIGN in needs_3
    for function in needs_3:
        code = refusal(desk2, function)
        assert code is Code.HPC_MODE3_FAILED, function
    assert pins == []
    assert state(broker, "desk2") == before  # HCA still 1, HC still 1


def test_hca_rows_pin_verify_basic_sign_set_pin_three_card_logout_and_sam_logout(
    broker: RunningBroker, desk2: Call
) -> None:
    desk2(F.INITIAL)
    assert state(broker, "desk2").hca_type is HcaType.HPC
    pins = verifies(hpc(broker, DESK2_HPC))
    desk2(F.HCA_VERIFY_PIN, pin="12345678")  # SAM 1 → 2, HCA 1 → 2 automatically, then 2 → 3
    after = state(broker, "desk2")
    assert (after.sam_status, after.hca_status) == (SamStatus.VERIFIED, HcaStatus.PIN_VERIFIED)
    assert len(pins) == 1

    assert desk2(F.HCA_BASIC) == {
        "cardId": DESK2_HPC,
        "idNo": "F223456789",
        "cName": "測試人員5",
        "eName": "TEST FIVE",
    }
    signed = desk2(F.HCA_SIGN, **SIGN)
    assert (signed["hpcId"], signed["samId"]) == (DESK2_HPC, TEST_CLOUD)
    desk2(F.HCA_SET_PIN, newPin="11223344")
    assert hpc(broker, DESK2_HPC).pin.value == "11223344"
    assert state(broker, "desk2").hca_status is HcaStatus.PIN_VERIFIED

    assert state(broker, "desk2").hc_status is HcStatus.PRESENT
    three = desk2(F.HC_THREE_CARD_SIGN, **SIGN)  # the HC is verified on the way: 1 → 2 → 3
    assert (three["hcId"], three["hpcId"], three["samId"]) == (DESK2_HC, DESK2_HPC, TEST_CLOUD)
    assert state(broker, "desk2").hc_status is HcStatus.WITH_HCA

    desk2(F.HCA_LOGOUT)
    assert state(broker, "desk2").hca_status is HcaStatus.VERIFIED
    desk2(F.HCA_VERIFY_PIN, pin="11223344")  # 2 → 3 again, with the new PIN
    assert state(broker, "desk2").hca_status is HcaStatus.PIN_VERIFIED

    desk2(F.SAM_LOGOUT)  # logs out the HCA and the HC too
    after = state(broker, "desk2")
    assert (after.sam_status, after.hca_status, after.hc_status) == (
        SamStatus.PRESENT,
        HcaStatus.PRESENT,
        HcStatus.PRESENT,  # logged out; the card is still in Virtual Reader 2
    )
    assert not after.hc_pin_verified


def test_wrong_hca_pins_are_tried_once_each_report_tries_left_and_block_at_three(
    broker: RunningBroker, desk2: Call
) -> None:
    desk2(F.INITIAL)
    card = hpc(broker, DESK2_HPC)
    pins = verifies(card)
    for tries_left in (2, 1):
        with pytest.raises(WrongPinError) as wrong:
            desk2(F.HCA_VERIFY_PIN, pin="00000000")
        assert (wrong.value.code, wrong.value.tries_left) == (Code.HPC_PIN_FAILED, tries_left)
        assert len(pins) == 3 - tries_left  # exactly one VERIFY per call, never retried
    with pytest.raises(PinBlockedError) as blocked:
        desk2(F.HCA_VERIFY_PIN, pin="00000000")
    assert blocked.value.code is Code.HPC_PIN_FAILED
    assert card.pin.blocked
    assert code_of(lambda: desk2(F.HCA_VERIFY_PIN, pin="12345678")) is Code.HPC_PIN_FAILED
    assert len(pins) == 4
    assert state(broker, "desk2").hca_status is HcaStatus.VERIFIED

    desk2(F.HCA_RESET_PIN, puk=DESK2_PUK, newPin="24682468")  # from HCA 2
    assert not card.pin.blocked
    assert state(broker, "desk2").hca_status is HcaStatus.VERIFIED  # the new PIN is not verified
    desk2(F.HCA_VERIFY_PIN, pin="24682468")
    assert state(broker, "desk2").hca_status is HcaStatus.PIN_VERIFIED


def test_hca_reset_pin_unblocks_a_card_from_hca_1_and_needs_a_card(
    broker: RunningBroker, desk2: Call
) -> None:
    slot = kit_of(broker).local_slots["Virtual Reader 3"]
    slot.remove()
    slot.insert(hpc(broker, BLOCKED_HPC))  # 測試人員6: PIN blocked at issue
    desk2(F.INITIAL)
    card = hpc(broker, BLOCKED_HPC)
    assert card.pin.blocked
    assert state(broker, "desk2").hca_status is HcaStatus.PRESENT
    desk2(F.HCA_RESET_PIN, puk="11111111", newPin="135791")  # HCA ≥ 1 suffices
    assert not card.pin.blocked
    assert state(broker, "desk2").hca_status is HcaStatus.PRESENT  # not verified on the way
    desk2(F.HCA_VERIFY_PIN, pin="135791")  # 1 → 2 automatically, then 2 → 3
    assert state(broker, "desk2").hca_status is HcaStatus.PIN_VERIFIED
    assert desk2(F.HCA_BASIC)["cardId"] == BLOCKED_HPC

    slot.remove()
    gone = broker.board.wait_for("desk2", lambda s: s.hca_status is HcaStatus.NONE, 5.0)
    assert gone is not None
    reset = {"puk": "11111111", "newPin": "246802"}
    assert code_of(lambda: desk2(F.HCA_RESET_PIN, **reset)) is Code.NO_CARD  # 未置入卡片


def test_mobile_hca_goes_0_to_3_and_back_and_cannot_sign(
    broker: RunningBroker, desk2: Call
) -> None:
    kit_of(broker).local_slots["Virtual Reader 3"].remove()
    desk2(F.INITIAL)
    assert state(broker, "desk2").hca_status is HcaStatus.NONE
    assert code_of(lambda: desk2(F.HCA_MOBILE_LOGOUT)) is Code.NO_CARD  # needs 3: no HCA at all

    person = next(p for p in HPCS if p.card_id == "100000291508")
    assertion = make_mobile_assertion(person, TEST_HOSPITAL, time.time())
    desk2(F.HCA_MOBILE_VERIFY, certificate=assertion)
    after = state(broker, "desk2")
    assert (after.hca_type, after.hca_status) == (HcaType.MOBILE, HcaStatus.PIN_VERIFIED)
    assert desk2(F.HCA_BASIC)["cardId"] == person.card_id
    for function in (F.HCA_SIGN, F.HCA_SET_PIN, F.HCA_RESET_PIN, F.HC_THREE_CARD_SIGN):
        code = refusal(desk2, function)
        assert code is Code.HPC_UNSUPPORTED, function
    assert state(broker, "desk2").hc_status is HcStatus.VERIFIED  # never bound to the HCA: not 3
    again = code_of(lambda: desk2(F.HCA_MOBILE_VERIFY, certificate=assertion))
    assert again is Code.HPC_MODE1_FAILED  # needs HCA 0

    desk2(F.HCA_MOBILE_LOGOUT)
    after = state(broker, "desk2")
    assert (after.hca_type, after.hca_status) == (HcaType.NONE, HcaStatus.NONE)


def test_on_the_pin_pad_reader_a_pin_in_the_request_never_reaches_the_card(
    broker: RunningBroker, local: Call
) -> None:
    local(F.INITIAL, name="COM1")
    local(F.SAM_VERIFY)
    doctor = hpc(broker, "100000291539")  # 測試醫師7, PIN 222222
    verifies: list[bytes] = []
    doctor.hooks.append(
        lambda _card, command: verifies.append(command.data) if command.ins == Ins.VERIFY else None
    )
    with PadTypist(kit_of(broker).serial["COM1"], "222222") as typist:
        local(F.HCA_VERIFY_PIN, pin="000000")  # a client's placeholder
    assert typist.typed == 1
    assert state(broker).hca_status is HcaStatus.PIN_VERIFIED
    assert b"000000" not in verifies  # only what was typed on the pad was sent
    assert b"222222" in verifies
    assert doctor.pin.tries_left == doctor.pin.max_tries
