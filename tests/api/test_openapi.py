"""The OpenAPI document and the offline Swagger UI."""

from __future__ import annotations

import dataclasses
import re
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import falcon.testing
import jsonschema
import pytest
from playwright.sync_api import Browser
from schemathesis.specs.openapi.definitions import OPENAPI_31

from api import console, metrics, openapi
from api.docs import COMMON_DOCS, PathDoc
from api.openapi import (
    INDEX_PATH,
    OPENAPI_PATH,
    SWAGGER_DIR,
    TAGS,
    build_document,
    collect_docs,
)
from api.resources import admin, events, health, settings
from api.routes import ROUTES
from api.services import ApiServices
from api.status_codes import route_codes
from broker.codes import Code
from nhi_broker.assembly import RunningBroker
from nhi_broker.webapp import broker_app
from nhi_kit import sim_api
from tests.api.conftest import call

ROOT = Path(__file__).resolve().parents[2]
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def mounted(services: ApiServices) -> ApiServices:
    """``services`` once the app is built around them (each module describes its paths)."""
    broker_app(services)
    return services


@pytest.fixture
def document(client: falcon.testing.TestClient) -> dict[str, Any]:
    """The document as served."""
    result = client.simulate_get(OPENAPI_PATH)
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("application/json")
    payload: dict[str, Any] = result.json
    return payload


def module_docs() -> Iterator[PathDoc]:
    """``DOCS`` of every module the sim profile's app mounts, read directly."""
    for module in (settings, admin, events, metrics, health, sim_api, openapi, console):
        yield from getattr(module, "DOCS", ())


def schemas_in(node: Any, key: str = "") -> Iterator[Any]:
    """Every Schema Object of the document (request, response, parameter, component)."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "schema" or key == "schemas":
                yield value
            else:
                yield from schemas_in(value, name)
    elif isinstance(node, list):
        for item in node:
            yield from schemas_in(item, key)


def refs_in(node: Any) -> Iterator[str]:
    """Every ``$ref`` of the document."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "$ref":
                yield value
            else:
                yield from refs_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs_in(item)


def resolve(document: dict[str, Any], ref: str) -> Any:
    """A local JSON pointer."""
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(OPENAPI_31)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors, "\n".join(errors[:20])
    assert document["openapi"] == "3.1.0"


def test_every_schema_is_valid_json_schema_and_every_ref_resolves(
    document: dict[str, Any],
) -> None:
    schemas = list(schemas_in(document))
    assert len(schemas) > 100
    for schema in schemas:
        jsonschema.Draft202012Validator.check_schema(schema)
    for ref in set(refs_in(document)):
        assert resolve(document, ref) is not None, ref


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [
        operation["operationId"]
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]
    assert len(ids) == len(set(ids))


def test_every_route_is_documented_with_its_tag_and_star(document: dict[str, Any]) -> None:
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        assert operation["tags"] == [route.path.split("/")[2]]
        assert operation["x-star"] is route.star
        assert ("★" in operation["description"]) is route.star
        assert ("★" in operation["summary"]) is route.star
        assert operation["x-status-codes"] == route_codes(route)


def test_every_docs_entry_is_documented(document: dict[str, Any], services: ApiServices) -> None:
    docs = [*COMMON_DOCS, *module_docs()]
    assert {d.tag for d in docs} <= {name for name, _ in TAGS}
    assert collect_docs(services) == docs  # the sim profile: nothing left out
    for doc in docs:
        operation = document["paths"][doc.path][doc.method.lower()]
        assert operation["tags"] == [doc.tag]
        for status in doc.responses:
            assert str(status) in operation["responses"]
    assert OPENAPI_PATH in document["paths"]
    assert INDEX_PATH in document["paths"]
    assert "/metrics" in document["paths"]


def test_nothing_is_documented_that_is_not_routed(
    document: dict[str, Any], client: falcon.testing.TestClient
) -> None:
    for path, item in document["paths"].items():
        concrete = re.sub(r"{\w+}", "x", path)
        for method in set(item) & HTTP_METHODS:
            if path == "/api/events/v1":
                continue  # a stream that does not end; it is routed (tests of its own)
            result = client.simulate_request(method.upper(), concrete, json={})
            assert result.status_code not in (404, 405) or "{" in path, (method, path)


def test_request_schemas_are_the_very_objects_used_for_validation(
    services: ApiServices,
) -> None:
    document = build_document(mounted(services))
    for route in ROUTES:
        body = document["paths"][route.path][route.method.lower()].get("requestBody")
        if route.method == "GET":
            assert body is None
            continue
        assert body["content"]["application/json"]["schema"] is route.request
        assert body["required"] is bool(route.request["required"])


def test_a_body_the_documented_schema_refuses_is_refused_with_1704(
    client: falcon.testing.TestClient,
) -> None:
    for route in ROUTES:
        if route.request["required"]:
            reply = call(client, route.method, route.path, {})
            assert reply["statusCode"] == Code.INVALID_PARAMETER, route.path
            assert route.request["required"][0] in reply["message"]


