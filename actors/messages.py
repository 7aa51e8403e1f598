"""What actors send each other: frozen messages carrying a deadline and the request's context.

A pykka ask that times out does not cancel its message (pykka runs it later):
the deadline travels with the message so an actor skips work whose caller
has gone, and each level asks the next with what is left of it.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Self, TypeVar

INTERNAL = "broker"
R = TypeVar("R")  # what the message is answered with
M = TypeVar("M", bound="Message[Any]")
_ids = itertools.count(1)


@dataclass(frozen=True)
class Context:
    """Who asked: bound into every log line the request causes."""

    request_id: str
    client: str
    station: str

    @classmethod
    def internal(cls, station: str = "-") -> Context:
        """The context of the broker's own work (hot-plug, restarts)."""
        return cls(f"internal-{next(_ids)}", INTERNAL, station)

    def log_fields(self) -> dict[str, str]:
        """Fields for structlog."""
        return {"request_id": self.request_id, "client": self.client, "station": self.station}


@dataclass(frozen=True, kw_only=True)
class Message(Generic[R]):
    """Base of every actor message; ``R`` is the type of its answer (``ask`` returns it)."""

    deadline: float = field(default_factory=lambda: time.monotonic() + 3600)
    context: Context = field(default_factory=Context.internal)

    def remaining(self) -> float:
        """Seconds left before the caller gives up."""
        return self.deadline - time.monotonic()

    def expired(self) -> bool:
        """Whether the caller has already given up."""
        return self.remaining() <= 0

    def child(self, message: M, margin: float = 0.05) -> M:
        """``message`` with this one's context and a slightly earlier deadline."""
        return replace(message, deadline=self.deadline - margin, context=self.context)

    def within(self, seconds: float) -> Self:
        """This message with a deadline ``seconds`` from now."""
        return replace(self, deadline=time.monotonic() + seconds)
