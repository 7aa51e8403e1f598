"""A serial reader that is not plugged in (yet), or is unplugged, is a state its reader actor is
in — shown in Status and the actor list, looked for again by itself — not a crash: no error
line, no restart, and the device is picked up when it appears (a pty behind the configured
path, as a USB adapter's tty appears)."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from actors.messages import Context
from broker import config
from broker.arguments import Arguments
from broker.codes import Code
from broker.errors import BrokerError
from broker.rules import Function
from broker.state import SamStatus
from broker.transport.serial_frames import Slot
from nhi_broker.assembly import RunningBroker, assemble
from nhi_kit.emulators.kit import CardKit
from nhi_kit.emulators.serial_reader import SerialReaderEmulator

WAIT = 20.0  # a failure bound only: the device is looked for again every few seconds
SAM = "900000000101"  # the manual's physical test SAM


@pytest.fixture
def tty(tmp_path: Path) -> Path:
    """Where the configuration says the reader is: nothing there yet."""
    return tmp_path / "ttyUSB0"


@pytest.fixture
def broker(tmp_path: Path, tty: Path, log_lines: io.StringIO) -> Iterator[RunningBroker]:
    """The hardware profile with one serial reader and no PC/SC, its device not plugged in."""
    settings = config.BrokerConfig(
        profile="hardware",
        data_dir=tmp_path / "data",
        dc=config.DcSettings("https://dc.example.invalid"),
        stations=(config.StationConfig(config.LOCAL, serial="COM1"),),
        serial=(config.SerialConfig("COM1", str(tty)),),
    )
    running = assemble(settings)
    yield running
    running.close()
    pykka.ActorRegistry.stop_all()


@pytest.fixture
def emulators() -> Iterator[list[SerialReaderEmulator]]:
    started: list[SerialReaderEmulator] = []
    yield started
    for emulator in started:
        emulator.stop()


def plug_in(tty: Path, emulators: list[SerialReaderEmulator]) -> SerialReaderEmulator:
    """An emulated reader with the SAM in, its pty appearing at ``tty``."""
    emulator = SerialReaderEmulator("COM1")
    emulators.append(emulator)
    path = emulator.start()
    emulator.insert(Slot.SAM, CardKit().card(SAM))
    link = tty.with_suffix(".new")
    link.symlink_to(path)
    os.replace(link, tty)  # at once, as a tty appears
    return emulator


def initial(broker: RunningBroker) -> dict[str, Any]:
    context = Context("test-initial", "pytest", "local")
    broker.supervisor.call("local", Function.INITIAL, Arguments(name="COM1"), context, WAIT)
    return {"sam": broker.board.get("local").sam_status}


def reader_entry(broker: RunningBroker) -> dict[str, Any]:
    entries = {entry.name: entry for entry in broker.supervisor.actors()}
    entry = entries["reader:COM1"]
    return {"state": entry.state, "device": entry.device, "restarts": entry.restarts}


def events(log_lines: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_lines.getvalue().splitlines() if line.strip()]


def absent(broker: RunningBroker) -> tuple[str, ...]:
    found = broker.board.wait_for("local", lambda s: s.readers_absent == ("COM1",), WAIT)
    assert found is not None, broker.board.get("local")
    return found.readers_absent


def present(broker: RunningBroker) -> None:
    found = broker.board.wait_for("local", lambda s: not s.readers_absent, WAIT)
    assert found is not None, f"the device was never picked up: {broker.board.get('local')}"


def test_a_reader_not_plugged_in_is_absent_not_crashed(
    broker: RunningBroker, log_lines: io.StringIO
) -> None:
    assert absent(broker) == ("COM1",)
    assert reader_entry(broker) == {"state": "running", "device": "absent", "restarts": 0}
    with pytest.raises(BrokerError) as refused:
        initial(broker)
    assert refused.value.code is Code.COMPORT_OPEN_FAILED
    assert "COM1" in refused.value.detail
    lines = events(log_lines)
    assert [e for e in lines if e["level"] in ("error", "critical")] == []
    assert [e for e in lines if "exception" in e] == []
    assert [e["event"] for e in lines if e["level"] == "warning" and "COM1" in json.dumps(e)] == [
        "serial.unavailable"
    ]
    assert all(entry.restarts == 0 for entry in broker.supervisor.actors())


def test_the_device_is_picked_up_when_it_appears(
    broker: RunningBroker, tty: Path, emulators: list[SerialReaderEmulator], log_lines: io.StringIO
) -> None:
    absent(broker)
    plug_in(tty, emulators)
    present(broker)
    assert reader_entry(broker) == {"state": "running", "device": "present", "restarts": 0}
    assert initial(broker) == {"sam": SamStatus.PRESENT}
    assert [e for e in events(log_lines) if e["level"] in ("error", "critical")] == []
    assert all(entry.restarts == 0 for entry in broker.supervisor.actors())


def test_an_unplugged_reader_is_absent_until_it_is_plugged_back_in(
    broker: RunningBroker, tty: Path, emulators: list[SerialReaderEmulator], log_lines: io.StringIO
) -> None:
    plug_in(tty, emulators).unplug()  # pulled right away: whenever the broker looks
    absent(broker)
    first = plug_in(tty, emulators)
    present(broker)
    assert initial(broker) == {"sam": SamStatus.PRESENT}
    first.unplug()
    assert absent(broker) == ("COM1",)
    gone = broker.board.wait_for("local", lambda s: s.sam_status is SamStatus.NONE, WAIT)
    assert gone is not None, "the SAM of an unplugged reader is still shown"
    plug_in(tty, emulators)
    present(broker)
    back = broker.board.wait_for("local", lambda s: s.sam_status is SamStatus.PRESENT, WAIT)
    assert back is not None, broker.board.get("local")
    assert [e for e in events(log_lines) if e["level"] in ("error", "critical")] == []
    assert all(entry.restarts == 0 for entry in broker.supervisor.actors())
