"""NHI status codes, with the manual's text (關於 → 狀態碼)."""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    """Every status code of the cshis6 manual; 0 is success."""

    OK = 0
    NOT_INITIALIZED = 1000
    ALREADY_INITIALIZED = 1001
    NO_DEVICE = 1002
    FORMAL_TEST_MIXED = 1003
    NO_DEFAULT_PCSC_READER = 1100
    NO_PCSC_READER_IN_USE = 1101
    NO_CARD = 1102
    SELECT_FAILED = 1103
    PCSC_OTHER = 1199
    READER_DLL = 1200
    COMPORT_OPEN_FAILED = 1201
    READER_FAILED = 1202
    SAM_MODE1_FAILED = 1300
    SAM_MODE2_FAILED = 1301
    CONTRACT_EXPIRED = 1302
    HOSPITAL_SUSPENDED = 1303
    SAM_REVOKED = 1304
    HPC_MODE1_FAILED = 1400
    HPC_MODE2_FAILED = 1401
    HPC_MODE3_FAILED = 1402
    HPC_UNSUPPORTED = 1403
    HPC_PIN_FAILED = 1410
    HCA_BAD_SIGNATURE = 1420
    HCA_SIGNING_TIMEOUT = 1421
    HCA_CERT_NOT_VALID_NOW = 1422
    HCA_UNTRUSTED_ISSUER = 1423
    HCA_CERT_REVOKED = 1424
    MOBILE_HCA_BAD_SIGNATURE = 1430
    MOBILE_HCA_HOSPITAL_MISMATCH = 1431
    HC_MODE1_FAILED = 1500
    HC_MODE2_FAILED = 1501
    HC_MODE3_FAILED = 1502
    HC_NO_PIN_SET = 1510
    HC_PIN_NOT_VERIFIED = 1511
    HC_PIN_DISABLE_FAILED = 1512
    HC_PIN_ALREADY_VERIFIED = 1513
    HC_PIN_FAILED = 1514
    HC_PHYSICAL_ONLY = 1515
    VHC_TOKEN_FORMAT = 1520
    VHC_TOKEN_TIMED_OUT = 1521
    VHC_TOKEN_MALFORMED = 1522
    VHC_TOKEN_BAD_SIGNATURE = 1523
    VHC_TOKEN_EXPIRED = 1524
    VHC_TOKEN_OVERUSED = 1525
    VHC_NO_PIN_FUNCTIONS = 1526
    HC_VIRTUAL_ONLY = 1527
    VHC_TRANSFER_NOT_FOUND = 1528
    VHC_TRANSFER_OTHER_DEVICE = 1529
    VHC_TRANSFER_OTHER_HOSPITAL = 1530
    VHC_TRANSFER_INVALID = 1531
    PCSC_READER_UNKNOWN = 1600
    PCSC_AUTODETECT_FAILED = 1601
    CLOUD_SAM_FILE_INVALID = 1610
    CLOUD_SAM_UNKNOWN = 1611
    DC_CONNECTION = 1700
    DC_UNKNOWN_COMMAND = 1701
    DC_HTTP_ERROR = 1702
    DC_SESSION_EXPIRED = 1703
    INVALID_PARAMETER = 1704
    INVALID_PARAMETER_2 = 1705
    INVALID_PARAMETER_3 = 1706
    HCA_LOGGED_OUT_ELSEWHERE = 1707
    DC_UNDEFINED_ERROR = 1799

    @property
    def message(self) -> str:
        """The manual's text for this code."""
        return MESSAGES[self]

    @property
    def display(self) -> str:
        """Four digits, as the console's API log shows a result (0000, 1102)."""
        return f"{int(self):04d}"


