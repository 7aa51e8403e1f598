"""PC/SC readers through pcscd: the one module that imports pyscard.

Uses the low-level ``smartcard.scard`` API so every PC/SC result code is seen
and mapped: no card or card pulled → ``CardAbsentError``, unknown reader or
pcscd gone → ``ReaderNotFoundError``, anything else → ``TransportError``.

Cards are released with SCARD_LEAVE_CARD: pyscard's default, UNPOWER, would
drop the card's authentication. pcsc-lite serialises calls
on one context, so each slot owns its context and the monitor has its own.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import structlog
from smartcard import scard

from broker.errors import CardAbsentError, ReaderNotFoundError, TransportError
from broker.transport.base import SlotEvent, SlotListener

log = structlog.get_logger(__name__)

PNP_NOTIFICATION: Final = "\\\\?PnP?\\Notification"  # pseudo reader: readers added/removed

_OK: Final[int] = scard.SCARD_S_SUCCESS
_TIMEOUT: Final[int] = scard.SCARD_E_TIMEOUT
_PROTOCOLS: Final[int] = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
_ABSENT: Final = frozenset({scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD})
_NO_READER: Final = frozenset(
    {
        scard.SCARD_E_UNKNOWN_READER,
        scard.SCARD_E_READER_UNAVAILABLE,
        scard.SCARD_E_NO_READERS_AVAILABLE,
        scard.SCARD_E_NO_SERVICE,
        scard.SCARD_E_SERVICE_STOPPED,
    }
)
# pcscd gone or restarted: a call blocked in it when it dies gets F_COMM_ERROR.
_DEAD_CONTEXT: Final = frozenset(
    {
        scard.SCARD_E_NO_SERVICE,
        scard.SCARD_E_SERVICE_STOPPED,
        scard.SCARD_E_INVALID_HANDLE,
        scard.SCARD_F_COMM_ERROR,
    }
)
# Failures a pulled card causes before pcscd notices it is gone (vpcd: NOT_TRANSACTED).
_MAYBE_PULLED: Final = frozenset(
    {
        scard.SCARD_E_NOT_TRANSACTED,
        scard.SCARD_W_RESET_CARD,
        scard.SCARD_W_UNRESPONSIVE_CARD,
        scard.SCARD_W_UNPOWERED_CARD,
        scard.SCARD_F_COMM_ERROR,
        scard.SCARD_E_COMM_DATA_LOST,
        scard.SCARD_E_TIMEOUT,
    }
)
_PRESENT: Final[int] = scard.SCARD_STATE_PRESENT
_CHANGED: Final[int] = scard.SCARD_STATE_CHANGED
_GONE: Final[int] = scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE


class PcscResultError(Exception):
    """A raw PC/SC result code; the cause chained to the broker's errors."""

    def __init__(self, hresult: int) -> None:
        super().__init__(f"{scard.SCardGetErrorMessage(hresult)} (0x{hresult:08X})")
        self.hresult = hresult


def _failure(hresult: int, action: str, reader: str) -> TransportError:
    """The broker error for a failed PC/SC call, caused by its ``PcscResultError``."""
    cause = PcscResultError(hresult)
    detail = f"{action} on {reader!r}: {cause}"
    error: TransportError
    if hresult in _ABSENT:
        error = CardAbsentError(detail)
    elif hresult in _NO_READER:
        error = ReaderNotFoundError(detail)
    else:
        error = TransportError(detail)
    error.__cause__ = cause
    return error


def _counter(state: int) -> int:
    """pcsc-lite's card event counter, kept in the state's high 16 bits."""
    return (state >> 16) & 0xFFFF


