"""What a station is asked (``Call``, ``Reconnect``) and bound to (``Binding``, ``Devices``);
the functions answered without it (``AT_ONCE``) and the card reads sent straight to a card
actor once the read model shows their rules met (``direct``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from actors.base import ActorHandle
from actors.hc import HcBasicData
from actors.hca import HcaBasicData
from actors.holder import Source
from actors.messages import Message
from actors.sam import SamCell
from broker import errors, rules
from broker.answers import Answer, VersionInfo
from broker.arguments import Arguments
from broker.codes import Code
from broker.rules import Function
from broker.state import SamType, StationState


def version() -> VersionInfo:
    """Version's answer: the same for every station, whatever its state."""
    return VersionInfo(
        file_version="1.2.0.1", long_version="6000", short_version="60", location=sys.argv[0]
    )


# Functions with no preconditions (rules.NO_INIT) that need neither a card nor the DC:
# the caller's own thread answers them, never queued behind the station's work (a SAM
# verification takes seconds).
AT_ONCE: dict[Function, Callable[[], Answer]] = {Function.VERSION: version}


@dataclass(frozen=True)
class Binding:
    """What a connected device gives a station."""

    device_name: str
    reader_name: str | None
    sam: ActorHandle
    sam_cell: SamCell
    sam_type: SamType
    hc_sources: tuple[Source, ...]
    hca_sources: tuple[Source, ...]
    clock: ActorHandle | None  # the serial reader, whose clock the SAM's DC time sets


class Devices(Protocol):
    """The supervisor's directory of devices a station may connect."""

    def names(self, station: str) -> list[str]:
        """Device names this station may connect, in Initial's order of trying."""
        ...

    def connect(self, station: str, name: str) -> Binding:
        """Bind a device to the station (KeyError if unknown)."""
        ...

    def release(self, station: str, name: str) -> None:
        """Unbind it."""
        ...

    def shared_with(self, station: str, name: str) -> list[str]:
        """The other stations bound to device ``name`` now (a cloud SAM may be shared)."""
        ...


@dataclass(frozen=True, kw_only=True)
class Call(Message[Answer]):
    """Run one function of the manual with its arguments."""

    function: Function
    args: Arguments = field(default_factory=Arguments)


@dataclass(frozen=True)
class Direct:
    """A function that is one card actor's message: which actor (``hc``/``hca``), what message."""

    actor: str
    message: Message[Any]


def direct(call: Call, state: StationState) -> Direct | None:
    """The card actor's message that is the whole of ``call``, if the read model shows its
    rules met (None otherwise: the station runs it).

    Reading a patient's or a doctor's card is most of a clinic's calls. Once
    their rules are met they are one card actor's message, and the request's
    own thread sends it (orchestration of several steps may run in the request's
    thread), sparing the station's hand-offs. The message carries the states
    the rules allow; the card actor checks them again when it runs it
    (``StateMovedError`` if the card moved on: then the station decides).
    """
    if state.degraded is not None:
        return None
    need = rules.RULES[call.function]
    try:
        rules.check_initialized(call.function, state)
        rules.check_sam(call.function, state)
        rules.check_hca(call.function, state)
        rules.check_hc(call.function, state)
    except errors.BrokerError:
        return None
    if call.function is Function.HC_BASIC and need.hc is not None:
        return Direct("hc", call.child(HcBasicData(expect=need.hc), margin=0))
    if call.function is Function.HCA_BASIC and need.hca is not None:
        return Direct("hca", call.child(HcaBasicData(expect=need.hca), margin=0))
    return None


@dataclass(frozen=True, kw_only=True)
class Reconnect(Message[None]):
    """After a restart: connect the device the station had (told; failures are only logged)."""

    device: str


STATION_CODE = Code.PCSC_OTHER  # a station's own failure, when no card is in question


def restart_code(message: object) -> Code:
    """What a call gets while its station restarts: the failure code of the card it needs.

    A station serves every function, so its own kind has no single code: an HC
    function says the HC could not be reached (1500), an HCA one 1400, a SAM one 1300.
    """
    if not isinstance(message, Call):
        return STATION_CODE
    need = rules.RULES[message.function]
    if need.hc is not None:
        return Code.HC_MODE1_FAILED
    if need.hca is not None:
        return Code.HPC_MODE1_FAILED
    if need.sam is not None:
        return Code.SAM_MODE1_FAILED
    return STATION_CODE
