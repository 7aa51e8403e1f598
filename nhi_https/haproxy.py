"""HAProxy's configuration for the broker: TLS on the public socket, paths routed to pools.

HAProxy terminates TLS on a listening socket the broker opened and hands it
(``bind fd@N``), so the port is the broker's from start to stop, also while
HAProxy restarts. Each pool is a waitress server on its own unix socket with
its own threads: slow card and DC calls cannot take the threads Status, the
console's files and the event streams need. The client's address travels in
``X-Forwarded-For``, which HAProxy sets itself after deleting whatever the
client sent.

A flood meets two limits, both derived from the open-file limit (https.py):
beyond ``Limits.served`` connections only the reserved pools' paths (Status
among them) are served and any other request is refused at once with a 503,
logged; beyond ``Limits.held`` a new connection is closed as soon as it is
accepted, instead of waiting in the kernel's backlog behind the flood.
HAProxy's own error answers are the API's JSON (``error_page``).
"""

from __future__ import annotations

import http
import json
from dataclasses import dataclass
from pathlib import Path

# Headers a client could use to claim another address or scheme: HAProxy drops them.
FORWARDING_HEADERS = (
    "Forwarded",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
    "X-Forwarded-By",
)
# Abnormal requests only (``option dontlog-normal``), one JSON object a line.
LOG_FORMAT = (
    '{"client":"%ci","port":%cp,"backend":"%b","status":%ST,"bytes":%B,'
    '"termination":"%ts","ms_total":%Ta,"ms_queue":%Tw,"connections":%fc,'
    '"limit":"%[var(txn.limit)]","request":%{+Q,+E}r}'
)
# While the broker stops, a request that was not in flight yet is answered at once, in the
# API's error shape, with when to call again (a restart takes about RestartSec=, 2 s):
# nhi_https/runtime.py adds REFUSING to the refusals ACL, in HAProxy's memory.
REFUSING = "refusing"
RETRY_AFTER = 2
REFUSAL = '{"title":"the broker is stopping","description":"calls in flight finish first"}'
# A request body up to the API's 64 KiB limit fits whole in one buffer, so
# ``http-buffer-request`` holds it until complete: a slow body never reaches waitress.
BUFFER_SIZE = 72 * 1024
# Header fields beyond this are refused with 431. A header block that does not fit the
# buffer at all is refused earlier, by HAProxy's HTTP parser, with its own HTML 400.
HEADER_LIMIT = 32 * 1024
# Of ``maxconn``, the connections kept to accept and close a new one beyond ``Limits.held``
# at once: a flood never fills the kernel's backlog ahead of a new caller.
SPARE = 16
# The error pages' directory, beside the configuration (``default-path config``).
ERRORS = "errors"
# The answers HAProxy makes itself, as ``errorfile``s in the API's JSON. HAProxy 2.6's
# HTTP parser (a malformed or oversized header block, a header timeout) sends its
# built-in pages whatever the files say; every later stage uses these.
ERROR_PAGES = {
    400: "the request could not be read",
    408: "the request did not arrive in time",
    500: "the HTTPS front end failed",
    502: "the API server gave no valid answer",
    503: "the API server is busy or stopping: try again",
    504: "the API server did not answer in time",
}
CROWDED = "too many connections are open: only the quick paths (Status) are served now"


@dataclass(frozen=True)
class Pool:
    """One waitress server behind HAProxy and the paths it serves."""

    name: str
    socket: Path
    threads: int
    timeout: float  # seconds HAProxy waits on the server for an answer (or between writes)
    paths: tuple[str, ...] = ()  # exact paths
    prefixes: tuple[str, ...] = ()  # path prefixes
    reserved: bool = False  # still served beyond ``Limits.quick_only`` connections


@dataclass(frozen=True)
class Control:
    """HAProxy's runtime API socket, and the (empty) ACL file whose pattern a stop adds."""

    socket: Path
    refusals: Path


