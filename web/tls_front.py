"""TLS in front of a plain-HTTP server (waitress has no TLS).

The front accepts TLS connections, opens one loopback connection to the
backend for each, and pumps bytes both ways. It remembers which client each
backend connection carries (by its local port), so the application can log
and authorise the client's real address rather than the front's.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading

import structlog

Address = tuple[str, int]

log = structlog.get_logger(__name__)
HANDSHAKE_TIMEOUT = 10.0
CHUNK = 65536


class TlsFront:
    """Terminates TLS on ``listen`` and forwards to ``backend``."""

    def __init__(self, listen: Address, backend: Address, context: ssl.SSLContext) -> None:
        self._listen = listen
        self._backend = backend
        self._context = context
        self._clients: dict[int, Address] = {}  # backend-side local port → real client
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self.address: Address = listen

    def start(self) -> None:
        """Bind and accept in a daemon thread (re-binds the same port after ``pause``)."""
        family = socket.AF_INET6 if ":" in self._listen[0] else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(self._listen)
        listener.listen(128)
        self.address = listener.getsockname()[:2]
        self._listen = (self._listen[0], self.address[1])  # keep the port for a restart
        self._listener = listener
        self._accepting = threading.Thread(
            target=self._accept_loop, args=(listener,), name="tls-front", daemon=True
        )
        self._accepting.start()

    def pause(self) -> None:
        """Stop listening: new connections are refused until ``start`` again."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if self._accepting is not None:
            self._accepting.join(5.0)
            self._accepting = None

    stop = pause

    def client_of(self, backend_port: int) -> Address | None:
        """The real client behind the backend connection from ``backend_port``."""
        with self._lock:
            return self._clients.get(backend_port)

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                raw, client = listener.accept()
            except OSError:
                return  # the listener was closed
            threading.Thread(
                target=self._serve, args=(raw, client[:2]), name="tls-conn", daemon=True
            ).start()

    def _serve(self, raw: socket.socket, client: Address) -> None:
        # Replies leave as several TLS records: without NODELAY, Nagle holds the
        # second until the client's delayed ACK (~40 ms per request).
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        raw.settimeout(HANDSHAKE_TIMEOUT)
        try:
            tls = self._context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            log.debug("tls.handshake_failed", client=f"{client[0]}:{client[1]}", error=str(exc))
            raw.close()
            return
        tls.settimeout(None)
        try:
            backend = socket.create_connection(self._backend)
        except OSError:
            tls.close()
            return
        backend.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        port = backend.getsockname()[1]
        with self._lock:
            self._clients[port] = client
        try:
            _pump(tls, backend)
        finally:
            with self._lock:
                self._clients.pop(port, None)
            for sock in (tls, backend):
                with contextlib.suppress(OSError):
                    sock.close()


def _pump(tls: ssl.SSLSocket, backend: socket.socket) -> None:
    """Copy bytes both ways in one thread (an SSL object must not be used by two)."""
    while True:
        readable = [tls] if tls.pending() else select.select([tls, backend], [], [])[0]
        try:
            if tls in readable:
                data = tls.recv(CHUNK)
                if not data:
                    return
                backend.sendall(data)
            if backend in readable:
                data = backend.recv(CHUNK)
                if not data:
                    return
                tls.sendall(data)
        except (OSError, ssl.SSLError):
            return
