"""The serial reader emulator and the host transport, through a real pty and pyserial."""

from __future__ import annotations

import os
import queue
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from broker.apdu import SW, CommandApdu
from broker.codes import Code
from broker.errors import (
    CardAbsentError,
    InvalidParameterError,
    PinPadCancelledError,
    PinPadTimeoutError,
    PortOpenError,
    ReaderError,
    ReaderTimeoutError,
)
from broker.roc import parse_datetime as parse_roc
from broker.transport.base import CardConnection, CardSlot, SlotEvent
from broker.transport.serial import SerialReader
from broker.transport.serial_frames import (
    Command,
    ReaderStatus,
    Request,
    Response,
    SlotState,
    Status,
    encode_frame,
)
from broker.transport.serial_monitor import SerialMonitor, status_events
from nhi_kit.emulators.card import CardEmulator, PinCounter, make_atr
from nhi_kit.emulators.serial_reader import SerialReaderEmulator

WAIT = 5.0  # upper bound for anything that should happen at once
ECHO = 0xEE
VERIFY = 0x20
PIN_HEADER = bytes.fromhex("00200010")


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


@pytest.fixture
def emulator() -> Iterator[RecordingEmulator]:
    emulator = RecordingEmulator()
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def path(emulator: RecordingEmulator) -> str:
    assert emulator.path is not None
    return emulator.path


@pytest.fixture
def reader(path: str) -> Iterator[SerialReader]:
    with SerialReader(path, name="COM1", timeout=1.0, pin_pad_timeout=WAIT) as reader:
        yield reader


@pytest.fixture
def card(emulator: RecordingEmulator) -> EchoCard:
    card = EchoCard()
    emulator.insert("HC", card)
    return card


# --- slots, power, APDUs -----------------------------------------------------


def test_status_reflects_insert_and_remove(
    emulator: RecordingEmulator, reader: SerialReader
) -> None:
    assert reader.status() == ReaderStatus((SlotState.EMPTY,) * 3, 0)
    emulator.insert("HPC", EchoCard())
    assert reader.status().slots == (SlotState.EMPTY, SlotState.PRESENT, SlotState.EMPTY)
    assert reader.slot("HPC").is_card_present()
    emulator.remove("HPC")
    status = reader.status()
    assert not status.is_present("HPC")
    assert status.changes == 2


def test_connect_powers_the_card_and_returns_its_atr(card: EchoCard, reader: SerialReader) -> None:
    slot: CardSlot = reader.slot("HC")  # mypy checks the protocol is met
    connection: CardConnection = slot.connect()
    assert connection.atr == card.atr
    assert reader.status().state("HC") is SlotState.POWERED
    assert slot.name == "COM1 HC"


def test_apdu_round_trips_through_xfr(card: EchoCard, reader: SerialReader) -> None:
    connection = reader.slot("HC").connect()
    assert connection.transmit(echo(b"\x01\x02\x03")) == b"\x01\x02\x03\x90\x00"
    assert connection.transmit(echo(bytes(range(255)))) == bytes(range(255)) + b"\x90\x00"
    assert card.apdu_count == 2


def test_connect_to_an_empty_slot_raises_card_absent(reader: SerialReader) -> None:
    with pytest.raises(CardAbsentError) as caught:
        reader.slot("SAM").connect()
    assert caught.value.code is Code.NO_CARD


def test_closing_a_connection_leaves_the_card_powered(card: EchoCard, reader: SerialReader) -> None:
    connection = reader.slot("HC").connect()
    connection.close()
    assert card.powered
    assert reader.status().state("HC") is SlotState.POWERED
    with pytest.raises(ReaderError, match="closed"):
        connection.transmit(echo(b"x"))


def test_card_pulled_between_apdus_raises_card_absent_and_reinsert_works(
    emulator: RecordingEmulator, card: EchoCard, reader: SerialReader
) -> None:
    connection = reader.slot("HC").connect()
    connection.transmit(echo(b"a"))
    emulator.remove("HC")
    with pytest.raises(CardAbsentError):
        connection.transmit(echo(b"b"))
    emulator.insert("HC", card)
    assert reader.slot("HC").connect().transmit(echo(b"c")) == b"c\x90\x00"


def test_card_pulled_during_an_apdu_raises_card_absent(
    emulator: RecordingEmulator, card: EchoCard, reader: SerialReader
) -> None:
    connection = reader.slot("HC").connect()
    card.hooks.append(lambda _card, _command: emulator.remove("HC"))
    with pytest.raises(CardAbsentError):
        connection.transmit(echo(b"a"))


