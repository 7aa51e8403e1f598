"""What every transport offers: slots that hold cards, connections that carry APDUs.

A *slot* is where one card sits: a PC/SC reader, or one of the serial NHI
reader's SAM, HPC and HC slots. Insert and remove are reported as
``SlotEvent`` values to a listener the caller supplies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class SlotEvent:
    """A card was inserted into (``present``) or removed from a slot."""

    slot: str
    present: bool
    atr: bytes = b""


SlotListener = Callable[[SlotEvent], None]


class CardConnection(Protocol):
    """A powered card: raw APDUs in and out."""

    @property
    def atr(self) -> bytes:
        """The card's answer to reset."""
        ...

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU, return the raw response (data + SW).

        Raises ``CardAbsentError`` if the card is gone, ``TransportError`` on
        any other reader failure.
        """
        ...

    def close(self) -> None:
        """Release the card, leaving it powered where the transport allows."""
        ...

    def reset(self) -> None:
        """Reset the card and release it: its authentication and PIN verification end."""
        ...


class CardSlot(Protocol):
    """A place one card can sit."""

    @property
    def name(self) -> str:
        """The slot's name as users see it (e.g. ``Virtual PCD 00 00``, ``COM1 HC``)."""
        ...

    def is_card_present(self) -> bool:
        """Whether a card sits in the slot now."""
        ...

    def connect(self) -> CardConnection:
        """Power the card and open a connection; ``CardAbsentError`` if empty."""
        ...


@runtime_checkable
class PinPad(Protocol):
    """A reader's PIN pad: the reader collects the PIN and sends VERIFY itself."""

    def pin_pad_verify(self, header: bytes) -> bytes:
        """Send VERIFY with ``header`` (CLA INS P1 P2) and the typed PIN; raw response."""
        ...
