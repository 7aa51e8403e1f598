"""Insert/remove events of the serial reader's slots, by polling its STATUS."""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from broker.transport.base import SlotEvent, SlotListener
from broker.transport.serial import SerialReader
from broker.transport.serial_frames import ReaderStatus, Slot, SlotState

log = structlog.get_logger(__name__)


def status_events(name: str, before: ReaderStatus | None, after: ReaderStatus) -> list[SlotEvent]:
    """The insert/remove events between two STATUS polls of reader ``name``.

    With no previous poll every present card is reported. When the change
    counter moved more than the presence flips explain, a card was swapped
    between polls: every present, unpowered slot that did not flip is
    reported removed and inserted again (a swapped card comes back unpowered).
    """
    label = f"{name} {{}}".format
    if before is None:
        return [SlotEvent(label(s.name), present=True) for s in Slot if after.is_present(s)]
    flipped = [s for s in Slot if before.is_present(s) != after.is_present(s)]
    events = [SlotEvent(label(s.name), present=after.is_present(s)) for s in flipped]
    if (after.changes - before.changes) % 256 > len(flipped):
        for s in Slot:
            if s not in flipped and after.state(s) is SlotState.PRESENT:
                events += [
                    SlotEvent(label(s.name), present=False),
                    SlotEvent(label(s.name), present=True),
                ]
    return events


class SerialMonitor:
    """A thread polling STATUS and reporting slot changes to ``listener``.

    If the reader (or the listener) fails, the thread ends and keeps the
    exception in ``error`` and tells ``on_failure``, so a supervisor can
    start a new monitor; it never dies silently.
    """

    def __init__(
        self,
        reader: SerialReader,
        listener: SlotListener,
        interval: float = 0.05,
        *,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._reader = reader
        self._listener = listener
        self._interval = interval
        self._on_failure = on_failure
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"serial-monitor {reader.name}", daemon=True
        )
        self.error: BaseException | None = None

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop polling and wait for the thread (it wakes at once, not after a sleep)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        """Whether the polling thread runs."""
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end (after ``stop`` or a failure)."""
        self._thread.join(timeout)

    def _run(self) -> None:
        last: ReaderStatus | None = None
        try:
            while not self._stop.is_set():
                current = self._reader.status()
                for event in status_events(self._reader.name, last, current):
                    self._listener(event)
                last = current
                self._stop.wait(self._interval)
        except Exception as exc:  # kept and reported: see the class docstring
            self.error = exc
            # The supervisor logs a monitor that goes (once) and comes back; this line says why.
            log.debug("serial_monitor.ended", reader=self._reader.name, error=str(exc))
            if self._on_failure is not None:
                self._on_failure(exc)
