"""The Web API of a running broker, with the virtual kit's control paths in the sim profile."""

from __future__ import annotations

from typing import Any

import falcon

from api.app import create_app
from api.services import ApiServices
from nhi_broker.assembly import RunningBroker
from nhi_kit import sim_api


def broker_app(services: ApiServices) -> falcon.App[Any, Any]:
    """``create_app`` for ``services`` (whose broker is a ``RunningBroker``): in the sim
    profile the kit's control API is mounted too; elsewhere its paths are 404."""
    broker = services.broker
    if isinstance(broker, RunningBroker) and broker.kit is not None:
        return create_app(services, [sim_api.mounting(broker)])
    return create_app(services)
