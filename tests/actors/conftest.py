"""A running sim broker per test: real actors, emulated cards, the DC simulator over HTTPS."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from actors.messages import Context
from api.wire import answer_json, arguments
from broker import config
from broker.codes import Code
from broker.errors import BrokerError
from broker.rules import Function
from broker.state import StationState
from nhi_broker.assembly import RunningBroker, assemble

Call = Callable[..., dict[str, Any]]
TIMEOUT = 10.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RunningBroker]:
    """The sim profile, with its data in a fresh directory."""
    running = assemble(dataclasses.replace(config.sim_profile(), data_dir=tmp_path / "data"))
    yield running
    running.close()
    pykka.ActorRegistry.stop_all()


def make_call(broker: RunningBroker, station: str) -> Call:
    """``call(Function.X, **fields)`` for one station, as the API runs it: the request's
    fields by their wire names in, BrokerError or the fields the API shows (api/wire.py) out."""

    def call(function: Function, **args: Any) -> dict[str, Any]:
        context = Context(f"test-{function.name}", "pytest", station)
        return answer_json(
            broker.supervisor.call(station, function, arguments(args), context, TIMEOUT)
        )

    return call


@pytest.fixture
def local(broker: RunningBroker) -> Call:
    """Functions of the station ``local``."""
    return make_call(broker, "local")


@pytest.fixture
def desk2(broker: RunningBroker) -> Call:
    """Functions of the station ``desk2``."""
    return make_call(broker, "desk2")


def code_of(call: Callable[[], object]) -> Code:
    """The status code a call fails with (fails the test if it succeeds)."""
    with pytest.raises(BrokerError) as raised:
        call()
    return raised.value.code


def state(broker: RunningBroker, station: str = "local") -> StationState:
    """The station's read model."""
    return broker.board.get(station)
