"""Card insert/remove events from PC/SC reader states: the monitor's logic, without pyscard.

``ReaderMonitor`` keeps the thread, the retries while pcscd is away and what
each reader last showed; ``broker.transport.pcsc.PcscMonitor`` fills in its
five calls into pcscd (``_establish`` to ``_wait``). The split keeps pyscard
in one module.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final

import structlog

from broker.transport.base import SlotEvent, SlotListener

log = structlog.get_logger(__name__)

PNP_NOTIFICATION: Final = "\\\\?PnP?\\Notification"  # pseudo reader: readers added/removed
UNAWARE: Final = 0  # SCARD_STATE_UNAWARE: a wait on it returns the reader's state at once


class PcscdGoneError(Exception):
    """pcscd went away (or restarted) during a wait; the monitor waits for it to return."""


class Wait(Enum):
    """How a wait for reader changes ended, when it brought no states to read."""

    IDLE = "idle"  # timed out, or cancelled by stop()
    RELIST = "relist"  # a reader waited on has vanished since it was listed


@dataclass(frozen=True)
class ReaderState:
    """One reader in pcscd's answer to a wait, its state word's bits already read."""

    name: str
    word: int  # handed back on the next wait as the state we know
    present: bool
    changed: bool
    gone: bool  # the reader itself is unknown or unavailable
    events: int  # pcsc-lite's insert/remove counter
    atr: bytes = b""


class ReaderMonitor(ABC):
    """Reports card insert/remove in PC/SC readers as ``SlotEvent`` values.

    Runs one thread on its own context. Readers appearing later are watched
    too (all readers, or those named in ``readers``). Cards already present
    at start are reported as inserted. If pcscd goes away, present cards are
    reported removed and the thread retries until pcscd returns. Any other
    failure, a listener's exception included, ends the thread: ``error`` holds
    it and ``on_failure`` is called, so a supervisor can start a new monitor.
    """

    def __init__(
        self,
        listener: SlotListener,
        readers: list[str] | None = None,
        poll_timeout_ms: int = 1000,
        retry_delay: float = 1.0,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._listener = listener
        self._wanted = None if readers is None else frozenset(readers)
        self._poll_timeout_ms = poll_timeout_ms
        self._retry_delay = retry_delay
        self._on_failure = on_failure
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._context: int | None = None
        self._seen: dict[str, ReaderState] = {}
        self._pnp_state = UNAWARE
        self._reachable = True
        self._thread = threading.Thread(target=self._run, name="pcsc-monitor", daemon=True)
        self.error: BaseException | None = None

    # --- the calls into pcscd -------------------------------------------

    @abstractmethod
    def _establish(self) -> int | None:
        """A new context; None while pcscd is unreachable."""

    @abstractmethod
    def _release(self, context: int) -> None:
        """Release a context ``_establish`` made."""

    @abstractmethod
    def _cancel(self, context: int) -> None:
        """End a wait in progress on ``context`` (called from another thread)."""

    @abstractmethod
    def _reader_names(self, context: int) -> list[str]:
        """The readers pcscd knows; ``[]`` if it cannot list them."""

    @abstractmethod
    def _wait(
        self, context: int, known: list[tuple[str, int]], timeout_ms: int
    ) -> list[ReaderState] | Wait:
        """Wait for a reader to leave its ``known`` state; ``PcscdGoneError`` if pcscd went."""

    # --- the thread -----------------------------------------------------

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching and wait for the thread to end."""
        self._stop.set()
        with self._lock:
            if self._context is not None:
                self._cancel(self._context)
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        """Whether the monitor thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                context = self._connect()
                if context is None:
                    self._stop.wait(self._retry_delay)
                    continue
                try:
                    self._watch(context)
                finally:
                    self._disconnect(context)
        except Exception as exc:  # any failure must end the thread visibly
            self.error = exc
            log.exception("pcsc.monitor_failed")
            if self._on_failure is not None:
                self._on_failure(exc)

    def _connect(self) -> int | None:
        """A context for ``stop`` to cancel; pcscd's going and coming are logged once each."""
        context = self._establish()
        if context is None:
            if self._reachable:  # once, not at every retry
                log.warning("pcsc.unreachable", retry_every_s=self._retry_delay)
            self._reachable = False
            return None
        if not self._reachable:
            log.info("pcsc.reachable")
        self._reachable = True
        with self._lock:
            self._context = context
        return context

    def _disconnect(self, context: int) -> None:
        with self._lock:
            self._context = None
        self._release(context)

    def _watch(self, context: int) -> None:
        """Wait for reader changes until stopped or pcscd goes away."""
        self._pnp_state = UNAWARE
        readers = self._readers(context)
        while not self._stop.is_set():
            try:
                states = self._wait(context, self._request(readers), self._poll_timeout_ms)
            except PcscdGoneError as exc:
                log.warning("pcsc.unreachable", error=str(exc))
                self._reachable = False  # so the retries that follow stay quiet
                self._forget(list(self._seen))
                return
            relist = states is Wait.RELIST if isinstance(states, Wait) else self._update(states)
            if relist:
                readers = self._readers(context)

    # --- what each reader last showed -----------------------------------

    def _request(self, readers: list[str]) -> list[tuple[str, int]]:
        """Reader states as last seen, for the next wait."""
        known = [
            (name, self._seen[name].word if name in self._seen else UNAWARE) for name in readers
        ]
        known.append((PNP_NOTIFICATION, self._pnp_state))
        return known

    def _readers(self, context: int) -> list[str]:
        present = self._reader_names(context)
        watched = [n for n in present if self._wanted is None or n in self._wanted]
        self._forget([name for name in self._seen if name not in watched])
        return watched

    def _update(self, states: list[ReaderState]) -> bool:
        """Report what changed; return whether the reader list must be read again."""
        relist = False
        for state in states:
            if state.name == PNP_NOTIFICATION:
                relist = relist or state.changed
                self._pnp_state = state.word
            elif state.gone:
                relist = True
            else:
                self._observe(state)
        return relist

    def _observe(self, state: ReaderState) -> None:
        seen = self._seen.get(state.name)
        self._seen[state.name] = state
        was_present = seen is not None and seen.present
        # A changed event counter with the card still present: pulled and re-inserted.
        swapped = seen is not None and seen.present and seen.events != state.events
        if was_present and (swapped or not state.present):
            self._listener(SlotEvent(state.name, present=False))
        if state.present and (not was_present or swapped):
            self._listener(SlotEvent(state.name, present=True, atr=state.atr))

    def _forget(self, names: list[str]) -> None:
        """Drop readers that are gone, reporting their cards removed."""
        for name in names:
            seen = self._seen.pop(name)
            if seen.present:
                self._listener(SlotEvent(name, present=False))
