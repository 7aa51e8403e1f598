"""The simulated cloud's status codes: the NHI's are not public, so these are ours.

5003 and 3209 are the two codes a real clinic client acts on (docs/cloud-protocol.md);
the rest name one failed check each (docs/cloud-protocol.md lists them).
"""

from __future__ import annotations

from enum import IntEnum


class CloudCode(IntEnum):
    """``statusCode`` of a cloud answer."""

    OK = 0
    WRITTEN_AGAIN = 3209  # WriteCodeFee over codes already written: replaced, still success
    UPDATE_CARD_FIRST = 5003  # the card's treatment count is used up: HcContent/Update, retry
    BAD_REQUEST = 6001
    UNKNOWN_SAM = 6101
    SAM_NOT_OF_HOSPITAL = 6102
    WRONG_SERVICE_TYPE = 6103
    BAD_SIGNATURE = 6104
    REPLAYED_RANDOM = 6105
    UNKNOWN_HC = 6106
    HC_NOT_SIGNER = 6107
    UNKNOWN_HPC = 6108
    HPC_NOT_SIGNER = 6109
    NO_SUCH_VISIT = 6201
    VISIT_ROLLED_BACK = 6202
    UNKNOWN_PATIENT = 6203
    UNKNOWN_ACCESS_TOKEN = 6204
    SIMULATED_FAULT = 6900


TEXT: dict[CloudCode, str] = {
    CloudCode.OK: "成功",
    CloudCode.WRITTEN_AGAIN: "已寫入過，本次覆寫 (success)",
    CloudCode.UPDATE_CARD_FIRST: "請先更新健保卡 (HcContent/Update)",
    CloudCode.BAD_REQUEST: "欄位缺漏或格式錯誤",
    CloudCode.UNKNOWN_SAM: "安全模組不存在",
    CloudCode.SAM_NOT_OF_HOSPITAL: "安全模組不屬於此醫事機構",
    CloudCode.WRONG_SERVICE_TYPE: "簽章的服務類別不符",
    CloudCode.BAD_SIGNATURE: "簽章驗證失敗",
    CloudCode.REPLAYED_RANDOM: "clientRandom 已使用過",
    CloudCode.UNKNOWN_HC: "健保卡不存在",
    CloudCode.HC_NOT_SIGNER: "簽章不是此健保卡所做",
    CloudCode.UNKNOWN_HPC: "醫事人員卡不存在",
    CloudCode.HPC_NOT_SIGNER: "簽章不是此醫事人員卡所做",
    CloudCode.NO_SUCH_VISIT: "查無此就醫資料 (treatmentDateTime)",
    CloudCode.VISIT_ROLLED_BACK: "此就醫已退掛",
    CloudCode.UNKNOWN_PATIENT: "查無此病患 (patientId)",
    CloudCode.UNKNOWN_ACCESS_TOKEN: "accessToken 不存在或已使用",
    CloudCode.SIMULATED_FAULT: "模擬錯誤",
}


class CloudRefusedError(Exception):
    """The cloud refuses a call; ``code`` says which check failed."""

    def __init__(self, code: CloudCode, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{int(code)} {TEXT[code]}" + (f": {detail}" if detail else ""))

    @property
    def message(self) -> str:
        """What the caller is shown: the code's text and what was wrong."""
        return TEXT[self.code] + (f": {self.detail}" if self.detail else "")
