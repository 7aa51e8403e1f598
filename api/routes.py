"""Every cshis6 function endpoint: method, path, the manual's function, request schema, reply.

One table serves the router, request validation and the OpenAPI document,
so they cannot drift. Paths marked ``star`` are called by a real HIS client
today (docs/web-api.md): they stay exactly as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from broker.rules import Function

Schema = dict[str, Any]

SERVICE_TYPE: Schema = {
    "type": "string",
    "pattern": "^[0-9]{2}$",
    "description": "服務類別, two digits: 01 read, 02 write, 03 sequence number, 04 update card, …",
}
PIN: Schema = {"type": "string", "pattern": "^[0-9]{6,8}$", "description": "6 to 8 digits"}
PUK: Schema = {"type": "string", "pattern": "^[0-9]{8}$", "description": "8 digits"}
TOKEN: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": 4096,
    "description": "虛擬健保卡 QR code",
}


def body(properties: Schema | None = None, required: tuple[str, ...] = ()) -> Schema:
    """A JSON object body; unknown fields are allowed (clients send extras)."""
    return {"type": "object", "properties": properties or {}, "required": list(required)}


def fields(kind: str, *names: str) -> Schema:
    """Reply fields, each of the JSON type ``kind``, with nothing more to say about them."""
    return {name: {"type": kind} for name in names}


NEW_PIN_REQUEST = body({"newPin": PIN}, ("newPin",))
TOKEN_REQUEST = body({"token": TOKEN}, ("token",))
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
SIGNATURE_FIELDS: Schema = {
    "signature": {"type": "string", "description": "base64"},
    "clientRandom": {"type": "string", "description": "base64, 8 bytes"},
    **fields("string", "hospitalId", "samId", "serviceType"),
}
HC_FIELDS: Schema = {
    **fields("string", "cardId", "idNo", "name"),
    "birthday": {"type": "string", "description": "ROC YYYMMDD"},
    "sex": {"type": "string", "enum": ["M", "F"]},
    "identityStatus": {"type": "string"},
}


@dataclass(frozen=True)
class Route:
    """One endpoint that runs a function of the manual for the caller's station."""

    method: str
    path: str
    function: Function
    summary: str
    request: Schema = field(default_factory=body)
    reply: Schema = field(default_factory=dict)  # fields beside statusCode and message
    star: bool = False


