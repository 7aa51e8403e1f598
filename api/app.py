"""The Web API application: ``create_app(services)`` builds it from a running broker.

Order of the middleware is the order of the checks: request id, host (421
before anything runs), body size, origin (403), caller (401/403), then the
call log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import falcon
import structlog

from api import console, errors, metrics, openapi
from api.auth import CallerMiddleware, HostMiddleware, OriginMiddleware, own_names
from api.resources import admin, events, health, settings
from api.resources.functions import add_routes, new_request_id
from api.services import ApiServices

BODY_LIMIT = 64 * 1024
log = structlog.get_logger("api")

Mount = Callable[[falcon.App[Any, Any], ApiServices], None]


class RequestMiddleware:
    """A request id for the logs; one log line per call."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """What the log line needs, whatever refuses the request later."""
        req.context.request_id = req.get_header("X-Request-Id") or new_request_id()
        req.context.started = time.perf_counter()
        req.context.station = "-"
        req.context.client = req.remote_addr or "-"
        req.context.status_code = None

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, succeeded: bool
    ) -> None:
        """Log the call with its station, client, HTTP status and result code."""
        resp.set_header("X-Request-Id", req.context.request_id)
        # the watchdog's check every few seconds is no call worth a line when it succeeds
        quiet = req.path == health.PATH and resp.status_code == 200
        (log.debug if quiet else log.info)(
            "api.call",
            method=req.method,
            path=req.path,
            status=resp.status_code,
            code=req.context.status_code,
            request_id=req.context.request_id,
            client=req.context.client,
            station=req.context.station,
            ms=round((time.perf_counter() - req.context.started) * 1000, 2),
        )


class BodyLimitMiddleware:
    """413 for a body over the limit."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Refuse oversized bodies before reading them."""
        if (req.content_length or 0) > BODY_LIMIT:
            raise falcon.HTTPContentTooLarge(
                title="body too large", description=f"the limit is {BODY_LIMIT} bytes"
            )


class CallLogMiddleware:
    """The console's API 呼叫記錄: every function call and its result code."""

    def __init__(self, services: ApiServices) -> None:
        self._services = services

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, succeeded: bool
    ) -> None:
        """Record calls that reached a function (they set a status code)."""
        code = req.context.status_code
        if code is not None and req.path != "/api/common/v1/Log":
            self._services.call_log.add(req.path, f"{code:04d}", req.context.station)


def json_error(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    """HTTP errors as JSON: ``{"title", "description"}``."""
    resp.content_type = falcon.MEDIA_JSON
    resp.media = {"title": error.title, "description": error.description}


def create_app(services: ApiServices, extensions: Sequence[Mount] = ()) -> falcon.App[Any, Any]:
    """The whole API for one running broker; ``extensions`` add routes from outside the
    product (the virtual kit's sim control API, in the sim profile)."""
    app: falcon.App[Any, Any] = falcon.App(
        middleware=[
            RequestMiddleware(),
            HostMiddleware(own_names(services.broker.config)),
            BodyLimitMiddleware(),
            OriginMiddleware(services),
            CallerMiddleware(services),
            CallLogMiddleware(services),
        ],
        cors_enable=False,
    )
    app.set_error_serializer(json_error)
    errors.register(app)
    app.req_options.strip_url_path_trailing_slash = True
    add_routes(app, services)
    mounts = (settings.mount, admin.mount, events.mount, metrics.mount, health.mount)
    for mount in (*mounts, *extensions):
        mount(app, services)
    openapi.mount(app, services)  # last: it describes what the others mounted
    console.mount(app, services)
    return app
