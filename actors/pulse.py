"""The pulse: an actor that only answers, so that a round trip through the supervisor's
registry and pykka shows the actor system is alive (the health check, api/resources/health.py).

It is supervised like every other actor: one that crashed is restarted, and until then
the round trip fails, as it does when the registry or pykka is wedged.
"""

from __future__ import annotations

from dataclasses import dataclass

from actors.base import BrokerActor, Handlers
from actors.messages import Message
from actors.names import ActorName, Kind

PULSE = ActorName(Kind.PULSE, "supervisor")


@dataclass(frozen=True, kw_only=True)
class Ping(Message[None]):
    """Answered at once."""


class PulseActor(BrokerActor):
    """Answers a ``Ping``; owns nothing, so nothing but a wedged actor system delays it."""

    def handlers(self) -> Handlers:
        """Its one message."""
        return {Ping: self.on_ping}

    def on_ping(self, message: Ping) -> None:
        """The answer is the round trip itself."""
