"""Supervision: a crash fails only its own request, the actor comes back, others keep serving;
too many restarts degrade the station; restarts on request."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import pykka
import pytest

from actors.base import ActorUnavailableError
from api.wire import status_json
from broker import config
from broker.apdu import CommandApdu
from broker.config import RestartPolicy
from broker.rules import Function
from broker.state import ActorRestarted, BoardEvent, HcStatus
from nhi_broker.assembly import RunningBroker, assemble
from nhi_kit.emulators.card import CardEmulator
from tests.actors.conftest import Call, make_call, state

WAIT = 10.0


class Restarts:
    """Collects the board's restart events; waits for one by actor name."""

    def __init__(self, broker: RunningBroker) -> None:
        self._seen: list[str] = []
        self._changed = threading.Condition()
        broker.board.subscribe(self._hear)

    def _hear(self, event: BoardEvent) -> None:
        if isinstance(event.data, ActorRestarted):
            with self._changed:
                self._seen.append(event.data.actor)
                self._changed.notify_all()

    def wait(self, actor: str, count: int = 1) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._seen.count(actor) >= count, WAIT)


def _crash(broker: RunningBroker, actor: str) -> None:
    """Send a poison message: not a Message, so the actor's handler raises TypeError."""
    with pytest.raises(ActorUnavailableError):
        broker.supervisor.handle(actor).ref.ask(object(), timeout=WAIT)


@pytest.mark.parametrize(
    "actor",
    [
        "station:local",
        "hc:local",
        "hca:local",
        "sam:COM1",
        "reader:COM1",
        "reader:Virtual Reader 2",
    ],
)
def test_a_crash_in_any_actor_kind_is_restarted_and_other_stations_keep_serving(
    broker: RunningBroker, local: Call, desk2: Call, actor: str
) -> None:
    restarts = Restarts(broker)
    local(Function.INITIAL, name="COM1")
    desk2(Function.INITIAL)
    _crash(broker, actor)
    if actor != "reader:Virtual Reader 2":
        assert desk2(Function.HC_BASIC)["cardId"] == "900000000728"  # unaffected meanwhile
    assert restarts.wait(actor)
    handle = broker.supervisor.handle(actor)
    assert handle.is_alive()
    assert handle.restarts == 1
    assert desk2(Function.HC_BASIC)["cardId"] == "900000000728"


def test_restarted_card_actors_find_their_cards_again(broker: RunningBroker, local: Call) -> None:
    restarts = Restarts(broker)
    local(Function.INITIAL, name="COM1")
    local(Function.SAM_VERIFY)
    assert local(Function.HC_BASIC)["cardId"] == "900000000735"
    _crash(broker, "hc:local")
    assert restarts.wait("hc:local")
    found = broker.board.wait_for("local", lambda s: s.hc_status is HcStatus.PRESENT, WAIT)
    assert found is not None  # honest: present again, no longer verified
    assert local(Function.HC_BASIC)["cardId"] == "900000000735"


def test_a_card_whose_reader_crashes_mid_conversation_fails_only_that_request(
    broker: RunningBroker, desk2: Call
) -> None:
    assert broker.kit is not None
    restarts = Restarts(broker)
    desk2(Function.INITIAL)
    desk2(Function.HC_BASIC)
    card = broker.kit.cards.card("900000000728")

    def explode(_card: CardEmulator, _command: CommandApdu) -> None:
        card.hooks.clear()
        raise RuntimeError("reader firmware bug")

    card.hooks.append(explode)
    with pytest.raises(ActorUnavailableError) as raised:
        desk2(Function.HC_BASIC)
    assert raised.value.code.display == "1202"
    assert restarts.wait("reader:Virtual Reader 2")
    assert desk2(Function.HC_BASIC)["name"] == "王小明"


@pytest.fixture
def fragile(tmp_path: Path) -> Iterator[RunningBroker]:
    """A broker whose restart intensity is 2 restarts in 60 s."""
    policy = RestartPolicy(max_restarts=2, window=60.0, backoff_initial=0.01, backoff_max=0.05)
    settings = dataclasses.replace(config.sim_profile(), data_dir=tmp_path, restart=policy)
    running = assemble(settings)
    yield running
    running.close()
    pykka.ActorRegistry.stop_all()


def test_too_many_restarts_mark_the_station_degraded_until_it_is_restarted(
    fragile: RunningBroker,
) -> None:
    restarts = Restarts(fragile)
    for count in range(1, 4):
        _crash(fragile, "hc:desk2")
        assert restarts.wait("hc:desk2", count)
    degraded = state(fragile, "desk2").degraded
    assert degraded is not None
    assert "hc:desk2" in degraded
    assert state(fragile, "local").degraded is None  # only the station that owns it
    assert status_json(fragile.board.get("desk2"))["degraded"] == degraded
    fragile.supervisor.restart("desk2")
    assert state(fragile, "desk2").degraded is None
    make_call(fragile, "desk2")(Function.INITIAL)


def test_an_actor_or_a_whole_station_restarts_on_request(
    broker: RunningBroker, local: Call, desk2: Call
) -> None:
    desk2(Function.INITIAL)
    assert broker.supervisor.restart("sam:901000000047") == ["sam:901000000047"]
    assert desk2(Function.SAM_SIGN, serviceType="01")["samId"] == "901000000047"
    assert broker.supervisor.restart("desk2") == ["hca:desk2", "hc:desk2", "station:desk2"]
    again = broker.board.wait_for("desk2", lambda s: s.initialized, WAIT)
    assert again is not None  # a restarted station connects its device again by itself
    assert again.device_name == "901000000047"
    assert desk2(Function.HC_BASIC)["cardId"] == "900000000728"
    listed = {a.name: a for a in broker.supervisor.actors()}
    assert listed["station:desk2"].restarts == 1
    assert listed["station:desk2"].state == "running"
    assert listed["station:local"].restarts == 0
    with pytest.raises(KeyError):
        broker.supervisor.restart("nobody")
