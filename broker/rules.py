"""The executable-state rules (the manual's 可執行狀態 tables; docs/web-api.md).

Each function names the state it needs. The station first tries to reach it
by itself — a cloud SAM verifies itself with the DC, a present card is
verified with the SAM, the health card in use is logged out for a new
virtual card (manual, 可執行狀態: 若目前狀態沒有在模式 X 時,元件將會嘗試進入模式
X) — and then runs the function. Never automatic: physical SAM verification
(failures lock the SAM) and any PIN.

Status reports what is true: HC 0 is no card (an empty reader, no virtual
card); after a logout a physical card still in the reader is 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from broker.codes import Code
from broker.errors import BrokerError
from broker.state import HcaStatus, HcStatus, HcType, SamStatus, SamType, StationState

ANY_HC = (HcStatus.NONE, HcStatus.PRESENT, HcStatus.VERIFIED, HcStatus.WITH_HCA)
HC_VERIFIED = (HcStatus.VERIFIED, HcStatus.WITH_HCA)
HC_LOGGED_OUT = (HcStatus.NONE, HcStatus.PRESENT)  # no card, or a physical one logged out


class Function(Enum):
    """Every function of the manual, named by its console label."""

    INITIAL = "連接裝置"
    FINALIZE = "中斷裝置"
    VERSION = "取得版本編號"
    READER_TIME = "取得讀卡機時間"
    SAM_VERIFY = "驗證安全模組"
    SAM_LOGOUT = "登出安全模組"
    SAM_BASIC = "讀取安全模組基本資料"
    SAM_SIGN = "安全模組簽章"
    HCA_VERIFY_PIN = "驗證 PIN 碼"
    HCA_LOGOUT = "醫事人員登出"
    HCA_MOBILE_VERIFY = "驗證行動憑證"
    HCA_MOBILE_LOGOUT = "行動憑證登出"
    HCA_BASIC = "讀取醫事人員基本資料"
    HCA_SIGN = "醫事人員簽章"
    HCA_SET_PIN = "設定 PIN 碼"
    HCA_RESET_PIN = "重設 PIN 碼"
    HC_VIRTUAL_VERIFY = "驗證虛擬健保卡"
    HC_LOGOUT = "健保卡登出"
    HC_BASIC = "讀取健保卡基本資料"
    HC_SIGN = "健保卡簽章"
    HC_THREE_CARD_SIGN = "三卡簽章"
    HC_PIN_STATUS = "重新整理"
    HC_PIN_VERIFY = "驗證 PIN"
    HC_PIN_SET = "設定 PIN"
    HC_PIN_CLEAR = "清除 PIN"
    HC_READ_VIRTUAL = "讀取虛擬健保卡基本資料"
    HC_VIRTUAL_EXPORT = "匯出"
    HC_VIRTUAL_IMPORT = "匯入"
    HC_UPDATE_MARKS = "註記更新"


@dataclass(frozen=True)
class Need:
    """What a function needs; None means "does not matter"."""

    initialized: bool | None = True  # False: needs the device NOT yet initialised
    sam: SamStatus | None = None  # at least this (reached automatically where allowed)
    hca: tuple[HcaStatus, ...] | None = None  # one of these, after automatic steps
    hc: tuple[HcStatus, ...] | None = None
    hc_pin_if_set: bool = False  # the HC's PIN must be verified when the card has one
    hc_logout_first: bool = False  # the health card in use is logged out first (manual's 0)
    after: str = ""  # the state change, as the console's table shows it


NO_INIT = Need(initialized=None)
RULES: dict[Function, Need] = {
    Function.INITIAL: Need(initialized=False, after="初始化"),
    Function.FINALIZE: Need(after="釋放"),
    Function.VERSION: NO_INIT,
    Function.READER_TIME: Need(),
    Function.SAM_VERIFY: Need(sam=SamStatus.PRESENT, after="SAM 1 → 2"),
    Function.SAM_LOGOUT: Need(sam=SamStatus.VERIFIED, after="SAM 2 → 1"),
    Function.SAM_BASIC: Need(sam=SamStatus.PRESENT),
    Function.SAM_SIGN: Need(sam=SamStatus.VERIFIED),
    Function.HCA_VERIFY_PIN: Need(
        sam=SamStatus.VERIFIED, hca=(HcaStatus.VERIFIED,), after="HCA 2 → 3"
    ),
    Function.HCA_LOGOUT: Need(
        sam=SamStatus.VERIFIED, hca=(HcaStatus.PIN_VERIFIED,), after="HCA 3 → 2"
    ),
    Function.HCA_MOBILE_VERIFY: Need(
        sam=SamStatus.VERIFIED, hca=(HcaStatus.NONE,), after="HCA 0 → 3"
    ),
    Function.HCA_MOBILE_LOGOUT: Need(
        sam=SamStatus.VERIFIED, hca=(HcaStatus.PIN_VERIFIED,), after="HCA 3 → 0"
    ),
    Function.HCA_BASIC: Need(sam=SamStatus.VERIFIED, hca=(HcaStatus.PIN_VERIFIED,)),
    Function.HCA_SIGN: Need(sam=SamStatus.VERIFIED, hca=(HcaStatus.PIN_VERIFIED,)),
    Function.HCA_SET_PIN: Need(sam=SamStatus.VERIFIED, hca=(HcaStatus.PIN_VERIFIED,)),
    Function.HCA_RESET_PIN: Need(
        sam=SamStatus.VERIFIED,
        hca=(HcaStatus.PRESENT, HcaStatus.VERIFIED, HcaStatus.PIN_VERIFIED),
    ),
    Function.HC_VIRTUAL_VERIFY: Need(
        sam=SamStatus.VERIFIED, hc=HC_LOGGED_OUT, hc_logout_first=True, after="HC 0 → 2"
    ),
    Function.HC_LOGOUT: Need(hc=ANY_HC, after="HC → 0 (卡片仍在讀卡機中為 1)"),
    Function.HC_BASIC: Need(sam=SamStatus.VERIFIED, hc=HC_VERIFIED),
    Function.HC_SIGN: Need(sam=SamStatus.VERIFIED, hc=HC_VERIFIED),
    Function.HC_THREE_CARD_SIGN: Need(
        sam=SamStatus.VERIFIED, hca=(HcaStatus.PIN_VERIFIED,), hc=HC_VERIFIED, after="HC 2 → 3"
    ),
    Function.HC_PIN_STATUS: Need(sam=SamStatus.VERIFIED, hc=HC_VERIFIED),
    Function.HC_PIN_VERIFY: Need(sam=SamStatus.VERIFIED, hc=HC_VERIFIED),
    Function.HC_PIN_SET: Need(sam=SamStatus.VERIFIED, hc=HC_VERIFIED, hc_pin_if_set=True),
    Function.HC_PIN_CLEAR: Need(sam=SamStatus.VERIFIED, hc=HC_VERIFIED, hc_pin_if_set=True),
    Function.HC_READ_VIRTUAL: Need(sam=SamStatus.VERIFIED),
    Function.HC_VIRTUAL_EXPORT: Need(sam=SamStatus.VERIFIED, hc=HC_VERIFIED, after="HC 2 → 0"),
    Function.HC_VIRTUAL_IMPORT: Need(
        sam=SamStatus.VERIFIED, hc=HC_LOGGED_OUT, hc_logout_first=True, after="HC 0 → 2"
    ),
    Function.HC_UPDATE_MARKS: Need(
        sam=SamStatus.VERIFIED, hc=HC_VERIFIED, after="HC 2 → 0 (卡片仍在讀卡機中為 1)"
    ),
}


class PreconditionError(BrokerError):
    """A function's state is not met and may not be reached automatically."""


