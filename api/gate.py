"""A cap on one station's calls in flight, so its backlog cannot take every calls thread.

A station runs its calls one after another; a workstation that keeps
calling while its card or the DC is slow only lengthens its own queue. Past
the cap its further calls are refused at once (503, ``Retry-After``), and
the calls pool's other threads stay free for the other stations.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator

import falcon

RETRY_AFTER = 1  # seconds


class StationGate:
    """At most ``limit`` calls of one station at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()
        self._changed = threading.Condition()

    def wait_for(self, station: str, count: int, timeout: float) -> bool:
        """Block until ``station`` has ``count`` calls in flight (tests); False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._open[station] == count, timeout)

    @contextlib.contextmanager
    def enter(self, station: str) -> Iterator[None]:
        """Hold one of ``station``'s places for the call; 503 when it has none left."""
        with self._changed:
            if self._open[station] >= self.limit:
                raise falcon.HTTPServiceUnavailable(
                    title="too many calls of this station in flight",
                    description=f"at most {self.limit}; they run one after another",
                    retry_after=RETRY_AFTER,
                )
            self._open[station] += 1
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self._open[station] -= 1
                self._changed.notify_all()
