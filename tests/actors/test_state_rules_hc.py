"""The executable-state table through the real actors: the HC (健保卡) rows, physical and virtual.

A present card is verified automatically; its PIN functions need its PIN
verified first; a virtual card refuses PIN functions and marks updates, and is
exported and imported between stations of one hospital (tests/actors/state_table.py
says what each row's test proves).
"""

from __future__ import annotations

import time

from broker.codes import Code
from broker.state import HcStatus, HcType, SamStatus
from nhi_broker.assembly import RunningBroker
from nhi_kit.emulators.dc.tokens import TokenKeys, issue_token
from nhi_kit.emulators.hc import HcEmulator
from nhi_kit.emulators.people import HEALTH_CARDS
from tests.actors.conftest import Call, code_of, state
from tests.actors.state_table import COM1_HC, DESK2_HC, SIGN, VIRTUAL_PERSON, F, kit_of, refusal


def hc(broker: RunningBroker, card_id: str) -> HcEmulator:
    card = kit_of(broker).cards.card(card_id)
    assert isinstance(card, HcEmulator)
    return card


def token(broker: RunningBroker, card_id: str = VIRTUAL_PERSON) -> str:
    return kit_of(broker).dc.dc.issue_token(card_id)


# --- HC ----------------------------------------------------------------------------------


def test_hc_rows_verify_a_present_card_automatically_then_basic_sign_and_logout(
    broker: RunningBroker, desk2: Call
) -> None:
    desk2(F.INITIAL)
    assert (state(broker, "desk2").hc_type, state(broker, "desk2").hc_status) == (
        HcType.PHYSICAL,
        HcStatus.PRESENT,
    )
    basic = desk2(F.HC_BASIC)  # SAM 1 → 2 and HC 1 → 2 automatically
    assert (basic["cardId"], basic["name"], basic["dateIssue"]) == (DESK2_HC, "王小明", "1080101")
    after = state(broker, "desk2")
    assert (after.sam_status, after.hc_status, after.hc_has_pin) == (
        SamStatus.VERIFIED,
        HcStatus.VERIFIED,
        True,
    )
    signed = desk2(F.HC_SIGN, **SIGN)
    assert (signed["hcId"], signed["hcIdNo"]) == (DESK2_HC, "A123456789")

    desk2(F.HC_LOGOUT)  # from 2: logged out, the card is still in the reader (manual: 1 已置入)
    assert (state(broker, "desk2").hc_type, state(broker, "desk2").hc_status) == (
        HcType.PHYSICAL,
        HcStatus.PRESENT,
    )
    desk2(F.HC_LOGOUT)  # any state
    assert state(broker, "desk2").hc_status is HcStatus.PRESENT
    assert desk2(F.HC_BASIC)["cardId"] == DESK2_HC  # verified again on the way: 1 → 2
    assert state(broker, "desk2").hc_status is HcStatus.VERIFIED

    kit_of(broker).local_slots["Virtual Reader 2"].remove()
    gone = broker.board.wait_for("desk2", lambda s: s.hc_status is HcStatus.NONE, 5.0)
    assert gone is not None
    desk2(F.HC_LOGOUT)  # an empty reader: 0
    assert state(broker, "desk2").hc_status is HcStatus.NONE
    for function in (F.HC_BASIC, F.HC_SIGN, F.HC_PIN_STATUS, F.HC_UPDATE_MARKS):
        code = refusal(desk2, function)
        assert code is Code.NO_CARD, function  # 未置入卡片, not 1500 (a card that fails)


def test_hc_pin_set_and_clear_need_a_set_pin_verified_first(
    broker: RunningBroker, desk2: Call
) -> None:
    desk2(F.INITIAL)
    card = hc(broker, DESK2_HC)
    assert desk2(F.HC_PIN_STATUS) == {"hasPin": True}
    assert code_of(lambda: desk2(F.HC_PIN_SET, newPin="654321")) is Code.HC_PIN_NOT_VERIFIED
    assert code_of(lambda: desk2(F.HC_PIN_CLEAR)) is Code.HC_PIN_NOT_VERIFIED
    assert card.pin.value == "123456"
    assert not state(broker, "desk2").hc_pin_verified

    assert code_of(lambda: desk2(F.HC_PIN_VERIFY, pin="000000")) is Code.HC_PIN_FAILED
    desk2(F.HC_PIN_VERIFY, pin="123456")
    assert state(broker, "desk2").hc_pin_verified
    assert code_of(lambda: desk2(F.HC_PIN_VERIFY, pin="123456")) is Code.HC_PIN_ALREADY_VERIFIED
    desk2(F.HC_PIN_SET, newPin="654321")
    assert card.pin.value == "654321"
    desk2(F.HC_PIN_CLEAR)
    assert not card.pin.is_set
    assert state(broker, "desk2").hc_has_pin is False
    assert desk2(F.HC_PIN_STATUS) == {"hasPin": False}
    assert code_of(lambda: desk2(F.HC_PIN_VERIFY, pin="123456")) is Code.HC_NO_PIN_SET


