"""The OpenAPI 3.1 document of the whole API, and Swagger UI served offline beside it.

The document is built from the tables that route and validate: ``ROUTES``
gives each function endpoint's request schema (the very dict ``validate``
checks, not a copy) and reply fields; ``COMMON_DOCS`` and the ``DOCS`` of
every mounted module (``ApiServices.docs``) describe the rest. The
``statusCode`` of each reply is described with the manual's table (關於 →
狀態碼); each operation lists the codes it may answer.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import re
from pathlib import Path
from typing import Any

import falcon

from api.auth import ADMIN_PREFIX
from api.docs import COMMON_DOCS, PathDoc, Schema
from api.routes import ROUTES, Route, fields
from api.services import ApiServices
from api.status_codes import route_codes
from broker.codes import Code

SWAGGER_PREFIX = "/api/swagger"
OPENAPI_PATH = f"{SWAGGER_PREFIX}/openapi.json"
INDEX_PATH = f"{SWAGGER_PREFIX}/index.html"
SWAGGER_DIR = Path(__file__).with_name("swagger")
STATUS_CODE_REF = "#/components/schemas/StatusCode"
EVENT_STREAM = "text/event-stream"

TAGS: tuple[tuple[str, str], ...] = (
    ("common", "裝置: connect and release a device, status, version, the API call log"),
    ("sam", "安全模組 (SAM)"),
    ("hpc", "醫事人員卡 (HPC) and the mobile HCA"),
    ("hc", "健保卡: physical and virtual health cards"),
    ("settings", "設定: cloud SAMs, the default PC/SC reader, CORS hosts"),
    ("admin", "Actors and restarts (admin token, also on loopback)"),
    ("events", "Server-Sent Events for the console's live header"),
    ("sim", "The sim profile's virtual kit (absent in the hardware profile)"),
    ("meta", "This document, Swagger UI, the Prometheus metrics and the health check"),
)

DOCS: tuple[PathDoc, ...] = (
    PathDoc(
        "GET",
        OPENAPI_PATH,
        "This OpenAPI 3.1 document",
        "meta",
        reply={
            "openapi": {"type": "string", "const": "3.1.0"},
            **fields("object", "info", "paths", "components"),
        },
        envelope=False,
    ),
    PathDoc(
        "GET",
        INDEX_PATH,
        "Swagger UI, served offline (/api/swagger redirects here)",
        "meta",
        envelope=False,
        content_type="text/html",
    ),
)

# --- the document ---------------------------------------------------------------------


def collect_docs(services: ApiServices) -> list[PathDoc]:
    """``COMMON_DOCS`` plus what every mounted module described (the kit's: when mounted)."""
    return [*COMMON_DOCS, *services.docs]


def build_document(services: ApiServices) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document for this broker."""
    paths: dict[str, dict[str, Any]] = {}
    operations = [(r.method, r.path, route_operation(r)) for r in ROUTES]
    operations += [(d.method, d.path, doc_operation(d)) for d in collect_docs(services)]
    for method, path, operation in operations:
        item = paths.setdefault(path, {})
        if method.lower() in item:
            raise ValueError(f"{method} {path} is described twice")
        parameters = path_parameters(path)
        if parameters:
            item["parameters"] = parameters
        item[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "nhi-broker",
            "version": _version(),
            "summary": "cshis6-compatible Web API for Taiwan NHI card readers",
            "description": info_description(),
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "tags": [{"name": name, "description": text} for name, text in TAGS],
        "security": [{}, {"stationToken": []}],
        "paths": dict(sorted(paths.items())),
        "components": components(),
    }


def route_operation(route: Route) -> dict[str, Any]:
    """One function endpoint: its request schema as validated, the envelope plus its reply."""
    codes = route_codes(route)
    star = "★ Called by a real HIS client today: path, method and fields stay exact.\n\n"
    operation: dict[str, Any] = {
        "tags": [route.path.split("/")[2]],
        "summary": ("★ " if route.star else "") + route.summary,
        "description": (star if route.star else "")
        + f"Function: {route.function.value} (`{route.function.name}`).\n\n"
        + codes_text(codes),
        "operationId": operation_id(route.method, route.path),
        "x-star": route.star,
        "x-status-codes": codes,
    }
    if route.method != "GET" or route.request.get("properties"):
        operation["requestBody"] = request_body(route.request)
    operation["responses"] = {"200": envelope_response(route.reply), **error_responses(route.path)}
    return operation


def doc_operation(doc: PathDoc) -> dict[str, Any]:
    """One endpoint described by a ``PathDoc``."""
    operation: dict[str, Any] = {
        "tags": [doc.tag],
        "summary": doc.summary,
        "operationId": operation_id(doc.method, doc.path),
    }
    codes = sorted({0, *doc.codes}) if doc.envelope else sorted(set(doc.codes))
    if codes:
        operation["description"] = codes_text(codes)
        operation["x-status-codes"] = codes
    if doc.path.startswith(ADMIN_PREFIX):
        operation["security"] = [{"adminToken": []}]
    if doc.request is not None:
        operation["requestBody"] = request_body(doc.request)
    ok = envelope_response(doc.reply) if doc.envelope else plain_response(doc)
    responses = {"200": ok, **error_responses(doc.path)}
    for status, text in sorted(doc.responses.items()):
        responses[str(status)] = error_response(text) if status >= 400 else {"description": text}
    operation["responses"] = responses
    return operation


def request_body(schema: Schema) -> dict[str, Any]:
    """A JSON body with exactly the schema the endpoint validates against."""
    return {
        "required": bool(schema.get("required")),
        "content": {"application/json": {"schema": schema}},
    }


def envelope_response(reply: Schema) -> dict[str, Any]:
    """HTTP 200 with ``statusCode``, ``message``, ``detail`` and the reply's fields."""
    schema = {
        "type": "object",
        "required": ["statusCode", "message"],
        "properties": {
            "statusCode": {"$ref": STATUS_CODE_REF},
            "message": {"type": "string", "description": "the manual's text for statusCode"},
            "detail": {"type": "string", "description": "what went wrong, when it did"},
            **reply,
        },
    }
    text = "statusCode 0 with the reply's fields; otherwise statusCode, message and detail"
    return {"description": text, "content": {"application/json": {"schema": schema}}}


def plain_response(doc: PathDoc) -> dict[str, Any]:
    """HTTP 200 without the envelope: a JSON object of the reply's fields, events, or text.

    For other text (metrics, a page) the fields, if any, describe its parts and go
    in ``x-fields``.
    """
    schema: Schema
    media_type = doc.content_type.split(";")[0].strip()
    if media_type == falcon.MEDIA_JSON:
        schema = {"type": "object", "properties": doc.reply}
    elif media_type == EVENT_STREAM:
        schema = event_schema(doc.reply)
    else:
        schema = {"type": "string"}
        if doc.reply:
            schema["x-fields"] = doc.reply
    return {"description": "OK", "content": {doc.content_type: {"schema": schema}}}


def event_schema(kinds: dict[str, Schema]) -> Schema:
    """One Server-Sent Event as a client's parser reads it: ``event`` names its kind and
    ``data`` is JSON text, whose structure per kind ``contentSchema`` gives.

    In OpenAPI 3.1 a stream's ``schema`` describes each of its events.
    """
    data = {"type": "string", "contentMediaType": falcon.MEDIA_JSON}
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {"event": {"enum": list(kinds)}, "data": data},
        "oneOf": [
            {"properties": {"event": {"const": kind}, "data": {"contentSchema": fields}}}
            for kind, fields in kinds.items()
        ],
    }


