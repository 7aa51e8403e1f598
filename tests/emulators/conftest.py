"""The serial reader emulator on a real pty, the host transport on it, an echo card inserted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from broker.transport.serial import SerialReader
from tests.emulators.echo_reader import WAIT, EchoCard, RecordingEmulator


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
