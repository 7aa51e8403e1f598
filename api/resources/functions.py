"""The cshis6 function endpoints: JSON in, one call to the station's actor, JSON out.

Every domain outcome — success, refusal, precondition, invalid parameter —
is HTTP 200 with an integer ``statusCode`` and the manual's ``message``
(existing clients call ``raise_for_status()`` and then read ``statusCode``).
"""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
from typing import Any

import falcon
import jsonschema

from actors.messages import Context
from actors.station import AT_ONCE
from api.gate import StationGate
from api.routes import ROUTES, Route
from api.services import ApiServices
from api.wire import answer_json, arguments, status_json
from broker.answers import Answer
from broker.arguments import Arguments
from broker.codes import Code
from broker.errors import InvalidParameterError

MAX_DEPTH = 16  # the manual's bodies are flat objects; a little room for nested lists
TOO_DEEP = f"the body nests objects or arrays more than {MAX_DEPTH} deep"


def ok(fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """A success body."""
    return {"statusCode": 0, "message": Code.OK.message, **(fields or {})}


def read_body(req: falcon.Request) -> dict[str, Any]:
    """The JSON body (GET and DELETE may carry one too); {} when empty.

    Parsed whatever the content type: pages often send JSON as text/plain to
    spare a CORS preflight, and a cshis6 client gets a 1704, never a 415.
    """
    raw = req.bounded_stream.read() if req.content_length else b""
    if not raw.strip():
        return {}
    try:
        media = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidParameterError("the body is not valid JSON") from exc
    except RecursionError:  # json recurses per level: ~1,000 brackets exhaust the stack
        raise InvalidParameterError(TOO_DEEP) from None
    if not isinstance(media, dict):
        raise InvalidParameterError("the body must be a JSON object")
    if not nested_within(media, MAX_DEPTH):  # so validation and logging never recurse deep
        raise InvalidParameterError(TOO_DEEP)
    return media


def nested_within(value: object, limit: int) -> bool:
    """Whether ``value``'s objects and arrays nest at most ``limit`` deep (without recursion)."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        pending.extend((child, depth + 1) for child in children)
    return True


def validate(schema: dict[str, Any], args: dict[str, Any]) -> None:
    """Check ``args`` against a request schema; 1704 naming the first bad field."""
    validator = _validator(schema)
    error = next(iter(sorted(validator.iter_errors(args), key=lambda e: list(e.path))), None)
    if error is None:
        return
    if error.validator == "required":
        missing = str(error.message).split("'")[1]
        raise InvalidParameterError(f"{missing} is required")
    field = ".".join(str(p) for p in error.path) or "body"
    hint = schema.get("properties", {}).get(field, {}).get("description", "")
    raise InvalidParameterError(f"{field} is invalid" + (f" ({hint})" if hint else ""))


_validators: dict[int, tuple[dict[str, Any], jsonschema.Draft202012Validator]] = {}


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """One validator per schema (the schemas are constants): making one costs more than using it."""
    known = _validators.get(id(schema))
    if known is None or known[0] is not schema:
        known = (schema, jsonschema.Draft202012Validator(schema))
        _validators[id(schema)] = known  # the schema is kept with it: its id stays its own
    return known[1]


def context(req: falcon.Request) -> Context:
    """The request's context for the actors' logs."""
    return Context(req.context.request_id, req.context.client, req.context.station)


class FunctionResource:
    """One path; each of its methods runs one function of the manual."""

    def __init__(self, services: ApiServices, routes: list[Route], gate: StationGate) -> None:
        self._services = services
        self._routes = {route.method: route for route in routes}
        self._gate = gate
        for method in self._routes:
            setattr(self, f"on_{method.lower()}", self._respond)

    def _respond(self, req: falcon.Request, resp: falcon.Response) -> None:
        route = self._routes[req.method]
        body = read_body(req)
        validate(route.request, body)
        resp.media = ok(answer_json(self._call(req, route, arguments(body))))
        req.context.status_code = 0

    def _call(self, req: falcon.Request, route: Route, args: Arguments) -> Answer:
        """Run the function; 503 if its station has too many calls in flight."""
        station = req.context.station
        # What answers at once holds a thread only for a moment: never refused.
        gate = nullcontext() if route.function in AT_ONCE else self._gate.enter(station)
        with gate:
            return self._services.broker.supervisor.call(
                station, route.function, args, context(req), self._services.call_timeout
            )


class StatusResource:
    """GET /api/common/v1/Status: from the read model, never waiting on card or DC work."""

    def __init__(self, services: ApiServices) -> None:
        self._services = services

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The caller's station's state."""
        state = self._services.broker.board.get(req.context.station)
        resp.media = ok({"status": status_json(state)})
        req.context.status_code = 0


class NameResource:
    """GET /api/common/v1/Name: the connected device."""

    def __init__(self, services: ApiServices) -> None:
        self._services = services

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Its name (SAM id or COMn), or null."""
        state = self._services.broker.board.get(req.context.station)
        resp.media = ok({"name": state.device_name})
        req.context.status_code = 0


class DevicesResource:
    """GET /api/common/v1/Devices: the cloud SAMs and COM ports this station may connect."""

    def __init__(self, services: ApiServices) -> None:
        self._services = services

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Device names in Initial's order, with their kind."""
        supervisor = self._services.broker.supervisor
        station = req.context.station
        clouds = {entry.sam_id for entry in self._services.broker.store.list()}
        devices = [
            {"name": name, "kind": "cloud" if name in clouds else "serial"}
            for name in supervisor.names(station)
        ]
        resp.media = ok({"devices": devices})
        req.context.status_code = 0


class LogResource:
    """GET /api/common/v1/Log: the recent calls; DELETE clears them."""

    def __init__(self, services: ApiServices) -> None:
        self._services = services

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Newest first."""
        calls = self._services.call_log.recent(req.context.station)
        resp.media = ok(
            {"log": [{"function": c.function, "result": c.result, "time": c.at} for c in calls]}
        )

    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        """清除."""
        self._services.call_log.clear(req.context.station)
        resp.media = ok()


def add_routes(app: falcon.App[Any, Any], services: ApiServices) -> None:
    """Mount every function endpoint and the common read-only ones."""
    gate = StationGate(services.station_calls)
    services.gate = gate
    by_path: dict[str, list[Route]] = {}
    for route in ROUTES:
        by_path.setdefault(route.path, []).append(route)
    for path, routes in by_path.items():
        app.add_route(path, FunctionResource(services, routes, gate))
    app.add_route("/api/common/v1/Status", StatusResource(services))
    app.add_route("/api/common/v1/Name", NameResource(services))
    app.add_route("/api/common/v1/Devices", DevicesResource(services))
    app.add_route("/api/common/v1/Log", LogResource(services))


def new_request_id() -> str:
    """A short random id for one request, in every log line it causes."""
    return os.urandom(6).hex()
