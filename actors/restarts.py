"""One-for-one restarts as in Erlang/OTP: a backoff that doubles with each failure, and an
intensity limit (too many failures in a window) that marks a station degraded."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from broker.config import RestartPolicy


class Backoff:
    """Counts failures per name within the policy's window; thread-safe."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def failed(self, name: str) -> tuple[float, int]:
        """Count one failure: the delay before the restart, and the failures in the window."""
        now = time.monotonic()
        with self._lock:
            times = self._failures[name]
            times.append(now)
            while times and times[0] < now - self.policy.window:
                times.popleft()
            count = len(times)
        delay = min(self.policy.backoff_initial * 2 ** (count - 1), self.policy.backoff_max)
        return float(delay), count

    def too_many(self, count: int) -> bool:
        """Whether ``count`` failures in the window exceed the intensity limit."""
        return count > self.policy.max_restarts