def test_card_swapped_between_apdus_fails_the_old_connection(
    emulator: RecordingEmulator, card: EchoCard, reader: SerialReader
) -> None:
    connection = reader.slot("HC").connect()
    emulator.insert("HC", EchoCard())
    with pytest.raises(CardAbsentError, match="not powered"):
        connection.transmit(echo(b"a"))


def test_a_new_power_up_ends_the_previous_connection(card: EchoCard, reader: SerialReader) -> None:
    first = reader.slot("HC").connect()
    second = reader.slot("HC").connect()
    with pytest.raises(CardAbsentError, match="reset or replaced"):
        first.transmit(echo(b"a"))
    assert second.transmit(echo(b"b")) == b"b\x90\x00"
    assert card.apdu_count == 1


# --- clock and info ------------------------------------------------------------


def test_clock_set_and_read_round_trip(reader: SerialReader) -> None:
    reader.set_clock("1130620114815")
    drift = parse_roc(reader.read_clock()) - datetime(2024, 6, 20, 11, 48, 15)
    assert 0 <= drift.total_seconds() < WAIT


def test_a_malformed_clock_is_refused_before_it_is_sent(
    emulator: RecordingEmulator, reader: SerialReader
) -> None:
    with pytest.raises(InvalidParameterError):
        reader.set_clock("113-06-20")
    assert emulator.request_count(Command.SET_CLOCK) == 0


def test_info_names_the_reader(reader: SerialReader) -> None:
    assert "COM1" in reader.info()


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


# --- noise on the line -----------------------------------------------------------


@pytest.mark.parametrize(
    "noise",
    [
        b"\xff\x00\x13garbage",
        b"\x02\x02\x58",  # a stray STX announcing 600 bytes
        b"\x02\x00\x03\x01\x81\x00\xde\xad\x03",  # a reply-shaped frame with a bad CRC
        bytes(range(256)),
    ],
)
def test_noise_from_the_reader_is_survived(
    emulator: RecordingEmulator, reader: SerialReader, noise: bytes
) -> None:
    emulator.inject_noise(noise)
    assert reader.status().changes == 0
    emulator.inject_noise(noise)
    assert "COM1" in reader.info()


def test_a_stale_well_formed_reply_is_ignored(
    emulator: RecordingEmulator, reader: SerialReader
) -> None:
    seq_in_the_past = 0xFE
    stale = Response(seq_in_the_past, Command.STATUS, Status.OK, b"\x01\x01\x01\x09")
    emulator.inject_noise(encode_frame(stale.encode()))
    assert reader.status().changes == 0


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(junk=st.binary(min_size=1, max_size=700))
@example(junk=b"\x02\x02\x58")  # a stray STX announcing 600 bytes
@example(junk=encode_frame(b"\x01"))  # a well-formed frame with no request in it
def test_garbage_from_the_host_is_survived(
    emulator: RecordingEmulator, reader: SerialReader, path: str, junk: bytes
) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_NOCTTY)
    try:
        os.write(fd, junk)
    finally:
        os.close(fd)
    assert reader.status().changes == 0
    assert emulator.is_serving


@settings(max_examples=300)
@given(body=st.binary(max_size=40))
def test_the_reader_answers_any_request_body_without_failing(body: bytes) -> None:
    emulator = SerialReaderEmulator(pin_pad_timeout=0.0)
    emulator.insert("HC", EchoCard())
    reply = emulator.respond(body)
    if len(body) < 2:
        assert reply is None
    else:
        assert reply is not None
        assert Response.decode(reply).seq == body[0]


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        (Request(1, 0x7F), Status.UNKNOWN_CMD),
        (Request(1, Command.POWER_ON, 3), Status.BAD_SLOT),
        (Request(1, Command.XFR, 2, b"\x00"), Status.BAD_PAYLOAD),
        (Request(1, Command.XFR, 2, echo(b"x")), Status.NO_CARD),
        (Request(1, Command.SET_CLOCK, 0, b"\xff" * 13), Status.BAD_PAYLOAD),
        (Request(1, Command.PIN_PAD_VERIFY, 1, b"\x00\x20"), Status.BAD_PAYLOAD),
    ],
)
def test_the_reader_refuses_bad_requests_with_a_status(request_: Request, status: Status) -> None:
    reply = SerialReaderEmulator().respond(request_.encode())
    assert reply is not None
    assert Response.decode(reply).status == status


