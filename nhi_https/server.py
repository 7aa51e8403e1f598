"""waitress in a thread, on a loopback port or on a unix socket, stoppable with a drain."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import WSGITask

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Address = tuple[str, int]
# waitress defaults to 1 GiB. The app refuses bodies over 64 KiB itself (413); waitress only
# stops what is far larger, because when it stops a body it closes the connection unread
# and the 413 may never reach the client.
BODY_LIMIT = 1024 * 1024
# Behind HAProxy on a unix socket waitress sees every peer as "localhost": only HAProxy
# (the socket is 0600 in a 0700 directory) can connect, so its headers are believed.
PROXY = "localhost"
PROXY_HEADERS = {"x-forwarded-for", "x-forwarded-proto"}


def url_of(scheme: str, address: Address) -> str:
    """``scheme://host:port``, an IPv6 host in brackets."""
    host, port = address
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}"


class OneWriteTask(WSGITask):  # type: ignore[misc]  # waitress has no type hints
    """Sends a response's header and its whole body in one write.

    waitress sends every write at once; header and body written apart leave
    as two segments, which a TLS terminator turns into two TLS records the
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


def forwarded_only(app: WsgiApp) -> WsgiApp:
    """Refuse a request that came without HAProxy's ``X-Forwarded-For`` (fail closed).

    waitress then leaves the unix socket's peer, "localhost", as the client,
    which the API would take for a caller on this machine.
    """

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REMOTE_ADDR") == PROXY:
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"no client address\n"]
        return app(environ, start_response)

    return guarded


class HttpServer:
    """Serves ``app`` over plain HTTP on ``host:port`` (port 0 picks one) or ``unix_socket``.

    On a unix socket it trusts ``X-Forwarded-For``/``-Proto`` (HAProxy's, see
    web/haproxy.py); on a port it trusts no forwarding header.
    """

    def __init__(
        self,
        app: WsgiApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        unix_socket: Path | None = None,
        threads: int = 8,
        name: str = "waitress",
    ) -> None:
        self.unix_socket = unix_socket
        self._waitress = _waitress(app, host, port, unix_socket, threads)
        self._thread = threading.Thread(target=self._waitress.run, name=name, daemon=True)
        self._stopped = False

    @property
    def address(self) -> Address:
        """Where clients connect (a TCP server's)."""
        host, port = self._waitress.getsockname()
        return str(host), int(port)

    @property
    def url(self) -> str:
        """``http://host:port``."""
        return url_of("http", self.address)

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self, drain: float = 5.0) -> None:
        """Stop listening, let running requests finish (up to ``drain`` s), end the loop; once."""
        if self._stopped:
            return
        self._stopped = True
        server = self._waitress
        _in_loop(server, lambda: setattr(server, "accepting", False))
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=drain)
        # Close every dispatcher from inside waitress's own loop: its map then
        # empties and run() returns.
        _in_loop(server, lambda: [d.close() for d in list(server._map.values())])
        self._thread.join(10.0)
        if self.unix_socket is not None:
            self.unix_socket.unlink(missing_ok=True)


def _in_loop(server: Any, thunk: Callable[[], object]) -> None:
    """Run ``thunk`` in waitress's loop; nothing to do if the loop has closed already."""
    with contextlib.suppress(OSError):  # its trigger is closed: so is everything else
        server.trigger.pull_trigger(thunk)


def _waitress(app: WsgiApp, host: str, port: int, unix_socket: Path | None, threads: int) -> Any:
    where: dict[str, Any] = {"host": host, "port": port}
    if unix_socket is not None:
        app = forwarded_only(app)
        where = {
            "unix_socket": str(unix_socket),
            "unix_socket_perms": "600",
            "trusted_proxy": PROXY,
            "trusted_proxy_headers": PROXY_HEADERS,
        }
    server = create_server(
        app,
        threads=threads,
        max_request_body_size=BODY_LIMIT,
        ident="nhi-broker",
        clear_untrusted_proxy_headers=True,
        # A channel stays readable while its request runs, so a client that has
        # gone (an event stream's) is noticed at once, not at the next write.
        channel_request_lookahead=1,
        asyncore_use_poll=True,
        **where,
    )
    server.channel_class = _Channel
    return server