def error_responses(path: str) -> dict[str, Any]:
    """The HTTP statuses other than 200 that any call of this path may get (docs/web-api.md)."""
    names = {
        401: "Unauthorized",
        403: "Forbidden",
        408: "RequestTimeout",
        413: "ContentTooLarge",
        431: "HeaderFieldsTooLarge",
        503: "ServiceUnavailable",
        504: "GatewayTimeout",
    }
    responses = {str(s): {"$ref": f"#/components/responses/{n}"} for s, n in names.items()}
    if path_parameters(path):
        responses["404"] = {"$ref": "#/components/responses/NotFound"}
    return dict(sorted(responses.items()))


def error_response(text: str) -> dict[str, Any]:
    """A non-200 answer: falcon's error body as ``api.app.json_error`` writes it."""
    schema = {"$ref": "#/components/schemas/HttpError"}
    return {"description": text, "content": {"application/json": {"schema": schema}}}


def path_parameters(path: str) -> list[dict[str, Any]]:
    """``{name}`` fields of a path template."""
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", path)
    ]


def operation_id(method: str, path: str) -> str:
    """``POST /api/hc/v1/Pin`` → ``post_api_hc_v1_Pin``."""
    return f"{method.lower()}_" + re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")


def codes_text(codes: list[int]) -> str:
    """The codes an operation may answer, with the manual's text."""
    messages = {int(code): code.message for code in Code}
    lines = [f"- `{code}` {messages.get(code, '')}" for code in codes]
    return "statusCode may be:\n\n" + "\n".join(lines)


def code_table() -> str:
    """The manual's status-code table, as Markdown."""
    rows = [f"| {code.display} | {int(code)} | {code.message} |" for code in Code]
    return "| 狀態碼 | statusCode | 訊息 |\n|---|---|---|\n" + "\n".join(rows)


