"""What the HCA and HC actors share: the reader slots they watch and the card in them.

A station binds its card actors to reader slots when its device is
connected. Readers report every arrival and departure (``CardSeen``, told);
a card actor takes the cards of its kinds and forgets a card that left. A
report it already had (same slot, same generation) changes nothing, so a
verified card is never reset by a late duplicate. A logout resets the card
in its reader (its authentication and PIN verification end) but keeps it:
a card still in the reader is present (state 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from actors.base import ActorHandle, BrokerActor, Forwarded, Handlers, Supervised
from actors.departures import CardLeftError, Departures, HeldCard, unless_departed
from actors.messages import Message
from actors.reader import CardSeen, Converse, EndSession, Probe
from broker.codes import Code
from broker.dc.client import DcClient
from broker.errors import BrokerError, DeviceAbsentError
from broker.state import StateBoard
from broker.transport.base import CardConnection

T = TypeVar("T")
# Why a card actor refuses work the station found allowed a moment before.
RESET = "the card was reset since it was verified (re-inserted, or its reader restarted)"


@dataclass(frozen=True)
class Source:
    """A reader slot a station's cards may sit in."""

    reader: ActorHandle
    slot: str


@dataclass(frozen=True, kw_only=True)
class Bind(Message[None]):
    """Watch these slots (at Initial); an empty list releases the card (at Finalize)."""

    sources: tuple[Source, ...]


@dataclass(frozen=True, kw_only=True)
class Seen(Message[None]):
    """A reader's report (told)."""

    seen: CardSeen


@dataclass(frozen=True, kw_only=True)
class Release(Message[None]):
    """Let go of everything (Finalize): every card session ends, nothing is held any more."""


@dataclass(frozen=True, kw_only=True)
class Redetect(Message[None]):
    """Look for a card in the bound slots again (a card the monitors have not reported yet)."""


@dataclass(frozen=True, kw_only=True)
class CurrentSource(Message["Source | None"]):
    """Which slot the card sits in (None without a physical card)."""


class CardHolderActor(BrokerActor):
    """A station's HCA or HC: the card it holds, from which slot, and since which arrival."""

    kinds: tuple[str, ...] = ()

    def __init__(
        self,
        supervised: Supervised,
        station: str,
        board: StateBoard,
        dc: DcClient,
        departures: Departures,
    ) -> None:
        super().__init__(supervised)
        self.station = station
        self.board = board
        self._dc = dc
        self._departures = departures
        self.sources: tuple[Source, ...] = ()
        self.source: Source | None = None
        self.generation = 0
        self.card_id: str | None = None

    # --- to be written by the HCA and HC actors -------------------------------------

    def arrived(self, seen: CardSeen) -> None:
        """A card of our kinds arrived (state 1)."""
        raise NotImplementedError

    def left(self) -> None:
        """Our card left, or the station released it (state 0)."""
        raise NotImplementedError

    def drop_remote(self) -> None:
        """Forget what is held without a card in a reader (a virtual card, a mobile certificate)."""

    # --- shared handlers ----------------------------------------------------------

    def handlers(self) -> Handlers:
        """Each message this actor takes, and its handler."""
        return {
            Bind: self.on_bind,
            Seen: self.on_seen,
            CurrentSource: self.on_current_source,
            Redetect: self.on_redetect,
            Release: self.on_release,
        }

    def on_bind(self, message: Bind) -> None:
        """Watch new slots and pick up a card already sitting in one."""
        self.sources = message.sources
        if self.source is not None and self.source not in self.sources:
            self._forget()
        if not self.sources:
            self._forget()
        self._probe_all(message)

    def on_seen(self, message: Seen) -> None:
        """Take or drop the card a reader reported."""
        self._take(message.seen)

    def on_current_source(self, message: CurrentSource) -> Source | None:
        """The slot of our card."""
        return self.source

    def on_redetect(self, message: Redetect) -> None:
        """Probe the bound slots for a card not reported yet."""
        self._probe_all(message)

    def on_release(self, message: Release) -> None:
        """Finalize: end the card's session, drop what is held, watch no slot."""
        self.end_session(message)
        self.drop_remote()
        self.sources = ()
        self._forget()

    def end_session(self, message: Message[Any]) -> None:
        """Reset our card in its reader: its authentication and PIN verification end."""
        if self.source is not None:
            self.source.reader.ask(message.child(EndSession(slot=self.source.slot)))

    # --- helpers ----------------------------------------------------------------

    def converse(self, message: Message[Any], run: Callable[[CardConnection], T]) -> T:
        """Run a conversation with our card through its reader."""
        result: T = self._card_source().reader.ask(self._conversation(message, run))
        return result

    def converse_last(self, message: Message[Any], run: Callable[[CardConnection], T]) -> Forwarded:
        """The conversation as a handler's last step: its answer goes straight to the caller.

        ``run`` runs in the reader's thread, after this actor may have moved
        on: it must not touch this actor's state.
        """
        return self._card_source().reader.forward(self._conversation(message, run))

    def at_dc_for_card(self, work: Callable[[], T]) -> T:
        """A data-centre call on our card's behalf: if the card is pulled meanwhile, 1102 at
        once (not when the DC answers), and the card is forgotten: nothing half-verified stays."""
        source = self._card_source()
        card = HeldCard(source.reader.name, source.slot, self.generation)
        try:
            return self.at_dc(lambda: unless_departed(self._departures, card, work))
        except CardLeftError:
            self.log.info("holder.card_left_during_dc", slot=source.slot)
            self._forget()
            raise

    def _card_source(self) -> Source:
        if self.source is None:
            raise BrokerError("no card in the reader", code=Code.NO_CARD)
        return self.source

    def _conversation(
        self, message: Message[Any], run: Callable[[CardConnection], Any]
    ) -> Converse:
        source = self._card_source()
        conversation: Converse = message.child(
            Converse(slot=source.slot, run=run, generation=self.generation, owner=self.activity.own)
        )
        return conversation

    def _probe_all(self, message: Message[Any]) -> None:
        for source in self.sources:
            if self.source is not None:
                return
            try:
                seen: CardSeen = source.reader.ask(message.child(Probe(slot=source.slot)))
            except DeviceAbsentError as exc:  # a state its reader reports, not a failure
                self.log.info("holder.reader_absent", slot=source.slot, reason=exc.detail)
                continue
            except BrokerError as exc:
                self.log.warning("holder.probe_failed", slot=source.slot, error=str(exc))
                continue
            self._take(seen)

    def _take(self, seen: CardSeen) -> None:
        source = self._source_of(seen)
        if source is None:
            return
        if seen.present and seen.identity.kind in self.kinds:
            if source == self.source and seen.generation == self.generation:
                return  # a report we already have
            if self.source is not None and source != self.source:
                return  # we hold a card from another slot already
            self.source, self.generation = source, seen.generation
            self.card_id = seen.identity.card_id
            self.arrived(seen)
        elif source == self.source and seen.generation != self.generation:
            self._forget()

    def _forget(self) -> None:
        self.source, self.card_id = None, None
        self.left()

    def _source_of(self, seen: CardSeen) -> Source | None:
        for source in self.sources:
            if source.reader.name == seen.reader and source.slot == seen.slot:
                return source
        return None
