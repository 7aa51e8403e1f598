"""A whole serial NHI reader: physical SAM, HPC with its PIN typed on the pad, HC, clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from broker import errors
from broker.cards.hc import HealthCardSession
from broker.cards.hpc import HpcSession
from broker.cards.sam import SamSession
from broker.transport.serial import SerialReader
from broker.transport.serial_frames import Command, Slot
from broker.transport.serial_slots import SerialConnection
from nhi_kit.emulators.kit import CardKit
from nhi_kit.emulators.serial_reader import SerialReaderEmulator
from tests.conftest import DcAuthenticate

WAIT = 5.0


@pytest.fixture
def com1(kit: CardKit) -> Iterator[tuple[SerialReaderEmulator, SerialReader]]:
    emulator = SerialReaderEmulator("COM1", pin_pad_timeout=WAIT)
    reader = SerialReader(emulator.start(), name="COM1")
    emulator.insert(Slot.SAM, kit.card("900000000101"))
    emulator.insert(Slot.HPC, kit.card("100000291508"))
    emulator.insert(Slot.HC, kit.card("900000000711"))
    with reader:
        yield emulator, reader
    emulator.stop()


def _sam(reader: SerialReader, dc_authenticate: DcAuthenticate) -> SamSession:
    sam = SamSession(reader.slot(Slot.SAM).connect())
    sam.select()
    dc_authenticate(sam)
    return sam


def _hpc_behind_pad(
    reader: SerialReader, dc_authenticate: DcAuthenticate
) -> tuple[HpcSession, SerialConnection]:
    """The HPC in COM1, authenticated with COM1's SAM, and its connection (the PIN pad)."""
    sam = _sam(reader, dc_authenticate)
    connection = reader.slot(Slot.HPC).connect()
    assert isinstance(connection, SerialConnection)
    hpc = HpcSession(connection)
    hpc.select()
    hpc.authenticate(sam)
    return hpc, connection


def test_physical_sam_in_the_reader_authenticates_both_cards(
    com1: tuple[SerialReaderEmulator, SerialReader], dc_authenticate: DcAuthenticate
) -> None:
    _, reader = com1
    sam = _sam(reader, dc_authenticate)
    assert sam.identity().hospital_name is None
    hc = HealthCardSession(reader.slot(Slot.HC).connect())
    hc.select()
    hc.authenticate(sam)
    assert hc.identity_status() == "4"
    hpc = HpcSession(reader.slot(Slot.HPC).connect())
    hpc.select()
    hpc.authenticate(sam)


def test_hpc_pin_typed_on_the_pad_never_crosses_the_line(
    com1: tuple[SerialReaderEmulator, SerialReader], dc_authenticate: DcAuthenticate
) -> None:
    emulator, reader = com1
    hpc, connection = _hpc_behind_pad(reader, dc_authenticate)
    done = threading.Event()

    def verify() -> None:
        hpc.verify_pin_on_pad(connection)
        done.set()

    worker = threading.Thread(target=verify)
    worker.start()
    assert emulator.pin_pad.prompting.wait(WAIT)
    emulator.pin_pad.enter("000000")
    worker.join(WAIT)
    assert done.is_set()
    assert hpc.basic_data().id_no == "E123456789"


def test_wrong_pin_on_the_pad_reports_tries_left_and_is_not_retried(
    com1: tuple[SerialReaderEmulator, SerialReader], dc_authenticate: DcAuthenticate
) -> None:
    emulator, reader = com1
    hpc, connection = _hpc_behind_pad(reader, dc_authenticate)
    emulator.pin_pad.enter("999999")
    with pytest.raises(errors.WrongPinError) as wrong:
        hpc.verify_pin_on_pad(connection)
    assert wrong.value.tries_left == 2
    assert emulator.request_count(Command.PIN_PAD_VERIFY) == 1


def test_reader_clock_is_set_and_read_in_roc_time(
    com1: tuple[SerialReaderEmulator, SerialReader],
) -> None:
    _, reader = com1
    reader.set_clock("1130620114815")
    assert reader.read_clock().startswith("11306201148")
