"""Moving the virtual kit around a running sim broker: cards in and out of readers, QR tokens,
data-centre faults and contracts, the NHI cloud simulator's faults and calls. The sim API,
the console and tests share these functions.

Every refusal is an ``InvalidParameterError`` (1704) naming the field at fault.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from broker.config import LOCAL
from broker.errors import InvalidParameterError
from broker.transport.serial_frames import Slot
from nhi_kit.cloud.cloud import ENDPOINTS
from nhi_kit.cloud.server import CloudSimulator
from nhi_kit.emulators.card import CardEmulator
from nhi_kit.emulators.dc.simulator import Contract, DcRefusedError
from nhi_kit.emulators.dc.tokens import MAX_USES
from nhi_kit.sim_kit import KitBroker, SimKit

ROLES = {Slot.SAM: "sam", Slot.HPC: "hpc", Slot.HC: "hc"}
MAX_LATENCY_MS = 60_000
MAX_VHC_VERIFICATIONS = MAX_USES
_moving = threading.Lock()  # one insert or removal at a time: a card is never in two readers


@dataclass(frozen=True)
class SimReader:
    """One place a kit card can sit: an in-process reader or a serial reader's slot."""

    name: str
    station: str | None
    role: str  # "hc", "hpc", "sam" or "any"
    card: str | None

    def as_dict(self) -> dict[str, Any]:
        """The sim API's JSON object."""
        return {"name": self.name, "station": self.station, "role": self.role, "card": self.card}


def kit_of(broker: KitBroker) -> SimKit:
    """The broker's virtual kit; refused outside the sim profile."""
    if broker.kit is None:
        raise InvalidParameterError("this broker has no virtual kit (sim profile only)")
    return broker.kit


def cards(broker: KitBroker) -> list[dict[str, Any]]:
    """Every kit card with its data, PIN and PUK included."""
    return [
        {"id": card.id, "kind": card.kind, "fields": card.fields}
        for card in kit_of(broker).cards.listing()
    ]


def readers(broker: KitBroker) -> list[SimReader]:
    """The in-process readers, then each serial reader's SAM, HPC and HC slots."""
    kit = kit_of(broker)
    found = [
        SimReader(
            name, broker.supervisor.reader_owner(name), _pcsc_role(broker, name), _id(slot.card)
        )
        for name, slot in kit.local_slots.items()
    ]
    for serial, emulator in kit.serial.items():
        owner = broker.supervisor.reader_owner(serial)
        found += [
            SimReader(f"{serial} {slot.name}", owner, ROLES[slot], _id(emulator.card(slot)))
            for slot in Slot
        ]
    return found


def insert(broker: KitBroker, reader: str, card_id: str) -> None:
    """Put a kit card in a reader (a card already there is pulled out first)."""
    kit = kit_of(broker)
    if card_id not in kit.cards.ids():
        raise InvalidParameterError(f"card {_shown(card_id)} is not a card of the kit")
    with _moving:
        place = _place(kit, reader)
        holder = next((r.name for r in readers(broker) if r.card == card_id), None)
        if holder == reader:
            return
        if holder is not None:
            raise InvalidParameterError(
                f"card {card_id} is already in {holder!r}; remove it from there first"
            )
        place.insert(kit.cards.card(card_id))


def remove(broker: KitBroker, reader: str) -> None:
    """Pull the card out of a reader (nothing happens if it is empty)."""
    kit = kit_of(broker)
    with _moving:
        _place(kit, reader).remove()


def virtual_hc_token(broker: KitBroker, card_id: str) -> str:
    """A fresh QR token for the health-card holder ``card_id`` (what the phone shows)."""
    kit = kit_of(broker)
    if card_id not in {c.id for c in kit.cards.listing() if c.kind == "hc"}:
        raise InvalidParameterError(f"card {_shown(card_id)} is not a health card of the kit")
    return kit.dc.dc.issue_token(card_id)


def pin_pad(broker: KitBroker, reader: str, pin: str | None, cancel: bool) -> None:
    """Type on (or cancel) an emulated serial reader's PIN pad while a verification waits.

    Refused when the pad is not waiting: a PIN typed ahead would be taken by a
    verification nobody is watching.
    """
    kit = kit_of(broker)
    emulator = kit.serial.get(reader)
    if emulator is None:
        known = ", ".join(sorted(kit.serial)) or "none"
        raise InvalidParameterError(
            f"reader {_shown(reader)} is not a serial reader of the kit ({known})"
        )
    if not emulator.pin_pad.prompting.is_set():
        raise InvalidParameterError(f"{reader}'s PIN pad is not waiting for a PIN")
    if cancel:
        emulator.pin_pad.cancel()
    elif pin:
        emulator.pin_pad.enter(pin)
    else:
        raise InvalidParameterError("pin is required (or cancel: true)")


