"""How an endpoint describes itself for the OpenAPI document (beside ``api.routes``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Schema = dict[str, Any]


@dataclass(frozen=True)
class PathDoc:
    """One method of one path: what it takes and what it answers.

    ``reply`` lists the fields beside ``statusCode`` and ``message`` for the
    cshis6-style endpoints (``envelope=True``); with ``envelope=False`` it is
    the whole body (admin, metrics, events, swagger).
    """

    method: str
    path: str
    summary: str
    tag: str
    request: Schema | None = None
    reply: Schema = field(default_factory=dict)
    envelope: bool = True
    content_type: str = "application/json"
    responses: dict[int, str] = field(default_factory=dict)  # other HTTP statuses it may answer
    codes: tuple[int, ...] = ()  # status codes it may put in statusCode, for the reader


COMMON_DOCS: tuple[PathDoc, ...] = (
    PathDoc(
        "GET",
        "/api/common/v1/Status",
        "狀態: the station's device, SAM, HCA and HC, from the read model",
        "common",
        reply={"status": {"type": "object"}},
    ),
    PathDoc(
        "GET",
        "/api/common/v1/Name",
        "the connected device's name",
        "common",
        reply={"name": {"type": ["string", "null"]}},
    ),
    PathDoc(
        "GET",
        "/api/common/v1/Devices",
        "裝置列表: cloud SAMs and COM ports",
        "common",
        reply={"devices": {"type": "array", "items": {"type": "object"}}},
    ),
    PathDoc(
        "GET",
        "/api/common/v1/Log",
        "API 呼叫記錄, newest first",
        "common",
        reply={"log": {"type": "array", "items": {"type": "object"}}},
    ),
    PathDoc("DELETE", "/api/common/v1/Log", "清除 the API call log", "common"),
)