def test_replies_are_the_envelope_plus_the_routes_fields(document: dict[str, Any]) -> None:
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema["required"] == ["statusCode", "message"]
        assert schema["properties"]["statusCode"] == {"$ref": "#/components/schemas/StatusCode"}
        assert schema["properties"]["message"]["type"] == "string"
        assert schema["properties"]["detail"]["type"] == "string"
        for name in route.reply:
            assert schema["properties"][name] == route.reply[name]
        assert {"401", "403", "408", "413", "431", "503", "504"} <= set(operation["responses"])


def test_status_codes_are_the_manuals_table(document: dict[str, Any]) -> None:
    status = document["components"]["schemas"]["StatusCode"]
    assert status["type"] == "integer"
    assert status["enum"] == [int(code) for code in Code]
    for code in Code:
        assert f"| {code.display} | {int(code)} | {code.message} |" in status["description"]
        assert code.message in document["info"]["description"]
    sign = document["paths"]["/api/sam/v1/Signature"]["post"]
    assert {0, 1000, 1300, 1301, 1704} <= set(sign["x-status-codes"])
    assert "`1704` 參數格式異常" in sign["description"]


def test_admin_paths_need_the_admin_token(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["adminToken"] == {**schemes["adminToken"], "type": "http", "scheme": "bearer"}
    for path, item in document["paths"].items():
        for method in set(item) & HTTP_METHODS:
            security = item[method].get("security")
            if path.startswith("/api/admin/"):
                assert security == [{"adminToken": []}]
            else:
                assert security is None  # the document's default: no token, or a station's


def test_sim_paths_only_when_the_sim_kit_runs(
    running: RunningBroker, services: ApiServices
) -> None:
    with_kit = build_document(mounted(services))["paths"]  # services is ApiServices(running)
    hardware_like = ApiServices(dataclasses.replace(running, kit=None))
    without_kit = build_document(mounted(hardware_like))["paths"]
    sim_paths = {d.path for d in module_docs() if d.tag == "sim"}
    assert sim_paths <= set(with_kit)
    assert not {p for p in without_kit if p.startswith("/api/sim/")}
    assert set(with_kit) - set(without_kit) == sim_paths


# --- Swagger UI ---------------------------------------------------------------------


def local_references(html: str) -> list[str]:
    """Every src and href of a page."""
    return re.findall(r'(?:src|href)="([^"]*)"', html)


def test_swagger_ui_page_uses_only_local_files(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get(INDEX_PATH)
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/html")
    assert "http" not in result.text.lower()
    references = local_references(result.text)
    assert {"./swagger-ui-bundle.js", "./swagger-ui.css", "./swagger-initializer.js"} <= set(
        references
    )
    for reference in references:
        assert reference.startswith("./"), reference
        asset = client.simulate_get(f"/api/swagger/{reference[2:]}")
        assert asset.status_code == 200, reference
        assert asset.content, reference


def test_swagger_ui_loads_this_document_and_nothing_remote(
    client: falcon.testing.TestClient,
) -> None:
    script = client.simulate_get("/api/swagger/swagger-initializer.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert 'url: "./openapi.json"' in script.text
    assert "validatorUrl: null" in script.text
    assert "http" not in script.text
    bundle = client.simulate_get("/api/swagger/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert b"SwaggerUIBundle" in bundle.content
    css = client.simulate_get("/api/swagger/swagger-ui.css")
    assert css.headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("path", ["/api/swagger", "/api/swagger/"])
def test_swagger_folder_redirects_to_the_page(client: falcon.testing.TestClient, path: str) -> None:
    result = client.simulate_get(path)
    assert result.status_code == 302
    assert result.headers["location"] == INDEX_PATH


@pytest.mark.parametrize("name", ["nope.js", "..%2Fopenapi.py", "%2E%2E"])
def test_only_the_packaged_files_are_served(client: falcon.testing.TestClient, name: str) -> None:
    assert client.simulate_get(f"/api/swagger/{name}").status_code == 404


def test_swagger_ui_is_packaged_with_its_license() -> None:
    names = {path.name for path in SWAGGER_DIR.iterdir()}
    assert {
        "index.html",
        "swagger-initializer.js",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-ui.css",
        "LICENSE",
    } <= names
    assert "Apache License" in (SWAGGER_DIR / "LICENSE").read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "swagger/*" in pyproject["tool"]["setuptools"]["package-data"]["api"]


class QuietHandler(WSGIRequestHandler):
    """wsgiref without a stderr line per request."""

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_swagger_ui_renders_every_operation_offline_in_a_browser(
    services: ApiServices, browser: Browser
) -> None:
    server = make_server("127.0.0.1", 0, broker_app(services), handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_port}"
    remote: list[str] = []
    errors: list[str] = []

    def refuse(route: Any) -> None:
        remote.append(route.request.url)
        route.abort()

    page = browser.new_page()
    try:
        page.route(re.compile(r"^(?!" + re.escape(origin) + r"/).*"), refuse)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{origin}/api/swagger")
        page.wait_for_selector(".opblock", timeout=15_000)
        operations = page.locator(".opblock").count()
        title = page.locator(".info .title").inner_text()
    finally:
        page.close()
        server.shutdown()
        server.server_close()
    assert not remote
    assert not errors
    assert "nhi-broker" in title
    document = build_document(services)
    expected = sum(len(set(item) & HTTP_METHODS) for item in document["paths"].values())
    assert operations == expected
