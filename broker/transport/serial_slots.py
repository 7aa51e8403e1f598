"""A serial reader's slots and the cards powered in them, as ``CardSlot`` and ``CardConnection``.

No I/O of their own: every request goes through the ``SerialReader``, whose
lock keeps it apart from other threads' requests on the line.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING

from broker.errors import CardAbsentError, InvalidParameterError, ReaderError
from broker.transport.serial_frames import Command, Slot

if TYPE_CHECKING:
    from broker.transport.serial import SerialReader


class SerialSlot:
    """One slot of a ``SerialReader``, as a ``CardSlot``."""

    def __init__(self, reader: SerialReader, slot: Slot) -> None:
        self.reader = reader
        self.slot = slot

    @property
    def name(self) -> str:
        """E.g. ``COM1 HC``."""
        return self.reader.slot_name(self.slot)

    def is_card_present(self) -> bool:
        """Whether a card sits in the slot (asks the reader)."""
        return self.reader.status().is_present(self.slot)

    def connect(self) -> SerialConnection:
        """Power the card on; ``CardAbsentError`` if the slot is empty."""
        return self.reader.connect(self.slot)


class SerialConnection:
    """A powered card in a serial reader slot; a later power-up of the slot ends it."""

    def __init__(self, reader: SerialReader, slot: Slot, atr: bytes, epoch: int) -> None:
        self.reader = reader
        self.slot = slot
        self.epoch = epoch
        self._atr = atr
        self._closed = False

    @property
    def atr(self) -> bytes:
        """The card's answer to reset."""
        return self._atr

    @property
    def slot_name(self) -> str:
        """E.g. ``COM1 HPC``."""
        return self.reader.slot_name(self.slot)

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU through XFR and return the raw response; never retried."""
        self._check_open()
        return self.reader._on_card(self, Command.XFR, apdu, self.reader.timeout)

    def pin_pad_verify(self, header: bytes) -> bytes:
        """Verify a PIN typed on the reader's pad (see ``SerialReader.pin_pad_verify``)."""
        self._check_open()
        if len(header) != 4:
            raise InvalidParameterError(f"PIN pad header must be 4 bytes, got {len(header)}")
        timeout = self.reader.pin_pad_timeout + self.reader.timeout
        return self.reader._on_card(self, Command.PIN_PAD_VERIFY, header, timeout)

    def close(self) -> None:
        """Forget the connection; the card stays powered (its session state survives)."""
        self._closed = True

    def reset(self) -> None:
        """Power the slot off, unless the card was reset or replaced already; then close."""
        if not self._closed:
            with suppress(CardAbsentError):
                self.reader._power_off_if(self)
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise ReaderError(f"connection to {self.slot_name} is closed")
