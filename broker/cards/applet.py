"""The card's side of APDUs: an application with an instruction table and one error path.

The broker runs one for each cloud SAM (the SAM application in process, from
its imported file); the virtual kit's emulated cards are built on it too.

Subclasses register handlers per instruction byte; a handler returns response
data or raises ``SwError``. ``execute`` turns every outcome into response
bytes, so nothing a host sends can crash an application.

Quirk switches reproduce what real T=0 readers show (docs/cards.md): ``t0_chunks``
answers ``61xx`` and waits for GET RESPONSE; ``strict_le`` answers ``6Cxx``
when Le does not match the data length of a read (a card can only ask for
a re-send of a command that changes nothing). ``latency`` adds per-APDU time, so
benchmarks can model a slow card.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from broker.apdu import GET_RESPONSE_INS, MAX_SHORT, SW, CommandApdu, ResponseApdu

Handler = Callable[[CommandApdu], bytes]
ApduHook = Callable[["CardApplet", CommandApdu], None]


class SwError(Exception):
    """Raised by a handler to answer with a status word."""

    def __init__(self, sw: int) -> None:
        super().__init__(f"SW {sw:04X}")
        self.sw = sw


def make_atr(historical: bytes) -> bytes:
    """An ATR offering T=0 and T=1 with the given historical bytes (max 15)."""
    if len(historical) > 15:
        raise ValueError("at most 15 historical bytes")
    body = bytes((0x80 | len(historical), 0x80, 0x01)) + historical
    tck = 0
    for byte in body:
        tck ^= byte
    return b"\x3b" + body + bytes((tck,))


class PinCounter:
    """A PIN or PUK with a retry counter that blocks at zero, as cards keep it."""

    def __init__(
        self, value: str | None, max_tries: int = 3, tries_left: int | None = None
    ) -> None:
        self.value = value
        self.max_tries = max_tries
        self.tries_left = max_tries if tries_left is None else tries_left

    @property
    def is_set(self) -> bool:
        """Whether a value is set at all."""
        return self.value is not None

    @property
    def blocked(self) -> bool:
        """Whether the counter reached zero."""
        return self.tries_left == 0

    def check(self, candidate: str) -> None:
        """Compare, count a failure, raise the SW a card would answer."""
        if self.value is None:
            raise SwError(SW.REFERENCE_DATA_NOT_USABLE)
        if self.blocked:
            raise SwError(SW.AUTH_METHOD_BLOCKED)
        if candidate != self.value:
            self.tries_left -= 1
            if self.blocked:
                raise SwError(SW.AUTH_METHOD_BLOCKED)
            raise SwError(0x63C0 | self.tries_left)
        self.tries_left = self.max_tries

    def status_sw(self) -> int:
        """Tries left as ``63Cx`` (or blocked / not set)."""
        if self.value is None:
            return SW.REFERENCE_DATA_NOT_USABLE
        if self.blocked:
            return SW.AUTH_METHOD_BLOCKED
        return 0x63C0 | self.tries_left

    def reset(self, value: str | None) -> None:
        """Set a new value and a full counter."""
        self.value = value
        self.tries_left = self.max_tries


class CardApplet:
    """A smart card: ``power_on``/``power_off`` and ``execute(apdu) -> response``."""

    atr: bytes = make_atr(b"NHI-CARD")
    kind: str = "card"

    def __init__(self) -> None:
        self.handlers: dict[int, Handler] = {}
        self.t0_chunks = False
        self.strict_le = False
        self.rereadable_ins = {0xB0, 0xCA}  # READ BINARY, GET DATA: safe to send again
        self.latency = 0.0
        self.hooks: list[ApduHook] = []
        self.apdu_count = 0
        self._lock = threading.RLock()
        self._pending = b""  # response data waiting for GET RESPONSE
        self.powered = False

    @property
    def card_id(self) -> str:
        """The card's printed number."""
        raise NotImplementedError

    def power_on(self) -> bytes:
        """Cold reset: volatile state (selected app, PIN verified, sessions) is cleared."""
        with self._lock:
            self.powered = True
            self._pending = b""
            self.reset_volatile()
            return self.atr

    def power_off(self) -> None:
        """Remove power; volatile state is gone."""
        with self._lock:
            self.powered = False
            self._pending = b""
            self.reset_volatile()

    def reset_volatile(self) -> None:
        """Clear what a real card forgets at reset (subclasses extend)."""

    def execute(self, raw: bytes) -> bytes:
        """Run one command APDU; always returns a response APDU."""
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            self.apdu_count += 1
            try:
                command = CommandApdu.decode(raw)
            except ValueError:
                return ResponseApdu(b"", SW.WRONG_LENGTH).encode()
            for hook in list(self.hooks):
                hook(self, command)
            return self._answer(command).encode()

    def _answer(self, command: CommandApdu) -> ResponseApdu:
        if command.ins == GET_RESPONSE_INS and self._pending:
            return self._chunk(command.le or MAX_SHORT)
        self._pending = b""
        handler = self.handlers.get(command.ins)
        if handler is None:
            return ResponseApdu(b"", SW.INS_NOT_SUPPORTED)
        try:
            data = handler(command)
        except SwError as exc:
            return ResponseApdu(b"", exc.sw)
        if (
            self.strict_le
            and command.ins in self.rereadable_ins
            and command.le is not None
            and command.le != len(data)
        ):
            return ResponseApdu(b"", 0x6C00 | (len(data) % MAX_SHORT))
        if self.t0_chunks and data:
            self._pending = data
            return ResponseApdu(b"", 0x6100 | (min(len(data), MAX_SHORT) % MAX_SHORT))
        return ResponseApdu(data, SW.OK)

    def _chunk(self, le: int) -> ResponseApdu:
        data, self._pending = self._pending[:le], self._pending[le:]
        if self._pending:
            return ResponseApdu(data, 0x6100 | (min(len(self._pending), MAX_SHORT) % MAX_SHORT))
        return ResponseApdu(data, SW.OK)
