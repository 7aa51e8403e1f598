"""ISO 7816-4 short APDUs: codec, status words, and one channel that sends them.

The channel is the one place where status words become exceptions, and where
T=0 quirks are absorbed: ``61xx`` (fetch the rest with GET RESPONSE) and
``6Cxx`` (send again with Le = xx).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

import structlog

from broker import errors
from broker.logging import TRACING, trace


class SW(IntEnum):
    """Status words the broker and its emulators use."""

    OK = 0x9000
    VERIFICATION_FAILED = 0x6300
    WRONG_PIN_LEFT_0 = 0x63C0
    WRONG_PIN_LEFT_1 = 0x63C1
    WRONG_PIN_LEFT_2 = 0x63C2
    WRONG_PIN_LEFT_3 = 0x63C3
    MEMORY_FAILURE = 0x6581
    WRONG_LENGTH = 0x6700
    SECURITY_STATUS_NOT_SATISFIED = 0x6982
    AUTH_METHOD_BLOCKED = 0x6983
    REFERENCE_DATA_NOT_USABLE = 0x6984
    CONDITIONS_NOT_SATISFIED = 0x6985
    WRONG_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    FILE_NOT_FOUND = 0x6A82
    INCORRECT_P1P2 = 0x6A86
    WRONG_P1P2 = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    NO_PRECISE_DIAGNOSIS = 0x6F00


MAX_SHORT = 256  # Le = 00 asks for 256 bytes; Lc can carry at most 255
MASK_DATA = "***"  # what logs and reprs show instead of a PIN or PUK
TRACE_DATA_MAX = 64  # response bytes shown in a trace line

_log = structlog.get_logger("broker.apdu")


@dataclass(frozen=True)
class CommandApdu:
    """A short command APDU; ``le`` None means no response data expected.

    ``secret`` marks commands carrying a PIN or PUK so that logs mask the data.
    """

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None
    secret: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise ValueError(f"{name} must be one byte")
        if len(self.data) > 255:
            raise ValueError("short APDU data is at most 255 bytes")
        if self.le is not None and not 1 <= self.le <= MAX_SHORT:
            raise ValueError("Le must be 1..256")

    def encode(self) -> bytes:
        """Bytes on the wire (case 1, 2, 3 or 4 short)."""
        out = bytes((self.cla, self.ins, self.p1, self.p2))
        if self.data:
            out += bytes((len(self.data),)) + self.data
        if self.le is not None:
            out += bytes((self.le % MAX_SHORT,))
        return out

    @classmethod
    def decode(cls, raw: bytes) -> CommandApdu:
        """Parse a short command APDU; raises ValueError on a malformed one."""
        if len(raw) < 4:
            raise ValueError("command APDU shorter than 4 bytes")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, le=body[0] or MAX_SHORT)
        lc = body[0]
        if lc == 0:
            raise ValueError("extended APDUs are not supported")
        if len(body) == 1 + lc:
            return cls(cla, ins, p1, p2, body[1:])
        if len(body) == 2 + lc:
            return cls(cla, ins, p1, p2, body[1:-1], le=body[-1] or MAX_SHORT)
        raise ValueError(f"Lc {lc} does not match {len(body) - 1} data bytes")

    def with_le(self, le: int) -> CommandApdu:
        """The same command asking for ``le`` bytes (the 6Cxx answer)."""
        return CommandApdu(self.cla, self.ins, self.p1, self.p2, self.data, le, self.secret)

    def __repr__(self) -> str:
        shown = MASK_DATA if self.secret and self.data else self.data.hex()
        return (
            f"CommandApdu({self.cla:02X} {self.ins:02X} {self.p1:02X} {self.p2:02X}"
            f" data={shown} le={self.le})"
        )


@dataclass(frozen=True)
class ResponseApdu:
    """Response data and the two status bytes."""

    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        """First status byte."""
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        """Second status byte."""
        return self.sw & 0xFF

    def encode(self) -> bytes:
        """Bytes on the wire: data then SW1 SW2."""
        return self.data + self.sw.to_bytes(2, "big")

    @classmethod
    def decode(cls, raw: bytes) -> ResponseApdu:
        """Parse a response APDU; raises ValueError if shorter than 2 bytes."""
        if len(raw) < 2:
            raise ValueError("response APDU shorter than 2 bytes")
        return cls(raw[:-2], int.from_bytes(raw[-2:], "big"))


class Transmitter(Protocol):
    """Anything that carries raw APDU bytes to a card and back."""

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU; return the raw response APDU."""
        ...


