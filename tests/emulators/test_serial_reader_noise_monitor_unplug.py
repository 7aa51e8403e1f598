"""The serial reader emulator and the host transport, through a real pty and pyserial: the line.

Noise and garbage from either side are survived and bad requests answered with
a status; the monitor reports slot events; an unplugged or missing device fails
visibly with its code.
"""

from __future__ import annotations

import os
import queue
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from broker.codes import Code
from broker.errors import PortOpenError, ReaderError, ReaderTimeoutError
from broker.transport.base import SlotEvent
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
from nhi_kit.emulators.serial_reader import SerialReaderEmulator
from tests.emulators.echo_reader import WAIT, EchoCard, RecordingEmulator, echo

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