def info_description() -> str:
    """How every call answers, who may call, and the status-code table."""
    return (
        "Every body is JSON. Every domain outcome is **HTTP 200** with an integer "
        "`statusCode` (0 = 成功) and the manual's `message`; invalid parameters are "
        "1704 with the field named in `message`. Other HTTP statuses only for: unknown "
        "path 404, wrong method 405, body too large 413, missing or unknown token 401, "
        "forbidden origin or role 403, header fields over 32 KiB 431, a request not "
        "received in 10 s 408, busy 503, no answer in time 504.\n\n"
        "Callers on this machine without a token are the station `local`; others send "
        "`Authorization: Bearer <station token>`. `/api/admin/` needs the admin token. "
        "Paths marked ★ are called by a real HIS client today and stay exact.\n\n"
        "## statusCode\n\n" + code_table()
    )


def components() -> dict[str, Any]:
    """Shared schemas, responses and security schemes."""
    error = {"$ref": "#/components/schemas/HttpError"}
    content = {"application/json": {"schema": error}}
    return {
        "schemas": {
            "StatusCode": {
                "type": "integer",
                "enum": [int(code) for code in Code],
                "description": "The manual's status code (關於 → 狀態碼):\n\n" + code_table(),
                "x-enum-varnames": [code.name for code in Code],
                "x-enum-descriptions": [code.message for code in Code],
            },
            "HttpError": {
                "type": "object",
                "required": ["title"],
                "properties": {
                    "title": {"type": "string"},
                    "description": {"type": ["string", "null"]},
                },
            },
        },
        "responses": {
            "Unauthorized": {
                "description": "no token off this machine, an unknown token, or no admin token",
                "content": content,
            },
            "Forbidden": {
                "description": "the Origin is not in the CORS list, or not the admin token",
                "content": content,
            },
            "ContentTooLarge": {"description": "the body is over 64 KiB", "content": content},
            "RequestTimeout": {
                "description": "the request's headers and body did not arrive within 10 s",
                "content": content,
            },
            "HeaderFieldsTooLarge": {
                "description": "the header fields are over 32 KiB",
                "content": content,
            },
            "ServiceUnavailable": {
                "description": "busy: so many connections are open that only the quick paths "
                "(Status, Version, the console) are served, a request waited 30 s for a free "
                "thread, or a function call's station already has 8 calls in flight",
                "content": content,
            },
            "GatewayTimeout": {
                "description": "no answer in time (a call's deadline + 2 s)",
                "content": content,
            },
            "NotFound": {"description": "no such resource", "content": content},
        },
        "securitySchemes": {
            "stationToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "a station's token; callers on this machine may omit it",
            },
            "adminToken": {"type": "http", "scheme": "bearer", "description": "the admin token"},
        },
    }


def _version() -> str:
    try:
        return importlib.metadata.version("nhi-broker")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


# --- resources ---------------------------------------------------------------------------

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".json": falcon.MEDIA_JSON,
}


class OpenApiResource:
    """GET /api/swagger/openapi.json: built on first use (every module is mounted by then)."""

    def __init__(self, services: ApiServices) -> None:
        self._services = services
        self._body: bytes | None = None

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The document."""
        if self._body is None:
            document = build_document(self._services)
            self._body = json.dumps(document, ensure_ascii=False).encode("utf-8")
        resp.data = self._body
        resp.content_type = falcon.MEDIA_JSON
        resp.cache_control = ["no-cache"]


class SwaggerFileResource:
    """GET /api/swagger/{name}: the packaged Swagger UI files, nothing else."""

    def __init__(self, directory: Path) -> None:
        self._files = {path.name: path for path in directory.iterdir() if path.is_file()}

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        """One file of the copy in ``api/swagger/``."""
        path = self._files.get(name)
        if path is None:
            raise falcon.HTTPNotFound(description=f"no file {name!r} in Swagger UI")
        resp.data = path.read_bytes()
        resp.content_type = CONTENT_TYPES.get(path.suffix, "text/plain; charset=utf-8")
        resp.cache_control = ["no-cache"]
        resp.set_header("X-Content-Type-Options", "nosniff")


class SwaggerRedirectResource:
    """GET /api/swagger (and /api/swagger/): to the UI's page."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """302 to index.html."""
        raise falcon.HTTPFound(INDEX_PATH)


def mount(app: falcon.App[Any, Any], services: ApiServices) -> None:
    """The document and Swagger UI."""
    services.docs.extend(DOCS)
    app.add_route(OPENAPI_PATH, OpenApiResource(services))
    app.add_route(SWAGGER_PREFIX, SwaggerRedirectResource())
    app.add_route(SWAGGER_PREFIX + "/{name}", SwaggerFileResource(SWAGGER_DIR))
