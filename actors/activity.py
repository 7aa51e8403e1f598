"""Where an actor's time goes — its own work, the data centre, or an actor it asks — so that an
answer that comes too late is blamed on what held it up, not on whoever was asked.

A call that waits in a SAM's inbox behind other stations' slow data-centre calls
times out "at the SAM", but the SAM was fine: the time went to the data centre.
Each actor keeps the seconds it spent per cause; a wait on another actor is
credited with what that actor spent meanwhile (recursively: asks only go
down), so the cause of a late answer is the one with the most time since the
message was sent, wherever down the chain it was spent.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from broker.codes import Code


class Cause(NamedTuple):
    """What time can go to: an actor's own work (its kind's code) or the data centre."""

    code: Code
    what: str  # for the caller's detail: "the data centre", "reader:COM1"


DATA_CENTRE = Cause(Code.DC_CONNECTION, "the data centre")
Spent = dict[Cause, float]  # seconds per cause
_local = threading.local()  # the activity of the actor whose thread this is


@dataclass
class _Interval:
    """One open span of time: spent on ``cause`` since ``start``."""

    cause: Cause | Activity
    start: float
    mark: Spent  # what the asked activity had spent when the wait began


class Activity:
    """One actor's time per cause; thread-safe (others read it while the actor runs).

    Every message and every ask passes here: plain calls, not context managers.
    """

    def __init__(self, own: Cause) -> None:
        self.own = own
        self._lock = threading.Lock()
        self._spent: Spent = {}
        self._open: list[_Interval] = []  # the last is the one time goes to now

    def enter(self, owner: Cause | None = None) -> Activity | None:
        """The actor's thread starts on a message: its own time (or ``owner``'s) until it
        waits on something. Returns what ``leave`` restores."""
        previous: Activity | None = getattr(_local, "activity", None)
        _local.activity = self
        self.begin(owner or self.own)
        return previous

    def leave(self, previous: Activity | None) -> None:
        """The message is done."""
        self.end()
        _local.activity = previous

    def begin(self, cause: Cause | Activity) -> None:
        """Time goes to ``cause`` from now (the actor's own work pauses meanwhile)."""
        mark = cause.totals() if isinstance(cause, Activity) else {}
        now = time.monotonic()
        with self._lock:
            if self._open:  # the actor's own work (an actor waits on one thing at a time)
                interrupted = self._open[-1]
                _add(self._spent, _credit(interrupted, now))
                interrupted.start = now
            self._open.append(_Interval(cause, now, mark))

    def end(self) -> None:
        """The span ``begin`` opened is over; the one it interrupted goes on."""
        now = time.monotonic()
        with self._lock:
            ended = self._open.pop()
        credit = _credit(ended, now)  # outside the lock: it may read the asked actor's
        with self._lock:
            _add(self._spent, credit)
            if self._open:
                self._open[-1].start = now

    def totals(self) -> Spent:
        """Everything spent so far, the open span up to now."""
        with self._lock:
            spent = dict(self._spent)
            current = self._open[-1] if self._open else None
        if current is not None:
            _add(spent, _credit(current, time.monotonic()))
        return spent

    def blame(self, since: Spent) -> Cause | None:
        """The cause that took the most time since ``since`` (a ``totals()``)."""
        grown = _grown(self.totals(), since)
        return max(grown, key=grown.__getitem__) if grown else None


def current() -> Activity | None:
    """The activity of the actor whose thread this is (None outside an actor)."""
    activity: Activity | None = getattr(_local, "activity", None)
    return activity


@contextlib.contextmanager
def waiting(cause: Cause | Activity) -> Iterator[None]:
    """Count the time in this block as spent on ``cause``, in the current actor's activity
    (nothing outside an actor's thread)."""
    activity = current()
    if activity is None:
        yield
        return
    activity.begin(cause)
    try:
        yield
    finally:
        activity.end()


def _credit(interval: _Interval, now: float) -> Spent:
    """What an open span has spent: its own cause, or what the asked actor spent meanwhile."""
    seconds = max(now - interval.start, 0.0)
    if isinstance(interval.cause, Cause):
        return {interval.cause: seconds}
    asked = interval.cause
    grown = _grown(asked.totals(), interval.mark)
    total = sum(grown.values())
    if total > seconds:  # it worked for others before ours arrived: scale to our wait
        grown = {c: s * seconds / total for c, s in grown.items()}
        total = seconds
    if seconds > total:  # hand-offs between threads: the asked actor's own
        grown[asked.own] = grown.get(asked.own, 0.0) + seconds - total
    return grown


def _grown(now: Spent, since: Spent) -> Spent:
    """What was spent after ``since``, per cause."""
    grown = {cause: seconds - since.get(cause, 0.0) for cause, seconds in now.items()}
    return {cause: seconds for cause, seconds in grown.items() if seconds > 0}


def _add(spent: Spent, more: Spent) -> None:
    for cause, seconds in more.items():
        spent[cause] = spent.get(cause, 0.0) + seconds
