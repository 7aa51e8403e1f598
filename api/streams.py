"""The event streams open now, under a cap; waitable (the metrics, a draining server, tests)."""

from __future__ import annotations

import threading

MAX_STREAMS = 16  # a console per workstation; the events pool has a thread for each
KEEPALIVE = 0.5  # seconds: the next write after a client has gone frees its slot


class StreamSlots:
    """How many streams are open, under a cap; waitable (tests, metrics)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.closing = threading.Event()
        self._open = 0
        self._changed = threading.Condition()

    @property
    def open(self) -> int:
        """Streams open now."""
        with self._changed:
            return self._open

    def take(self) -> bool:
        """Claim a slot; False when all are taken."""
        with self._changed:
            if self._open >= self.limit or self.closing.is_set():
                return False
            self._open += 1
            self._changed.notify_all()
            return True

    def give_back(self) -> None:
        """Free a slot."""
        with self._changed:
            self._open -= 1
            self._changed.notify_all()

    def close_all(self) -> None:
        """The server is stopping: refuse new streams, end open ones at their next wake."""
        self.closing.set()

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until exactly ``count`` streams are open; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._open == count, timeout)