@dataclass(frozen=True)
class Limits:
    """Timeouts (seconds) and connection limits of the public side."""

    maxconn: int  # HAProxy's; beyond ``held`` a new connection is closed as soon as accepted
    quick_only: int | None = None  # beyond: reserved pools only (default: 3/4 of ``held``)
    request: float = 10.0  # the whole header block (and the buffered body) of one request
    keep_alive: float = 10.0  # an idle keep-alive connection between requests
    client: float = 30.0  # a client that neither sends nor reads
    queue: float = 30.0  # a request waiting for a free thread in its pool
    drain: float = 30.0  # SIGUSR1 (soft stop) to exit, whatever is still in flight

    @property
    def held(self) -> int:
        """Connections held: ``maxconn`` less its spare (see ``SPARE``)."""
        return self.maxconn - min(SPARE, self.maxconn // 8)

    @property
    def served(self) -> int:
        """Connections beyond which only the reserved pools' paths are served."""
        return self.quick_only if self.quick_only is not None else self.held * 3 // 4


def _seconds(value: float) -> str:
    return f"{max(1, round(value * 1000))}ms"


def _global(limits: Limits, control: Control) -> list[str]:
    return [
        "global",
        "    log stdout format raw local0 info",
        f"    stats socket {control.socket} mode 600 level admin",
        f"    maxconn {limits.maxconn}",
        f"    hard-stop-after {_seconds(limits.drain)}",
        f"    tune.bufsize {BUFFER_SIZE}",
        "    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets",
        "    default-path config",  # the error pages' relative paths
        "",
        "defaults",
        "    mode http",
        "    log global",
        f"    log-format '{LOG_FORMAT}'",
        "    option dontlognull",
        "    option dontlog-normal",
        "    option http-buffer-request",
        # One fresh unix-socket connection per request: waitress never closes one
        # HAProxy is about to reuse.
        "    option http-server-close",
        # A client's close ends its request: a queued one never reaches waitress, and an
        # event stream is let go at its next keepalive, not after two more failed writes.
        # (A client that half-closes and still reads, rare in HTTP, is not served.)
        "    option abortonclose",
        "    option forwardfor",
        f"    timeout http-request {_seconds(limits.request)}",
        f"    timeout http-keep-alive {_seconds(limits.keep_alive)}",
        f"    timeout client {_seconds(limits.client)}",
        "    timeout client-fin 1s",
        "    timeout connect 2s",
        f"    timeout queue {_seconds(limits.queue)}",
        "",
    ]


def _frontend(
    listen_fd: int, pem: Path, limits: Limits, pools: tuple[Pool, ...], control: Control
) -> list[str]:
    lines = [
        "frontend https",
        f"    bind fd@{listen_fd} ssl crt {pem} alpn http/1.1",
        f"    maxconn {limits.maxconn}",
        *(f"    {line}" for line in _guards(limits, pools)),
        *(f"    http-request del-header {name}" for name in FORWARDING_HEADERS),
        "    http-request set-header X-Forwarded-Proto https",
        f"    http-request return status 503 content-type application/json string '{REFUSAL}'"
        f" hdr Retry-After {RETRY_AFTER} if {{ str({REFUSING}) -m str -f {control.refusals} }}",
    ]
    for pool in pools[1:]:
        conditions = [f"{{ path {' '.join(pool.paths)} }}"] if pool.paths else []
        if pool.prefixes:
            conditions.append(f"{{ path_beg {' '.join(pool.prefixes)} }}")
        lines.append(f"    use_backend {pool.name} if {' || '.join(conditions)}")
    lines += [f"    default_backend {pools[0].name}", ""]
    return lines


def _backend(pool: Pool) -> list[str]:
    # maxconn = threads: requests beyond wait in HAProxy's queue, not in waitress.
    return [
        f"backend {pool.name}",
        f"    timeout server {_seconds(pool.timeout)}",
        f"    server waitress unix@{pool.socket} maxconn {pool.threads}",
        "",
    ]


def render(
    listen_fd: int, pem: Path, limits: Limits, pools: tuple[Pool, ...], control: Control
) -> str:
    """The whole configuration; the first pool takes every path no other pool names."""
    lines = _global(limits, control) + _frontend(listen_fd, pem, limits, pools, control)
    for pool in pools:
        lines += _backend(pool)
    return "\n".join(lines)


def _reserved(pools: tuple[Pool, ...]) -> list[str]:
    """The ``reserved`` ACL: the paths of the pools still served when connections crowd."""
    lines: list[str] = []
    for pool in (p for p in pools if p.reserved):
        lines += [f"acl reserved path {' '.join(pool.paths)}"] if pool.paths else []
        lines += [f"acl reserved path_beg {' '.join(pool.prefixes)}"] if pool.prefixes else []
    return lines


def _guards(limits: Limits, pools: tuple[Pool, ...]) -> list[str]:
    """The limits of the public side, and HAProxy's own answers as the API's JSON."""
    reserved = _reserved(pools)
    crowded = f"{{ fe_conn gt {limits.served} }}" + (" !reserved" if reserved else "")
    too_large = _json(431, f"the header fields are over {HEADER_LIMIT // 1024} KiB")
    return [
        f"tcp-request connection reject if {{ fe_conn gt {limits.held} }}",
        *(f"errorfile {status} {ERRORS}/{status}.http" for status in ERROR_PAGES),
        *reserved,
        "http-request deny status 431 content-type application/json "
        f"string '{too_large}' hdr Connection close if {{ req.hdrs,length gt {HEADER_LIMIT} }}",
        f"http-request set-var(txn.limit) str(connections) if {crowded}",
        "http-request deny status 503 content-type application/json "
        f"string '{_json(503, CROWDED)}' hdr Connection close if {{ var(txn.limit) -m found }}",
    ]


def _json(status: int, description: str) -> str:
    """The body of an HTTP error as ``api.app.json_error`` writes it."""
    title = f"{status} {http.HTTPStatus(status).phrase}"
    return json.dumps({"title": title, "description": description}, separators=(",", ":"))


def error_page(status: int) -> bytes:
    """The whole response HAProxy sends for an error it makes itself (an ``errorfile``)."""
    body = (_json(status, ERROR_PAGES[status]) + "\n").encode()
    head = (
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body
