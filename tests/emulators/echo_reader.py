"""An echo card and a serial reader emulator that records what crossed the line."""

from __future__ import annotations

from broker.apdu import CommandApdu
from broker.transport.serial_frames import Command
from nhi_kit.emulators.card import CardEmulator, PinCounter, make_atr
from nhi_kit.emulators.serial_reader import SerialReaderEmulator

WAIT = 5.0  # upper bound for anything that should happen at once
ECHO = 0xEE
VERIFY = 0x20


class EchoCard(CardEmulator):
    """A test card: INS EE echoes its data, INS 20 checks a PIN."""

    atr = make_atr(b"ECHO")

    def __init__(self, pin: str = "123456") -> None:
        super().__init__()
        self.pin = PinCounter(pin)
        self.seen: list[CommandApdu] = []
        self.hooks.append(lambda _card, command: self.seen.append(command))
        self.handlers[ECHO] = lambda command: command.data
        self.handlers[VERIFY] = self._verify

    def _verify(self, command: CommandApdu) -> bytes:
        self.pin.check(command.data.decode("ascii"))
        return b""


class RecordingEmulator(SerialReaderEmulator):
    """Keeps every request body the host sent, to prove what crossed the line."""

    def __init__(self) -> None:
        super().__init__(pin_pad_timeout=WAIT)
        self.bodies: list[bytes] = []
        self.drop_next_status = False

    def respond(self, body: bytes) -> bytes | None:
        """Record, then answer (or lose the reply, once, when asked to)."""
        self.bodies.append(body)
        reply = super().respond(body)
        if self.drop_next_status and body[1:2] == bytes((Command.STATUS,)):
            self.drop_next_status = False
            return None
        return reply


def echo(data: bytes) -> bytes:
    """An APDU the echo card answers with ``data``."""
    return CommandApdu(0x00, ECHO, 0, 0, data, le=256).encode()
