"""What the composition root hands the supervisor: readers, their monitors, cloud SAMs, and
the settings the actors read and write."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from actors.reader import ReaderClock
from broker.transport.base import CardSlot, SlotListener


class Monitor(Protocol):
    """A transport's insert/remove watcher."""

    def stop(self) -> None:
        """Stop watching."""
        ...

    def is_alive(self) -> bool:
        """Whether it still watches."""
        ...


FailureReport = Callable[[BaseException], None]


@dataclass(frozen=True)
class ReaderSpec:
    """A reader the broker owns: its slots, and which slot holds what in a serial reader."""

    name: str
    slots: dict[str, CardSlot]
    clock: ReaderClock | None = None
    sam_slot: str | None = None  # serial readers: "COM1 SAM"
    hpc_slot: str | None = None
    hc_slot: str | None = None


@dataclass(frozen=True)
class MonitorSpec:
    """How to start (and restart) one monitor."""

    name: str
    start: Callable[[SlotListener, FailureReport], Monitor]


@dataclass
class Hardware:
    """What the composition root hands the supervisor."""

    readers: list[ReaderSpec]
    monitors: list[MonitorSpec] = field(default_factory=list)
    cloud_sam_ids: Callable[[], list[str]] = list
    cloud_sam_slot: Callable[[str], CardSlot] | None = None


@dataclass
class BrokerSettings:
    """The settings the actors read and write (a view of ``broker.settings.Settings``)."""

    device_id: str
    default_reader: Callable[[], str | None] = lambda: None
    last_device: Callable[[], str | None] = lambda: None
    remember_device: Callable[[str | None], None] = lambda _name: None
