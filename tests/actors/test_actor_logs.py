"""What actors and monitors log: a crash with its traceback (never its locals), an
ordinary refusal without one, and a device that stays missing once when it goes and
once when it comes back."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from actors.base import ActorUnavailableError
from actors.hardware import BrokerSettings, Hardware, MonitorSpec
from actors.supervisor import Supervisor
from broker import logging as broker_logging
from broker.apdu import CommandApdu
from broker.codes import Code
from broker.config import RestartPolicy
from broker.dc.client import DcClient, DcConfig
from broker.rules import Function
from broker.transport.base import SlotListener
from nhi_broker.assembly import RunningBroker
from nhi_kit.emulators.card import CardEmulator
from tests.actors.conftest import Call, code_of

WAIT = 10.0
Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def lines() -> Iterator[Lines]:
    """The process's log as JSON lines, read back; the previous configuration after."""
    saved, root_level = structlog.get_config(), logging.getLogger().level
    stream = io.StringIO()
    broker_logging.configure(json=True, level="info", stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    broker_logging.reset()
    structlog.configure(**saved)
    logging.getLogger().setLevel(root_level)


def test_a_crash_is_logged_with_its_traceback_but_not_its_locals(
    lines: Lines, broker: RunningBroker, desk2: Call
) -> None:
    assert broker.kit is not None
    desk2(Function.INITIAL)
    card = broker.kit.cards.card("900000000728")

    def explode(_card: CardEmulator, _command: CommandApdu) -> None:
        pin = "31415926"  # a local the traceback must not show
        card.hooks.clear()
        raise RuntimeError(f"reader firmware bug after {len(pin)} digits")

    card.hooks.append(explode)
    with pytest.raises(ActorUnavailableError):
        desk2(Function.HC_BASIC)
    [crash] = [line for line in lines() if line["event"] == "actor.crashed"]
    assert crash["actor"] == "reader:Virtual Reader 2"
    [exception] = crash["exception"]
    assert exception["exc_type"] == "RuntimeError"
    assert "explode" in [frame["name"] for frame in exception["frames"]]
    assert all("locals" not in frame for frame in exception["frames"])
    assert "31415926" not in json.dumps(lines())


def test_a_refusal_returned_to_its_caller_is_not_logged_as_a_traceback(
    lines: Lines, local: Call
) -> None:
    assert code_of(lambda: local(Function.HC_BASIC)) is Code.NOT_INITIALIZED
    local(Function.INITIAL, name="901000000047")
    wrong_pin = code_of(lambda: local(Function.HCA_VERIFY_PIN, pin="99999999"))
    assert wrong_pin is Code.HPC_PIN_FAILED  # refused by the card, through two actors
    logged = lines()
    assert [line for line in logged if "exception" in line] == []
    assert [line for line in logged if line.get("logger", "").startswith("pykka")] == []


class MissingDevice:
    """A monitor's device that is gone until plugged in: starting its monitor fails."""

    def __init__(self) -> None:
        self.present = False
        self.attempts = 0
        self.started = threading.Event()
        self._tried = threading.Condition()

    def start(self, _listener: SlotListener, _failed: Callable[[BaseException], None]) -> Any:
        with self._tried:
            self.attempts += 1
            self._tried.notify_all()
        if not self.present:
            raise OSError("could not open port /dev/ttyUSB0")
        self.started.set()
        return self

    def wait_for_attempts(self, count: int) -> bool:
        with self._tried:
            return self._tried.wait_for(lambda: self.attempts >= count, WAIT)

    def stop(self) -> None:
        """Nothing runs."""

    def is_alive(self) -> bool:
        return self.present


def test_a_device_that_stays_missing_is_logged_when_it_goes_and_when_it_returns() -> None:
    device = MissingDevice()
    supervisor = Supervisor(
        (),
        Hardware(readers=[], monitors=[MonitorSpec("serial COM9", device.start)]),
        DcClient(DcConfig("https://127.0.0.1:9")),
        BrokerSettings(device_id="test"),
        policy=RestartPolicy(backoff_initial=0.001, backoff_max=0.002),
    )
    with capture_logs() as logged:
        supervisor.start()
        assert device.wait_for_attempts(6)  # five retries while it stays missing
        device.present = True
        assert device.started.wait(WAIT)
        supervisor.stop()
    said = [(e["event"], e["log_level"]) for e in logged if e["event"].startswith("monitor.")]
    loud = [entry for entry in said if entry[1] != "debug"]
    assert loud == [("monitor.down", "warning"), ("monitor.up", "info")]
    assert ("monitor.still_down", "debug") in said


# Run apart: the PC/SC client library reads where pcscd listens once per process.
PCSCD_GONE = """
import json, threading
from structlog.testing import capture_logs
from broker.transport.pcsc import PcscMonitor

class CountingMonitor(PcscMonitor):
    attempts = 0
    tried = threading.Condition()

    def _establish(self):
        try:
            return super()._establish()
        finally:
            with self.tried:
                self.attempts += 1
                self.tried.notify_all()

with capture_logs() as logged:
    monitor = CountingMonitor(lambda event: None, retry_delay=0.001)
    monitor.start()
    with monitor.tried:
        retried = monitor.tried.wait_for(lambda: monitor.attempts >= 5, 10)
    monitor.stop()
print(json.dumps({"retried": retried, "said": [[e["event"], e["log_level"]] for e in logged]}))
"""


def test_pcscd_that_stays_away_is_logged_once_not_at_every_retry() -> None:
    gone = {**os.environ, "PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"}  # no pcscd there
    shown = subprocess.run(
        [sys.executable, "-c", PCSCD_GONE],
        env=gone,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(shown.stdout)
    assert result["retried"]
    assert result["said"] == [["pcsc.unreachable", "warning"]]
