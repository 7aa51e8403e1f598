"""HAProxy's configuration for the broker: TLS on the public socket, paths routed to pools.

HAProxy terminates TLS on a listening socket the broker opened and hands it
(``bind fd@N``), so the port is the broker's from start to stop, also while
HAProxy restarts. Each pool is a waitress server on its own unix socket with
its own threads: slow card and DC calls cannot take the threads Status, the
console's files and the event streams need. The client's address travels in
``X-Forwarded-For``, which HAProxy sets itself after deleting whatever the
client sent.
"""

from __future__ import annotations

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
    '"termination":"%ts","ms_total":%Ta,"ms_queue":%Tw,"request":%{+Q,+E}r}'
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


@dataclass(frozen=True)
class Pool:
    """One waitress server behind HAProxy and the paths it serves."""

    name: str
    socket: Path
    threads: int
    timeout: float  # seconds HAProxy waits on the server for an answer (or between writes)
    paths: tuple[str, ...] = ()  # exact paths
    prefixes: tuple[str, ...] = ()  # path prefixes


@dataclass(frozen=True)
class Control:
    """HAProxy's runtime API socket, and the (empty) ACL file whose pattern a stop adds."""

    socket: Path
    refusals: Path


@dataclass(frozen=True)
class Limits:
    """Timeouts (seconds) and connection limits of the public side."""

    maxconn: int
    request: float = 10.0  # the whole header block (and the buffered body) of one request
    keep_alive: float = 10.0  # an idle keep-alive connection between requests
    client: float = 30.0  # a client that neither sends nor reads
    queue: float = 30.0  # a request waiting for a free thread in its pool
    drain: float = 30.0  # SIGUSR1 (soft stop) to exit, whatever is still in flight


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
