"""The kinds and states of the manual's header (表頭說明), and the read model of every station.

Kinds and states are numbered exactly as the manual numbers them. The
``StateBoard`` is what status reads are answered from: actors publish to it
and never wait on it, so a status read never waits behind card or DC work.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class SamType(IntEnum):
    """安全模組種類: (1) 雲端安全模組 (2) 實體安全模組."""

    NONE = 0
    CLOUD = 1
    PHYSICAL = 2


class SamStatus(IntEnum):
    """0 未置入, 1 已置入, 2 已與中心端驗證."""

    NONE = 0
    PRESENT = 1
    VERIFIED = 2


class HcaType(IntEnum):
    """醫事人員種類: (1) 醫師卡 (2) 醫事人員卡 (3) 醫事人員行動憑證."""

    NONE = 0
    DOCTOR = 1
    HPC = 2
    MOBILE = 3


class HcaStatus(IntEnum):
    """0 未置入, 1 已置入, 2 已驗證, 3 已驗 PIN."""

    NONE = 0
    PRESENT = 1
    VERIFIED = 2
    PIN_VERIFIED = 3


class HcType(IntEnum):
    """健保卡種類: (1) 實體健保卡 (2) 虛擬健保卡."""

    NONE = 0
    PHYSICAL = 1
    VIRTUAL = 2


class HcStatus(IntEnum):
    """0 未置入, 1 已置入, 2 已驗證, 3 與醫事人員卡已驗證."""

    NONE = 0
    PRESENT = 1
    VERIFIED = 2
    WITH_HCA = 3


@dataclass(frozen=True)
class StationState:
    """What the status API and the console's header show for one station."""

    station: str
    initialized: bool = False
    device_name: str | None = None
    reader_name: str | None = None
    sam_type: SamType = SamType.NONE
    sam_status: SamStatus = SamStatus.NONE
    hca_type: HcaType = HcaType.NONE
    hca_status: HcaStatus = HcaStatus.NONE
    hc_type: HcType = HcType.NONE
    hc_status: HcStatus = HcStatus.NONE
    hc_has_pin: bool | None = None
    hc_pin_verified: bool = False
    pin_pad_waiting: bool = False  # the reader's PIN pad waits for the holder to type
    readers_absent: tuple[str, ...] = ()  # its readers whose device is not there (unplugged)
    degraded: str | None = None  # why, when restarts exceeded their limit


@dataclass(frozen=True)
class CardMoved:
    """A card came to or left a reader's slot; ``kind`` and ``card_id`` when it was read."""

    reader: str
    slot: str
    present: bool
    kind: str | None  # "hc", "hpc", "sam"
    card_id: str | None


@dataclass(frozen=True)
class ActorRestarted:
    """An actor, or a device monitor, runs again; monitors' restarts are not counted (None)."""

    actor: str
    restarts: int | None = None


@dataclass(frozen=True)
class StationDegraded:
    """A station's actors restarted more often than the policy allows."""

    reason: str


EventData = StationState | CardMoved | ActorRestarted | StationDegraded
EVENT_KINDS: dict[type[EventData], str] = {
    StationState: "state",
    CardMoved: "card",
    ActorRestarted: "restart",
    StationDegraded: "degraded",
}


@dataclass(frozen=True)
class BoardEvent:
    """Something a live view should know: a state change, a card, a restart; ``station`` is
    None when it concerns every station (or, for a card, the reader's owner)."""

    station: str | None
    data: EventData
    at: float = field(default_factory=time.time)

    @property
    def kind(self) -> str:
        """``state``, ``card``, ``restart`` or ``degraded``."""
        return EVENT_KINDS[type(self.data)]


Listener = Callable[[BoardEvent], None]


class StateBoard:
    """The read model: every station's state, updated by actors, read without waiting."""

    def __init__(self) -> None:
        self._states: dict[str, StationState] = {}
        self._listeners: list[Listener] = []
        self._changed = threading.Condition()

    def stations(self) -> list[str]:
        """Station names known to the board."""
        with self._changed:
            return list(self._states)

    def get(self, station: str) -> StationState:
        """The station's current state (a frozen snapshot)."""
        with self._changed:
            return self._states.setdefault(station, StationState(station))

    def update(self, station: str, **changes: Any) -> StationState:
        """Change fields of a station's state; listeners hear of real changes."""
        with self._changed:
            before = self._states.setdefault(station, StationState(station))
            after = dataclasses.replace(before, **changes)
            self._states[station] = after
            self._changed.notify_all()
        if after != before:
            self.publish(BoardEvent(station, after))
        return after

    def publish(self, event: BoardEvent) -> None:
        """Tell every listener (listeners must not block)."""
        for listener in list(self._listeners):
            listener(event)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Hear every event from now on; returns the function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def wait_for(
        self, station: str, predicate: Callable[[StationState], bool], timeout: float
    ) -> StationState | None:
        """Block until the station's state satisfies ``predicate``; None on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                state = self._states.setdefault(station, StationState(station))
                if predicate(state):
                    return state
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)
