"""The serial reader emulator and the host transport, through a real pty: PIN pad, timeouts.

The typed PIN reaches the card and never the line; the pad's timeout and cancel;
a host timeout is never retried, except a STATUS whose reply was lost.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from broker.apdu import SW
from broker.codes import Code
from broker.errors import (
    InvalidParameterError,
    PinPadCancelledError,
    PinPadTimeoutError,
    ReaderTimeoutError,
)
from broker.transport.serial import SerialReader
from broker.transport.serial_frames import Command, SlotState
from tests.emulators.echo_reader import WAIT, EchoCard, RecordingEmulator, echo

PIN_HEADER = bytes.fromhex("00200010")


# --- PIN pad ---------------------------------------------------------------


def test_pin_pad_sends_the_typed_pin_to_the_card_and_never_over_the_line(
    emulator: RecordingEmulator, card: EchoCard, reader: SerialReader
) -> None:
    connection = reader.slot("HC").connect()
    with ThreadPoolExecutor(1) as pool:
        verified = pool.submit(connection.pin_pad_verify, PIN_HEADER)
        assert emulator.pin_pad.prompting.wait(WAIT)
        emulator.pin_pad.enter("123456")
        assert verified.result(WAIT) == b"\x90\x00"
    assert card.seen[-1].encode() == PIN_HEADER + b"\x06123456"
    assert not any(b"123456" in body for body in emulator.bodies)


def test_pin_pad_relays_the_cards_wrong_pin_answer(
    emulator: RecordingEmulator, card: EchoCard, reader: SerialReader
) -> None:
    reader.slot("HC").connect()
    emulator.pin_pad.enter("000000")
    assert reader.pin_pad_verify("HC", PIN_HEADER) == SW.WRONG_PIN_LEFT_2.to_bytes(2, "big")


def test_pin_pad_timeout_raises_and_is_not_retried(
    emulator: RecordingEmulator, card: EchoCard, reader: SerialReader
) -> None:
    emulator.pin_pad.timeout = 0.1
    connection = reader.slot("HC").connect()
    with pytest.raises(PinPadTimeoutError, match="PIN"):
        connection.pin_pad_verify(PIN_HEADER)
    assert emulator.request_count(Command.PIN_PAD_VERIFY) == 1
    assert card.apdu_count == 0


def test_pin_pad_cancel_raises_cancelled(
    emulator: RecordingEmulator, card: EchoCard, reader: SerialReader
) -> None:
    reader.slot("HC").connect()
    emulator.pin_pad.cancel()
    with pytest.raises(PinPadCancelledError):
        reader.pin_pad_verify("HC", PIN_HEADER)
    assert card.apdu_count == 0


def test_host_timeout_on_pin_pad_is_not_retried_and_the_late_reply_is_ignored(
    emulator: RecordingEmulator, card: EchoCard, path: str
) -> None:
    with SerialReader(path, timeout=0.2, pin_pad_timeout=0.2) as reader:
        reader.slot("HC").connect()
        with pytest.raises(ReaderTimeoutError, match="PIN_PAD_VERIFY"):
            reader.pin_pad_verify("HC", PIN_HEADER)
        assert emulator.request_count(Command.PIN_PAD_VERIFY) == 1
        emulator.pin_pad.enter("123456")
        assert reader.status().state("HC") is SlotState.POWERED
    assert card.apdu_count == 1


def test_pin_pad_header_must_be_four_bytes(reader: SerialReader) -> None:
    with pytest.raises(InvalidParameterError):
        reader.pin_pad_verify("HC", b"\x00\x20")


# --- timeouts and retries ------------------------------------------------------


def test_a_slow_apdu_times_out_naming_xfr_and_is_not_retried(
    emulator: RecordingEmulator, card: EchoCard, path: str
) -> None:
    with SerialReader(path, timeout=0.2) as reader:
        connection = reader.slot("HC").connect()
        card.latency = 0.5
        with pytest.raises(ReaderTimeoutError, match="XFR") as caught:
            connection.transmit(echo(b"slow"))
        assert caught.value.code is Code.READER_FAILED
        assert emulator.request_count(Command.XFR) == 1
        card.latency = 0.0
        assert reader.status().state("HC") is SlotState.POWERED
    assert card.apdu_count == 1


def test_status_is_retried_once_after_a_lost_reply(emulator: RecordingEmulator, path: str) -> None:
    with SerialReader(path, timeout=0.2) as reader:
        emulator.drop_next_status = True
        assert reader.status().changes == 0
    assert emulator.request_count(Command.STATUS) == 2
