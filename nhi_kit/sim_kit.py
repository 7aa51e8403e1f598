"""The virtual kit of a sim-profile broker, and what the sim control API needs of the broker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from broker.config import BrokerConfig
from broker.settings import Settings
from broker.transport.local import LocalSlot
from nhi_kit.cloud.server import CloudSimulator
from nhi_kit.dcsim.server import DcSimulator
from nhi_kit.emulators.kit import CardKit
from nhi_kit.emulators.serial_reader import SerialReaderEmulator


@dataclass
class SimKit:
    """The virtual kit of a sim-profile broker: what the sim API moves around."""

    cards: CardKit
    local_slots: dict[str, LocalSlot]
    serial: dict[str, SerialReaderEmulator]
    dc: DcSimulator
    cloud: CloudSimulator | None = None  # the NHI cloud simulator (nhi_kit.cloud)


class Owners(Protocol):
    """Which station uses a reader (the supervisor answers)."""

    def reader_owner(self, reader: str) -> str | None:
        """The station using ``reader``; None if shared."""
        ...


class KitBroker(Protocol):
    """A sim-profile broker as the kit's control API sees it."""

    @property
    def kit(self) -> SimKit | None:
        """Its virtual kit (None outside the sim profile)."""
        ...

    @property
    def supervisor(self) -> Owners:
        """Who uses which reader."""
        ...

    @property
    def settings(self) -> Settings:
        """The default PC/SC reader."""
        ...

    @property
    def config(self) -> BrokerConfig:
        """Its stations."""
        ...
