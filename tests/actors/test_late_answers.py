"""An answer that comes too late carries the code of what held it up: the data centre's (1700)
when the time went there, a reader's when it was busy, the asked actor's own when it was slow
itself (a SAM that did not answer stays 1300)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pykka
import pytest

from actors.activity import Activity
from actors.base import ActorHandle, ActorUnavailableError, BrokerActor, Handlers, Supervised
from actors.messages import Message
from actors.names import ActorName, Kind
from actors.reader import Converse, Probe, ReaderActor
from actors.registry import ActorRegistry
from broker.apdu import CommandApdu
from broker.cards.applet import CardApplet
from broker.codes import Code
from broker.transport.local import LocalSlot

LATE = 0.2  # seconds a caller waits in these tests before it gives up
WAIT = 10.0  # a failure bound only


@dataclass(frozen=True, kw_only=True)
class Hold(Message[None]):
    """Work until ``release`` is set: at the DC, on the actor's own, or by asking ``below``."""

    release: threading.Event
    at: str  # "own", "dc", "below"
    below: ActorHandle | None = None
    slot: str = ""


@dataclass(frozen=True, kw_only=True)
class Ping(Message[str]):
    """A quick message queued behind whatever the actor does."""


class Worker(BrokerActor):
    """A SAM-like actor: its own code is 1300."""

    crash_code = Code.SAM_MODE1_FAILED

    def handlers(self) -> Handlers:
        return {Hold: self.on_hold, Ping: lambda _message: "pong"}

    def on_hold(self, message: Hold) -> None:
        if message.at == "dc":
            self.at_dc(lambda: message.release.wait(WAIT))
        elif message.at == "own":
            message.release.wait(WAIT)
        elif message.below is not None and message.slot:  # a conversation with our card
            talk = Converse(
                slot=message.slot, run=lambda c: c.transmit(READ), owner=self.activity.own
            )
            message.below.ask(message.child(talk))
        elif message.below is not None:
            message.below.ask(message.child(Hold(release=message.release, at="own")))


READ = bytes.fromhex("00B0000000")


class SlowCard(CardApplet):
    """A card that answers READ BINARY only when the test lets it."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self.hooks.append(self._hold)
        self._release = release

    def _hold(self, _card: CardApplet, command: CommandApdu) -> None:
        if command.ins == READ[1]:
            self._release.wait(WAIT)


@pytest.fixture
def registry() -> Iterator[ActorRegistry]:
    actors = ActorRegistry()
    yield actors
    actors.stop_all()
    pykka.ActorRegistry.stop_all()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # whatever the test did, nothing stays blocked


def _worker(registry: ActorRegistry, name: ActorName, code: Code) -> ActorHandle:
    def factory(activity: Activity) -> pykka.ActorRef[Any]:
        return Worker.start(Supervised(str(name), lambda _exc: None, activity))

    return registry.register(name, factory, code, None)


def _late(handle: ActorHandle) -> ActorUnavailableError:
    with pytest.raises(ActorUnavailableError) as raised:
        handle.ask(Ping().within(LATE))
    return raised.value


def test_a_call_queued_behind_a_data_centre_call_answers_with_the_dcs_code(
    registry: ActorRegistry, release: threading.Event
) -> None:
    sam = _worker(registry, ActorName(Kind.SAM, "901000000047"), Code.SAM_MODE1_FAILED)
    holding = sam.forward(Hold(release=release, at="dc").within(WAIT))
    late = _late(sam)
    assert late.code is Code.DC_CONNECTION
    assert late.detail == "sam:901000000047 did not answer in time: held up by the data centre"
    release.set()
    holding.wait(WAIT)


def test_an_actor_slow_on_its_own_keeps_its_code(
    registry: ActorRegistry, release: threading.Event
) -> None:
    sam = _worker(registry, ActorName(Kind.SAM, "COM1"), Code.SAM_MODE1_FAILED)
    holding = sam.forward(Hold(release=release, at="own").within(WAIT))
    late = _late(sam)
    assert (late.code, late.detail) == (Code.SAM_MODE1_FAILED, "sam:COM1 did not answer in time")
    release.set()
    holding.wait(WAIT)


@pytest.mark.parametrize(("at", "code"), [("dc", Code.DC_CONNECTION), ("own", Code.READER_FAILED)])
def test_time_spent_by_the_actor_asked_below_is_blamed_on_what_it_spent_it(
    registry: ActorRegistry, release: threading.Event, at: str, code: Code
) -> None:
    below = _worker(registry, ActorName(Kind.READER, "COM1"), Code.READER_FAILED)
    sam = _worker(registry, ActorName(Kind.SAM, "COM1"), Code.SAM_MODE1_FAILED)
    below_holds = below.forward(Hold(release=release, at=at).within(WAIT))
    holding = sam.forward(Hold(release=release, at="below", below=below).within(WAIT))
    late = _late(sam)
    assert late.code is code
    release.set()
    below_holds.wait(WAIT)
    holding.wait(WAIT)


def test_a_slow_conversation_is_its_card_owners_not_the_readers(
    registry: ActorRegistry, release: threading.Event
) -> None:
    slot = LocalSlot("COM1 SAM")
    slot.insert(SlowCard(release))
    name = ActorName(Kind.READER, "COM1")

    def reader_factory(activity: Activity) -> pykka.ActorRef[Any]:
        supervised = Supervised(str(name), lambda _exc: None, activity)
        return ReaderActor.start(supervised, {slot.name: slot}, lambda _seen: None)

    reader = registry.register(name, reader_factory, Code.READER_FAILED, None)
    reader.ask(Probe(slot=slot.name).within(WAIT))  # after the one it makes at its start
    sam = _worker(registry, ActorName(Kind.SAM, "COM1"), Code.SAM_MODE1_FAILED)
    holding = sam.forward(
        Hold(release=release, at="below", below=reader, slot=slot.name).within(WAIT)
    )
    late = _late(sam)
    assert (late.code, late.detail) == (Code.SAM_MODE1_FAILED, "sam:COM1 did not answer in time")
    with pytest.raises(ActorUnavailableError) as queued_at_the_reader:
        reader.ask(Converse(slot=slot.name, run=lambda _c: None).within(LATE))
    assert queued_at_the_reader.value.code is Code.SAM_MODE1_FAILED  # the SAM's card was slow
    assert queued_at_the_reader.value.detail.endswith("in time: held up by sam:COM1")
    release.set()
    holding.wait(WAIT)
