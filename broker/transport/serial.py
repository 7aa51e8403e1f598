"""The NHI serial card reader (``COM1``) over pyserial: the only module importing it.

One ``SerialReader`` owns the port and a lock, so requests from different
threads never interleave on the line. Its three slots (SAM, HPC, HC) are
``serial_slots.SerialSlot`` objects implementing ``CardSlot``;
``serial_monitor`` polls STATUS and reports inserts and removals. Framing
lives in ``serial_frames``; ``docs/serial-protocol.md`` has the protocol,
timeouts and retry policy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import serial
import structlog

from broker.errors import (
    BrokerError,
    CardAbsentError,
    DeviceAbsentError,
    InvalidParameterError,
    PinPadCancelledError,
    PinPadTimeoutError,
    PortOpenError,
    ReaderError,
    ReaderTimeoutError,
)
from broker.roc import parse_datetime as parse_roc
from broker.transport.serial_frames import (
    Command,
    FrameDecoder,
    ReaderStatus,
    Request,
    Response,
    Slot,
    Status,
    encode_frame,
)
from broker.transport.serial_slots import SerialConnection, SerialSlot

__all__ = ["GarbledReplyError", "SerialReader"]

log = structlog.get_logger(__name__)

BAUDRATE: Final = 115200
POLL_SECONDS: Final = 0.02  # one read slice; a slice with no bytes means the line is idle
# Safe to send twice: they change nothing on the reader or the card.
IDEMPOTENT: Final = frozenset({Command.STATUS, Command.GET_CLOCK, Command.INFO})

T = TypeVar("T")


class GarbledReplyError(ReaderError):
    """The reader answered with something that makes no sense for the request."""


def _default_name(url: str) -> str:
    return url.removeprefix("/dev/") or url


class SerialReader:
    """An NHI serial reader: three card slots, a clock and a PIN pad behind one port."""

    def __init__(
        self,
        url: str,
        *,
        name: str | None = None,
        timeout: float = 2.0,
        pin_pad_timeout: float = 30.0,
    ) -> None:
        if timeout <= 0 or pin_pad_timeout <= 0:
            raise ValueError("timeouts must be positive: pyserial's None blocks forever")
        self.url = url
        self.name = name or _default_name(url)
        self.timeout = timeout
        self.pin_pad_timeout = pin_pad_timeout
        self._lock = threading.RLock()
        self._port: Any = None
        self._decoder = FrameDecoder()
        self._seq = 0
        self._epochs = dict.fromkeys(Slot, 0)  # bumps on every power change we cause

    # --- lifecycle ------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Whether the port is open (False after an unplug was noticed)."""
        return self._port is not None

    def open(self) -> None:
        """Open the port (no-op if open); ``PortOpenError`` (1201) if it cannot be."""
        with self._lock:
            if self._port is not None:
                return
            try:
                self._port = serial.serial_for_url(self.url, **self._port_options())
            except (serial.SerialException, OSError, ValueError) as exc:
                raise PortOpenError(f"{self.name}: {exc}") from exc
            self._decoder.reset()

    def _port_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "baudrate": BAUDRATE,
            "timeout": POLL_SECONDS,
            "write_timeout": self.timeout,
        }
        if "://" not in self.url:  # URL handlers (loop://, socket://) have no lock to take
            options["exclusive"] = True
        return options

    def close(self) -> None:
        """Close the port; waits for a request in progress to finish."""
        with self._lock:
            self._drop_port()

    def __enter__(self) -> Self:
        """Open the port."""
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the port."""
        self.close()

    # --- reader verbs ---------------------------------------------------

    def status(self) -> ReaderStatus:
        """Each slot's state and the insert/remove counter."""
        return self._call(Command.STATUS, ReaderStatus.decode)

    def read_clock(self) -> str:
        """The reader's clock, ``YYYMMDDHHMMSS`` with the ROC year."""
        return self._call(Command.GET_CLOCK, _roc_payload)

    def set_clock(self, roc: str) -> None:
        """Set the reader's clock; ``roc`` is 13 ASCII digits (ROC year)."""
        try:
            parse_roc(roc)
        except ValueError as exc:
            raise InvalidParameterError(f"reader time: {exc}") from exc
        self._call(Command.SET_CLOCK, _no_payload, payload=roc.encode("ascii"))

    def info(self) -> str:
        """The reader's model and firmware string."""
        return self._call(Command.INFO, lambda payload: payload.decode("ascii"))

    def slot(self, which: Slot | int | str) -> SerialSlot:
        """The ``SAM``, ``HPC`` or ``HC`` slot as a ``CardSlot``."""
        return SerialSlot(self, Slot.of(which))

    def slot_name(self, which: Slot | int | str) -> str:
        """The name users see for a slot, e.g. ``COM1 HC``."""
        return f"{self.name} {Slot.of(which).name}"

    def connect(self, which: Slot | int | str) -> SerialConnection:
        """Power the card in a slot (cold reset) and return a connection to it."""
        slot = Slot.of(which)
        with self._lock:
            atr = self._call(Command.POWER_ON, bytes, slot=slot)
            self._epochs[slot] += 1
            return SerialConnection(self, slot, atr, self._epochs[slot])

    def power_off(self, which: Slot | int | str) -> None:
        """Remove power from a slot's card; its open connections fail from now on."""
        slot = Slot.of(which)
        with self._lock:
            self._call(Command.POWER_OFF, _no_payload, slot=slot)
            self._epochs[slot] += 1

    def pin_pad_verify(self, which: Slot | int | str, header: bytes) -> bytes:
        """Have the reader ask for a PIN and verify it with the card; return the raw response.

        ``header`` is ``CLA INS P1 P2``; the reader appends ``Lc | PIN``. The
        PIN never crosses the serial line, and the request is never repeated:
        a second try would burn one of the card's PIN tries.
        """
        if len(header) != 4:
            raise InvalidParameterError(f"PIN pad header must be 4 bytes, got {len(header)}")
        return self._call(
            Command.PIN_PAD_VERIFY,
            bytes,
            slot=Slot.of(which),
            payload=header,
            timeout=self.pin_pad_timeout + self.timeout,
        )

    # --- connection support (for serial_slots) --------------------------

    def _on_card(
        self, connection: SerialConnection, command: Command, payload: bytes, timeout: float
    ) -> bytes:
        """Run XFR or PIN_PAD_VERIFY for a connection still bound to its power-up."""
        with self._lock:
            if self._epochs[connection.slot] != connection.epoch:
                raise CardAbsentError(f"card in {connection.slot_name} was reset or replaced")
            return self._call(
                command, bytes, slot=connection.slot, payload=payload, timeout=timeout
            )

    def _power_off_if(self, connection: SerialConnection) -> None:
        """Power off the card of ``connection`` if the slot still holds its power-up."""
        with self._lock:
            if self._epochs[connection.slot] == connection.epoch:
                self.power_off(connection.slot)

    # --- one request, its reply, its retry ------------------------------

    def _call(
        self,
        command: Command,
        parse: Callable[[bytes], T],
        *,
        slot: Slot = Slot.SAM,
        payload: bytes = b"",
        timeout: float | None = None,
    ) -> T:
        """Send one request and parse its OK payload; idempotent commands get one retry."""
        retries = 1 if command in IDEMPOTENT else 0
        with self._lock:
            while True:
                try:
                    response = self._round_trip(command, slot, payload, timeout or self.timeout)
                    return self._accept(command, slot, response, parse)
                except (ReaderTimeoutError, GarbledReplyError) as exc:
                    if retries == 0:
                        raise
                    retries -= 1
                    log.warning(
                        "serial.retry", reader=self.name, command=command.name, error=str(exc)
                    )

    def _accept(
        self, command: Command, slot: Slot, response: Response, parse: Callable[[bytes], T]
    ) -> T:
        if response.status != Status.OK:
            raise self._status_error(command, slot, response.status)
        try:
            return parse(response.payload)
        except ValueError as exc:
            raise GarbledReplyError(f"{self.name}: malformed {command.name} reply") from exc

    def _status_error(self, command: Command, slot: Slot, status: int) -> BrokerError:
        where = self.slot_name(slot)
        if status == Status.NO_CARD:
            return CardAbsentError(f"no card in {where}")
        if status == Status.NOT_POWERED:
            return CardAbsentError(f"card in {where} is not powered (reset or replaced)")
        if status == Status.PIN_PAD_TIMEOUT:
            return PinPadTimeoutError(
                f"nobody typed the PIN on {self.name}'s PIN pad within "
                f"{self.pin_pad_timeout:g} s (the reader's pin_pad_timeout)"
            )
        if status == Status.PIN_PAD_CANCELLED:
            return PinPadCancelledError(f"PIN entry cancelled on {self.name}'s pad")
        if status == Status.BAD_FRAME:
            return GarbledReplyError(f"{self.name} received a garbled {command.name}")
        return ReaderError(f"{self.name} refused {command.name}: {_status_label(status)}")

    def _round_trip(self, command: Command, slot: Slot, payload: bytes, timeout: float) -> Response:
        port = self._require_port()
        self._seq = (self._seq + 1) & 0xFF
        frame = encode_frame(Request(self._seq, command, slot, payload).encode())
        deadline = time.monotonic() + timeout
        with self._io(command):
            port.write(frame)
            return self._await_reply(port, self._seq, command, deadline, timeout)

    def _await_reply(
        self, port: Any, seq: int, command: Command, deadline: float, timeout: float
    ) -> Response:
        while True:
            for body in self._receive(port):
                response = self._match(body, seq, command)
                if response is not None:
                    return response
            if time.monotonic() >= deadline:
                raise ReaderTimeoutError(
                    f"{self.name}: no reply to {command.name} within {timeout:g} s"
                )

    def _receive(self, port: Any) -> list[bytes]:
        data: bytes = port.read(max(1, port.in_waiting))
        return self._decoder.feed(data) if data else self._decoder.resync()

    def _match(self, body: bytes, seq: int, command: Command) -> Response | None:
        try:
            response = Response.decode(body)
        except ValueError:
            return None  # a frame that is no response: noise that passed the CRC
        if response.seq != seq:
            return None  # a stale reply to a request we gave up on
        if response.command != command:
            raise GarbledReplyError(f"{self.name} answered {command.name} with another command")
        return response

    @contextmanager
    def _io(self, command: Command) -> Iterator[None]:
        """Turn pyserial failures into broker errors; a lost device closes the reader."""
        try:
            yield
        except serial.SerialTimeoutException as exc:
            raise ReaderTimeoutError(f"{self.name}: sending {command.name} timed out") from exc
        except (serial.SerialException, OSError) as exc:
            self._drop_port()
            raise ReaderError(f"{self.name} lost during {command.name}: {exc}") from exc

    def _require_port(self) -> Any:
        if self._port is None:
            raise DeviceAbsentError(f"{self.name} is not open (not plugged in, or unplugged)")
        return self._port

    def _drop_port(self) -> None:
        port, self._port = self._port, None
        if port is None:
            return
        try:
            port.close()
        except (serial.SerialException, OSError):
            log.debug("serial.close_failed", reader=self.name, exc_info=True)


def _status_label(status: int) -> str:
    try:
        return Status(status).name
    except ValueError:
        return f"status 0x{status:02X}"


def _no_payload(payload: bytes) -> None:
    if payload:
        raise ValueError("unexpected payload")


def _roc_payload(payload: bytes) -> str:
    text = payload.decode("ascii")
    parse_roc(text)  # ValueError unless a real ROC time
    return text