def set_dc_fault(
    broker: KitBroker, latency_ms: int | None = None, down: bool | None = None
) -> dict[str, Any]:
    """Slow the data centre down or take it off the network; returns the faults in force."""
    kit = kit_of(broker)
    changes: dict[str, Any] = {}
    if latency_ms is not None:
        if not 0 <= latency_ms <= MAX_LATENCY_MS:
            raise InvalidParameterError(f"latencyMs must be 0 to {MAX_LATENCY_MS}")
        changes["latency_ms"] = latency_ms
    if down is not None:
        changes["down"] = down
    return kit.dc.set_faults(**changes)


def set_vhc_verifications(broker: KitBroker, count: int) -> int:
    """How often the simulated DC lets one QR token be verified (then 1525)."""
    kit = kit_of(broker)
    if not 1 <= count <= MAX_VHC_VERIFICATIONS:
        raise InvalidParameterError(f"vhcVerifications must be 1 to {MAX_VHC_VERIFICATIONS}")
    dc = kit.dc.dc
    dc.settings = dataclasses.replace(dc.settings, vhc_verifications=count)
    return count


def set_cloud_fault(
    broker: KitBroker,
    latency_ms: int | None = None,
    down: bool | None = None,
    injection: tuple[str, int, int] | None = None,
) -> dict[str, Any]:
    """Slow the NHI cloud simulator, take it off the network, or have one endpoint answer
    ``(endpoint, statusCode, count)`` to its next calls; returns the faults in force."""
    cloud = _cloud(broker)
    if latency_ms is not None and not 0 <= latency_ms <= MAX_LATENCY_MS:
        raise InvalidParameterError(f"latencyMs must be 0 to {MAX_LATENCY_MS}")
    if injection is not None:
        endpoint, status_code, count = injection
        short = {p.split("/v1/", 1)[1]: p for p in ENDPOINTS}  # SequelNumber/Next → its path
        path = short.get(endpoint, endpoint)
        try:
            cloud.cloud.inject(path, status_code, count)
        except KeyError:
            raise InvalidParameterError(
                f"endpoint {_shown(endpoint)} is not a path of the cloud"
            ) from None
    return cloud.set_faults(latency_ms=latency_ms, down=down)


def cloud_calls(broker: KitBroker) -> list[dict[str, Any]]:
    """The NHI cloud simulator's recent calls, newest first: time, endpoint, card, statusCode."""
    return _cloud(broker).cloud.recent_calls()


def _cloud(broker: KitBroker) -> CloudSimulator:
    cloud = kit_of(broker).cloud
    if cloud is None:
        raise InvalidParameterError("this broker's kit has no cloud simulator")
    return cloud


def set_contract(broker: KitBroker, sam_id: str, state: str) -> None:
    """Change a SAM's contract at the simulated data centre."""
    kit = kit_of(broker)
    try:
        contract = Contract(state)
    except ValueError:
        allowed = ", ".join(c.value for c in Contract)
        raise InvalidParameterError(f"state must be one of {allowed}") from None
    try:
        kit.dc.dc.set_contract(sam_id, contract)
    except DcRefusedError:
        raise InvalidParameterError(
            f"samId {_shown(sam_id)} is not a SAM of the data centre"
        ) from None


class Place(Protocol):
    """Somewhere a card goes in and comes out."""

    def insert(self, card: CardEmulator) -> None:
        """Put the card in (pulling out any card already there)."""
        ...

    def remove(self) -> None:
        """Pull the card out."""
        ...


class _SerialPlace:
    """One slot of an emulated serial reader, with a slot's insert and remove."""

    def __init__(self, kit: SimKit, serial: str, slot: Slot) -> None:
        self._emulator = kit.serial[serial]
        self._slot = slot

    def insert(self, card: CardEmulator) -> None:
        """Put the card in."""
        self._emulator.insert(self._slot, card)

    def remove(self) -> None:
        """Pull it out."""
        self._emulator.remove(self._slot)


def _place(kit: SimKit, reader: str) -> Place:
    """The in-process slot or serial slot named ``reader``; 1704 naming ``reader`` if none."""
    if reader in kit.local_slots:
        return kit.local_slots[reader]
    serial, _, slot = reader.rpartition(" ")
    if serial in kit.serial and slot in Slot.__members__:
        return _SerialPlace(kit, serial, Slot[slot])
    raise InvalidParameterError(f"reader {_shown(reader)} is not a reader of the kit")


def _pcsc_role(broker: KitBroker, reader: str) -> str:
    """What a station takes from this reader: health cards, HPCs, or either (``any``)."""
    default = broker.settings.default_pcsc_reader
    for station in broker.config.stations:
        hc = station.hc_reader or (default if station.name == LOCAL else None)
        hca = station.hca_reader or hc
        if reader == hc:
            return "any" if reader == hca else "hc"
        if reader == hca:
            return "hpc"
    return "any"


def _id(card: CardEmulator | None) -> str | None:
    return card.card_id if card is not None else None


def _shown(value: object) -> str:
    """The caller's value for a message, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"
