"""The serial reader emulator and the host transport, through a real pty and pyserial: cards.

Slot status on insert and remove, power-up and ATR, APDUs through XFR, a card
pulled or swapped between or during APDUs; the reader's clock and info.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from broker.codes import Code
from broker.errors import CardAbsentError, InvalidParameterError, ReaderError
from broker.roc import parse_datetime as parse_roc
from broker.transport.base import CardConnection, CardSlot
from broker.transport.serial import SerialReader
from broker.transport.serial_frames import Command, ReaderStatus, SlotState
from tests.emulators.echo_reader import WAIT, EchoCard, RecordingEmulator, echo

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
