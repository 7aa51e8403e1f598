"""The PC/SC monitor through a real pcscd: insert and remove events, stop, failures, retries."""

from __future__ import annotations

import queue
from collections.abc import Iterator

import pytest
from smartcard import scard

from broker.transport.base import SlotEvent
from broker.transport.pcsc import PcscMonitor
from nhi_kit.emulators.vpcd import VpcdBridge
from tests.pcsc.vpcd_slots import READER0, READER1, WAIT, Insert


class Events:
    """A listener that queues slot events for the test to wait on."""

    def __init__(self) -> None:
        self.queue: queue.Queue[SlotEvent] = queue.Queue()

    def __call__(self, event: SlotEvent) -> None:
        """Receive one event."""
        self.queue.put(event)

    def next(self) -> SlotEvent:
        """The next event, failing the test if none comes in time."""
        return self.queue.get(timeout=WAIT)


@pytest.fixture
def monitors() -> Iterator[list[PcscMonitor]]:
    """Monitors the test starts; all stopped at teardown."""
    started: list[PcscMonitor] = []
    yield started
    for monitor in started:
        monitor.stop()


def test_monitor_reports_insert_and_remove(
    bridge0: VpcdBridge, monitors: list[PcscMonitor], pcscd: None
) -> None:
    events = Events()
    monitor = PcscMonitor(events, readers=[READER0], poll_timeout_ms=200)
    monitors.append(monitor)
    monitor.start()

    bridge0.insert()
    assert events.next() == SlotEvent(READER0, present=True, atr=bridge0.card.atr)
    bridge0.remove()
    assert events.next() == SlotEvent(READER0, present=False)
    assert monitor.is_alive()


def test_monitor_reports_card_present_at_start(
    bridge1: VpcdBridge, insert: Insert, monitors: list[PcscMonitor]
) -> None:
    insert(bridge1)
    events = Events()
    monitor = PcscMonitor(events)
    monitors.append(monitor)
    monitor.start()
    assert events.next() == SlotEvent(READER1, present=True, atr=bridge1.card.atr)


def test_monitor_stop_returns_promptly(pcscd: None) -> None:
    monitor = PcscMonitor(Events(), poll_timeout_ms=30_000)
    monitor.start()
    monitor.stop(timeout=WAIT)  # far shorter than the 30 s poll: SCardCancel must end it
    assert not monitor.is_alive()
    assert monitor.error is None


def test_monitor_listener_failure_ends_thread_visibly(
    bridge0: VpcdBridge, monitors: list[PcscMonitor], pcscd: None
) -> None:
    failed: queue.Queue[BaseException] = queue.Queue()

    def broken(event: SlotEvent) -> None:
        raise RuntimeError("listener broke")

    monitor = PcscMonitor(broken, readers=[READER0], on_failure=failed.put)
    monitors.append(monitor)
    monitor.start()
    bridge0.insert()

    assert str(failed.get(timeout=WAIT)) == "listener broke"
    monitor.stop()
    assert not monitor.is_alive()
    assert isinstance(monitor.error, RuntimeError)


def test_monitor_retries_while_pcscd_is_unreachable(
    bridge0: VpcdBridge,
    insert: Insert,
    monitors: list[PcscMonitor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    insert(bridge0)
    real_establish = scard.SCardEstablishContext
    attempts: list[int] = []

    def establish_after_three_tries(scope: int) -> object:
        attempts.append(scope)
        if len(attempts) <= 3:
            return [scard.SCARD_E_NO_SERVICE, 0]
        return real_establish(scope)

    monkeypatch.setattr(scard, "SCardEstablishContext", establish_after_three_tries)
    events = Events()
    monitor = PcscMonitor(events, readers=[READER0], retry_delay=0.01)
    monitors.append(monitor)
    monitor.start()

    assert events.next() == SlotEvent(READER0, present=True, atr=bridge0.card.atr)
    assert len(attempts) == 4
    assert monitor.is_alive()


def test_monitor_reports_removal_when_pcscd_goes_away_and_recovers(
    bridge0: VpcdBridge,
    insert: Insert,
    monitors: list[PcscMonitor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    insert(bridge0)
    real_wait = scard.SCardGetStatusChange
    calls: list[int] = []

    def wait_failing_once(context: int, timeout: int, states: list[tuple[str, int]]) -> object:
        calls.append(timeout)
        if len(calls) == 2:  # the first call reports the card; the second loses pcscd
            return [scard.SCARD_E_NO_SERVICE, []]
        return real_wait(context, timeout, states)

    monkeypatch.setattr(scard, "SCardGetStatusChange", wait_failing_once)
    events = Events()
    monitor = PcscMonitor(events, readers=[READER0], retry_delay=0.01)
    monitors.append(monitor)
    monitor.start()

    present = SlotEvent(READER0, present=True, atr=bridge0.card.atr)
    assert events.next() == present
    assert events.next() == SlotEvent(READER0, present=False)
    assert events.next() == present
    assert monitor.is_alive()
