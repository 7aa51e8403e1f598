"""The executable-state table through the real actors: initialisation, common functions, SAM.

The rows of 初始化, 共用函式 and 安全模組 (docs/web-api.md), and the check that
every row of the table has its success test in one of the test_state_rules_*
files (tests/actors/state_table.py says what each row's test proves).
"""

from __future__ import annotations

from functools import partial

from broker.codes import Code
from broker.rules import RULES, Function
from broker.state import HcaStatus, HcStatus, SamStatus, SamType
from nhi_broker.assembly import RunningBroker
from tests.actors.conftest import Call, code_of, state
from tests.actors.state_table import (
    COM1_SAM,
    FORMAL_CLOUD,
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