def test_xfr_to_an_unpowered_card_answers_not_powered() -> None:
    emulator = SerialReaderEmulator()
    emulator.insert("HPC", EchoCard())
    reply = emulator.respond(Request(9, Command.XFR, 1, echo(b"x")).encode())
    assert reply is not None
    assert Response.decode(reply) == Response(9, Command.XFR, Status.NOT_POWERED)


# --- monitor -------------------------------------------------------------------


def test_monitor_reports_cards_present_at_start_then_insert_and_remove(
    emulator: RecordingEmulator, reader: SerialReader
) -> None:
    emulator.insert("SAM", EchoCard())
    events: queue.Queue[SlotEvent] = queue.Queue()
    monitor = SerialMonitor(reader, events.put, interval=0.01)
    monitor.start()
    try:
        assert events.get(timeout=WAIT) == SlotEvent("COM1 SAM", present=True)
        emulator.insert("HC", EchoCard())
        assert events.get(timeout=WAIT) == SlotEvent("COM1 HC", present=True)
        emulator.remove("HC")
        assert events.get(timeout=WAIT) == SlotEvent("COM1 HC", present=False)
    finally:
        monitor.stop()
    assert not monitor.is_alive()
    assert monitor.error is None


def test_monitor_stops_promptly_even_with_a_long_interval(reader: SerialReader) -> None:
    monitor = SerialMonitor(reader, lambda _event: None, interval=60.0)
    monitor.start()
    reader.status()  # the monitor's first poll is done or queued behind this one
    monitor.stop(timeout=WAIT)  # far shorter than the 60 s interval
    assert not monitor.is_alive()


def test_status_events_report_a_card_swapped_between_polls() -> None:
    before = ReaderStatus((SlotState.POWERED, SlotState.EMPTY, SlotState.POWERED), 5)
    after = ReaderStatus((SlotState.POWERED, SlotState.PRESENT, SlotState.PRESENT), 8)
    assert status_events("COM1", before, after) == [
        SlotEvent("COM1 HPC", present=True),
        SlotEvent("COM1 HC", present=False),
        SlotEvent("COM1 HC", present=True),
    ]


def test_status_events_ignore_a_power_change() -> None:
    before = ReaderStatus((SlotState.POWERED, SlotState.EMPTY, SlotState.EMPTY), 255)
    after = ReaderStatus((SlotState.PRESENT, SlotState.EMPTY, SlotState.EMPTY), 255)
    assert status_events("COM1", before, after) == []


# --- the device going away -----------------------------------------------------


def test_unplug_raises_reader_error_and_closes_the_reader(
    emulator: RecordingEmulator, reader: SerialReader
) -> None:
    emulator.unplug()
    with pytest.raises(ReaderError) as caught:
        reader.status()
    assert not isinstance(caught.value, ReaderTimeoutError)
    assert caught.value.code is Code.READER_FAILED
    assert not reader.is_open
    with pytest.raises(ReaderError, match="not open"):
        reader.info()


def test_monitor_ends_visibly_when_the_reader_is_unplugged(
    emulator: RecordingEmulator, reader: SerialReader
) -> None:
    failures: queue.Queue[BaseException] = queue.Queue()
    monitor = SerialMonitor(reader, lambda _event: None, interval=0.01, on_failure=failures.put)
    monitor.start()
    emulator.unplug()
    assert isinstance(failures.get(timeout=WAIT), ReaderError)
    monitor.join(WAIT)
    assert not monitor.is_alive()
    assert isinstance(monitor.error, ReaderError)


def test_opening_a_missing_port_raises_port_open_error_1201(tmp_path: Path) -> None:
    reader = SerialReader(f"{tmp_path}/no-such-tty")
    with pytest.raises(PortOpenError) as caught:
        reader.open()
    assert caught.value.code is Code.COMPORT_OPEN_FAILED
    assert int(caught.value.code) == 1201
    assert not reader.is_open


def test_a_port_open_in_one_reader_cannot_be_opened_by_another(
    reader: SerialReader, path: str
) -> None:
    with pytest.raises(PortOpenError):
        SerialReader(path).open()


def test_a_closed_reader_can_be_opened_again(reader: SerialReader) -> None:
    reader.close()
    assert not reader.is_open
    reader.open()
    assert reader.status().changes == 0


def test_timeouts_must_be_finite_and_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        SerialReader("/dev/null", timeout=0)