def signing(path: str, function: Function, summary: str, *signers: str) -> Route:
    """A 簽章 endpoint: it takes the service type; its reply adds the ids in ``signers``."""
    reply = {**SIGNATURE_FIELDS, **fields("string", *signers)}
    request = body({"serviceType": SERVICE_TYPE}, ("serviceType",))
    return Route("POST", path, function, summary, request, reply, star=True)


ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/api/common/v1/Initial",
        Function.INITIAL,
        "初始化裝置 (connect a device)",
        body({"name": {"type": "string", "description": "SAM id or COMn"}}),
        star=True,
    ),
    Route(
        "POST",
        "/api/common/v1/Finalize",
        Function.FINALIZE,
        "中斷裝置 (release the device)",
        star=True,
    ),
    Route(
        "GET",
        "/api/common/v1/Version",
        Function.VERSION,
        "版本編號",
        reply=fields("string", "fileVersion", "longVersion", "shortVersion", "location"),
    ),
    Route(
        "GET",
        "/api/common/v1/ReaderTime",
        Function.READER_TIME,
        "讀卡機時間",
        reply={"serverDateTime": {"type": "string", "description": "ROC YYYMMDDHHMMSS"}},
    ),
    Route(
        "POST",
        "/api/sam/v1/Verification",
        Function.SAM_VERIFY,
        "驗證安全模組 (SAM 1 → 2)",
        star=True,
    ),
    Route("DELETE", "/api/sam/v1/Logout", Function.SAM_LOGOUT, "登出安全模組 (SAM 2 → 1)"),
    Route(
        "GET",
        "/api/sam/v1/BasicData",
        Function.SAM_BASIC,
        "安全模組基本資料",
        reply={
            **fields("string", "samId", "hospitalId"),
            "hospitalName": NULLABLE_STRING,
            "hospitalShortName": NULLABLE_STRING,
        },
    ),
    signing("/api/sam/v1/Signature", Function.SAM_SIGN, "安全模組簽章"),
    Route(
        "POST",
        "/api/hpc/v1/Verification/Hpc",
        Function.HCA_VERIFY_PIN,
        "醫事人員卡驗證 PIN 碼 (HCA 2 → 3); without pin: typed on the reader's PIN pad",
        body({"pin": PIN}),
        star=True,
    ),
    Route(
        "POST",
        "/api/hpc/v1/Verification/Mobile",
        Function.HCA_MOBILE_VERIFY,
        "驗證醫事人員行動憑證 (HCA 0 → 3)",
        body({"certificate": {"type": "string", "minLength": 1}}, ("certificate",)),
    ),
    Route(
        "DELETE", "/api/hpc/v1/Logout", Function.HCA_LOGOUT, "醫事人員登出 (HCA 3 → 2)", star=True
    ),
    Route(
        "DELETE",
        "/api/hpc/v1/Verification/Mobile",
        Function.HCA_MOBILE_LOGOUT,
        "行動憑證登出 (HCA 3 → 0)",
    ),
    Route(
        "GET",
        "/api/hpc/v1/BasicData",
        Function.HCA_BASIC,
        "醫事人員基本資料",
        reply=fields("string", "cardId", "idNo", "cName", "eName"),
    ),
    signing("/api/hpc/v1/Signature", Function.HCA_SIGN, "醫事人員簽章", "hpcId", "hpcIdNo"),
    Route(
        "POST",
        "/api/hpc/v1/Pin",
        Function.HCA_SET_PIN,
        "設定 PIN 碼",
        NEW_PIN_REQUEST,
        star=True,
    ),
    Route(
        "PUT",
        "/api/hpc/v1/Pin",
        Function.HCA_RESET_PIN,
        "重設 PIN 碼 (with the PUK)",
        body({"puk": PUK, "newPin": PIN}, ("puk", "newPin")),
        star=True,
    ),
    Route(
        "POST",
        "/api/hc/v1/Verification/VirtualHc",
        Function.HC_VIRTUAL_VERIFY,
        "驗證虛擬健保卡 (HC 0 → 2)",
        TOKEN_REQUEST,
        star=True,
    ),
    Route("DELETE", "/api/hc/v1/Logout", Function.HC_LOGOUT, "健保卡登出 (HC → 0)", star=True),
    Route(
        "GET",
        "/api/hc/v1/BasicData",
        Function.HC_BASIC,
        "健保卡基本資料",
        reply={**HC_FIELDS, "dateIssue": NULLABLE_STRING},
    ),
    signing("/api/hc/v1/Signature/Hc", Function.HC_SIGN, "健保卡簽章", "hcId", "hcIdNo"),
    signing(
        "/api/hc/v1/Signature/HpcHc",
        Function.HC_THREE_CARD_SIGN,
        "三卡簽章 (HC 2 → 3)",
        "hcId",
        "hcIdNo",
        "hpcId",
        "hpcIdNo",
    ),
    Route(
        "GET",
        "/api/hc/v1/Pin",
        Function.HC_PIN_STATUS,
        "健保卡是否有設定 PIN",
        reply={"hasPin": {"type": "boolean"}},
    ),
    Route(
        "POST",
        "/api/hc/v1/Pin",
        Function.HC_PIN_VERIFY,
        "驗證健保卡 PIN",
        body({"pin": PIN}, ("pin",)),
        star=True,
    ),
    Route(
        "PUT",
        "/api/hc/v1/Pin",
        Function.HC_PIN_SET,
        "設定健保卡 PIN",
        NEW_PIN_REQUEST,
        star=True,
    ),
    Route("DELETE", "/api/hc/v1/Pin", Function.HC_PIN_CLEAR, "清除健保卡 PIN", star=True),
    Route(
        "POST",
        "/api/hc/v1/VirtualHc/ReadBasic",
        Function.HC_READ_VIRTUAL,
        "讀取虛擬健保卡基本資料 (the token stays usable)",
        TOKEN_REQUEST,
        HC_FIELDS,
        star=True,
    ),
    Route(
        "POST",
        "/api/hc/v1/VirtualHc/Export",
        Function.HC_VIRTUAL_EXPORT,
        "匯出虛擬健保卡 (HC 2 → 0)",
        reply={"transferCode": {"type": "string"}},
    ),
    Route(
        "POST",
        "/api/hc/v1/VirtualHc/Import",
        Function.HC_VIRTUAL_IMPORT,
        "匯入虛擬健保卡 (HC 0 → 2)",
        body({"transferCode": {"type": "string", "minLength": 1}}, ("transferCode",)),
    ),
    Route("POST", "/api/hc/v1/Mark", Function.HC_UPDATE_MARKS, "實體健保卡更新註記 (HC 2 → 0)"),
)