MESSAGES: dict[Code, str] = {
    Code.OK: "成功",
    Code.NOT_INITIALIZED: "控制軟體尚未初始化",
    Code.ALREADY_INITIALIZED: "控制軟體已初始化",
    Code.NO_DEVICE: "未查詢到指定的或是任何有效的裝置名稱",
    Code.FORMAL_TEST_MIXED: "正式卡與測試卡不能混用",
    Code.NO_DEFAULT_PCSC_READER: "沒有發現預設 PCSC 讀卡機",
    Code.NO_PCSC_READER_IN_USE: "目前沒有使用任何 PCSC 讀卡機",
    Code.NO_CARD: "未置入卡片",
    Code.SELECT_FAILED: "切換卡片應用程式失敗",
    Code.PCSC_OTHER: "PCSC 發生其它錯誤",
    Code.READER_DLL: "無法載入 Reader.dll 檔案",
    Code.COMPORT_OPEN_FAILED: "開啟 Comport 失敗",
    Code.READER_FAILED: "操作實體讀卡機失敗",
    Code.SAM_MODE1_FAILED: "SAM 進入模式一失敗",
    Code.SAM_MODE2_FAILED: "SAM 進入模式二失敗",
    Code.CONTRACT_EXPIRED: "醫事機構已超過合約起迄",
    Code.HOSPITAL_SUSPENDED: "醫事機構已停權",
    Code.SAM_REVOKED: "SAM 已註銷",
    Code.HPC_MODE1_FAILED: "醫事人員卡進入模式一失敗",
    Code.HPC_MODE2_FAILED: "醫事人員卡進入模式二失敗",
    Code.HPC_MODE3_FAILED: "醫事人員卡進入模式三失敗",
    Code.HPC_UNSUPPORTED: "醫事人員卡不支援此功能",
    Code.HPC_PIN_FAILED: "醫事人員卡驗證 PIN 碼失敗",
    Code.HCA_BAD_SIGNATURE: "HCA 驗簽失敗",
    Code.HCA_SIGNING_TIMEOUT: "HCA 簽章逾時",
    Code.HCA_CERT_NOT_VALID_NOW: "HCA 憑證不在有效期內",
    Code.HCA_UNTRUSTED_ISSUER: "HCA 未查詢到信任上層憑證",
    Code.HCA_CERT_REVOKED: "HCA 憑證已註銷",
    Code.MOBILE_HCA_BAD_SIGNATURE: "Mobile HCA 驗簽失敗",
    Code.MOBILE_HCA_HOSPITAL_MISMATCH: "行動 HCA 驗證,醫事機構代碼與 SAM 不符",
    Code.HC_MODE1_FAILED: "健保卡進入模式一失敗",
    Code.HC_MODE2_FAILED: "健保卡進入模式二失敗",
    Code.HC_MODE3_FAILED: "健保卡進入模式三失敗",
    Code.HC_NO_PIN_SET: "實體健保卡並無設定 PIN 碼",
    Code.HC_PIN_NOT_VERIFIED: "尚未驗證 PIN 碼",
    Code.HC_PIN_DISABLE_FAILED: "停用 HC PIN 碼失敗",
    Code.HC_PIN_ALREADY_VERIFIED: "PIN 碼已驗證",
    Code.HC_PIN_FAILED: "驗證 HC PIN 碼失敗",
    Code.HC_PHYSICAL_ONLY: "呼叫的功能僅支援實體健保卡",
    Code.VHC_TOKEN_FORMAT: "虛擬健保卡 Token 格式錯誤",
    Code.VHC_TOKEN_TIMED_OUT: "虛擬健保卡 Token 已逾時",
    Code.VHC_TOKEN_MALFORMED: "虛擬卡 Token 格式不符",
    Code.VHC_TOKEN_BAD_SIGNATURE: "虛擬卡 Token 驗簽失敗",
    Code.VHC_TOKEN_EXPIRED: "虛擬卡 Token 已逾期",
    Code.VHC_TOKEN_OVERUSED: "虛擬卡 Token 已超過驗證次數",
    Code.VHC_NO_PIN_FUNCTIONS: "虛擬卡無法呼叫 PIN 相關函式",
    Code.HC_VIRTUAL_ONLY: "呼叫的功能僅支援虛擬健保卡",
    Code.VHC_TRANSFER_NOT_FOUND: "找不到虛擬健保卡轉移暫存資料",
    Code.VHC_TRANSFER_OTHER_DEVICE: "此虛擬健保卡轉移已被其它狀置使用",
    Code.VHC_TRANSFER_OTHER_HOSPITAL: "虛擬健保卡轉移只能使用在同一家醫事機構",
    Code.VHC_TRANSFER_INVALID: "虛擬健保卡已轉移或已失效",
    Code.PCSC_READER_UNKNOWN: "使用讀卡機名稱無法查詢到 PCSC 讀卡機",
    Code.PCSC_AUTODETECT_FAILED: "自動偵測預設讀卡機失敗",
    Code.CLOUD_SAM_FILE_INVALID: "雲端安全模組檔案格式錯誤",
    Code.CLOUD_SAM_UNKNOWN: "沒有查詢到雲端安全模組編號",
    Code.DC_CONNECTION: "與 DC 通訊連線異常",
    Code.DC_UNKNOWN_COMMAND: "與 DC 通訊命令代碼不存在",
    Code.DC_HTTP_ERROR: "與 DC 通訊回覆 HTTP 相關異常代碼",
    Code.DC_SESSION_EXPIRED: "Session 不存在或已逾期",
    Code.INVALID_PARAMETER: "參數格式異常",
    Code.INVALID_PARAMETER_2: "參數格式異常",
    Code.INVALID_PARAMETER_3: "參數格式異常",
    Code.HCA_LOGGED_OUT_ELSEWHERE: "HCA 卡片已登出或在其它主機登入",
    Code.DC_UNDEFINED_ERROR: "DC 端未定義錯誤",
}
