"""Which requests go to which waitress pool behind HAProxy, and how big each pool is.

Function calls may wait on cards and the DC; quick answers (Status,
Version, the console's files, the API description, metrics) never do; an
event stream holds its thread for as long as it is open. Each kind has its
own threads, so the first can never take those of the other two.
"""

from __future__ import annotations

from api.console import CONSOLE_PATH
from api.openapi import OPENAPI_PATH, SWAGGER_PREFIX
from api.resources import events, health
from api.streams import MAX_STREAMS
from nhi_https.https import PoolSpec

CALL_THREADS = 16  # calls for several stations wait on cards and the DC side by side
QUICK_THREADS = 4
QUICK_PATHS = (
    "/",
    "/api/common/v1/Status",
    "/api/common/v1/Version",
    "/api/common/v1/Log",
    "/metrics",
    health.PATH,  # the watchdog's check: a hung quick pool withholds its heartbeat
    OPENAPI_PATH,
)
QUICK_PREFIXES = (CONSOLE_PATH, f"{SWAGGER_PREFIX}/")
EVENTS_PREFIXES = (events.PATH,)
QUICK_TIMEOUT = 10.0  # seconds: these never wait on a card or the DC
EVENTS_TIMEOUT = 10.0  # seconds without a byte from a stream (a keepalive comes every half second)


EXIT_SECONDS = 8.0  # after the drain: the pools, then each actor (at once when idle), the kit


def drain_seconds(call_timeout: float) -> float:
    """How long a stop waits for requests in flight: a call's whole deadline, and a margin."""
    return call_timeout + 2.0


def stop_seconds(call_timeout: float) -> float:
    """How long a whole stop may take (the unit's ``TimeoutStopSec=``): drain, then exit."""
    return drain_seconds(call_timeout) + EXIT_SECONDS


def pools(call_deadline: float) -> tuple[PoolSpec, ...]:
    """The waitress pools behind HAProxy; the first takes every path the others do not name."""
    return (
        PoolSpec("calls", CALL_THREADS, call_deadline),
        # Reserved: still served when a flood crowds the connections (nhi_https/haproxy.py).
        PoolSpec("quick", QUICK_THREADS, QUICK_TIMEOUT, QUICK_PATHS, QUICK_PREFIXES, reserved=True),
        # Two beyond the stream cap answer the 503 when all streams are taken.
        PoolSpec("events", MAX_STREAMS + 2, EVENTS_TIMEOUT, prefixes=EVENTS_PREFIXES),
    )


def plain_threads() -> int:
    """``--plain-http``: one waitress for all, as many threads as the pools together."""
    return CALL_THREADS + QUICK_THREADS + MAX_STREAMS + 2