def check_initialized(function: Function, state: StationState) -> None:
    """1000 if the device must be initialised and is not; 1001 for a second Initial."""
    need = RULES[function].initialized
    if need is True and not state.initialized:
        raise PreconditionError(function.value, code=Code.NOT_INITIALIZED)
    if need is False and state.initialized:
        raise PreconditionError(function.value, code=Code.ALREADY_INITIALIZED)


def sam_may_verify_itself(state: StationState) -> bool:
    """A cloud SAM verifies itself; a physical SAM never does (it would lock)."""
    return state.sam_type is SamType.CLOUD and state.sam_status is SamStatus.PRESENT


def check_sam(function: Function, state: StationState) -> None:
    """The SAM state after automatic steps: 1300 none, 1301 not verified."""
    need = RULES[function].sam
    if need is None or state.sam_status >= need:
        return
    if state.sam_status is SamStatus.NONE:
        raise PreconditionError("沒有安全模組 (no SAM)", code=Code.SAM_MODE1_FAILED)
    raise PreconditionError(
        "請先驗證安全模組: 實體安全模組不會自動驗證 (the SAM is not verified with the data "
        "centre; a physical SAM is never verified automatically: use SAM verification first)",
        code=Code.SAM_MODE2_FAILED,
    )


def check_hca(function: Function, state: StationState) -> None:
    """The HCA state after automatic steps: 1400/1401/1402 by the mode it failed to reach."""
    allowed = RULES[function].hca
    if allowed is None or state.hca_status in allowed:
        return
    wanted = min(allowed)
    if wanted is HcaStatus.NONE:
        raise PreconditionError(
            "請先登出目前的醫事人員卡 (a health-professional card is already in use)",
            code=Code.HPC_MODE1_FAILED,
        )
    codes = {
        HcaStatus.PRESENT: Code.HPC_MODE1_FAILED,
        HcaStatus.VERIFIED: Code.HPC_MODE2_FAILED,
        HcaStatus.PIN_VERIFIED: Code.HPC_MODE3_FAILED,
    }
    if state.hca_status is HcaStatus.NONE:
        raise PreconditionError(
            "讀卡機中沒有醫事人員卡 (no health-professional card in the reader)",
            code=Code.NO_CARD,
        )
    hint = "請先驗證醫事人員卡 PIN 碼" if wanted is HcaStatus.PIN_VERIFIED else "醫事人員卡尚未驗證"
    raise PreconditionError(
        f"{hint} (needs the health-professional card in mode {int(wanted)})", code=codes[wanted]
    )


def check_hc(function: Function, state: StationState) -> None:
    """The HC state after automatic steps: 1500/1501/1502, and 1511 for an unverified PIN."""
    need = RULES[function]
    if need.hc is not None and state.hc_status not in need.hc:
        if min(need.hc) is HcStatus.NONE:
            raise PreconditionError(
                "請先登出目前的健保卡 (a health card is already in use: log it out first)",
                code=Code.HC_MODE1_FAILED,
            )
        if state.hc_status is HcStatus.NONE:
            raise PreconditionError(
                "讀卡機中沒有健保卡,也沒有虛擬健保卡 (no health card in the reader, "
                "no virtual card)",
                code=Code.NO_CARD,
            )
        raise PreconditionError(
            "健保卡無法與安全模組驗證 (the health card is not verified)",
            code=Code.HC_MODE2_FAILED,
        )
    # A virtual card's PIN is the app's: its PIN functions are refused with 1526, not 1511.
    virtual = state.hc_type is HcType.VIRTUAL
    if need.hc_pin_if_set and not virtual and state.hc_has_pin and not state.hc_pin_verified:
        raise PreconditionError(
            "請先驗證健保卡 PIN 碼 (verify the card's PIN first)", code=Code.HC_PIN_NOT_VERIFIED
        )
