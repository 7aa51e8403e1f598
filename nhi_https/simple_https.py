"""A small threaded HTTPS server for the kit's simulators (test doubles, not the product).

A simulated data centre or cloud needs what the real one has for the
broker's client: TLS, a connection per call, and an outage that refuses
connections (``pause``) then takes them again on the same port
(``resume``). Python's own ``ssl`` and ``wsgiref`` do that; the broker's
API is served by HAProxy and waitress (web/https.py).
"""

from __future__ import annotations

import io
import socket
import socketserver
import ssl
import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from nhi_https.server import Address, WsgiApp, url_of

HANDSHAKE_TIMEOUT = 10.0


def _body_read_first(app: WsgiApp) -> WsgiApp:
    """Read the whole body before the app answers: a connection closed with a body
    unread is reset, and the client may lose the answer (an unknown path's 404)."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(length))
        return app(environ, start_response)

    return wrapped


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # the base's names
        """The simulator's requests are not worth a line each."""


class _TlsWsgiServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: Address, app: WsgiApp, context: ssl.SSLContext) -> None:
        self.context = context
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _QuietHandler)
        self.set_app(_body_read_first(app))

    def finish_request(self, request: Any, client_address: Any) -> None:
        """The handshake runs in the connection's own thread, never in the accept loop."""
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


class SimpleHttpsServer:
    """``app`` over HTTPS on ``host:port`` (port 0 picks one), pausable."""

    def __init__(self, app: WsgiApp, host: str, port: int, context: ssl.SSLContext) -> None:
        self._app = app
        self._context = context
        self._server: _TlsWsgiServer | None = _TlsWsgiServer((host, port), app, context)
        bound = self._server.server_address
        self.address: Address = (str(bound[0]), int(bound[1]))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``https://host:port``."""
        return url_of("https", self.address)

    def start(self) -> None:
        """Serve in a daemon thread."""
        if self._server is None:
            self._server = _TlsWsgiServer(self.address, self._app, self._context)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="simple-https", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting and close the port (connections are refused from now on)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(10.0)

    pause = stop

    def resume(self) -> None:
        """Listen on the same port again after ``pause``."""
        if self._server is None:
            self.start()
