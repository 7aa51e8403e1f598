"""Hot-plug: inserts and removals reach the actors and the read model; a pulled card fails
cleanly and the next insert works without restarting anything; a dead monitor comes back."""

from __future__ import annotations

import threading

import pytest

from broker.apdu import CommandApdu
from broker.codes import Code
from broker.rules import Function
from broker.state import ActorRestarted, HcaStatus, HcStatus, StationState
from broker.transport.serial_frames import Slot
from nhi_broker.assembly import RunningBroker
from nhi_kit.emulators.card import CardEmulator
from tests.actors.conftest import Call, code_of, state

WAIT = 5.0


def _wait(broker: RunningBroker, station: str, check: object) -> StationState:
    found = broker.board.wait_for(station, check, WAIT)  # type: ignore[arg-type]
    assert found is not None, (
        f"{station} never reached the expected state: {state(broker, station)}"
    )
    return found


def _kit(broker: RunningBroker):  # type: ignore[no-untyped-def]
    assert broker.kit is not None
    return broker.kit


def test_cards_in_a_pcsc_style_reader_come_and_go_in_the_read_model(
    broker: RunningBroker, local: Call
) -> None:
    kit = _kit(broker)
    local(Function.INITIAL, name="901000000047")  # cloud SAM: the default reader holds HCs
    _wait(broker, "local", lambda s: s.hc_status is HcStatus.PRESENT)
    kit.local_slots["Virtual Reader 0"].remove()
    _wait(broker, "local", lambda s: s.hc_status is HcStatus.NONE)
    kit.local_slots["Virtual Reader 0"].insert(kit.cards.card("900000000742"))
    _wait(broker, "local", lambda s: s.hc_status is HcStatus.PRESENT)
    assert local(Function.HC_BASIC)["name"] == "林志明"


def test_cards_in_the_serial_reader_come_and_go_in_the_read_model(
    broker: RunningBroker, local: Call
) -> None:
    kit = _kit(broker)
    local(Function.INITIAL, name="COM1")
    _wait(broker, "local", lambda s: s.hca_status is HcaStatus.PRESENT)
    kit.serial["COM1"].remove(Slot.HPC)
    _wait(broker, "local", lambda s: s.hca_status is HcaStatus.NONE)
    kit.serial["COM1"].insert(Slot.HPC, kit.cards.card("100000291508"))
    _wait(broker, "local", lambda s: s.hca_status is HcaStatus.PRESENT)


def test_a_card_pulled_mid_request_fails_cleanly_and_reinsertion_needs_no_restart(
    broker: RunningBroker, local: Call
) -> None:
    kit = _kit(broker)
    local(Function.INITIAL, name="901000000047")
    assert local(Function.HC_BASIC)["cardId"] == "900000000711"
    slot = kit.local_slots["Virtual Reader 0"]
    card = kit.cards.card("900000000711")

    def pull(_card: CardEmulator, command: CommandApdu) -> None:
        if command.ins == 0xCA:  # pulled while the card is being read
            card.hooks.clear()
            slot.remove()

    card.hooks.append(pull)
    assert code_of(lambda: local(Function.HC_BASIC)) is Code.NO_CARD
    _wait(broker, "local", lambda s: s.hc_status is HcStatus.NONE)
    slot.insert(card)
    _wait(broker, "local", lambda s: s.hc_status is HcStatus.PRESENT)
    assert local(Function.HC_BASIC)["cardId"] == "900000000711"
    assert all(actor.restarts == 0 for actor in broker.supervisor.actors())


def test_a_removed_sam_takes_the_station_back_to_sam_0(broker: RunningBroker, local: Call) -> None:
    kit = _kit(broker)
    local(Function.INITIAL, name="COM1")
    local(Function.SAM_VERIFY)
    kit.serial["COM1"].remove(Slot.SAM)
    _wait(broker, "local", lambda s: s.sam_status == 0)
    assert code_of(lambda: local(Function.SAM_SIGN, serviceType="01")) is Code.SAM_MODE1_FAILED


def test_a_dead_serial_monitor_is_restarted_and_events_flow_again(
    broker: RunningBroker, local: Call
) -> None:
    kit = _kit(broker)
    restarted = threading.Event()
    broker.board.subscribe(
        lambda e: (
            restarted.set()
            if isinstance(e.data, ActorRestarted) and e.data.actor == "monitor:serial COM1"
            else None
        )
    )
    local(Function.INITIAL, name="COM1")
    _wait(broker, "local", lambda s: s.hc_status is HcStatus.PRESENT)
    reader = broker.serial_readers["COM1"]
    reader.close()  # the monitor's next STATUS fails: it dies, visibly
    assert restarted.wait(WAIT)
    _wait(broker, "local", lambda s: s.hc_status is HcStatus.PRESENT)  # seen again
    kit.serial["COM1"].remove(Slot.HC)
    _wait(broker, "local", lambda s: s.hc_status is HcStatus.NONE)


@pytest.mark.parametrize("card_id", ["900000000759"])
def test_an_hc_arriving_in_an_empty_reader_is_seen(
    broker: RunningBroker, local: Call, card_id: str
) -> None:
    kit = _kit(broker)
    broker.settings.set_default_pcsc_reader("Virtual Reader 4")
    local(Function.INITIAL, name="901000000047")
    assert state(broker).reader_name == "Virtual Reader 4"
    assert state(broker).hc_status is HcStatus.NONE
    kit.local_slots["Virtual Reader 4"].insert(kit.cards.card(card_id))
    _wait(broker, "local", lambda s: s.hc_status is HcStatus.PRESENT)
