"""What the Web API needs from a running broker, and the API's own small stores."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from api.docs import PathDoc
from api.gate import StationGate
from api.ports import BrokerPort
from api.streams import KEEPALIVE, MAX_STREAMS, StreamSlots

LOG_SIZE = 200


def token_hash(token: str) -> str:
    """What the configuration stores instead of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LoggedCall:
    """One line of the console's API 呼叫記錄."""

    function: str  # the path, as the console shows it
    result: str  # four digits, 0000 = success
    station: str
    at: float


class CallLog:
    """The recent API calls, newest first (GET/DELETE /api/common/v1/Log)."""

    def __init__(self, size: int = LOG_SIZE) -> None:
        self._calls: deque[LoggedCall] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, function: str, result: str, station: str) -> LoggedCall:
        """Record one call."""
        call = LoggedCall(function, result, station, time.time())
        with self._lock:
            self._calls.appendleft(call)
        return call

    def recent(self, station: str | None = None) -> list[LoggedCall]:
        """Newest first; only one station's when asked."""
        with self._lock:
            calls = list(self._calls)
        return [c for c in calls if station is None or c.station == station]

    def clear(self, station: str | None = None) -> None:
        """Forget (one station's, or every) call."""
        with self._lock:
            kept = [c for c in self._calls if station is not None and c.station != station]
            self._calls.clear()
            self._calls.extend(kept)


@dataclass
class ApiServices:
    """The running broker plus what only the API keeps."""

    broker: BrokerPort
    call_log: CallLog = field(default_factory=CallLog)
    call_timeout: float = 30.0  # seconds one HIS call may take before it is given up
    # One station's calls in flight at most: half the calls pool's threads (api/pools.py).
    station_calls: int = 8
    max_streams: int = MAX_STREAMS  # event streams open at once (each holds a pool thread)
    keepalive: float = KEEPALIVE  # seconds between an idle stream's keepalives
    # Made when the app is built, read by the metrics and a draining server:
    streams: StreamSlots | None = None
    tls_restarts: Callable[[], int] | None = None  # HAProxy's restarts, when serving HTTPS
    gate: StationGate | None = None
    docs: list[PathDoc] = field(default_factory=list)  # the mounted paths' descriptions

    @property
    def station_tokens(self) -> dict[str, str]:
        """Token hash → station name."""
        return {s.token_sha256: s.name for s in self.broker.config.stations if s.token_sha256}

    @property
    def admin_token_hash(self) -> str | None:
        """The admin token's hash, if one is configured."""
        return self.broker.config.admin_token_sha256
