"""What the Web API needs of a running broker: a narrow port, so that the API can be built
around a real broker (the composition root's ``RunningBroker``) or a small fake."""

from __future__ import annotations

from typing import Protocol

from actors.messages import Context
from actors.registry import ActorEntry
from broker.answers import Answer
from broker.arguments import Arguments
from broker.config import BrokerConfig
from broker.dc.client import DcClient
from broker.rules import Function
from broker.settings import Settings
from broker.state import StateBoard
from broker.store import CloudSamStore


class Stations(Protocol):
    """The supervisor's part the API uses: functions, devices, readers, actors."""

    def call(
        self,
        station: str,
        function: Function,
        args: Arguments,
        context: Context,
        timeout: float,
    ) -> Answer:
        """Run one function of the manual for a station."""
        ...

    def names(self, station: str) -> list[str]:
        """The devices a station may connect, in Initial's order."""
        ...

    def pcsc_reader_names(self) -> list[str]:
        """The PC/SC readers a station's cards may sit in."""
        ...

    def reader_has_card(self, reader: str) -> bool:
        """Whether a card sits in ``reader`` now."""
        ...

    def reader_owner(self, reader: str) -> str | None:
        """The station using ``reader``; None if shared."""
        ...

    def actors(self) -> list[ActorEntry]:
        """Every actor: name, station, state, restarts, inbox depth."""
        ...

    def restart(self, name: str) -> list[str]:
        """Restart an actor or a station's actors; KeyError if unknown."""
        ...

    def ping(self, timeout: float) -> None:
        """A round trip to an actor; a BrokerError if it fails or takes longer than ``timeout``."""
        ...


class BrokerPort(Protocol):
    """A running broker, as the Web API sees it."""

    @property
    def config(self) -> BrokerConfig:
        """The configuration it runs."""
        ...

    @property
    def board(self) -> StateBoard:
        """The read model every status answer comes from."""
        ...

    @property
    def supervisor(self) -> Stations:
        """Its actors."""
        ...

    @property
    def settings(self) -> Settings:
        """The settings the console changes."""
        ...

    @property
    def store(self) -> CloudSamStore:
        """The imported cloud SAMs."""
        ...

    @property
    def dc(self) -> DcClient:
        """The data centre's client (the metrics observe it)."""
        ...
