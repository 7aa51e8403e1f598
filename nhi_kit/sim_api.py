"""The sim profile's control API: the virtual kit's cards, readers, QR tokens, data centre, cloud.

Mounted only when the broker has a kit, so these paths are 404 in the
hardware profile. Test programs outside the project call these exact paths.
The work itself is in ``nhi_kit.sim_control``, shared with the console and tests. The
composition root adds these routes to the Web API (``create_app``'s extensions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import falcon

from api.app import Mount
from api.docs import PathDoc, Schema
from api.resources.functions import ok, read_body, validate
from api.routes import body
from api.services import ApiServices
from broker.codes import Code
from broker.errors import InvalidParameterError
from nhi_kit import sim_control
from nhi_kit.sim_kit import KitBroker

PREFIX = "/api/sim/v1"
TAG = "sim"
NAME: Schema = {"type": "string", "minLength": 1, "maxLength": 200}
CARD_ID: Schema = {"type": "string", "minLength": 1, "maxLength": 40, "description": "kit card id"}
INSERT = body({"reader": NAME, "card": CARD_ID}, ("reader", "card"))
REMOVE = body({"reader": NAME}, ("reader",))
TOKEN = body({"card": CARD_ID}, ("card",))
FAULT = body(
    {
        "latencyMs": {"type": "integer", "minimum": 0, "maximum": sim_control.MAX_LATENCY_MS},
        "down": {"type": "boolean", "description": "refuse every connection"},
    }
)
DC_SETTINGS = body(
    {
        "vhcVerifications": {
            "type": "integer",
            "minimum": 1,
            "maximum": sim_control.MAX_VHC_VERIFICATIONS,
            "description": "how often one QR token may be verified (then 1525); default 3",
        }
    },
    ("vhcVerifications",),
)
PIN_PAD = body(
    {
        "reader": NAME,
        "pin": {"type": "string", "pattern": "^[0-9]{1,16}$", "description": "the digits typed"},
        "cancel": {"type": "boolean", "description": "press Cancel instead"},
    },
    ("reader",),
)
CONTRACT = body(
    {
        "samId": {"type": "string", "minLength": 1, "maxLength": 40},
        "state": {"type": "string", "enum": ["valid", "expired", "suspended", "revoked"]},
    },
    ("samId", "state"),
)
CLOUD_FAULT = body(
    {
        "latencyMs": {"type": "integer", "minimum": 0, "maximum": sim_control.MAX_LATENCY_MS},
        "down": {"type": "boolean", "description": "refuse every connection"},
        "endpoint": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100,
            "description": "a cloud path, or what follows its v1/: SequelNumber/Next",
        },
        "statusCode": {"type": "integer", "minimum": 0, "maximum": 99999},
        "count": {"type": "integer", "minimum": 0, "maximum": 1000, "description": "default 1"},
    }
)
CLOUD_FAULTS: Schema = {
    "latencyMs": {"type": "integer"},
    "down": {"type": "boolean"},
    "injected": {"type": "object", "description": "path → {statusCode, count} still to come"},
}
CLOUD_CALL: Schema = {
    "type": "object",
    "properties": {
        "time": {"type": "number", "description": "epoch seconds"},
        "endpoint": {"type": "string"},
        "card": {"type": "string", "description": "hcId or patientId, empty if none"},
        "statusCode": {"type": "integer"},
    },
}
CARD: Schema = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "kind": {"type": "string", "enum": ["hc", "hpc", "sam"]},
        "fields": {"type": "object", "description": "the card's data, with its pin and puk"},
    },
}
READER: Schema = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Virtual Reader N, or COM1 SAM/HPC/HC"},
        "station": {"type": ["string", "null"]},
        "role": {"type": "string", "enum": ["hc", "hpc", "sam", "any"]},
        "card": {"type": ["string", "null"]},
    },
}
FAULTS: Schema = {
    "latencyMs": {"type": "integer"},
    "down": {"type": "boolean"},
    "http5xx": {"type": "boolean"},
    "malformed": {"type": "boolean"},
}

Work = Callable[[KitBroker, dict[str, Any]], dict[str, Any] | None]


class SimResource:
    """One path of the control API: its schema and its work."""

    def __init__(self, broker: KitBroker, schema: Schema | None, work: Work) -> None:
        self._broker = broker
        self._schema = schema
        self._work = work
        setattr(self, "on_post" if schema is not None else "on_get", self._respond)

    def _respond(self, req: falcon.Request, resp: falcon.Response) -> None:
        args = read_body(req)
        if self._schema is not None:
            validate(self._schema, args)
        resp.media = ok(self._work(self._broker, args))


def _cards(broker: KitBroker, _args: dict[str, Any]) -> dict[str, Any]:
    return {"cards": sim_control.cards(broker)}


def _readers(broker: KitBroker, _args: dict[str, Any]) -> dict[str, Any]:
    return {"readers": [reader.as_dict() for reader in sim_control.readers(broker)]}


def _insert(broker: KitBroker, args: dict[str, Any]) -> None:
    sim_control.insert(broker, args["reader"], args["card"])


def _remove(broker: KitBroker, args: dict[str, Any]) -> None:
    sim_control.remove(broker, args["reader"])


def _token(broker: KitBroker, args: dict[str, Any]) -> dict[str, Any]:
    return {"token": sim_control.virtual_hc_token(broker, args["card"])}


def _fault(broker: KitBroker, args: dict[str, Any]) -> dict[str, Any]:
    return sim_control.set_dc_fault(broker, args.get("latencyMs"), args.get("down"))


def _dc_settings(broker: KitBroker, args: dict[str, Any]) -> dict[str, Any]:
    return {"vhcVerifications": sim_control.set_vhc_verifications(broker, args["vhcVerifications"])}


def _pin_pad(broker: KitBroker, args: dict[str, Any]) -> None:
    sim_control.pin_pad(broker, args["reader"], args.get("pin"), bool(args.get("cancel")))


def _contract(broker: KitBroker, args: dict[str, Any]) -> dict[str, Any]:
    sim_control.set_contract(broker, args["samId"], args["state"])
    return {"samId": args["samId"], "state": args["state"]}


def _cloud_fault(broker: KitBroker, args: dict[str, Any]) -> dict[str, Any]:
    injection = None
    if "endpoint" in args or "statusCode" in args:
        if "endpoint" not in args or "statusCode" not in args:
            raise InvalidParameterError("endpoint and statusCode go together")
        injection = (args["endpoint"], args["statusCode"], args.get("count", 1))
    return sim_control.set_cloud_fault(broker, args.get("latencyMs"), args.get("down"), injection)


def _cloud_calls(broker: KitBroker, _args: dict[str, Any]) -> dict[str, Any]:
    return {"calls": sim_control.cloud_calls(broker)}


INVALID = (int(Code.INVALID_PARAMETER),)


@dataclass(frozen=True)
class SimPath:
    """One path of the control API: a GET when it takes no body, else a POST."""

    path: str
    summary: str
    work: Work
    request: Schema | None = None
    reply: Schema = field(default_factory=dict)

    def doc(self) -> PathDoc:
        """Its entry in the OpenAPI document; a POST may answer 1704 for a bad argument."""
        method, codes = ("GET", ()) if self.request is None else ("POST", INVALID)
        path = f"{PREFIX}/{self.path}"
        return PathDoc(method, path, self.summary, TAG, self.request, self.reply, codes=codes)


PATHS: tuple[SimPath, ...] = (
    SimPath(
        "Cards",
        "the kit's cards with their data, PINs and PUKs (sim profile only)",
        _cards,
        reply={"cards": {"type": "array", "items": CARD}},
    ),
    SimPath(
        "Readers",
        "the kit's readers and serial slots: station, role and the card in each (sim only)",
        _readers,
        reply={"readers": {"type": "array", "items": READER}},
    ),
    SimPath("Insert", "put a kit card in a reader (sim profile only)", _insert, INSERT),
    SimPath("Remove", "pull the card out of a reader (sim profile only)", _remove, REMOVE),
    SimPath(
        "VirtualHc/Token",
        "a fresh 虛擬健保卡 QR token for a kit person (sim profile only)",
        _token,
        TOKEN,
        {"token": {"type": "string"}},
    ),
    SimPath(
        "Dc/Fault",
        "slow the simulated data centre down or take it off the network (sim profile only)",
        _fault,
        FAULT,
        FAULTS,
    ),
    SimPath(
        "Dc/Settings",
        "how often the simulated data centre lets one QR token be verified (sim profile only)",
        _dc_settings,
        DC_SETTINGS,
        {"vhcVerifications": {"type": "integer"}},
    ),
    SimPath(
        "PinPad",
        "type on (or cancel) an emulated serial reader's PIN pad while a verification waits "
        "(Status shows pinPadWaiting; sim profile only)",
        _pin_pad,
        PIN_PAD,
    ),
    SimPath(
        "Sam/Contract",
        "change a SAM's contract at the simulated data centre (sim profile only)",
        _contract,
        CONTRACT,
        {"samId": {"type": "string"}, "state": {"type": "string"}},
    ),
    SimPath(
        "Cloud/Fault",
        "slow the NHI cloud simulator, take it off the network, or have an endpoint answer "
        "statusCode to its next count calls (sim profile only)",
        _cloud_fault,
        CLOUD_FAULT,
        CLOUD_FAULTS,
    ),
    SimPath(
        "Cloud/Calls",
        "the NHI cloud simulator's recent calls, newest first (sim profile only)",
        _cloud_calls,
        reply={"calls": {"type": "array", "items": CLOUD_CALL}},
    ),
)
DOCS: tuple[PathDoc, ...] = tuple(path.doc() for path in PATHS)


def mounting(broker: KitBroker) -> Mount:
    """The mount that adds the control paths for ``broker`` (a sim-profile broker)."""

    def mount(app: falcon.App[Any, Any], services: ApiServices) -> None:
        services.docs.extend(DOCS)
        for path in PATHS:
            app.add_route(f"{PREFIX}/{path.path}", SimResource(broker, path.request, path.work))

    return mount
