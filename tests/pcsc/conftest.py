"""A real pcscd with the vpcd readers, and emulated cards bridged into it.

Nothing here skips: without pcscd or vpcd these tests fail, loudly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from broker.apdu import CommandApdu
from broker.transport.pcsc import PcscSlot
from nhi_kit.emulators.card import CardEmulator, make_atr
from nhi_kit.emulators.pcscd import VPCD_PORTS, VPCD_READERS
from nhi_kit.emulators.vpcd import VpcdBridge
from tests.conftest import SETTLE

HERE = Path(__file__).parent
READER0, READER1 = VPCD_READERS
PORTS = VPCD_PORTS
READERS = {port: reader for reader, port in PORTS.items()}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/pcsc with ``pcsc``."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.pcsc)


class EchoCard(CardEmulator):
    """A test card: INS 01 echoes its data, INS 02 answers Le bytes counting up.

    ``power_log`` records every power on/off, in order.
    """

    kind = "echo"

    def __init__(self, label: bytes = b"ECHO") -> None:
        super().__init__()
        self.atr = make_atr(label)
        self.power_log: list[str] = []
        self.handlers[0x01] = lambda command: command.data
        self.handlers[0x02] = self._count

    @property
    def card_id(self) -> str:
        """The card's label."""
        return self.atr[4:-1].decode()

    def power_on(self) -> bytes:
        """Power on, recording it."""
        self.power_log.append("on")
        return super().power_on()

    def power_off(self) -> None:
        """Power off, recording it."""
        self.power_log.append("off")
        super().power_off()

    @staticmethod
    def _count(command: CommandApdu) -> bytes:
        return bytes(i % 256 for i in range(command.le or 0))


@pytest.fixture
def echo_card() -> EchoCard:
    """A fresh echo card (no pcscd needed)."""
    return EchoCard()


BridgeFactory = Callable[..., VpcdBridge]


@pytest.fixture
def make_bridge(pcscd: None) -> Iterator[BridgeFactory]:
    """Make bridges for cards; every one is removed, and seen gone by pcscd, at teardown."""
    made: list[tuple[VpcdBridge, str]] = []

    def make(card: CardEmulator, reader: str = READER0) -> VpcdBridge:
        bridge = VpcdBridge(card, port=PORTS[reader])
        made.append((bridge, reader))
        return bridge

    yield make
    for bridge, reader in made:
        bridge.remove()
        assert PcscSlot(reader).wait_for_card(present=False, timeout=SETTLE)


@pytest.fixture
def bridge0(make_bridge: BridgeFactory) -> VpcdBridge:
    """An echo card for slot ``Virtual PCD 00 00``, not yet inserted."""
    return make_bridge(EchoCard(b"ECHO0"), READER0)


@pytest.fixture
def bridge1(make_bridge: BridgeFactory) -> VpcdBridge:
    """An echo card for slot ``Virtual PCD 00 01``, not yet inserted."""
    return make_bridge(EchoCard(b"ECHO1"), READER1)


@pytest.fixture
def insert(pcscd: None) -> Callable[[VpcdBridge], PcscSlot]:
    """Insert a bridge's card and wait until pcscd reports it; return the slot."""

    def insert_and_wait(bridge: VpcdBridge) -> PcscSlot:
        bridge.insert()
        slot = PcscSlot(READERS[bridge.port])
        assert slot.wait_for_card(present=True, timeout=SETTLE), f"pcscd never saw {slot.name}"
        return slot

    return insert_and_wait
