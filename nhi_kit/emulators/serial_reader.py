"""An emulated NHI serial card reader on a pty: three slots, a clock and a PIN pad.

``start()`` opens a pseudo-terminal and serves the master side in a daemon
thread; the host opens the returned slave path as if it were ``COM1``. The
wire protocol is ``broker.transport.serial_frames`` (see
``docs/serial-protocol.md``). ``respond`` is the reader's logic without any
I/O, so tests can drive it directly; nothing a host sends can stop it.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

import structlog

from broker.apdu import SW, ResponseApdu
from broker.roc import format_datetime as format_roc
from broker.roc import parse_datetime as parse_roc
from broker.transport.serial_frames import (
    Command,
    FrameDecoder,
    ReaderStatus,
    Request,
    Response,
    Slot,
    SlotState,
    Status,
    encode_frame,
)

if TYPE_CHECKING:
    from nhi_kit.emulators.card import CardEmulator

from nhi_kit.emulators.pin_pad import PinPad

log = structlog.get_logger(__name__)

POLL_SECONDS: Final = 0.02  # how long the serving thread waits before checking stop()

Reply = tuple[Status, bytes]


@dataclass
class _Bay:
    """One slot's contents; ``generation`` moves on every insert/remove."""

    card: CardEmulator | None = None
    powered: bool = False
    generation: int = 0