def error_for(sw: int, ins: int) -> errors.ApduError:
    """Turn a failing status word into the matching exception (the one place)."""
    detail = f"INS {ins:02X}"
    if sw & 0xFFF0 == 0x63C0:
        return errors.WrongPinError(sw, f"{detail}, {sw & 0x0F} tries left")
    if sw == SW.AUTH_METHOD_BLOCKED:
        return errors.PinBlockedError(sw, f"{detail}, blocked, 0 tries left")
    known: dict[int, type[errors.ApduError]] = {
        SW.SECURITY_STATUS_NOT_SATISFIED: errors.SecurityStatusError,
        SW.REFERENCE_DATA_NOT_USABLE: errors.NoPinSetError,
        SW.VERIFICATION_FAILED: errors.AuthenticationFailedError,
        SW.INS_NOT_SUPPORTED: errors.NotSupportedError,
        SW.CLA_NOT_SUPPORTED: errors.NotSupportedError,
        SW.FILE_NOT_FOUND: errors.NotSupportedError,
        SW.WRONG_LENGTH: errors.WrongLengthError,
    }
    return known.get(sw, errors.ApduError)(sw, detail)


def checked(response: ResponseApdu, ins: int) -> bytes:
    """The response's data, or the status word's error."""
    if response.sw != SW.OK:
        raise error_for(response.sw, ins)
    return response.data


GET_RESPONSE_INS = 0xC0


class ApduChannel:
    """Sends command APDUs over a transmitter, handling 61xx and 6Cxx."""

    def __init__(self, transmitter: Transmitter) -> None:
        self._transmitter = transmitter

    def exchange(self, command: CommandApdu) -> ResponseApdu:
        """Send ``command`` and return the complete response, whatever its SW."""
        response = self._transmit(command)
        if response.sw1 == 0x6C:
            response = self._transmit(command.with_le(response.sw2 or MAX_SHORT))
        data = response.data
        while response.sw1 == 0x61:
            response = self._transmit(
                CommandApdu(0x00, GET_RESPONSE_INS, 0, 0, le=response.sw2 or MAX_SHORT)
            )
            data += response.data
        return ResponseApdu(data, response.sw)

    def send(self, command: CommandApdu) -> bytes:
        """Send ``command``; return its data or raise the status word's error."""
        return checked(self.exchange(command), command.ins)

    def _transmit(self, command: CommandApdu) -> ResponseApdu:
        encoded = command.encode()
        tracing = TRACING.on  # one attribute test per APDU when trace is off
        if tracing:
            trace_command(command, encoded)
            started = time.perf_counter()
        raw = self._transmitter.transmit(encoded)
        try:
            response = ResponseApdu.decode(raw)
        except ValueError as exc:
            raise errors.TransportError(f"malformed response to INS {command.ins:02X}") from exc
        if tracing:
            trace_response(command, response, time.perf_counter() - started)
        return response


def _hex(raw: bytes) -> str:
    """``00 A4 04 00``: spaced, so no header reads as a 6-digit PIN to the redactor."""
    return raw.hex(" ").upper()


def trace_command(command: CommandApdu, encoded: bytes) -> None:
    """One trace line for a command; a PIN command shows header and Lc, never its data."""
    if not (command.secret and command.data):
        trace(_log, "apdu", direction="command", apdu=_hex(encoded))
        return
    shown = _hex(encoded[:5]) + " " + MASK_DATA  # CLA INS P1 P2 Lc
    if command.le is not None:
        shown += " " + _hex(encoded[-1:])
    trace(_log, "apdu", direction="command", apdu=shown, sensitive=True)


def trace_response(command: CommandApdu, response: ResponseApdu, seconds: float) -> None:
    """One trace line for a response: SW and length, data too unless the command was secret."""
    fields: dict[str, object] = {"sw": f"{response.sw:04X}", "length": len(response.data)}
    if command.secret:
        fields["sensitive"] = True
    elif response.data:
        fields["data"] = _hex(response.data[:TRACE_DATA_MAX])
        if len(response.data) > TRACE_DATA_MAX:
            fields["truncated"] = True
    trace(_log, "apdu", direction="response", ms=round(seconds * 1000, 3), **fields)
