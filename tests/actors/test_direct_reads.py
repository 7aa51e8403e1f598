"""Card reads take the shortest way: answers go straight to the caller, and a read whose
rules are met goes straight to the card actor — without ever skipping a rule."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from actors.base import ActorHandle, StateMovedError
from actors.hc import GetHc, HcBasicData, HcLogout, HcPin
from actors.hca import HcaBasicData
from actors.messages import Context
from actors.station import Call, direct
from broker.answers import Answer, HcBasic, VersionInfo
from broker.apdu import CommandApdu
from broker.arguments import Arguments
from broker.rules import HC_VERIFIED, Function
from broker.state import HcaStatus, HcStatus
from nhi_broker.assembly import RunningBroker
from nhi_kit.emulators.card import CardEmulator
from tests.actors.conftest import Call as StationCall
from tests.actors.conftest import state

WAIT = 10.0
CARD = "900000000728"  # desk2's health card
READ_PROFILE, PIN_STATUS = (0xCA, 0x11), (0x20, 0x00)


class Gate:
    """Holds the card at one command until released: a card that is slow on cue."""

    def __init__(self, card: CardEmulator, at: tuple[int, int]) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()
        self._card, self._at = card, at

    def __call__(self, _card: CardEmulator, command: CommandApdu) -> None:
        if (command.ins, command.p1) == self._at and not self.release.is_set():
            self.reached.set()
            assert self.release.wait(WAIT), "the test never released the card"

    def __enter__(self) -> Gate:
        self._card.hooks.append(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release.set()
        self._card.hooks.remove(self)


@pytest.fixture
def card(broker: RunningBroker, desk2: StationCall) -> CardEmulator:
    """desk2 initialised, its health card verified (state 2)."""
    assert broker.kit is not None
    desk2(Function.INITIAL)
    desk2(Function.HC_BASIC)
    assert state(broker, "desk2").hc_status is HcStatus.VERIFIED
    return broker.kit.cards.card(CARD)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


def handle(broker: RunningBroker, name: str) -> ActorHandle:
    return broker.supervisor.handle(name)


def test_a_read_waiting_on_its_card_holds_up_neither_the_station_nor_the_card_actor(
    broker: RunningBroker, card: CardEmulator, pool: ThreadPoolExecutor
) -> None:
    station, hc = handle(broker, "station:desk2"), handle(broker, "hc:desk2")
    with Gate(card, READ_PROFILE) as gate:
        # through the station on purpose: both the station and the HC actor forward it
        read = pool.submit(station.ask, Call(function=Function.HC_BASIC).within(WAIT))
        assert gate.reached.wait(WAIT)
        assert hc.ask(GetHc().within(WAIT)).status is HcStatus.VERIFIED
        version = station.ask(Call(function=Function.VERSION).within(WAIT))
        assert isinstance(version, VersionInfo)
        assert version.long_version == "6000"
        assert not read.done()
        gate.release.set()
        assert card_id(read.result(WAIT)) == CARD


def test_a_read_whose_rules_are_met_does_not_queue_behind_the_stations_work(
    broker: RunningBroker, card: CardEmulator, desk2: StationCall, pool: ThreadPoolExecutor
) -> None:
    assert broker.kit is not None
    broker.kit.dc.set_faults(latency_ms=2000)
    token = broker.kit.dc.dc.issue_token("900000000711")
    busy = pool.submit(desk2, Function.HC_READ_VIRTUAL, token=token)  # the station waits on the DC
    context = Context("hurried", "pytest", "desk2")
    answer = broker.supervisor.call("desk2", Function.HC_BASIC, Arguments(), context, 1.0)
    assert card_id(answer) == CARD
    assert not busy.done()
    broker.kit.dc.set_faults(latency_ms=0)
    assert busy.result(WAIT)["cardId"] == "900000000711"


def test_a_direct_read_is_only_offered_when_the_read_model_meets_every_rule(
    broker: RunningBroker, card: CardEmulator, desk2: StationCall
) -> None:
    met = state(broker, "desk2")
    shortcut = direct(Call(function=Function.HC_BASIC), met)
    assert shortcut is not None
    assert shortcut.actor == "hc"
    assert isinstance(shortcut.message, HcBasicData)
    assert shortcut.message.expect == HC_VERIFIED
    for changed in (
        {"hc_status": HcStatus.PRESENT},
        {"initialized": False},
        {"degraded": "restarts exceeded"},
    ):
        assert direct(Call(function=Function.HC_BASIC), dataclasses.replace(met, **changed)) is None
    assert direct(Call(function=Function.HC_SIGN, args=Arguments(service_type="01")), met) is None


def test_the_card_actor_refuses_a_direct_read_once_its_card_moved_on(
    broker: RunningBroker, card: CardEmulator
) -> None:
    hc = handle(broker, "hc:desk2")
    hc.ask(HcLogout().within(WAIT))
    with pytest.raises(StateMovedError):
        hc.ask(HcBasicData(expect=HC_VERIFIED).within(WAIT))


def test_the_hca_actor_refuses_a_direct_read_before_its_pin_is_verified(
    broker: RunningBroker, card: CardEmulator
) -> None:
    hca = handle(broker, "hca:desk2")
    assert state(broker, "desk2").hca_status is HcaStatus.PRESENT
    with pytest.raises(StateMovedError):
        hca.ask(HcaBasicData(expect=(HcaStatus.PIN_VERIFIED,)).within(WAIT))


def test_a_direct_read_that_finds_its_card_moved_on_is_run_by_the_station(
    broker: RunningBroker, card: CardEmulator, pool: ThreadPoolExecutor
) -> None:
    hc = handle(broker, "hc:desk2")
    queued = _signal_when_queued(hc, HcBasicData)
    with Gate(card, PIN_STATUS) as gate:
        pool.submit(hc.ask, HcPin(action="status").within(WAIT))  # the HC actor waits on it
        assert gate.reached.wait(WAIT)
        hc.ref.ask(HcLogout().within(WAIT), block=False)  # ... with a logout queued behind
        context = Context("after-logout", "pytest", "desk2")
        read: Future[Answer] = pool.submit(
            broker.supervisor.call, "desk2", Function.HC_BASIC, Arguments(), context, WAIT
        )
        assert queued.wait(WAIT)  # sent directly: the read model still said "verified"
        gate.release.set()
        # The logout ran first; the station found the card again and verified it anew.
        assert card_id(read.result(WAIT)) == CARD
    assert state(broker, "desk2").hc_status is HcStatus.VERIFIED


def _signal_when_queued(actor: ActorHandle, kind: type) -> threading.Event:
    """An event set when a message of ``kind`` enters the actor's inbox."""
    seen = threading.Event()
    inbox = actor.ref.actor_inbox
    put = inbox.put

    def put_and_tell(envelope: Any, *args: Any, **kwargs: Any) -> None:
        put(envelope, *args, **kwargs)
        if isinstance(envelope.message, kind):
            seen.set()

    inbox.put = put_and_tell  # type: ignore[method-assign]
    return seen


def card_id(answer: Answer) -> str:
    """The card number of an HC basic-data answer."""
    assert isinstance(answer, HcBasic), answer
    return answer.card_id
