"""The NHI serial reader's wire format: frames, requests, responses. No I/O.

Shared by the host transport (``broker.transport.serial``) and the reader
emulator (``nhi_kit.emulators.serial_reader``); ``docs/serial-protocol.md``
describes every byte.

Frame: ``STX | LEN (2, big-endian) | BODY | CRC (2) | ETX``, the CRC being
CRC-16/CCITT-FALSE over ``LEN + BODY``.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from enum import IntEnum

STX = 0x02
ETX = 0x03
MAX_BODY = 600
FRAME_OVERHEAD = 6  # STX, LEN (2), CRC (2), ETX
RESPONSE_FLAG = 0x80


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor)."""
    # binascii's CRC-CCITT is this CRC when seeded with 0xFFFF, and runs in C.
    return binascii.crc_hqx(data, 0xFFFF)


def encode_frame(body: bytes) -> bytes:
    """Wrap ``body`` in STX, length, CRC and ETX; ValueError if over ``MAX_BODY``."""
    if len(body) > MAX_BODY:
        raise ValueError(f"frame body of {len(body)} bytes exceeds {MAX_BODY}")
    header = len(body).to_bytes(2, "big") + body
    return bytes((STX,)) + header + crc16(header).to_bytes(2, "big") + bytes((ETX,))


class FrameDecoder:
    """Turns a byte stream into frame bodies, skipping garbage and broken frames.

    A candidate frame starts at an STX byte. If its length is over the limit,
    or its ETX or CRC is wrong, that STX byte is dropped and the scan restarts
    at the next byte. An incomplete candidate waits for more bytes; when the
    line goes idle the I/O layer calls ``resync`` so a stray STX followed by
    a large length cannot hide the frames behind it.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.skipped = 0  # bytes dropped as garbage, for diagnostics

    @property
    def pending(self) -> int:
        """Bytes buffered in an incomplete candidate frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the bodies of the frames now complete."""
        self._buffer += data
        return self._drain()

    def resync(self) -> list[bytes]:
        """The line went idle: treat incomplete candidates as garbage and rescan."""
        bodies = self._drain()
        while self._buffer:
            self._skip(1)
            bodies += self._drain()
        return bodies

    def reset(self) -> None:
        """Forget everything buffered."""
        self.skipped += len(self._buffer)
        self._buffer.clear()

    def _drain(self) -> list[bytes]:
        bodies: list[bytes] = []
        while True:
            start = self._buffer.find(STX)
            if start < 0:
                self.reset()
                return bodies
            self._skip(start)
            outcome = self._candidate()
            if outcome is None:
                return bodies
            if isinstance(outcome, bytes):
                bodies.append(outcome)
            else:
                self._skip(1)

    def _candidate(self) -> bytes | bool | None:
        """The body at the buffer's start; None if incomplete, False if broken."""
        buffer = self._buffer
        if len(buffer) < 3:
            return None
        length = int.from_bytes(buffer[1:3], "big")
        if length > MAX_BODY:
            return False
        end = length + FRAME_OVERHEAD
        if len(buffer) < end:
            return None
        crc = int.from_bytes(buffer[end - 3 : end - 1], "big")
        if buffer[end - 1] != ETX or crc16(memoryview(buffer)[1 : end - 3]) != crc:
            return False
        body = bytes(buffer[3 : end - 3])
        del buffer[:end]
        return body

    def _skip(self, count: int) -> None:
        if count:
            del self._buffer[:count]
            self.skipped += count


class Command(IntEnum):
    """Request command bytes; a response carries ``command | 0x80``."""

    STATUS = 0x01
    POWER_ON = 0x02
    POWER_OFF = 0x03
    XFR = 0x04
    GET_CLOCK = 0x05
    SET_CLOCK = 0x06
    PIN_PAD_VERIFY = 0x07
    INFO = 0x08


class Status(IntEnum):
    """The reader's answer to a request (not the card's status word)."""

    OK = 0x00
    NO_CARD = 0x01
    NOT_POWERED = 0x02
    BAD_FRAME = 0x03
    UNKNOWN_CMD = 0x04
    PIN_PAD_TIMEOUT = 0x05
    PIN_PAD_CANCELLED = 0x06
    BAD_SLOT = 0x07
    BAD_PAYLOAD = 0x08


class Slot(IntEnum):
    """The reader's three card slots."""

    SAM = 0
    HPC = 1
    HC = 2

    @classmethod
    def of(cls, value: Slot | int | str) -> Slot:
        """Accept a Slot, its number or its name (``"HC"``); ValueError otherwise."""
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                raise ValueError(f"no slot named {value!r}") from None
        return cls(value)


class SlotState(IntEnum):
    """One slot as STATUS reports it."""

    EMPTY = 0
    PRESENT = 1  # card inserted, not powered
    POWERED = 2


@dataclass(frozen=True)
class Request:
    """A host-to-reader request body: ``SEQ | CMD | SLOT | PAYLOAD``."""

    seq: int
    command: int
    slot: int = 0
    payload: bytes = b""

    def encode(self) -> bytes:
        """The frame body."""
        return bytes((self.seq, self.command, self.slot)) + self.payload

    @classmethod
    def decode(cls, body: bytes) -> Request:
        """Parse a request body; ValueError if shorter than its 3-byte header."""
        if len(body) < 3:
            raise ValueError(f"request body of {len(body)} bytes is shorter than 3")
        return cls(body[0], body[1], body[2], body[3:])


@dataclass(frozen=True)
class Response:
    """A reader-to-host response body: ``SEQ | CMD|0x80 | STATUS | PAYLOAD``.

    ``command`` holds the request's command byte, without the 0x80 flag.
    """

    seq: int
    command: int
    status: int
    payload: bytes = b""

    def encode(self) -> bytes:
        """The frame body."""
        return bytes((self.seq, self.command | RESPONSE_FLAG, self.status)) + self.payload

    @classmethod
    def decode(cls, body: bytes) -> Response:
        """Parse a response body; ValueError if too short or not flagged as a response."""
        if len(body) < 3:
            raise ValueError(f"response body of {len(body)} bytes is shorter than 3")
        if not body[1] & RESPONSE_FLAG:
            raise ValueError(f"command byte {body[1]:02X} lacks the response flag")
        return cls(body[0], body[1] & ~RESPONSE_FLAG, body[2], body[3:])


@dataclass(frozen=True)
class ReaderStatus:
    """STATUS payload: one state per slot (SAM, HPC, HC) and a change counter.

    The counter (mod 256) moves on every insert and remove, so a card pulled
    and put back between two polls still shows.
    """

    slots: tuple[SlotState, SlotState, SlotState]
    changes: int

    def state(self, slot: Slot | int | str) -> SlotState:
        """The state of one slot."""
        return self.slots[Slot.of(slot)]

    def is_present(self, slot: Slot | int | str) -> bool:
        """Whether a card sits in the slot (powered or not)."""
        return self.state(slot) is not SlotState.EMPTY

    def encode(self) -> bytes:
        """The 4-byte payload."""
        return bytes((*self.slots, self.changes & 0xFF))

    @classmethod
    def decode(cls, payload: bytes) -> ReaderStatus:
        """Parse the 4-byte payload; ValueError if malformed."""
        if len(payload) != 4:
            raise ValueError(f"STATUS payload of {len(payload)} bytes, expected 4")
        sam, hpc, hc = (SlotState(byte) for byte in payload[:3])
        return cls((sam, hpc, hc), payload[3])
