"""PC/SC readers through pcscd: the one module that imports pyscard.

Uses the low-level ``smartcard.scard`` API so every PC/SC result code is seen
and mapped: no card or card pulled → ``CardAbsentError``, unknown reader or
pcscd gone → ``ReaderNotFoundError``, anything else → ``TransportError``.

Cards are released with SCARD_LEAVE_CARD: pyscard's default, UNPOWER, would
drop the card's authentication. pcsc-lite serialises calls
on one context, so each slot owns its context and the monitor has its own.
The monitor's thread and bookkeeping are ``pcsc_monitor.ReaderMonitor``;
``PcscMonitor`` here adds only its calls into pcscd.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Final

from smartcard import scard

from broker.errors import CardAbsentError, ReaderNotFoundError, TransportError
from broker.transport.pcsc_monitor import (
    PNP_NOTIFICATION,
    PcscdGoneError,
    ReaderMonitor,
    ReaderState,
    Wait,
)

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


def pcscd_reachable() -> bool:
    """Whether pcscd answers (it may not run on a host without PC/SC readers)."""
    try:
        _shared.get()
    except TransportError:
        return False
    return True


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


class PcscMonitor(ReaderMonitor):
    """``ReaderMonitor`` on pcscd: card insert/remove events, one thread on its own context."""

    def _establish(self) -> int | None:
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult in _DEAD_CONTEXT:
            return None
        if hresult != _OK:
            raise _failure(hresult, "establish context", "pcscd")
        return int(context)

    def _release(self, context: int) -> None:
        scard.SCardReleaseContext(context)

    def _cancel(self, context: int) -> None:
        scard.SCardCancel(context)

    def _reader_names(self, context: int) -> list[str]:
        hresult, names = scard.SCardListReaders(context, [])
        return [str(name) for name in names] if hresult == _OK else []

    def _wait(
        self, context: int, known: list[tuple[str, int]], timeout_ms: int
    ) -> list[ReaderState] | Wait:
        hresult, states = scard.SCardGetStatusChange(context, timeout_ms, known)
        if hresult in (_TIMEOUT, scard.SCARD_E_CANCELLED):
            return Wait.IDLE
        if hresult in _DEAD_CONTEXT:
            cause = PcscResultError(hresult)
            raise PcscdGoneError(str(cause)) from cause
        if hresult == scard.SCARD_E_UNKNOWN_READER:  # vanished since we listed it
            return Wait.RELIST
        if hresult != _OK:
            readers = ", ".join(name for name, _ in known if name != PNP_NOTIFICATION)
            raise _failure(hresult, "watch readers", readers or "(none)")
        return [_read_state(str(name), int(word), bytes(atr)) for name, word, atr in states]


def _read_state(name: str, word: int, atr: bytes) -> ReaderState:
    """A reader's entry in a status-change answer, its state bits read."""
    return ReaderState(
        name,
        word,
        present=bool(word & _PRESENT),
        changed=bool(word & _CHANGED),
        gone=bool(word & _GONE),
        events=_counter(word),
        atr=atr,
    )
