"""The administrator's view of the actors: list them, restart one or a whole station.

``api.auth`` already demands the admin token on every path under ``/api/admin/``.
Bodies here are plain JSON (no cshis6 envelope): these are not the manual's functions.
"""

from __future__ import annotations

from typing import Any

import falcon
import structlog

from api.docs import PathDoc, Schema
from api.services import ApiServices
from api.wire import flat_json

PREFIX = "/api/admin/v1"
TAG = "admin"
log = structlog.get_logger("api.admin")

ACTOR: Schema = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "e.g. station:local, hc:desk2, reader:COM1"},
        "station": {"type": ["string", "null"], "description": "null: shared by stations"},
        "state": {"type": "string", "enum": ["running", "restarting"]},
        "restarts": {"type": "integer"},
        "inbox": {"type": "integer", "description": "messages waiting"},
        "device": {
            "type": ["string", "null"],
            "enum": ["present", "absent", None],
            "description": "readers: whether the device is there; an absent one (not plugged "
            "in, or unplugged) is looked for again by itself. null: not a reader",
        },
    },
}
TOKEN_ERRORS = {401: "no admin token", 403: "not the admin token"}


class ActorsResource:
    """GET /api/admin/v1/Actors."""

    def __init__(self, services: ApiServices) -> None:
        self._services = services

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Every actor: name, station, state, restarts, inbox depth, a reader's device."""
        actors = self._services.broker.supervisor.actors()
        resp.media = {"actors": [flat_json(actor) for actor in actors]}


class RestartResource:
    """POST /api/admin/v1/Actors/{name}/Restart."""

    def __init__(self, services: ApiServices) -> None:
        self._services = services

    def on_post(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        """Restart one actor, or every actor of a station (``station:desk2`` or ``desk2``)."""
        try:
            restarted = self._services.broker.supervisor.restart(name)
        except KeyError:
            raise falcon.HTTPNotFound(
                title="no such actor", description=f"no actor or station named {name[:80]!r}"
            ) from None
        log.info("admin.restart", target=name, actors=restarted, request_id=req.context.request_id)
        resp.media = {"restarted": restarted}


def mount(app: falcon.App[Any, Any], services: ApiServices) -> None:
    """Add the admin paths."""
    services.docs.extend(DOCS)
    app.add_route(f"{PREFIX}/Actors", ActorsResource(services))
    app.add_route(f"{PREFIX}/Actors/{{name}}/Restart", RestartResource(services))


DOCS: tuple[PathDoc, ...] = (
    PathDoc(
        "GET",
        f"{PREFIX}/Actors",
        "every actor: name, station, state, restarts, inbox depth, a reader's device (admin token)",
        TAG,
        reply={"actors": {"type": "array", "items": ACTOR}},
        envelope=False,
        responses=TOKEN_ERRORS,
    ),
    PathDoc(
        "POST",
        f"{PREFIX}/Actors/{{name}}/Restart",
        "restart one actor, or a whole station's (station:NAME or NAME) (admin token)",
        TAG,
        reply={"restarted": {"type": "array", "items": {"type": "string"}}},
        envelope=False,
        responses={**TOKEN_ERRORS, 404: "no actor or station of that name"},
    ),
)
