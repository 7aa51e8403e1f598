"""The wire names: what a request gives a function, what functions answer, the station's
state, events.

The actors take and answer records (broker/arguments.py, broker/answers.py,
broker/state.py); this is the one place that knows their fields by the
camelCase names cshis6 clients send and read.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from typing import Any

from broker.answers import Answer, Signature
from broker.arguments import Arguments
from broker.state import ActorRestarted, EventData, StationState


def camel(name: str) -> str:
    """``identity_status`` → ``identityStatus``; ``c_name`` → ``cName``."""
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


# Each request field a function may take → its field of ``Arguments`` (made once: every call
# reads a body).
ARGUMENT_NAMES = {camel(field.name): field.name for field in dataclasses.fields(Arguments)}


def arguments(body: Mapping[str, Any]) -> Arguments:
    """The request fields a function may take; other fields are ignored (clients send extras).

    The request schema (api/routes.py) has checked each field the function
    declares to be text; a field it does not declare is taken only as text.
    """
    given = {
        ARGUMENT_NAMES[key]: value
        for key, value in body.items()
        if key in ARGUMENT_NAMES and isinstance(value, str)
    }
    return Arguments(**given)


def answer_json(answer: Answer) -> dict[str, Any]:
    """A function's answer as the fields of its JSON body (beside statusCode and message)."""
    if answer is None:
        return {}
    if isinstance(answer, Signature):
        signature = base64.b64encode(answer.signature).decode("ascii")
        return {**answer.fields.shown(), "signature": signature}
    return flat_json(answer)


def flat_json(record: Any) -> dict[str, Any]:
    """A record of plain values (text, numbers, booleans, None), its field names camelCased."""
    return {camel(field.name): getattr(record, field.name) for field in dataclasses.fields(record)}


def status_json(state: StationState) -> dict[str, Any]:
    """The ``status`` object of ``GET /api/common/v1/Status``."""
    return {
        "initialized": state.initialized,
        "deviceName": state.device_name,
        "readerName": state.reader_name,
        "sam": {"type": int(state.sam_type), "status": int(state.sam_status)},
        "hpc": {"type": int(state.hca_type), "status": int(state.hca_status)},
        "hc": {
            "type": int(state.hc_type),
            "status": int(state.hc_status),
            "hasPin": state.hc_has_pin,
            "pinVerified": state.hc_pin_verified,
        },
        "pinPadWaiting": state.pin_pad_waiting,
        "readersAbsent": list(state.readers_absent),
        "degraded": state.degraded,
    }


def event_json(data: EventData) -> dict[str, Any]:
    """What an event's ``data:`` line holds: a state change is the whole status object."""
    if isinstance(data, StationState):
        return status_json(data)
    shown = flat_json(data)
    if isinstance(data, ActorRestarted) and data.restarts is None:
        del shown["restarts"]  # a monitor: its restarts are not counted
    return shown
