"""The transports' insert/remove watchers: started, restarted after a backoff when they die,
and logged once when they go and once when they come back (not at every retry).

A monitor that cannot start because its device is not there (a serial reader not
plugged in yet) is not a failure worth a warning: its reader reports the absent
device (actors/reader.py); the retries go on until it is there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from actors.hardware import Monitor, MonitorSpec
from actors.restarts import Backoff
from broker.errors import DeviceAbsentError
from broker.transport.base import SlotListener

log = structlog.get_logger("actors.monitors")


class MonitorKeeper:
    """Keeps every monitor running; ``on_back`` runs after a monitor starts again."""

    def __init__(
        self,
        listener: SlotListener,
        backoff: Backoff,
        on_back: Callable[[str], None],
        on_down: Callable[[str], None] = lambda _name: None,
    ) -> None:
        self._listener = listener
        self._backoff = backoff
        self._on_back = on_back
        self._on_down = on_down
        self._lock = threading.Lock()
        self._running: dict[str, Monitor] = {}
        self._down: set[str] = set()
        self._stopping = False

    def start(self, spec: MonitorSpec) -> bool:
        """Start one monitor; a failure schedules another try."""
        try:
            monitor = spec.start(self._listener, lambda exc: self._failed(spec, exc))
        except Exception as exc:  # e.g. a serial port still gone: try again later
            self._failed(spec, exc)
            return False
        with self._lock:
            self._running[spec.name] = monitor
        return True

    def stop(self) -> None:
        """Stop every monitor; none is restarted from now on."""
        self._stopping = True
        with self._lock:
            running = list(self._running.values())
        for monitor in running:
            monitor.stop()

    def _failed(self, spec: MonitorSpec, exc: BaseException) -> None:
        if self._stopping:
            return
        delay, _ = self._backoff.failed(f"monitor:{spec.name}")
        with self._lock:
            first = spec.name not in self._down
            self._down.add(spec.name)
        if first and isinstance(exc, DeviceAbsentError):
            log.info("monitor.waiting_for_device", monitor=spec.name, retry_in=delay)
        elif first:
            log.warning("monitor.down", monitor=spec.name, error=str(exc), retry_in=delay)
        else:
            log.debug("monitor.still_down", monitor=spec.name, error=str(exc), retry_in=delay)
        if first:
            self._on_down(spec.name)
        timer = threading.Timer(delay, self._restart, (spec,))
        timer.daemon = True
        timer.start()

    def _restart(self, spec: MonitorSpec) -> None:
        if self._stopping or not self.start(spec):
            return
        with self._lock:
            was_down = spec.name in self._down
            self._down.discard(spec.name)
        if was_down:
            log.info("monitor.up", monitor=spec.name)
        self._on_back(spec.name)
