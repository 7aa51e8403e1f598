"""The executable-state table (the manual's 可執行狀態, docs/web-api.md) through the real actors.

Every row: with its state met the function succeeds and leaves the state the
table says; where the table allows it the state is reached automatically (a
cloud SAM verifies itself, a present card is verified with the SAM); where it
is not met and may not be reached automatically (a physical SAM, any PIN) the
function is refused with the manual's code and nothing changes.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import pytest

from broker.apdu import CommandApdu
from broker.cards.commands import Ins
from broker.codes import Code
from broker.errors import PinBlockedError, WrongPinError
from broker.rules import RULES, Function
from broker.state import HcaStatus, HcaType, HcStatus, HcType, SamStatus, SamType
from nhi_broker.assembly import RunningBroker, SimKit
from nhi_kit.emulators.card import CardEmulator
from nhi_kit.emulators.dc.hca import make_mobile_assertion
from nhi_kit.emulators.dc.tokens import TokenKeys, issue_token
from nhi_kit.emulators.hc import HcEmulator
from nhi_kit.emulators.hpc import HpcEmulator
from nhi_kit.emulators.people import HEALTH_CARDS, HPCS
from tests.actors.conftest import Call, code_of, state
from tests.pin_pad import PadTypist

COM1_SAM, COM1_HC, COM1_DOCTOR = "900000000101", "900000000735", "100000291539"
DESK2_HC, DESK2_HPC, DESK2_PUK = "900000000728", "100000291515", "87654321"
FORMAL_CLOUD, TEST_CLOUD = "001000000103", "901000000047"
BLOCKED_HPC = "100000291522"
VIRTUAL_PERSON = "900000000711"  # 吳佳蓉, no PIN
TEST_HOSPITAL = "7777777777"
SIGN = {"serviceType": "01"}

F = Function
# Well-formed arguments for every function, so a refusal is the state's, never the arguments'.
ARGS: dict[Function, dict[str, Any]] = {
    F.SAM_SIGN: SIGN,
    F.HCA_SIGN: SIGN,
    F.HC_SIGN: SIGN,
    F.HC_THREE_CARD_SIGN: SIGN,
    F.HCA_VERIFY_PIN: {"pin": "12345678"},
    F.HCA_MOBILE_VERIFY: {"certificate": "e30=.e30="},
    F.HCA_SET_PIN: {"newPin": "13572468"},
    F.HCA_RESET_PIN: {"puk": DESK2_PUK, "newPin": "13572468"},
    F.HC_VIRTUAL_VERIFY: {"token": "e30=.e30=.e30="},
    F.HC_READ_VIRTUAL: {"token": "e30=.e30=.e30="},
    F.HC_PIN_VERIFY: {"pin": "123456"},
    F.HC_PIN_SET: {"newPin": "654321"},
    F.HC_VIRTUAL_IMPORT: {"transferCode": "ABCD1234"},
}


def needing(predicate: Any) -> list[Function]:
    """The functions whose row matches ``predicate(need)``."""
    return [f for f in Function if predicate(RULES[f])]


def refusal(call: Call, function: Function) -> Code:
    """The code ``function``, called with well-formed arguments, is refused with."""
    return code_of(partial(call, function, **ARGS.get(function, {})))


def kit_of(broker: RunningBroker) -> SimKit:
    assert broker.kit is not None
    return broker.kit


def hpc(broker: RunningBroker, card_id: str) -> HpcEmulator:
    card = kit_of(broker).cards.card(card_id)
    assert isinstance(card, HpcEmulator)
    return card


def hc(broker: RunningBroker, card_id: str) -> HcEmulator:
    card = kit_of(broker).cards.card(card_id)
    assert isinstance(card, HcEmulator)
    return card


def verifies(card: CardEmulator) -> list[bytes]:
    """Every VERIFY the card receives from now on (its data: empty for a status query)."""
    seen: list[bytes] = []

    def hook(_card: CardEmulator, command: CommandApdu) -> None:
        if command.ins == Ins.VERIFY:
            seen.append(command.data)

    card.hooks.append(hook)
    return seen


def token(broker: RunningBroker, card_id: str = VIRTUAL_PERSON) -> str:
    return kit_of(broker).dc.dc.issue_token(card_id)


# --- initialisation, common functions ------------------------------------------------


def test_every_function_but_version_is_refused_before_initial_and_changes_nothing(
    broker: RunningBroker, local: Call
) -> None:
    before = state(broker)
    for function in needing(lambda need: need.initialized is True):
        assert refusal(local, function) is Code.NOT_INITIALIZED
    assert state(broker) == before
    assert local(F.VERSION)["fileVersion"] == "1.2.0.1"  # the one row with no state at all


def test_initial_twice_is_1001_and_an_unknown_device_is_1002(
    broker: RunningBroker, local: Call, desk2: Call
) -> None:
    for name in ("COM9", FORMAL_CLOUD):  # desk2 may only use the test cloud SAM
        assert code_of(partial(desk2, F.INITIAL, name=name)) is Code.NO_DEVICE
    assert not state(broker, "desk2").initialized

    local(F.INITIAL, name="COM1")
    connected = state(broker)
    assert code_of(lambda: local(F.INITIAL)) is Code.ALREADY_INITIALIZED
    assert code_of(lambda: local(F.INITIAL, name=TEST_CLOUD)) is Code.ALREADY_INITIALIZED
    assert state(broker) == connected
    assert connected.device_name == "COM1"


def test_initial_without_a_name_tries_last_device_then_cloud_sam_then_physical_sam(
    broker: RunningBroker, local: Call
) -> None:
    settings, store = broker.settings, broker.store
    assert settings.last_device == "901000000047"  # the sim profile's first start
    local(F.INITIAL)
    assert state(broker).device_name == "901000000047"
    local(F.FINALIZE)
    settings.set_last_device(None)
    local(F.INITIAL)  # no last device: the first cloud SAM, before the physical one
    first_cloud = store.list()[0].sam_id
    assert (state(broker).device_name, state(broker).sam_type) == (first_cloud, SamType.CLOUD)
    assert settings.last_device == first_cloud

    local(F.FINALIZE)
    settings.set_last_device("COM1")  # the last device comes before every cloud SAM
    local(F.INITIAL)
    assert (state(broker).device_name, state(broker).sam_type) == ("COM1", SamType.PHYSICAL)

    local(F.FINALIZE)
    settings.set_last_device(None)
    for entry in store.list():  # no cloud SAM left: the physical SAM comes last
        store.remove(entry.sam_id)
    local(F.INITIAL)
    assert state(broker).device_name == "COM1"
    assert settings.last_device == "COM1"


def test_initial_without_a_name_skips_a_last_device_that_fails(
    broker: RunningBroker, local: Call
) -> None:
    broker.settings.set_last_device("COM1")
    kit_of(broker).serial["COM1"].remove("SAM")
    local(F.INITIAL)
    assert state(broker).device_name == broker.store.list()[0].sam_id
    local(F.FINALIZE)
    for entry in broker.store.list():
        broker.store.remove(entry.sam_id)
    assert code_of(lambda: local(F.INITIAL)) is Code.NO_DEVICE  # nothing left to try
    assert not state(broker).initialized


def test_finalize_releases_the_device_and_its_cards(broker: RunningBroker, local: Call) -> None:
    local(F.INITIAL, name="COM1")
    assert (state(broker).hca_status, state(broker).hc_status) == (
        HcaStatus.PRESENT,
        HcStatus.PRESENT,
    )
    local(F.FINALIZE)
    after = state(broker)
    assert not after.initialized
    assert (after.device_name, after.sam_status) == (None, SamStatus.NONE)
    assert (after.hca_status, after.hc_status) == (HcaStatus.NONE, HcStatus.NONE)
    assert code_of(lambda: local(F.READER_TIME)) is Code.NOT_INITIALIZED
    assert code_of(lambda: local(F.FINALIZE)) is Code.NOT_INITIALIZED
    local(F.INITIAL, name="COM1")  # released: it may be connected again
    assert state(broker).initialized


# --- SAM ---------------------------------------------------------------------------------


def test_physical_sam_is_never_verified_automatically(broker: RunningBroker, local: Call) -> None:
    local(F.INITIAL, name="COM1")
    before, dc_requests = state(broker), kit_of(broker).dc.requests
    assert (before.sam_type, before.sam_status) == (SamType.PHYSICAL, SamStatus.PRESENT)
    for function in needing(lambda need: need.sam is SamStatus.VERIFIED):
        code = refusal(local, function)
        assert code is Code.SAM_MODE2_FAILED, function
    assert state(broker) == before  # SAM still 1, HCA and HC untouched
    assert kit_of(broker).dc.requests == dc_requests  # not even one attempt at the DC
    local(F.HC_LOGOUT)  # the one HC row that needs no SAM
    assert (state(broker).sam_status, state(broker).hc_status) == (
        SamStatus.PRESENT,
        HcStatus.PRESENT,  # logged out, and still in COM1's HC slot
    )


def test_physical_sam_rows_basic_verify_sign_logout_and_reader_clock(
    broker: RunningBroker, local: Call
) -> None:
    local(F.INITIAL, name="COM1")
    basic = local(F.SAM_BASIC)  # SAM 1 suffices; a physical SAM has no hospital names
    assert basic == {
        "samId": COM1_SAM,
        "hospitalId": TEST_HOSPITAL,
        "hospitalName": None,
        "hospitalShortName": None,
    }
    assert state(broker).sam_status is SamStatus.PRESENT

    local(F.SAM_VERIFY)
    assert state(broker).sam_status is SamStatus.VERIFIED
    signed = local(F.SAM_SIGN, **SIGN)
    assert (signed["samId"], signed["serviceType"]) == (COM1_SAM, "01")
    assert signed["signature"]
    clock = local(F.READER_TIME)["serverDateTime"]  # the serial reader's clock, set by the DC
    assert len(clock) == 13
    assert clock.isdigit()

    local(F.SAM_LOGOUT)
    assert state(broker).sam_status is SamStatus.PRESENT
    assert code_of(lambda: local(F.SAM_SIGN, **SIGN)) is Code.SAM_MODE2_FAILED


def test_cloud_sam_verifies_itself_when_a_function_needs_it(
    broker: RunningBroker, desk2: Call
) -> None:
    desk2(F.INITIAL)  # desk2's only device
    assert state(broker, "desk2").device_name == TEST_CLOUD
    assert state(broker, "desk2").sam_status is SamStatus.PRESENT
    basic = desk2(F.SAM_BASIC)
    assert (basic["samId"], basic["hospitalName"]) == (TEST_CLOUD, "測試機構")
    assert state(broker, "desk2").sam_status is SamStatus.PRESENT  # SAM 1 sufficed

    signed = desk2(F.SAM_SIGN, **SIGN)
    assert signed["samId"] == TEST_CLOUD
    assert state(broker, "desk2").sam_status is SamStatus.VERIFIED
    assert len(desk2(F.READER_TIME)["serverDateTime"]) == 13  # the DC's time


def test_formal_cloud_sam_refuses_the_test_cards_with_1003(
    broker: RunningBroker, local: Call
) -> None:
    local(F.INITIAL, name=FORMAL_CLOUD)
    assert state(broker).hc_status is HcStatus.PRESENT  # the test card in Virtual Reader 0
    pins = verifies(hpc(broker, "100000291508"))  # the test HPC in Virtual Reader 1
    assert code_of(lambda: local(F.HC_BASIC)) is Code.FORMAL_TEST_MIXED
    assert code_of(lambda: local(F.HCA_VERIFY_PIN, pin="000000")) is Code.FORMAL_TEST_MIXED
    after = state(broker)
    assert (after.hc_status, after.hca_status) == (HcStatus.PRESENT, HcaStatus.PRESENT)
    assert pins == []  # refused before its PIN could be tried


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


# --- every row is covered ---------------------------------------------------------------

COVERED: dict[str, set[Function]] = {
    "init": {F.INITIAL, F.FINALIZE, F.VERSION, F.READER_TIME},
    "sam": {F.SAM_VERIFY, F.SAM_LOGOUT, F.SAM_BASIC, F.SAM_SIGN},
    "hca": {
        F.HCA_VERIFY_PIN,
        F.HCA_LOGOUT,
        F.HCA_MOBILE_VERIFY,
        F.HCA_MOBILE_LOGOUT,
        F.HCA_BASIC,
        F.HCA_SIGN,
        F.HCA_SET_PIN,
        F.HCA_RESET_PIN,
    },
    "hc": {
        F.HC_VIRTUAL_VERIFY,
        F.HC_LOGOUT,
        F.HC_BASIC,
        F.HC_SIGN,
        F.HC_THREE_CARD_SIGN,
        F.HC_PIN_STATUS,
        F.HC_PIN_VERIFY,
        F.HC_PIN_SET,
        F.HC_PIN_CLEAR,
        F.HC_READ_VIRTUAL,
        F.HC_VIRTUAL_EXPORT,
        F.HC_VIRTUAL_IMPORT,
        F.HC_UPDATE_MARKS,
    },
}


def test_every_row_of_the_table_has_a_success_test_here() -> None:
    assert set().union(*COVERED.values()) == set(Function) == set(RULES)


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
