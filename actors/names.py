"""Actor names: what kind of actor, and whose (a reader, a SAM, a station)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """The kinds of actor the supervisor owns."""

    READER = "reader"
    SAM = "sam"
    HCA = "hca"
    HC = "hc"
    STATION = "station"
    PULSE = "pulse"  # answers the health check (actors/pulse.py)


@dataclass(frozen=True)
class ActorName:
    """An actor's name; ``str()`` gives the form the admin API and the logs show
    (``station:local``, ``reader:COM1``)."""

    kind: Kind
    of: str  # the reader's name, the SAM's id or reader, the station's name

    def __str__(self) -> str:
        return f"{self.kind}:{self.of}"

    @classmethod
    def parse(cls, text: str) -> ActorName:
        """``station:local`` → the name; ValueError for text that names no kind of actor."""
        kind, separator, of = text.partition(":")
        if not separator or not of:
            raise ValueError(f"{text!r} is not kind:name")
        return cls(Kind(kind), of)
