"""In-process transport: a slot that calls a card application directly (a cloud SAM, a kit card).

Used by fast tests and by the sim profile (cloud SAMs, virtual cards). A
card pulled while a connection is open makes that connection fail with
``CardAbsentError``; a new connection after re-insertion works.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from broker.errors import CardAbsentError
from broker.transport.base import SlotEvent, SlotListener

if TYPE_CHECKING:
    from broker.cards.applet import CardApplet


class LocalSlot:
    """A slot whose card is an application object in this process."""

    def __init__(self, name: str, listener: SlotListener | None = None) -> None:
        self._name = name
        self._listener = listener
        self._lock = threading.Lock()
        self._card: CardApplet | None = None
        self._generation = 0  # bumps on every insert/remove: stale connections fail

    @property
    def name(self) -> str:
        """The slot's name."""
        return self._name

    @property
    def card(self) -> CardApplet | None:
        """The card application in the slot, if any."""
        return self._card

    def set_listener(self, listener: SlotListener | None) -> None:
        """Receive insert/remove events from now on."""
        self._listener = listener

    def insert(self, card: CardApplet) -> None:
        """Put ``card`` in the slot; a card already there is pulled out first, as by a hand."""
        self.remove()
        with self._lock:
            self._card = card
            self._generation += 1
        self._notify(SlotEvent(self._name, present=True, atr=card.atr))

    def remove(self) -> None:
        """Pull the card out; open connections fail from now on."""
        with self._lock:
            card, self._card = self._card, None
            self._generation += 1
        if card is not None:
            card.power_off()
            self._notify(SlotEvent(self._name, present=False))

    def is_card_present(self) -> bool:
        """Whether a card sits in the slot."""
        return self._card is not None

    def connect(self) -> LocalConnection:
        """Power the card on and return a connection to it."""
        with self._lock:
            card = self._card
            if card is None:
                raise CardAbsentError(f"no card in {self._name}")
            atr = card.power_on()
            return LocalConnection(self, card, self._generation, atr)

    def _transmit(self, card: CardApplet, generation: int, apdu: bytes) -> bytes:
        with self._lock:
            if generation != self._generation:
                raise CardAbsentError(f"card removed from {self._name}")
        response = card.execute(apdu)
        if generation != self._generation:  # pulled while the card was working
            raise CardAbsentError(f"card removed from {self._name}")
        return response

    def _power_off(self, card: CardApplet, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                card.power_off()

    def _notify(self, event: SlotEvent) -> None:
        if self._listener is not None:
            self._listener(event)


class LocalConnection:
    """A connection to an in-process card application through a ``LocalSlot``."""

    def __init__(self, slot: LocalSlot, card: CardApplet, generation: int, atr: bytes) -> None:
        self._slot = slot
        self._card = card
        self._generation = generation
        self._atr = atr

    @property
    def atr(self) -> bytes:
        """The card's answer to reset."""
        return self._atr

    def transmit(self, apdu: bytes) -> bytes:
        """Run one APDU on the card application."""
        return self._slot._transmit(self._card, self._generation, apdu)

    def close(self) -> None:
        """Nothing to release in process."""

    def reset(self) -> None:
        """Power the card off (if it is still the one connected); the next connect powers it up."""
        self._slot._power_off(self._card, self._generation)