class _Context:
    """A PC/SC context, established on first use and again after pcscd restarts.

    Released when dropped or garbage-collected: pcscd runs a thread per context.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handle: int | None = None
        self._release: weakref.finalize[[int], Any] | None = None

    def get(self) -> int:
        """The live context handle; ``ReaderNotFoundError`` if pcscd is not running."""
        with self._lock:
            if self._handle is None:
                hresult, handle = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
                if hresult != _OK:
                    raise _failure(hresult, "establish context", "pcscd")
                self._handle = int(handle)
                self._release = weakref.finalize(self, scard.SCardReleaseContext, self._handle)
            return self._handle

    def drop(self, handle: int | None = None) -> None:
        """Release ``handle`` (default: the current one) so the next ``get`` makes a new one."""
        with self._lock:
            if self._release is not None and handle in (None, self._handle):
                self._release()
                self._handle = self._release = None

    def call(self, operation: Callable[[int], Any]) -> Any:
        """Run ``operation(context) -> [hresult, ...]``, retrying once if pcscd restarted."""
        handle = self.get()
        result = operation(handle)
        if result[0] in _DEAD_CONTEXT:
            self.drop(handle)
            result = operation(self.get())
        return result


_shared = _Context()


def list_readers() -> list[str]:
    """Names of the PC/SC readers; ``[]`` when there are none or pcscd is gone."""
    try:
        hresult, readers = _shared.call(lambda context: scard.SCardListReaders(context, []))
    except TransportError:
        return []
    if hresult != _OK:
        return []
    return [str(reader) for reader in readers]


def _reader_state(context: int, reader: str, current: int, timeout_ms: int) -> tuple[int, int]:
    """Wait up to ``timeout_ms`` for ``reader`` to leave ``current``; ``(hresult, state)``."""
    hresult, states = scard.SCardGetStatusChange(context, timeout_ms, [(reader, current)])
    state = int(states[0][1]) if hresult == _OK else current
    return int(hresult), state


class PcscSlot:
    """One PC/SC reader, named as pcscd names it.

    Connections share the slot's context. ``settle_timeout`` is how long a
    failed transmit waits for pcscd to notice a pulled card (vpcd: ~0.4 s).
    """

    def __init__(self, name: str, settle_timeout: float = 1.0) -> None:
        self._name = name
        self._context = _Context()
        self._settle_timeout = settle_timeout

    @property
    def name(self) -> str:
        """The reader's name."""
        return self._name

    def is_card_present(self) -> bool:
        """Whether a card sits in the reader; False if the reader or pcscd is gone."""
        state = self._state()
        return state is not None and bool(state & _PRESENT)

    def wait_for_card(self, present: bool = True, timeout: float = 5.0) -> bool:
        """Block until a card is (or is no longer) in the reader; False on timeout.

        A reader that does not exist (or pcscd gone) counts as empty, at once.
        """
        context = _Context()  # a blocking wait would hold the slot's context
        try:
            handle = context.get()
        except TransportError:
            return not present
        deadline = time.monotonic() + timeout
        state = scard.SCARD_STATE_UNAWARE
        try:
            while True:
                remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
                hresult, state = _reader_state(handle, self._name, state, remaining_ms)
                if hresult not in (_OK, _TIMEOUT) or state & _GONE:
                    return not present
                if hresult == _OK and bool(state & _PRESENT) == present:
                    return True
                if remaining_ms == 0 or hresult == _TIMEOUT:
                    return False
        finally:
            context.drop(handle)

    def connect(self) -> PcscConnection:
        """Connect in shared mode (T=0 or T=1); ``CardAbsentError`` if the reader is empty."""
        hresult, card, protocol = self._context.call(
            lambda context: scard.SCardConnect(
                context, self._name, scard.SCARD_SHARE_SHARED, _PROTOCOLS
            )
        )
        if hresult != _OK:
            raise _failure(hresult, "connect", self._name)
        hresult, _reader, _status, _protocol, atr = scard.SCardStatus(card)
        if hresult != _OK:
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
            raise _failure(hresult, "read ATR", self._name)
        events = _counter(self._state() or 0)
        return PcscConnection(self, int(card), int(protocol), bytes(atr), events)

    def close(self) -> None:
        """Release the slot's PC/SC context (connections made from it stop working)."""
        self._context.drop()

    def _state(self) -> int | None:
        """The reader's state word, or None if the reader or pcscd is gone."""
        try:
            hresult, states = self._context.call(
                lambda context: scard.SCardGetStatusChange(
                    context, 0, [(self._name, scard.SCARD_STATE_UNAWARE)]
                )
            )
        except TransportError:
            return None
        if hresult != _OK or states[0][1] & _GONE:
            return None
        return int(states[0][1])

    def _card_pulled(self, events: int) -> bool:
        """Whether the card connected at event count ``events`` has left the reader.

        pcscd learns of a pulled card only at its next presence poll, so wait for
        the reader state to settle before deciding.
        """
        deadline = time.monotonic() + self._settle_timeout
        while True:
            state = self._state()
            if state is None or not state & _PRESENT or _counter(state) != events:
                return True
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                return False
            hresult, _ = _reader_state(self._context.get(), self._name, state, remaining_ms)
            if hresult != _OK:
                return hresult != _TIMEOUT

    def _transmit_error(self, hresult: int, events: int) -> TransportError:
        if hresult in _MAYBE_PULLED and self._card_pulled(events):
            hresult = scard.SCARD_W_REMOVED_CARD
        return _failure(hresult, "transmit", self._name)


class PcscConnection:
    """A card connected through pcscd; ``close`` leaves it powered."""

    def __init__(self, slot: PcscSlot, card: int, protocol: int, atr: bytes, events: int) -> None:
        self._slot = slot
        self._card: int | None = card
        self._protocol = protocol
        self._atr = atr
        self._events = events
        self._lock = threading.Lock()

    @property
    def atr(self) -> bytes:
        """The card's answer to reset."""
        return self._atr

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU, return the raw response (data + SW)."""
        with self._lock:
            if self._card is None:
                raise TransportError(f"connection to {self._slot.name!r} is closed")
            hresult, response = scard.SCardTransmit(self._card, self._protocol, list(apdu))
        if hresult != _OK:
            raise self._slot._transmit_error(hresult, self._events)
        if len(response) < 2:  # vpcd answers "success", no bytes, for a card pulled mid-command
            raise self._slot._transmit_error(scard.SCARD_E_NOT_TRANSACTED, self._events)
        return bytes(response)

    def close(self) -> None:
        """Disconnect with SCARD_LEAVE_CARD; idempotent.

        pcscd itself powers a card off about a second after its last handle
        closes: keep a connection open while the card's authentication matters.
        """
        with self._lock:
            card, self._card = self._card, None
        if card is not None:
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)

    def reset(self) -> None:
        """Disconnect with SCARD_RESET_CARD: the card's authentication and PIN state end."""
        with self._lock:
            card, self._card = self._card, None
        if card is not None:
            scard.SCardDisconnect(card, scard.SCARD_RESET_CARD)

    def __enter__(self) -> PcscConnection:
        """Use the connection in a ``with`` block."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the connection."""
        self.close()


