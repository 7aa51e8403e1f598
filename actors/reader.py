"""ReaderActor: owns one reader (a PC/SC reader, a serial reader's three slots, or an
in-process slot) and runs one card conversation at a time.

A conversation is a function of an open ``CardConnection``, run in the
actor's thread, so two requests for one card never interleave their APDUs.
The connection is kept open between conversations: pcscd powers a card off
soon after its last handle closes, which would drop its authentication.

A reader whose device is not there (a serial reader not plugged in yet, or
unplugged) is *absent*: a state, not a crash. Its slots count as empty, its
calls answer 1201, and it is present again as soon as a look at its slots
succeeds (the device's monitor reopens it: actors/monitors.py).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from actors.activity import Cause
from actors.base import BrokerActor, Handlers, Supervised
from actors.messages import Message
from broker.cards.identify import CardIdentity, identify
from broker.codes import Code
from broker.errors import BrokerError, CardAbsentError, DeviceAbsentError
from broker.transport.base import CardConnection, CardSlot, SlotEvent


class ReaderClock(Protocol):
    """A reader's own clock (the serial NHI reader has one)."""

    def read_clock(self) -> str:
        """ROC ``YYYMMDDHHMMSS``."""
        ...

    def set_clock(self, roc: str) -> None:
        """Set it."""
        ...


@dataclass(frozen=True, kw_only=True)
class Converse(Message[Any]):
    """Run ``run(connection)`` on the card in ``slot``; its result is the answer.

    ``generation`` is the card's arrival the caller knows (``CardSeen``): a card
    since reset — its reader restarted, or it was pulled — is not talked to as if
    it still held the caller's session. ``owner``: whose card it is (the asking
    actor's); the conversation's time is theirs, not the reader's (a slow SAM is
    1300, whichever reader holds it).
    """

    slot: str
    run: Callable[[CardConnection], Any]
    generation: int | None = None
    owner: Cause | None = None


class CardResetError(BrokerError):
    """The card was reset since its actor last saw it: the reader restarted, or it was moved."""

    default_code = Code.READER_FAILED


@dataclass(frozen=True, kw_only=True)
class SlotChanged(Message[None]):
    """A monitor saw a card arrive or leave (told, never asked)."""

    event: SlotEvent


@dataclass(frozen=True, kw_only=True)
class Rescan(Message[None]):
    """Compare every slot with what the actor believes (after a monitor restart: events may
    have been missed while no one watched)."""


@dataclass(frozen=True, kw_only=True)
class EndSession(Message[None]):
    """Reset the card in ``slot``: its authentication and PIN verification end (a logout)."""

    slot: str


@dataclass(frozen=True, kw_only=True)
class ReadClock(Message[str]):
    """The reader's clock."""


@dataclass(frozen=True, kw_only=True)
class SetClock(Message[None]):
    """Set the reader's clock (after the SAM authenticates: the DC's time)."""

    roc: str


@dataclass(frozen=True, kw_only=True)
class Probe(Message["CardSeen"]):
    """Identify whatever card sits in ``slot`` now."""

    slot: str


NO_CARD = CardIdentity(None)


@dataclass(frozen=True)
class CardSeen:
    """What a reader tells the card actors: a card arrived in (or left) a slot."""

    reader: str  # the reader actor's name
    slot: str
    present: bool
    generation: int  # bumps at every arrival and departure: stale work is detectable
    identity: CardIdentity = NO_CARD


CardSeenListener = Callable[[CardSeen], None]
DeviceListener = Callable[[str | None], None]  # why the device is absent; None: it is back
_generations = itertools.count(1)  # process-wide: a restarted reader never reuses a number


