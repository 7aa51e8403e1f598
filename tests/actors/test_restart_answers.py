"""What a caller is told while an actor restarts, or when its card was reset meanwhile:
that it is restarting (or was reset), with the code of the card it needed — never the
catch-all 1199 with the card's status word."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pykka
import pytest

from actors.base import ActorUnavailableError
from actors.hc import HcProof
from actors.hca import HcaSign
from actors.holder import RESET
from actors.reader import CardResetError, Converse
from broker import config
from broker.codes import Code
from broker.config import RestartPolicy
from broker.errors import BrokerError
from broker.rules import Function
from broker.state import HcaStatus, HcStatus
from broker.transport.base import CardConnection
from nhi_broker.assembly import RunningBroker, assemble
from tests.actors.conftest import Call, make_call, state

WAIT = 10.0


@pytest.fixture
def slow_to_restart(tmp_path: Path) -> Iterator[RunningBroker]:
    """A broker whose crashed actors stay down for a minute: long enough to call them."""
    policy = RestartPolicy(backoff_initial=60.0, backoff_max=60.0)
    settings = dataclasses.replace(config.sim_profile(), data_dir=tmp_path, restart=policy)
    running = assemble(settings)
    yield running
    running.close()
    pykka.ActorRegistry.stop_all()


@pytest.mark.parametrize(
    ("function", "code"),
    [
        (Function.HC_BASIC, Code.HC_MODE1_FAILED),
        (Function.HCA_SIGN, Code.HPC_MODE1_FAILED),
        (Function.SAM_BASIC, Code.SAM_MODE1_FAILED),
        (Function.READER_TIME, Code.PCSC_OTHER),  # a common function: the station's own
    ],
)
def test_a_restarting_station_says_so_with_the_code_of_the_card_the_call_needs(
    slow_to_restart: RunningBroker, function: Function, code: Code
) -> None:
    local = make_call(slow_to_restart, "local")
    local(Function.INITIAL, name="COM1")
    with pytest.raises(ActorUnavailableError):  # a poison message crashes it
        slow_to_restart.supervisor.handle("station:local").ref.ask(object(), timeout=WAIT)
    with pytest.raises(ActorUnavailableError) as raised:
        local(function, serviceType="01")
    assert raised.value.code is code
    assert raised.value.detail == "station:local is restarting"


def test_version_answers_while_its_station_restarts(slow_to_restart: RunningBroker) -> None:
    local = make_call(slow_to_restart, "local")
    with pytest.raises(ActorUnavailableError):  # a poison message crashes it
        slow_to_restart.supervisor.handle("station:local").ref.ask(object(), timeout=WAIT)
    assert local(Function.VERSION)["longVersion"] == "6000"


def test_a_restarting_card_actor_answers_with_its_own_kinds_code(
    slow_to_restart: RunningBroker,
) -> None:
    hc = slow_to_restart.supervisor.handle("hc:local")
    with pytest.raises(ActorUnavailableError) as crashed:
        hc.ref.ask(object(), timeout=WAIT)
    assert crashed.value.code is Code.HC_MODE1_FAILED
    with pytest.raises(ActorUnavailableError) as restarting:
        hc.ask(HcProof(client_random=b"12345678").within(WAIT))
    assert restarting.value.code is Code.HC_MODE1_FAILED
    assert restarting.value.detail == "hc:local is restarting"


def test_an_hpc_reset_since_its_pin_was_verified_is_refused_as_not_in_mode_3(
    broker: RunningBroker, local: Call
) -> None:
    local(Function.INITIAL, name="901000000047")
    assert state(broker).hca_status is HcaStatus.PRESENT  # as after a reset: PIN not verified
    with pytest.raises(BrokerError) as refused:
        broker.supervisor.handle("hca:local").ask(HcaSign(data=b"fields").within(WAIT))
    assert refused.value.code is Code.HPC_MODE3_FAILED
    assert refused.value.detail == RESET


def test_a_health_card_reset_since_it_was_verified_is_refused_as_not_in_mode_2(
    broker: RunningBroker, local: Call
) -> None:
    local(Function.INITIAL, name="901000000047")
    assert state(broker).hc_status is HcStatus.PRESENT
    with pytest.raises(BrokerError) as refused:
        broker.supervisor.handle("hc:local").ask(HcProof(client_random=b"12345678").within(WAIT))
    assert refused.value.code is Code.HC_MODE2_FAILED
    assert refused.value.detail == RESET


def test_a_conversation_meant_for_a_card_since_reset_never_reaches_the_card(
    broker: RunningBroker,
) -> None:
    reader = broker.supervisor.handle("reader:Virtual Reader 0")
    talked: list[CardConnection] = []
    stale = Converse(slot="Virtual Reader 0", run=talked.append, generation=0)  # none is 0
    with pytest.raises(CardResetError) as refused:
        reader.ask(stale.within(WAIT))
    assert refused.value.code is Code.READER_FAILED
    assert (
        "was reset (reader:Virtual Reader 0 restarted, or the card moved)" in refused.value.detail
    )
    assert talked == []
    reader.ask(dataclasses.replace(stale, generation=None).within(WAIT))
    assert len(talked) == 1