@dataclass
class _Seen:
    """What the monitor last saw in a reader."""

    state: int
    present: bool


class PcscMonitor:
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
        self._seen: dict[str, _Seen] = {}
        self._pnp_state = scard.SCARD_STATE_UNAWARE
        self._reachable = True
        self._thread = threading.Thread(target=self._run, name="pcsc-monitor", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching and wait for the thread to end."""
        self._stop.set()
        with self._lock:
            if self._context is not None:
                scard.SCardCancel(self._context)
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        """Whether the monitor thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                context = self._establish()
                if context is None:
                    self._stop.wait(self._retry_delay)
                    continue
                try:
                    self._watch(context)
                finally:
                    self._release(context)
        except Exception as exc:  # any failure must end the thread visibly
            self.error = exc
            log.exception("pcsc.monitor_failed")
            if self._on_failure is not None:
                self._on_failure(exc)

    def _establish(self) -> int | None:
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult in _DEAD_CONTEXT:
            if self._reachable:  # once, not at every retry
                log.warning("pcsc.unreachable", retry_every_s=self._retry_delay)
            self._reachable = False
            return None
        if hresult != _OK:
            raise _failure(hresult, "establish context", "pcscd")
        if not self._reachable:
            log.info("pcsc.reachable")
        self._reachable = True
        with self._lock:
            self._context = int(context)
        return self._context

    def _release(self, context: int) -> None:
        with self._lock:
            self._context = None
        scard.SCardReleaseContext(context)

    def _watch(self, context: int) -> None:
        """Wait for reader changes until stopped or pcscd goes away."""
        self._pnp_state = scard.SCARD_STATE_UNAWARE
        readers = self._readers(context)
        while not self._stop.is_set():
            request = self._request(readers)
            hresult, states = scard.SCardGetStatusChange(context, self._poll_timeout_ms, request)
            if hresult in (_TIMEOUT, scard.SCARD_E_CANCELLED):
                continue
            if hresult in _DEAD_CONTEXT:
                log.warning("pcsc.unreachable", error=str(PcscResultError(hresult)))
                self._reachable = False  # so the retries that follow stay quiet
                self._forget(list(self._seen))
                return
            if hresult == scard.SCARD_E_UNKNOWN_READER:  # vanished since we listed it
                readers = self._readers(context)
                continue
            if hresult != _OK:
                raise _failure(hresult, "watch readers", ", ".join(readers) or "(none)")
            if self._update([(str(n), int(s), bytes(a)) for n, s, a in states]):
                readers = self._readers(context)

    def _request(self, readers: list[str]) -> list[tuple[str, int]]:
        """Reader states as last seen, for SCardGetStatusChange to wait on."""
        request = [(name, self._seen[name].state if name in self._seen else 0) for name in readers]
        request.append((PNP_NOTIFICATION, self._pnp_state))
        return request

    def _readers(self, context: int) -> list[str]:
        hresult, names = scard.SCardListReaders(context, [])
        present = [str(name) for name in names] if hresult == _OK else []
        watched = [n for n in present if self._wanted is None or n in self._wanted]
        self._forget([name for name in self._seen if name not in watched])
        return watched

    def _update(self, states: list[tuple[str, int, bytes]]) -> bool:
        """Report what changed; return whether the reader list must be read again."""
        relist = False
        for name, state, atr in states:
            if name == PNP_NOTIFICATION:
                relist = relist or bool(state & _CHANGED)
                self._pnp_state = state
            elif state & _GONE:
                relist = True
            else:
                self._observe(name, state, atr)
        return relist

    def _observe(self, name: str, state: int, atr: bytes) -> None:
        present = bool(state & _PRESENT)
        seen = self._seen.get(name)
        self._seen[name] = _Seen(state, present)
        # A changed event counter with the card still present: pulled and re-inserted.
        swapped = seen is not None and seen.present and _counter(seen.state) != _counter(state)
        if seen is not None and seen.present and (swapped or not present):
            self._listener(SlotEvent(name, present=False))
        if present and (seen is None or not seen.present or swapped):
            self._listener(SlotEvent(name, present=True, atr=atr))

    def _forget(self, names: list[str]) -> None:
        """Drop readers that are gone, reporting their cards removed."""
        for name in names:
            seen = self._seen.pop(name)
            if seen.present:
                self._listener(SlotEvent(name, present=False))
