"""Bridge one card emulator into pcscd through the vsmartcard ``vpcd`` driver.

vpcd listens on TCP (35963 for ``Virtual PCD 00 00``, 35964 for ``… 00 01``)
and the emulated card is the client: connecting inserts the card, closing the
socket removes it. Every message is a 2-byte big-endian length and a payload;
a 1-byte payload is a control code, anything longer is a command APDU.

vpcd sets no TCP_NODELAY, so a naive client pays ~48 ms per APDU in delayed
ACKs (about 48 ms per APDU, measured): we set TCP_NODELAY, send each reply with one
``sendall`` and re-arm TCP_QUICKACK before every ``recv``.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Final

import structlog

from broker.apdu import SW
from broker.errors import TransportError

if TYPE_CHECKING:
    from nhi_kit.emulators.card import CardEmulator

log = structlog.get_logger(__name__)

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 35963  # slot "Virtual PCD 00 00"; 35964 is "… 00 01"

POWER_OFF: Final = 0
POWER_ON: Final = 1
RESET: Final = 2
GET_ATR: Final = 4

_HEADER = 2
_RECV_SIZE = 4096
_CONNECT_TIMEOUT = 5.0
_RECONNECT_DELAY = 1.0


def frame(payload: bytes) -> bytes:
    """One vpcd message: the big-endian length, then the payload."""
    return len(payload).to_bytes(_HEADER, "big") + payload


class FrameReader:
    """Splits a byte stream into vpcd payloads (framing kept apart from I/O)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every payload now complete."""
        self._buffer += data
        payloads: list[bytes] = []
        while len(self._buffer) >= _HEADER:
            size = int.from_bytes(self._buffer[:_HEADER], "big")
            if len(self._buffer) < _HEADER + size:
                break
            payloads.append(self._buffer[_HEADER : _HEADER + size])
            self._buffer = self._buffer[_HEADER + size :]
        return payloads


def _quickack(sock: socket.socket) -> None:
    # Linux clears QUICKACK after a while, so it must be set again before each recv.
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if quickack is not None:
        sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)


class VpcdBridge:
    """Plays ``card`` as the card in one vpcd slot.

    ``insert()`` connects and serves in a daemon thread; ``remove()`` closes
    the socket, which pcscd sees as the card being pulled.
    """

    def __init__(
        self, card: CardEmulator, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
    ) -> None:
        self.card = card
        self.host = host
        self.port = port
        self.served = 0  # command APDUs answered
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._powered = threading.Event()
        self._closed = threading.Event()
        self._closed.set()

    @property
    def inserted(self) -> bool:
        """Whether the bridge is connected to vpcd."""
        return not self._closed.is_set()

    def insert(self) -> None:
        """Connect to vpcd (= insert the card) and serve it in a daemon thread."""
        if self._sock is not None:
            return
        previous = self._thread
        if previous is not None and previous is not threading.current_thread():
            previous.join()  # its connection is gone; let it finish powering the card off
        with self._lock:
            if self._sock is not None:
                return
            sock = self._connect()
            self._sock = sock
            self._powered.clear()
            self._closed.clear()
            self._thread = threading.Thread(
                target=self._serve, args=(sock,), name=f"vpcd-{self.port}", daemon=True
            )
            self._thread.start()

    def remove(self, timeout: float = 5.0) -> None:
        """Close the socket (= pull the card) and wait for the serving thread; idempotent."""
        with self._lock:
            sock, self._sock = self._sock, None
            thread = self._thread
        if sock is not None:
            _close(sock)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def wait_inserted(self, timeout: float) -> bool:
        """Wait until pcscd has powered the card.

        pcscd updates its reader state just after; ``PcscSlot.wait_for_card``
        is the exact wait.
        """
        return self._powered.wait(timeout)

    def wait_removed(self, timeout: float | None = None) -> bool:
        """Wait until the connection to vpcd is gone, by ``remove()`` or by pcscd."""
        return self._closed.wait(timeout)

    def __enter__(self) -> VpcdBridge:
        """Insert the card for the ``with`` block."""
        self.insert()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Remove the card."""
        self.remove()

    def _connect(self) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=_CONNECT_TIMEOUT)
        except OSError as exc:
            raise TransportError(
                f"vpcd is not listening on {self.host}:{self.port}"
                " (is pcscd running with vsmartcard-vpcd?)"
            ) from exc
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _serve(self, sock: socket.socket) -> None:
        reader = FrameReader()
        try:
            while True:
                _quickack(sock)
                data = sock.recv(_RECV_SIZE)
                if not data:
                    break
                for payload in reader.feed(data):
                    reply = self._handle(payload)
                    if reply is not None:
                        sock.sendall(frame(reply))
        except OSError as exc:
            if self._sock is sock:  # not our own remove(): pcscd went away
                log.warning("vpcd connection lost", port=self.port, error=str(exc))
        finally:
            self._release(sock)

    def _release(self, sock: socket.socket) -> None:
        with self._lock:
            if self._sock is sock:
                self._sock = None
        _close(sock)
        self.card.power_off()
        self._closed.set()

    def _handle(self, payload: bytes) -> bytes | None:
        """Answer one vpcd message; ``None`` for control codes that get no reply."""
        if len(payload) != 1:
            self.served += 1
            return self._execute(payload)
        code = payload[0]
        if code == POWER_OFF:
            self.card.power_off()
        elif code in (POWER_ON, RESET):
            self.card.power_on()
            self._powered.set()
        elif code == GET_ATR:
            return self.card.atr
        else:
            log.warning("unknown vpcd control code", port=self.port, code=code)
        return None

    def _execute(self, apdu: bytes) -> bytes:
        """Run one APDU on the card; a failing hook answers 6F00 rather than pulling the card."""
        try:
            return self.card.execute(apdu)
        except Exception:
            log.exception("card emulator failed", port=self.port, ins=apdu[1:2].hex())
            return SW.NO_PRECISE_DIAGNOSIS.to_bytes(2, "big")


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the peer may have disconnected already
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _describe(card: CardEmulator) -> str:
    try:
        return f"{card.kind} {card.card_id}"
    except NotImplementedError:
        return card.kind


def run_until_stopped(
    card: CardEmulator,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    stop: threading.Event | None = None,
) -> None:
    """Insert ``card`` into vpcd and serve it until ``stop`` is set or SIGTERM/SIGINT.

    If pcscd drops the connection (e.g. it restarts), the card is inserted
    again as soon as vpcd listens. Leaving removes the card.
    """
    stop = stop if stop is not None else threading.Event()
    bridge = VpcdBridge(card, host, port)
    bridge.insert()
    print(f"{_describe(card)} inserted into vpcd at {host}:{port}; Ctrl-C removes it", flush=True)
    restore = _on_signals(stop)
    try:
        _serve_until(bridge, stop)
    finally:
        restore()
        bridge.remove()
        log.info("vpcd card removed", port=port)


def _serve_until(bridge: VpcdBridge, stop: threading.Event) -> None:
    while not stop.is_set():
        if bridge.inserted:
            stop.wait(_RECONNECT_DELAY)
            continue
        try:
            bridge.insert()
        except TransportError:
            stop.wait(_RECONNECT_DELAY)
        else:
            log.info("vpcd card inserted again", port=bridge.port)


def _on_signals(stop: threading.Event) -> Callable[[], None]:
    """Make SIGTERM and SIGINT set ``stop``; return a function restoring the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
