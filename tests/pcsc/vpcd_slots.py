"""The vpcd slots as pcscd names them, the wait on pcscd, and the echo card's command.

Plain helpers shared by the PC/SC connection, monitor and vpcd-bridge tests.
"""

from __future__ import annotations

from collections.abc import Callable

from broker.apdu import CommandApdu
from broker.transport.pcsc import PcscSlot
from nhi_kit.emulators.vpcd import VpcdBridge

READER0 = "Virtual PCD 00 00"
READER1 = "Virtual PCD 00 01"
WAIT = 5.0

Insert = Callable[[VpcdBridge], PcscSlot]


def echo(data: bytes) -> bytes:
    """An echo command (INS 01) carrying ``data``."""
    return CommandApdu(0x00, 0x01, 0, 0, data, le=len(data) or None).encode()
