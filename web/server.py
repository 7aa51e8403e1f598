"""waitress in a thread, optionally behind the TLS front, stoppable and pausable."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import WSGITask

from web.tls_front import Address, TlsFront

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# waitress defaults to 1 GiB. The app refuses bodies over 64 KiB itself (413); waitress only
# stops what is far larger, because when it stops a body it closes the connection unread
# and the 413 may never reach the client.
BODY_LIMIT = 1024 * 1024


class OneWriteTask(WSGITask):  # type: ignore[misc]  # waitress has no type hints
    """Sends a response's header and its whole body in one write.

    waitress sends every write at once; header and body written apart leave
    as two TCP segments, which the TLS front turns into two TLS records the
    client waits for and reads one after the other. A body given whole (every
    JSON answer: falcon knows its length) now leaves with its header.
    """

    wrote_header: bool
    content_bytes_written: int

    def write(self, data: bytes) -> None:
        """The first write of a whole body carries the header too."""
        if (
            not self.wrote_header
            and data
            and self.complete
            and self.has_body
            and not self.chunked_response
            and self.content_length == len(data)
        ):
            header = self.build_response_header()
            self.wrote_header = True
            self.content_bytes_written += len(data)
            self.channel.write_soon(header + data)
            return
        super().write(data)


class _Channel(HTTPChannel):  # type: ignore[misc]
    task_class = OneWriteTask


class ClientMap(Protocol):
    """Knows which real client a backend connection carries."""

    def client_of(self, backend_port: int) -> Address | None:
        """The real client, or None for a direct connection."""
        ...


class RealClient:
    """WSGI middleware: REMOTE_ADDR/REMOTE_PORT of the real client behind the TLS front."""

    def __init__(self, app: WsgiApp, front: ClientMap) -> None:
        self._app = app
        self._front = front

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        client = self._front.client_of(int(environ.get("REMOTE_PORT") or 0))
        if client is not None:
            environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = client[0], str(client[1])
            environ["wsgi.url_scheme"] = "https"
        return self._app(environ, start_response)


class HttpServer:
    """Serves ``app`` on ``host:port`` (port 0 picks one): HTTPS when given a TLS context."""

    def __init__(
        self,
        app: WsgiApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: ssl.SSLContext | None = None,
        threads: int = 8,
    ) -> None:
        self._front: TlsFront | None = None
        if tls is not None:
            # waitress listens on a private loopback port; the front takes the public one.
            self._waitress = _waitress(app, "127.0.0.1", 0, threads, lambda a: RealClient(a, self))
            backend = self._waitress.getsockname()
            self._front = TlsFront((host, port), (backend[0], int(backend[1])), tls)
        else:
            self._waitress = _waitress(app, host, port, threads, lambda a: a)
        self._thread = threading.Thread(target=self._waitress.run, name="waitress", daemon=True)

    def client_of(self, backend_port: int) -> Address | None:
        """The real client of a backend connection (None without TLS)."""
        return self._front.client_of(backend_port) if self._front is not None else None

    @property
    def address(self) -> Address:
        """Where clients connect."""
        if self._front is not None:
            return self._front.address
        host, port = self._waitress.getsockname()
        return str(host), int(port)

    @property
    def url(self) -> str:
        """``https://host:port`` (or http)."""
        host, port = self.address
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self._front else 'http'}://{host}:{port}"

    def start(self) -> None:
        """Start serving."""
        self._thread.start()
        if self._front is not None:
            self._front.start()

    def pause(self) -> None:
        """Refuse new connections (an outage), keeping the port for ``resume``."""
        if self._front is None:
            raise RuntimeError("only a TLS-fronted server can pause")
        self._front.pause()

    def resume(self) -> None:
        """Accept connections again after ``pause``."""
        if self._front is not None:
            self._front.start()

    def stop(self) -> None:
        """Stop listening and end waitress's loop."""
        if self._front is not None:
            self._front.stop()
        server = self._waitress
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        # Close every dispatcher from inside waitress's own loop: its map then
        # empties and run() returns.
        server.trigger.pull_trigger(lambda: [d.close() for d in list(server._map.values())])
        self._thread.join(10.0)


def _waitress(
    app: WsgiApp, host: str, port: int, threads: int, wrap: Callable[[WsgiApp], Any]
) -> Any:
    server = create_server(
        wrap(app),
        host=host,
        port=port,
        threads=threads,
        max_request_body_size=BODY_LIMIT,
        ident="nhi-broker",
        clear_untrusted_proxy_headers=True,
        asyncore_use_poll=True,
    )
    server.channel_class = _Channel
    return server