class ReaderActor(BrokerActor):
    """One reader and its slots."""

    crash_code = Code.READER_FAILED

    def __init__(
        self,
        supervised: Supervised,
        slots: dict[str, CardSlot],
        listener: CardSeenListener,
        clock: ReaderClock | None = None,
        device_listener: DeviceListener = lambda _absent: None,
    ) -> None:
        super().__init__(supervised)
        self._slots = slots
        self._listener = listener
        self._clock = clock
        self._device_listener = device_listener
        self._absent: str | None = None  # why the device is not there
        self._looked = False  # whether the device was looked at since this actor started
        self._connections: dict[str, CardConnection] = {}
        self._generations = {slot_name: next(_generations) for slot_name in slots}
        self._present = dict.fromkeys(slots, False)  # what this actor believes

    def handlers(self) -> Handlers:
        """Each message this actor takes, and its handler."""
        return {
            Converse: self.on_converse,
            EndSession: self.on_end_session,
            SlotChanged: self.on_slot_changed,
            Rescan: self.on_rescan,
            Probe: self.on_probe,
            ReadClock: self.on_read_clock,
            SetClock: self.on_set_clock,
        }

    def time_of(self, message: object) -> Cause | None:
        """A conversation's time is its card owner's."""
        return message.owner if isinstance(message, Converse) else None

    def on_start(self) -> None:
        """Report the cards already present (a restarted reader re-reads its slots)."""
        self.actor_ref.tell(Rescan())

    def on_receive(self, message: Any) -> Any:
        """As every actor; a device found missing makes the reader absent, and a told
        message that found it so has done its work (absence is a state, not a crash)."""
        try:
            return super().on_receive(message)
        except DeviceAbsentError as exc:
            self._went_absent(exc)
            if isinstance(message, (Rescan, SlotChanged)):
                return None
            raise

    def on_stop(self) -> None:
        """Release every connection."""
        for slot_name in list(self._connections):
            self._drop(slot_name)

    def on_converse(self, message: Converse) -> Any:
        """Run a conversation; a card that vanished drops the connection."""
        if message.generation not in (None, self._generations.get(message.slot)):
            if not self._present.get(message.slot, False):
                raise CardAbsentError(f"the card left {message.slot}")
            # Without this a card reset under a verified session answers SW 6982.
            raise CardResetError(
                f"the card in {message.slot} was reset ({self.name} restarted, or the card "
                "moved); it is read again and must be verified again"
            )
        connection = self._connection(message.slot)
        try:
            answer = message.run(connection)
        except CardAbsentError:
            self._drop(message.slot)
            raise
        self._came_back()
        return answer

    def on_end_session(self, message: EndSession) -> None:
        """Reset the card through its open connection; the next conversation powers it up."""
        connection = self._connections.pop(message.slot, None)
        if connection is not None:
            with contextlib.suppress(BrokerError):
                connection.reset()
            self.log.info("reader.session_ended", slot=message.slot)

    def on_slot_changed(self, message: SlotChanged) -> None:
        """A card arrived or left: tell the card actors what it is."""
        slot_name = message.event.slot
        if slot_name not in self._slots or message.event.present is self._present[slot_name]:
            return  # not ours, or what we know already (a monitor repeats itself at start)
        self._changed(slot_name, message.event.present)

    def on_rescan(self, message: Rescan) -> None:
        """Report every slot whose card came or went unseen."""
        seen = {name: slot.is_card_present() for name, slot in self._slots.items()}
        self._came_back()
        for slot_name, present in seen.items():
            if present is not self._present[slot_name]:
                self._changed(slot_name, present)

    def _changed(self, slot_name: str, present: bool) -> None:
        self.log.info("reader.slot_changed", slot=slot_name, present=present)
        self._drop(slot_name)
        self._generations[slot_name] = next(_generations)
        self._present[slot_name] = present
        if present:
            self._report(slot_name)
        else:
            self._listener(CardSeen(self.name, slot_name, False, self._generations[slot_name]))

    def on_probe(self, message: Probe) -> CardSeen:
        """Identify the card in a slot now (and report it to the listener too)."""
        present = self._slots[message.slot].is_card_present()
        self._came_back()
        if not present:
            return CardSeen(self.name, message.slot, False, self._generations[message.slot])
        return self._report(message.slot)

    def on_read_clock(self, message: ReadClock) -> str:
        """The reader's clock; 1202 for a reader without one."""
        if self._clock is None:
            raise BrokerError(f"{self.name} has no clock", code=Code.READER_FAILED)
        return self._clock.read_clock()

    def on_set_clock(self, message: SetClock) -> None:
        """Set the reader's clock."""
        if self._clock is not None:
            self._clock.set_clock(message.roc)
            self.log.info("reader.clock_set", roc=message.roc)

    def _went_absent(self, exc: DeviceAbsentError) -> None:
        """The device is not there: its cards are gone with it (their actors hear so)."""
        if self._absent is None:
            self.log.info("reader.device_absent", reason=exc.detail)
            self._absent = exc.detail
            self._device_listener(exc.detail)
        self._looked = True
        for slot_name, present in self._present.items():
            if present:
                self._changed(slot_name, False)

    def _came_back(self) -> None:
        """A look at the device succeeded: it is there (a restarted reader says so too)."""
        if self._absent is not None:
            self._absent = None
            self.log.info("reader.device_back")
            self._device_listener(None)
        elif not self._looked:
            self._device_listener(None)
        self._looked = True

    def _report(self, slot_name: str) -> CardSeen:
        self._present[slot_name] = True
        try:
            identity = self._identify(slot_name)
        except CardAbsentError:
            self._drop(slot_name)
            return CardSeen(self.name, slot_name, False, self._generations[slot_name])
        except BrokerError as exc:
            self.log.warning("reader.identify_failed", slot=slot_name, error=str(exc))
            identity = CardIdentity(None)
        self.log.info("reader.card", slot=slot_name, kind=identity.kind, card_id=identity.card_id)
        seen = CardSeen(self.name, slot_name, True, self._generations[slot_name], identity)
        self._listener(seen)
        return seen

    def _identify(self, slot_name: str) -> CardIdentity:
        """What the card is; a kept connection to a card since swapped is renewed once."""
        try:
            return identify(self._connection(slot_name))
        except CardAbsentError:
            self._drop(slot_name)
            return identify(self._connection(slot_name))

    def _connection(self, slot_name: str) -> CardConnection:
        connection = self._connections.get(slot_name)
        if connection is None:
            slot = self._slots.get(slot_name)
            if slot is None:
                raise BrokerError(f"{self.name} has no slot {slot_name}", code=Code.READER_FAILED)
            connection = slot.connect()
            self._connections[slot_name] = connection
        return connection

    def _drop(self, slot_name: str) -> None:
        connection = self._connections.pop(slot_name, None)
        if connection is not None:
            with contextlib.suppress(BrokerError):
                connection.close()
