"""The status-code table and the error root."""

from __future__ import annotations

from broker.codes import MESSAGES, Code
from broker.errors import BrokerError, CardAbsentError, InvalidParameterError


def test_every_code_has_the_manuals_text() -> None:
    assert set(MESSAGES) == set(Code)
    assert all(MESSAGES[code] for code in Code)


def test_codes_cover_every_family_of_the_manual() -> None:
    assert len(Code) == 64  # 0000 and the 63 codes of 關於 → 狀態碼
    assert Code(1102).message == "未置入卡片"
    assert Code(1003).message == "正式卡與測試卡不能混用"
    assert Code(1525).message == "虛擬卡 Token 已超過驗證次數"
    assert Code(1707).message == "HCA 卡片已登出或在其它主機登入"


def test_codes_display_as_four_digits_like_the_console_log() -> None:
    assert Code.OK.display == "0000"
    assert Code.NO_CARD.display == "1102"


def test_every_broker_error_carries_a_code_and_the_manual_message() -> None:
    error = CardAbsentError("reader X")
    assert isinstance(error, BrokerError)
    assert error.code is Code.NO_CARD
    assert error.message == "未置入卡片"
    assert "reader X" in str(error)


def test_a_code_can_be_overridden_for_the_context() -> None:
    error = InvalidParameterError("pin must be 6 to 8 digits", code=Code.INVALID_PARAMETER_2)
    assert error.code is Code.INVALID_PARAMETER_2