def test_physical_hc_pin_set_without_a_pin_marks_update_and_no_export(
    broker: RunningBroker, local: Call
) -> None:
    local(F.INITIAL, name="COM1")
    local(F.SAM_VERIFY)
    card = hc(broker, COM1_HC)
    local(F.HC_PIN_SET, newPin="112233")  # no PIN yet: nothing to verify first
    assert (card.pin.value, state(broker).hc_has_pin) == ("112233", True)
    assert code_of(lambda: local(F.HC_VIRTUAL_EXPORT)) is Code.HC_VIRTUAL_ONLY
    assert state(broker).hc_status is HcStatus.VERIFIED

    assert card.marks == bytes(len(card.marks))
    local(F.HC_UPDATE_MARKS)  # 2 → logged out (the manual's "→ 0"); the card is still in
    assert card.marks != bytes(len(card.marks))
    assert state(broker).hc_status is HcStatus.PRESENT
    assert not card.authenticated  # the card was reset: its verification ended


def test_virtual_hc_verify_logs_out_the_card_in_use_and_read_leaves_the_token_usable(
    broker: RunningBroker, desk2: Call
) -> None:
    desk2(F.INITIAL)
    qr = token(broker)
    before = state(broker, "desk2")
    read = desk2(F.HC_READ_VIRTUAL, token=qr)  # SAM 2 only; no HC state involved
    assert (read["cardId"], read["name"]) == (VIRTUAL_PERSON, "吳佳蓉")
    assert state(broker, "desk2").hc_status is before.hc_status is HcStatus.PRESENT
    assert desk2(F.HC_SIGN, **SIGN)["hcId"] == DESK2_HC  # the physical card, verified: 2

    # Manual, 可執行狀態: a function needing HC 0 reaches it: the card in use is logged out.
    desk2(F.HC_VIRTUAL_VERIFY, token=qr)  # the same token: reading did not use it up
    after = state(broker, "desk2")
    assert (after.hc_type, after.hc_status) == (HcType.VIRTUAL, HcStatus.VERIFIED)
    assert not hc(broker, DESK2_HC).authenticated  # the physical card was reset
    basic = desk2(F.HC_BASIC)
    assert (basic["cardId"], basic["dateIssue"]) == (VIRTUAL_PERSON, None)
    assert desk2(F.HC_SIGN, **SIGN)["hcId"] == VIRTUAL_PERSON
    second = token(broker, DESK2_HC)
    desk2(F.HC_VIRTUAL_VERIFY, token=second)  # the next patient: the first one is let go
    assert desk2(F.HC_BASIC)["cardId"] == DESK2_HC
    assert desk2(F.HC_SIGN, **SIGN)["hcId"] == DESK2_HC
    assert state(broker, "desk2").hc_type is HcType.VIRTUAL


def test_virtual_hc_refuses_pin_functions_1526_and_marks_update_1515(
    broker: RunningBroker, desk2: Call
) -> None:
    kit_of(broker).local_slots["Virtual Reader 2"].remove()
    desk2(F.INITIAL)
    person = next(p for p in HEALTH_CARDS if p.card_id == "900000000742")  # has a PIN
    unverified = issue_token(person, TokenKeys.kit(), time.time(), pin_verified=False)
    desk2(F.HC_VIRTUAL_VERIFY, token=unverified)
    before = state(broker, "desk2")
    assert (before.hc_type, before.hc_has_pin, before.hc_pin_verified) == (
        HcType.VIRTUAL,
        True,
        False,
    )
    for function in (F.HC_PIN_STATUS, F.HC_PIN_VERIFY, F.HC_PIN_SET, F.HC_PIN_CLEAR):
        code = refusal(desk2, function)
        assert code is Code.VHC_NO_PIN_FUNCTIONS, function
    assert code_of(lambda: desk2(F.HC_UPDATE_MARKS)) is Code.HC_PHYSICAL_ONLY
    assert state(broker, "desk2") == before


def test_virtual_hc_export_2_to_0_and_import_0_to_2_on_another_station_of_the_hospital(
    broker: RunningBroker, desk2: Call, local: Call
) -> None:
    desk2(F.INITIAL)
    desk2(F.HC_LOGOUT)  # the physical card in Virtual Reader 2 gives way
    desk2(F.HC_VIRTUAL_VERIFY, token=token(broker))
    code = desk2(F.HC_VIRTUAL_EXPORT)["transferCode"]
    assert code
    after = state(broker, "desk2")
    assert (after.hc_type, after.hc_status) == (HcType.PHYSICAL, HcStatus.PRESENT)  # its card

    local(F.INITIAL, name="COM1")  # the physical test SAM of the same hospital
    assert code_of(lambda: local(F.HC_VIRTUAL_IMPORT, transferCode=code)) is Code.SAM_MODE2_FAILED
    local(F.SAM_VERIFY)
    assert local(F.HC_SIGN, **SIGN)["hcId"] == COM1_HC  # the card in COM1, in use
    local(F.HC_VIRTUAL_IMPORT, transferCode=code)  # logs the card in COM1 out first
    after = state(broker)
    assert (after.hc_type, after.hc_status) == (HcType.VIRTUAL, HcStatus.VERIFIED)
    assert local(F.HC_BASIC)["cardId"] == VIRTUAL_PERSON
