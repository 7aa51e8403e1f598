"""A slow data centre, as the actors meet it: a call that runs out of time behind it says it was
the DC (1700), and a card pulled while the DC is asked for it answers at once (1102), leaving
nothing half-verified."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import pytest

from actors.base import ActorUnavailableError
from actors.messages import Context
from broker.arguments import Arguments
from broker.codes import Code
from broker.errors import BrokerError
from broker.rules import Function
from broker.state import HcaStatus, HcStatus, SamStatus, StationState
from broker.transport.serial_frames import Slot
from nhi_broker.assembly import RunningBroker
from nhi_kit.sim_kit import SimKit
from tests.actors.conftest import Call, code_of, state

DC_LATENCY_MS = 3000  # slow, but under the client's 5 s timeout
WAIT = 20.0  # a failure bound only


def _kit(broker: RunningBroker) -> SimKit:
    assert broker.kit is not None
    return broker.kit


def _at_the_dc(broker: RunningBroker, call: Callable[[], object]) -> Future[object]:
    """Start ``call`` in a thread; return once its first DC request has reached the DC."""
    dc = _kit(broker).dc
    before = dc.requests
    answer: Future[object] = Future()

    def run() -> None:
        try:
            answer.set_result(call())
        except BaseException as exc:
            answer.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    tick = threading.Event()  # never set: a pause between looks at the DC's counter
    while dc.requests == before:
        assert not answer.done(), f"it ended before asking the DC: {answer.result()}"
        tick.wait(0.005)
    return answer


def _failure(answer: Future[object]) -> tuple[BrokerError, float]:
    """The error the call ended with, and seconds it took from now."""
    started = time.monotonic()
    error = answer.exception(WAIT)
    assert isinstance(error, BrokerError), f"not refused: {error!r}"
    return error, time.monotonic() - started


def _wait(broker: RunningBroker, station: str, check: Callable[[StationState], bool]) -> None:
    assert broker.board.wait_for(station, check, WAIT) is not None, state(broker, station)


def test_a_call_queued_at_a_shared_sam_behind_a_slow_dc_is_answered_with_the_dcs_code(
    broker: RunningBroker, local: Call, desk2: Call
) -> None:
    local(Function.INITIAL, name="901000000047")
    desk2(Function.INITIAL)  # the same cloud SAM
    _kit(broker).dc.set_faults(latency_ms=DC_LATENCY_MS)
    verifying = _at_the_dc(broker, lambda: desk2(Function.SAM_VERIFY))
    queued = Context("queued", "pytest", "local")
    with pytest.raises(ActorUnavailableError) as late:  # waits at the SAM behind desk2's call
        broker.supervisor.call("local", Function.SAM_VERIFY, Arguments(), queued, 1.0)
    assert late.value.code is Code.DC_CONNECTION  # not 1300: the SAM was fine
    assert (
        late.value.detail == "sam:901000000047 did not answer in time: held up by the data centre"
    )
    _kit(broker).dc.set_faults(latency_ms=0)
    verifying.result(WAIT)
    assert state(broker).sam_status is SamStatus.VERIFIED


def test_an_hpc_pulled_while_the_dc_checks_it_answers_1102_before_the_dc_could(
    broker: RunningBroker, desk2: Call
) -> None:
    kit = _kit(broker)
    desk2(Function.INITIAL)
    desk2(Function.SAM_VERIFY)  # its own DC round trips out of the way
    kit.dc.set_faults(latency_ms=DC_LATENCY_MS)
    verifying = _at_the_dc(broker, lambda: desk2(Function.HCA_VERIFY_PIN, pin="12345678"))
    kit.local_slots["Virtual Reader 3"].remove()
    error, seconds = _failure(verifying)
    assert (error.code, seconds < DC_LATENCY_MS / 1000) == (Code.NO_CARD, True)
    assert state(broker, "desk2").hca_status is HcaStatus.NONE
    kit.local_slots["Virtual Reader 3"].insert(kit.cards.card("100000291515"))
    _wait(broker, "desk2", lambda s: s.hca_status is HcaStatus.PRESENT)
    kit.dc.set_faults(latency_ms=0)
    # Nothing of the abandoned check survives: the card is only present, and verifies anew.
    assert code_of(lambda: desk2(Function.HCA_BASIC)) is Code.HPC_MODE3_FAILED
    desk2(Function.HCA_VERIFY_PIN, pin="12345678")
    assert state(broker, "desk2").hca_status is HcaStatus.PIN_VERIFIED


def test_a_health_card_pulled_while_its_marks_are_fetched_answers_1102_at_once(
    broker: RunningBroker, desk2: Call
) -> None:
    kit = _kit(broker)
    desk2(Function.INITIAL)
    desk2(Function.HC_PIN_VERIFY, pin="123456")  # verifies SAM and card, and the card's PIN
    kit.dc.set_faults(latency_ms=DC_LATENCY_MS)
    updating = _at_the_dc(broker, lambda: desk2(Function.HC_UPDATE_MARKS))
    kit.local_slots["Virtual Reader 2"].remove()
    error, seconds = _failure(updating)
    assert (error.code, seconds < DC_LATENCY_MS / 1000) == (Code.NO_CARD, True)
    assert state(broker, "desk2").hc_status is HcStatus.NONE


def test_a_physical_sam_pulled_during_its_verification_answers_1300_at_once(
    broker: RunningBroker, local: Call
) -> None:
    kit = _kit(broker)
    local(Function.INITIAL, name="COM1")
    kit.dc.set_faults(latency_ms=DC_LATENCY_MS)
    verifying = _at_the_dc(broker, lambda: local(Function.SAM_VERIFY))
    kit.serial["COM1"].remove(Slot.SAM)
    error, seconds = _failure(verifying)
    assert (error.code, seconds < DC_LATENCY_MS / 1000) == (Code.SAM_MODE1_FAILED, True)
    assert error.detail == "the SAM left its slot while the data centre was asked"
    assert state(broker).sam_status is SamStatus.NONE
