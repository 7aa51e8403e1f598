"""One slot per transport, with insert and remove that return once the slot agrees."""

from __future__ import annotations

from typing import Protocol

from broker.transport.base import CardSlot
from broker.transport.local import LocalSlot
from broker.transport.pcsc import PcscSlot
from broker.transport.serial import SerialReader
from broker.transport.serial_frames import Slot
from nhi_kit.emulators.card import CardEmulator
from nhi_kit.emulators.pcscd import VPCD_PORTS, VPCD_READERS
from nhi_kit.emulators.serial_reader import SerialReaderEmulator
from nhi_kit.emulators.vpcd import VpcdBridge
from tests.conftest import SETTLE


class Rig(Protocol):
    """A card slot reached through one transport, and the hand that moves cards."""

    @property
    def slot(self) -> CardSlot:
        """The slot under test (read-only here, so each rig may narrow its type)."""
        ...

    def insert(self, card: CardEmulator) -> None:
        """Insert ``card``; returns when the slot reports it present."""
        ...

    def remove(self) -> None:
        """Pull the card; returns when the slot reports it absent."""
        ...

    def pull_from_card_thread(self) -> None:
        """Pull the card from inside the card's own thread (it is answering now)."""
        ...

    def wait_removed(self) -> None:
        """Wait until a pull started by ``pull_from_card_thread`` is visible."""
        ...

    def close(self) -> None:
        """Pull any card and release the transport."""
        ...


class LocalRig:
    """The in-process transport."""

    def __init__(self) -> None:
        self.slot: LocalSlot = LocalSlot("local")

    def insert(self, card: CardEmulator) -> None:
        self.slot.insert(card)

    def remove(self) -> None:
        self.slot.remove()

    def pull_from_card_thread(self) -> None:
        self.slot.remove()

    def wait_removed(self) -> None:
        assert not self.slot.is_card_present()

    def close(self) -> None:
        self.slot.remove()


class SerialRig:
    """The emulated serial reader on a pty, through pyserial: HCs in the HC slot, others in HPC."""

    def __init__(self) -> None:
        self.emulator = SerialReaderEmulator("COM9")
        self.reader = SerialReader(self.emulator.start(), name="COM9")
        self.reader.open()
        self._which = Slot.HC
        self.slot: CardSlot = self.reader.slot(Slot.HC)

    def insert(self, card: CardEmulator) -> None:
        self._which = Slot.HC if card.kind == "HC" else Slot.HPC
        self.slot = self.reader.slot(self._which)
        self.emulator.insert(self._which, card)
        assert self.slot.is_card_present()

    def remove(self) -> None:
        self.emulator.remove(self._which)
        assert not self.slot.is_card_present()

    def pull_from_card_thread(self) -> None:
        self.emulator.remove(self._which)  # the card answers outside the reader's lock

    def wait_removed(self) -> None:
        assert not self.slot.is_card_present()

    def close(self) -> None:
        self.reader.close()
        self.emulator.stop()


class PcscRig:
    """A vpcd slot of a real pcscd, through pyscard; the card is served over TCP."""

    def __init__(self) -> None:
        self.reader = VPCD_READERS[0]
        self.slot: PcscSlot = PcscSlot(self.reader)
        self.bridge: VpcdBridge | None = None

    def insert(self, card: CardEmulator) -> None:
        self.bridge = VpcdBridge(card, port=VPCD_PORTS[self.reader])
        self.bridge.insert()
        assert self.slot.wait_for_card(present=True, timeout=SETTLE)

    def remove(self) -> None:
        self.pull_from_card_thread()
        self.wait_removed()

    def pull_from_card_thread(self) -> None:
        if self.bridge is not None:
            self.bridge.remove()  # closes at once; joins only when called from outside

    def wait_removed(self) -> None:
        assert self.slot.wait_for_card(present=False, timeout=SETTLE)

    def close(self) -> None:
        self.remove()
        self.slot.close()
