"""GET /api/health/v1/Serving: whether the broker serves, found the way a call goes.

systemd's watchdog heartbeat comes from this answer (nhi_broker/watchdog.py): the
request crosses HAProxy and the quick pool like any client's, and the answer needs a
round trip to an actor through the supervisor, so a hung terminator, pool or actor
system each withholds it. It needs no token: it tells nothing but whether the broker
serves, and a broker bound to a LAN address asks it from that address.
"""

from __future__ import annotations

from typing import Any

import falcon

from api.docs import PathDoc
from api.services import ApiServices
from broker.errors import BrokerError

PATH = "/api/health/v1/Serving"
PING_TIMEOUT = 1.0  # seconds for the actor round trip (about 40 µs when all is well)


class ServingResource:
    """GET: 200 once an actor answered, 503 saying what did not."""

    def __init__(self, services: ApiServices) -> None:
        self._services = services

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Ask the supervisor's pulse actor; its answer is the whole check."""
        try:
            self._services.broker.supervisor.ping(PING_TIMEOUT)
        except BrokerError as exc:
            why = exc.detail or str(exc)
            raise falcon.HTTPServiceUnavailable(title="not serving", description=why) from exc
        resp.media = {"serving": True}


def mount(app: falcon.App[Any, Any], services: ApiServices) -> None:
    """Add the health path."""
    services.docs.extend(DOCS)
    app.add_route(PATH, ServingResource(services))


DOCS: tuple[PathDoc, ...] = (
    PathDoc(
        "GET",
        PATH,
        "whether the broker serves: answered through the quick pool after a round trip to "
        "an actor (systemd's watchdog beats on it); no token needed",
        "meta",
        reply={"serving": {"type": "boolean", "const": True}},
        envelope=False,
        responses={503: "an actor did not answer in time"},
    ),
)
