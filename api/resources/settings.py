"""設定: cloud SAMs, the default PC/SC reader and the CORS list, as the manual's console has them.

Every answer is HTTP 200 with ``statusCode`` and ``message``, and each call is
recorded in the API log. The settings are the reader host's own, so only the
station ``local`` may change them; other stations may read them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from pathlib import PureWindowsPath
from typing import Any

import falcon

from api.docs import PathDoc, Schema
from api.ports import BrokerPort
from api.resources.functions import ok, read_body, validate
from api.routes import body
from api.services import ApiServices
from broker.codes import Code
from broker.config import LOCAL
from broker.errors import BrokerError, InvalidParameterError
from broker.store import CloudSamStore

PREFIX = "/api/settings/v1"
TAG = "settings"
MULTIPART = "multipart/form-data"
READER_NAME: Schema = {"type": "string", "minLength": 1, "maxLength": 200}
HOST: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": 300,
    "description": "a host name (www.nhi.gov.tw) or an origin (https://www.nhi.gov.tw)",
}
SAM_ID: Schema = {"type": "string", "minLength": 1, "maxLength": 40, "description": "12 digits"}
CLOUD_SAM: Schema = {
    "type": "object",
    "properties": {
        "samId": {"type": "string"},
        "hospitalId": {"type": "string"},
        "name": {"type": "string"},
        "shortName": {"type": "string"},
        "comport": {"type": ["string", "null"]},
    },
}
UPLOAD = body(
    {
        "fileName": {
            "type": "string",
            "minLength": 1,
            "maxLength": 260,
            "description": "10-character hospital id + 12-digit SAM id + .SAM",
        },
        "content": {"type": "string", "minLength": 1, "description": "the file, base64"},
    },
    ("fileName", "content"),
)
SET_DEFAULT = body({"readerName": READER_NAME}, ("readerName",))
CORS_HOST = body({"host": HOST}, ("host",))
SAM_REMOVE = body({"samId": SAM_ID}, ("samId",))

Work = Callable[[falcon.Request], dict[str, Any] | None]


class SettingsResource:
    """Every settings function; falcon's route suffix picks the method."""

    def __init__(self, services: ApiServices) -> None:
        self._services = services

    @property
    def _broker(self) -> BrokerPort:
        return self._services.broker

    @property
    def _store(self) -> CloudSamStore:
        return self._services.broker.store

    # --- 雲端安全模組 ---------------------------------------------------------------

    def on_get_cloud_sam_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The imported cloud SAMs."""
        _answer(req, resp, lambda _r: {"cloudSams": [e.as_dict() for e in self._store.list()]})

    def on_post_cloud_sam_add(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Import a ``.SAM`` file: a multipart upload or JSON with base64 content."""
        _local_only(req)
        _answer(req, resp, self._add_cloud_sam)

    def on_post_cloud_sam_remove(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Forget an imported cloud SAM; 1611 if there is none with that id."""
        _local_only(req)
        _answer(req, resp, self._remove_cloud_sam)

    def _add_cloud_sam(self, req: falcon.Request) -> dict[str, Any]:
        name, content = uploaded_file(req)
        sam = self._store.import_file(name, content)
        entry = next(e for e in self._store.list() if e.sam_id == sam.sam_id)
        return dict(entry.as_dict())

    def _remove_cloud_sam(self, req: falcon.Request) -> None:
        args = _args(req, SAM_REMOVE)
        self._store.remove(args["samId"])

    # --- PCSC 讀卡機 -----------------------------------------------------------------

    def on_get_readers(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The PC/SC readers the broker knows."""
        _answer(req, resp, lambda _r: {"readers": self._broker.supervisor.pcsc_reader_names()})

    def on_post_get_default(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The default reader, or null."""
        _answer(req, resp, lambda _r: {"readerName": self._broker.settings.default_pcsc_reader})

    def on_post_set_default(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Choose the default reader; 1600 for a reader the broker does not know."""
        _local_only(req)
        _answer(req, resp, self._set_default)

    def on_post_remove_default(self, req: falcon.Request, resp: falcon.Response) -> None:
        """不使用: no default reader."""
        _local_only(req)
        _answer(req, resp, lambda _r: self._broker.settings.set_default_pcsc_reader(None))

    def on_post_auto_detect(self, req: falcon.Request, resp: falcon.Response) -> None:
        """自動偵測: the reader holding a card becomes the default; 1601 if none does."""
        _local_only(req)
        _answer(req, resp, self._auto_detect)

    def _set_default(self, req: falcon.Request) -> dict[str, Any]:
        name = _args(req, SET_DEFAULT)["readerName"]
        if name not in self._broker.supervisor.pcsc_reader_names():
            raise BrokerError(
                f"readerName {name[:80]!r} is not a known reader", code=Code.PCSC_READER_UNKNOWN
            )
        owner = self._broker.supervisor.reader_owner(name)
        if owner not in (None, LOCAL):
            raise BrokerError(
                f"readerName {name!r} belongs to station {owner}", code=Code.PCSC_READER_UNKNOWN
            )
        self._broker.settings.set_default_pcsc_reader(name)
        return {"readerName": name}

    def _auto_detect(self, _req: falcon.Request) -> dict[str, Any]:
        supervisor = self._broker.supervisor
        names = supervisor.pcsc_reader_names()
        # A reader never moves to another station: only local's or unused ones qualify.
        for name in [n for n in names if supervisor.reader_owner(n) in (None, LOCAL)]:
            if supervisor.reader_has_card(name):
                self._broker.settings.set_default_pcsc_reader(name)
                return {"readerName": name}
        raise BrokerError("no reader holds a card", code=Code.PCSC_AUTODETECT_FAILED)

    # --- CORS -------------------------------------------------------------------------

    def on_get_cors_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The hosts allowed beyond localhost."""
        _answer(req, resp, lambda _r: {"hosts": self._broker.settings.cors_hosts})

    def on_post_cors_add(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Allow a host; in force from the next request on."""
        _local_only(req)
        _answer(
            req,
            resp,
            lambda r: {"host": self._broker.settings.add_cors_host(_args(r, CORS_HOST)["host"])},
        )

    def on_post_cors_remove(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Withdraw a host; 1704 if it was not allowed."""
        _local_only(req)
        _answer(
            req, resp, lambda r: self._broker.settings.remove_cors_host(_args(r, CORS_HOST)["host"])
        )


def uploaded_file(req: falcon.Request) -> tuple[str, bytes]:
    """(file name, content) of a ``.SAM`` upload: multipart field ``file``, or JSON."""
    if (req.content_type or "").lower().startswith(MULTIPART):
        return _multipart_file(req)
    args = _args(req, UPLOAD)
    try:
        content = base64.b64decode(args["content"], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameterError("content is not base64") from None
    return args["fileName"], content


def _multipart_file(req: falcon.Request) -> tuple[str, bytes]:
    try:
        for part in req.get_media():
            if part.name == "file":
                if not part.filename:
                    raise InvalidParameterError("file has no file name")
                # Old browsers send the whole client path; the manual's rule is on the name.
                return PureWindowsPath(part.filename).name, part.get_data()
    except falcon.MediaMalformedError:
        raise InvalidParameterError("the multipart body is malformed") from None
    raise InvalidParameterError("file is required (a multipart field named file)")


def _args(req: falcon.Request, schema: Schema) -> dict[str, Any]:
    args = read_body(req)
    validate(schema, args)
    return args


def _answer(req: falcon.Request, resp: falcon.Response, work: Work) -> None:
    """Run one function; its result as the cshis6 envelope (a refusal: api/errors.py)."""
    resp.media = ok(work(req))
    req.context.status_code = 0


def _local_only(req: falcon.Request) -> None:
    if req.context.station != LOCAL:
        raise falcon.HTTPForbidden(
            title="settings are the reader host's",
            description="only the station 'local' may change them",
        )


FORBIDDEN = {403: "a station other than local tried to change a setting"}
INVALID = Code.INVALID_PARAMETER


def _setting(
    method: str,
    path: str,
    suffix: str,
    summary: str,
    *,
    request: Schema | None = None,
    reply: Schema | None = None,
    codes: tuple[Code, ...] = (),
    changes: bool = False,
) -> tuple[str, PathDoc]:
    """One settings function: the resource's route suffix and its OpenAPI entry.

    ``changes``: only the station local may call it (``_local_only``).
    """
    return suffix, PathDoc(
        method,
        f"{PREFIX}/{path}",
        summary,
        TAG,
        request,
        reply or {},
        responses=FORBIDDEN if changes else {},
        codes=tuple(int(code) for code in codes),
    )


PATHS: tuple[tuple[str, PathDoc], ...] = (
    _setting(
        "GET",
        "CloudSam/Get",
        "cloud_sam_get",
        "雲端安全模組清單",
        reply={"cloudSams": {"type": "array", "items": CLOUD_SAM}},
    ),
    _setting(
        "POST",
        "CloudSam/Add",
        "cloud_sam_add",
        "匯入雲端安全模組: multipart/form-data with the file in field `file`, or this JSON",
        request=UPLOAD,
        reply=CLOUD_SAM["properties"],
        codes=(Code.CLOUD_SAM_FILE_INVALID, INVALID),
        changes=True,
    ),
    _setting(
        "POST",
        "CloudSam/Remove",
        "cloud_sam_remove",
        "移除雲端安全模組",
        request=SAM_REMOVE,
        codes=(Code.CLOUD_SAM_UNKNOWN, INVALID),
        changes=True,
    ),
    _setting(
        "GET",
        "PcscReaderReader/Readers",
        "readers",
        "讀卡機清單: the PC/SC readers the broker knows",
        reply={"readers": {"type": "array", "items": {"type": "string"}}},
    ),
    _setting(
        "POST",
        "PcscReaderReader/GetDefault",
        "get_default",
        "目前預設讀卡機",
        reply={"readerName": {"type": ["string", "null"]}},
    ),
    _setting(
        "POST",
        "PcscReaderReader/SetDefault",
        "set_default",
        "設定預設讀卡機",
        request=SET_DEFAULT,
        reply={"readerName": {"type": "string"}},
        codes=(Code.PCSC_READER_UNKNOWN, INVALID),
        changes=True,
    ),
    _setting(
        "POST",
        "PcscReaderReader/RemoveDefault",
        "remove_default",
        "清除預設讀卡機 (不使用)",
        changes=True,
    ),
    _setting(
        "POST",
        "PcscReaderReader/AutoDetect",
        "auto_detect",
        "自動偵測: the first reader holding a card becomes the default",
        reply={"readerName": {"type": "string"}},
        codes=(Code.PCSC_AUTODETECT_FAILED,),
        changes=True,
    ),
    _setting(
        "GET",
        "Cors/Get",
        "cors_get",
        "CORS 主機清單 (localhost is always allowed)",
        reply={"hosts": {"type": "array", "items": {"type": "string"}}},
    ),
    _setting(
        "POST",
        "Cors/Add",
        "cors_add",
        "新增 CORS 主機, in force at once",
        request=CORS_HOST,
        reply={"host": {"type": "string", "description": "as stored: lowercase"}},
        codes=(INVALID,),
        changes=True,
    ),
    _setting(
        "POST",
        "Cors/Remove",
        "cors_remove",
        "移除 CORS 主機",
        request=CORS_HOST,
        codes=(INVALID,),
        changes=True,
    ),
)
DOCS: tuple[PathDoc, ...] = tuple(doc for _suffix, doc in PATHS)


def mount(app: falcon.App[Any, Any], services: ApiServices) -> None:
    """Add the settings paths."""
    services.docs.extend(DOCS)
    resource = SettingsResource(services)
    for suffix, doc in PATHS:
        app.add_route(doc.path, resource, suffix=suffix)
