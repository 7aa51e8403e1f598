"""Concurrency rules: one card's conversations never interleave, status never waits,
stations do not wait for each other, a timed-out ask leaves an honest state."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from actors.base import ActorUnavailableError
from actors.messages import Context
from actors.reader import Converse
from actors.sam import GetSam
from actors.station import Call
from api.wire import status_json
from broker.apdu import CommandApdu
from broker.arguments import Arguments
from broker.cards.sam import SamSession
from broker.codes import Code
from broker.errors import SecurityStatusError
from broker.rules import Function
from broker.state import HcStatus, SamStatus
from nhi_broker.assembly import RunningBroker
from nhi_kit.emulators.card import CardEmulator
from tests.actors.conftest import Call as StationCall
from tests.actors.conftest import code_of, make_call, state

WAIT = 10.0


def _record(card: CardEmulator) -> list[tuple[int, int]]:
    seen: list[tuple[int, int]] = []

    def hook(_card: CardEmulator, command: CommandApdu) -> None:
        seen.append((command.ins, command.p1))

    card.hooks.append(hook)
    return seen


READ_PROFILE, IDENTITY, PIN_STATUS = (0xCA, 0x11), (0xCA, 0x00), (0x20, 0x00)


def _conversations(sequence: list[tuple[int, int]]) -> list[tuple[tuple[int, int], ...]]:
    """Cut the card's log: basic data is READ then GET DATA; PIN status one VERIFY."""
    conversations: list[tuple[tuple[int, int], ...]] = []
    i = 0
    while i < len(sequence):
        if sequence[i] == READ_PROFILE:
            conversations.append(tuple(sequence[i : i + 2]))
            i += 2
        else:
            conversations.append((sequence[i],))
            i += 1
    return conversations


def test_many_threads_on_one_station_never_interleave_a_cards_conversations(
    broker: RunningBroker, desk2: StationCall
) -> None:
    desk2(Function.INITIAL)
    desk2(Function.HC_BASIC)  # verifies SAM and card once
    card = broker.kit.cards.card("900000000728") if broker.kit else None
    assert card is not None
    seen = _record(card)
    calls: list[Callable[[], Any]] = [
        lambda: desk2(Function.HC_BASIC),
        lambda: desk2(Function.HC_PIN_STATUS),
    ] * 40
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda call: call(), calls))
    assert len(results) == 80
    conversations = _conversations(seen)
    # Interleaving would split a READ from its GET DATA, or put a VERIFY between them.
    assert conversations.count((READ_PROFILE, IDENTITY)) == 40
    assert conversations.count((PIN_STATUS,)) == 40
    assert len(conversations) == 80


def test_status_reads_answer_while_the_sam_waits_on_a_slow_data_centre(
    broker: RunningBroker, desk2: StationCall, local: StationCall
) -> None:
    assert broker.kit is not None
    desk2(Function.INITIAL)
    broker.kit.dc.set_faults(latency_ms=2000)
    verifying = threading.Thread(target=lambda: desk2(Function.SAM_VERIFY))
    verifying.start()
    local(Function.INITIAL, name="COM1")  # another station keeps working meanwhile
    local(Function.SAM_BASIC)
    reads = [status_json(broker.board.get("desk2")) for _ in range(1000)]
    assert verifying.is_alive(), "status reads waited behind the SAM's DC call"
    assert all(r["sam"]["status"] == SamStatus.PRESENT for r in reads)
    verifying.join(WAIT)
    assert state(broker, "desk2").sam_status is SamStatus.VERIFIED


def test_version_answers_while_its_own_station_waits_on_a_slow_data_centre(
    broker: RunningBroker, desk2: StationCall
) -> None:
    assert broker.kit is not None
    dc = broker.kit.dc
    desk2(Function.INITIAL)
    dc.set_faults(latency_ms=2000)
    before = dc.requests
    verifying = threading.Thread(target=lambda: desk2(Function.SAM_VERIFY))
    verifying.start()
    tick = threading.Event()  # never set: a pause between looks at the DC's counter
    while dc.requests == before:  # until the verification is at the DC, inside the station
        assert verifying.is_alive()
        tick.wait(0.005)
    assert desk2(Function.VERSION)["longVersion"] == "6000"
    assert verifying.is_alive(), "Version waited behind the station's SAM verification"
    verifying.join(WAIT)


def test_a_timed_out_ask_leaves_the_state_telling_the_truth(
    broker: RunningBroker, desk2: StationCall
) -> None:
    assert broker.kit is not None
    desk2(Function.INITIAL)
    broker.kit.dc.set_faults(latency_ms=1000)
    impatient = Context("impatient", "pytest", "desk2")
    with pytest.raises(ActorUnavailableError) as late:
        broker.supervisor.call("desk2", Function.SAM_VERIFY, Arguments(), impatient, 0.3)
    assert late.value.code is Code.DC_CONNECTION  # the time went to the DC, not the SAM
    sam = broker.supervisor.handle("sam:901000000047")
    view = sam.ask(GetSam().within(WAIT))  # waits until the abandoned work has ended
    assert state(broker, "desk2").sam_status is view.status is SamStatus.PRESENT
    reader = broker.supervisor.handle("reader:cloud SAM 901000000047")
    ask_card = Converse(slot="cloud SAM 901000000047", run=lambda c: SamSession(c).sign(b"x"))
    with pytest.raises(SecurityStatusError):  # the card agrees: it is not authenticated
        reader.ask(ask_card.within(WAIT))
    broker.kit.dc.set_faults(latency_ms=0)
    assert desk2(Function.SAM_SIGN, serviceType="01")["samId"] == "901000000047"


def test_a_message_whose_caller_gave_up_is_skipped_not_run(
    broker: RunningBroker, desk2: StationCall
) -> None:
    assert broker.kit is not None
    desk2(Function.INITIAL)
    desk2(Function.HC_BASIC)
    broker.kit.dc.set_faults(latency_ms=1000)
    station = broker.supervisor.handle("station:desk2")
    slow = Call(function=Function.HC_READ_VIRTUAL, args=Arguments(token=_token(broker))).within(
        WAIT
    )
    pending = station.ref.ask(slow, block=False)  # in the inbox first
    logout = Call(function=Function.HC_LOGOUT, context=Context("gone", "pytest", "desk2"))
    with pytest.raises(ActorUnavailableError) as late:  # queued behind the slow call
        station.ask(logout.within(0.2))
    assert late.value.code is Code.DC_CONNECTION  # which waited on the DC
    assert pending.get(timeout=WAIT).card_id == "900000000711"
    assert state(broker, "desk2").hc_status is HcStatus.VERIFIED  # the logout never ran


def test_two_stations_work_at_the_same_time(broker: RunningBroker) -> None:
    local, desk2 = make_call(broker, "local"), make_call(broker, "desk2")
    local(Function.INITIAL, name="COM1")
    local(Function.SAM_VERIFY)
    desk2(Function.INITIAL)
    barrier = threading.Barrier(2)

    def work(call: StationCall) -> list[str]:
        barrier.wait(WAIT)
        return [call(Function.HC_BASIC)["cardId"] for _ in range(20)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        a, b = pool.submit(work, local), pool.submit(work, desk2)
        assert set(a.result(WAIT)) == {"900000000735"}
        assert set(b.result(WAIT)) == {"900000000728"}


def test_a_station_without_a_device_refuses_with_1000(desk2: StationCall) -> None:
    assert code_of(lambda: desk2(Function.HC_BASIC)) is Code.NOT_INITIALIZED


def _token(broker: RunningBroker) -> str:
    assert broker.kit is not None
    return broker.kit.dc.dc.issue_token("900000000711")