class SerialReaderEmulator:
    """An NHI serial reader with SAM, HPC and HC slots, served on a pty."""

    def __init__(self, name: str = "COM1", *, pin_pad_timeout: float = 30.0) -> None:
        self.name = name
        self.info = f"NHI-EMU-READER fw 1.0 ({name})"
        self.pin_pad = PinPad(pin_pad_timeout)
        self._bays = {slot: _Bay() for slot in Slot}
        self._changes = 0
        self._clock_offset = timedelta(0)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._requests: Counter[int] = Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._master = -1
        self._slave = -1
        self.path: str | None = None
        self._handlers: dict[int, Callable[[Request], Reply]] = {
            Command.STATUS: self._status,
            Command.POWER_ON: lambda request: self._power(request, on=True),
            Command.POWER_OFF: lambda request: self._power(request, on=False),
            Command.XFR: self._xfr,
            Command.GET_CLOCK: self._get_clock,
            Command.SET_CLOCK: self._set_clock,
            Command.PIN_PAD_VERIFY: self._pin_pad_verify,
            Command.INFO: self._info,
        }

    # --- lifecycle ------------------------------------------------------

    def start(self) -> str:
        """Open a raw-mode pty, serve it in a daemon thread, return the slave's path."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} emulator already started")
        self._master, self._slave = os.openpty()
        # The emulator keeps the slave open too: with no slave fd open, reads
        # on the master fail (EIO) between host sessions.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._serve, name=f"serial-reader-emulator {self.name}", daemon=True
        )
        self._thread.start()
        return self.path

    def stop(self) -> None:
        """Stop serving and close the pty; the host sees the device vanish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1

    def unplug(self) -> None:
        """Pull the reader's cable: same as ``stop``, named for what tests mean."""
        self.stop()

    @property
    def is_serving(self) -> bool:
        """Whether the serving thread runs."""
        return self._thread is not None and self._thread.is_alive()

    # --- the world around the reader -------------------------------------

    def insert(self, slot: Slot | int | str, card: CardEmulator) -> None:
        """Put ``card`` (unpowered) in ``slot``, pulling out any card already there."""
        bay = self._bays[Slot.of(slot)]
        with self._lock:
            if bay.card is not None:
                bay.card.power_off()
                self._changes += 1
            bay.card, bay.powered = card, False
            bay.generation += 1
            self._changes += 1

    def remove(self, slot: Slot | int | str) -> None:
        """Pull the card out of ``slot`` (no-op when empty)."""
        bay = self._bays[Slot.of(slot)]
        with self._lock:
            card, bay.card, bay.powered = bay.card, None, False
            if card is None:
                return
            bay.generation += 1
            self._changes += 1
        card.power_off()

    def card(self, slot: Slot | int | str) -> CardEmulator | None:
        """The card in ``slot``, if any."""
        return self._bays[Slot.of(slot)].card

    def set_clock(self, roc: str) -> None:
        """Set the reader's clock to ``roc`` (13 digits); it keeps running from there."""
        self._clock_offset = parse_roc(roc) - datetime.now()

    def now_roc(self) -> str:
        """The reader's clock as ``YYYMMDDHHMMSS`` (ROC year)."""
        return format_roc(datetime.now() + self._clock_offset)

    def inject_noise(self, data: bytes) -> None:
        """Write raw garbage toward the host, as a noisy line would."""
        self._write(data)

    def request_count(self, command: Command | int) -> int:
        """How many requests with this command byte arrived (for tests)."""
        return self._requests[int(command)]

    # --- the reader's logic, without I/O ---------------------------------

    def respond(self, body: bytes) -> bytes | None:
        """Answer one request body; None when it lacks even a SEQ and CMD to answer to."""
        try:
            request = Request.decode(body)
        except ValueError:
            if len(body) < 2:
                return None
            return Response(body[0], body[1] & 0x7F, Status.BAD_FRAME).encode()
        self._requests[request.command] += 1
        handler = self._handlers.get(request.command)
        if handler is None:
            status, payload = Status.UNKNOWN_CMD, b""
        else:
            status, payload = handler(request)
        return Response(request.seq, request.command, status, payload).encode()

    def _status(self, _request: Request) -> Reply:
        with self._lock:
            states = tuple(self._slot_state(self._bays[slot]) for slot in Slot)
            changes = self._changes
        sam, hpc, hc = states
        return Status.OK, ReaderStatus((sam, hpc, hc), changes).encode()

    @staticmethod
    def _slot_state(bay: _Bay) -> SlotState:
        if bay.card is None:
            return SlotState.EMPTY
        return SlotState.POWERED if bay.powered else SlotState.PRESENT

    def _power(self, request: Request, *, on: bool) -> Reply:
        """Power the card in the request's slot on (the answer is its ATR) or off."""
        bay = self._bay(request)
        if isinstance(bay, Status):
            return bay, b""
        with self._lock:
            if bay.card is None:
                return Status.NO_CARD, b""
            bay.powered = on
            if on:
                return Status.OK, bay.card.power_on()
            bay.card.power_off()
            return Status.OK, b""

    def _xfr(self, request: Request) -> Reply:
        if len(request.payload) < 4:
            return Status.BAD_PAYLOAD, b""
        return self._run_on_card(request, lambda: request.payload)

    def _pin_pad_verify(self, request: Request) -> Reply:
        if len(request.payload) != 4:
            return Status.BAD_PAYLOAD, b""

        def command() -> bytes | Status:
            typed = self.pin_pad.take(self._stop)
            if isinstance(typed, Status):
                return typed
            return request.payload + bytes((len(typed),)) + typed.encode("ascii")

        return self._run_on_card(request, command)

    def _run_on_card(self, request: Request, command: Callable[[], bytes | Status]) -> Reply:
        """Send ``command()`` to the powered card in the request's slot.

        The card runs outside the lock; if it was pulled meanwhile the answer
        is NO_CARD, as a real reader loses the card mid-command.
        """
        target = self._powered_card(request)
        if isinstance(target, Status):
            return target, b""
        bay, card, generation = target
        apdu = command()
        if isinstance(apdu, Status):
            return apdu, b""
        if generation != bay.generation:  # pulled while the PIN pad waited
            return Status.NO_CARD, b""
        response = self._execute(card, apdu)
        if generation != bay.generation:
            return Status.NO_CARD, b""
        return Status.OK, response

    def _powered_card(self, request: Request) -> tuple[_Bay, CardEmulator, int] | Status:
        bay = self._bay(request)
        if isinstance(bay, Status):
            return bay
        with self._lock:
            card, powered, generation = bay.card, bay.powered, bay.generation
        if card is None:
            return Status.NO_CARD
        if not powered:
            return Status.NOT_POWERED
        return bay, card, generation

    @staticmethod
    def _execute(card: CardEmulator, apdu: bytes) -> bytes:
        try:
            return card.execute(apdu)
        except Exception:
            # A card emulator bug must not take the reader down; a real card
            # answers an internal failure with 6F00.
            log.exception("serial_emulator.apdu_failed")
            return ResponseApdu(b"", SW.NO_PRECISE_DIAGNOSIS).encode()

    def _bay(self, request: Request) -> _Bay | Status:
        try:
            return self._bays[Slot(request.slot)]
        except ValueError:
            return Status.BAD_SLOT

    def _get_clock(self, _request: Request) -> Reply:
        return Status.OK, self.now_roc().encode("ascii")

    def _set_clock(self, request: Request) -> Reply:
        try:
            self.set_clock(request.payload.decode("ascii"))
        except ValueError:  # UnicodeDecodeError is a ValueError too
            return Status.BAD_PAYLOAD, b""
        return Status.OK, b""

    def _info(self, _request: Request) -> Reply:
        return Status.OK, self.info.encode("ascii", "replace")

    # --- I/O ------------------------------------------------------------

    def _serve(self) -> None:
        decoder = FrameDecoder()
        while not self._stop.is_set():
            try:
                data = self._read()
            except OSError:
                log.exception("serial_emulator.read_failed", reader=self.name)
                return
            bodies = decoder.feed(data) if data else decoder.resync()
            for body in bodies:
                self._answer(body)

    def _read(self) -> bytes:
        ready, _, _ = select.select([self._master], [], [], POLL_SECONDS)
        if not ready:
            return b""
        try:
            return os.read(self._master, 4096)
        except BlockingIOError:
            return b""

    def _answer(self, body: bytes) -> None:
        try:
            reply = self.respond(body)
            if reply is not None:
                self._write(encode_frame(reply))
        except Exception:
            # Whatever a request does, the reader keeps serving the next one.
            log.exception("serial_emulator.request_failed", reader=self.name)

    def _write(self, data: bytes) -> None:
        """Write all of ``data`` to the master, giving up if stopped meanwhile."""
        if self._master < 0:
            raise RuntimeError(f"{self.name} emulator is not started")
        view = memoryview(data)
        with self._write_lock:
            while view and not self._stop.is_set():
                try:
                    view = view[os.write(self._master, view) :]
                except BlockingIOError:
                    select.select([], [self._master], [], POLL_SECONDS)
