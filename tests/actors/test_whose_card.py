"""No sequence of calls signs for, or reads, anyone but the patient whose card came last.

A clinic client ignores the results of HC Logout and of a virtual-card
verification; what it signs next must be the patient last verified (a QR
token) or last inserted (a card in the reader), never the one before. A
hypothesis state machine drives one station through random visits — cards in
and out, QR tokens, logouts, SAM logouts, Finalize and Initial — and checks
every signature and every basic-data read against a model of who is there.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import pykka
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from actors.hc import GetHc
from actors.messages import Context
from actors.reader import Probe
from api.wire import answer_json, arguments
from broker import config
from broker.errors import BrokerError
from broker.rules import Function as F  # noqa: N817 - the manual's functions, short
from nhi_broker.assembly import RunningBroker, assemble

STATION = "desk2"  # the test cloud SAM; health cards in Virtual Reader 2
READER = "Virtual Reader 2"
# Kit health cards that no other reader of the sim profile holds.
CARDS = ("900000000728", "900000000742", "900000000759")
PEOPLE = ("900000000711", "900000000728", "900000000735", "900000000742", "900000000759")


@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    data_dir = tmp_path_factory.mktemp("whose") / "data"
    running = assemble(dataclasses.replace(config.sim_profile(), data_dir=data_dir))
    yield running
    running.close()
    pykka.ActorRegistry.stop_all()


class WhoseCard(RuleBasedStateMachine):
    """One station's visits; ``physical`` and ``virtual`` model who is there."""

    broker: RunningBroker

    def __init__(self) -> None:
        super().__init__()
        self.physical: str | None = None  # the card in the reader
        self.virtual: str | None = None  # the virtual card in use

    # --- helpers ------------------------------------------------------------------

    def call(self, function: F, **args: object) -> dict[str, object]:
        """The fields a client reads in the answer (api/wire.py)."""
        context = Context(f"whose-{function.name}", "pytest", STATION)
        answer = self.broker.supervisor.call(STATION, function, arguments(args), context, 10.0)
        return answer_json(answer)

    def settle(self) -> None:
        """Wait until the station's card actor has taken in the last move in the reader.

        The reader has told the card actors of the move once it answers this probe; the
        card actor has handled that report once it answers the ask queued behind it.
        """
        reader = self.broker.supervisor.handle(f"reader:{READER}")
        reader.ask(Probe(slot=READER).within(10.0))
        self.broker.supervisor.handle(f"hc:{STATION}").ask(GetHc().within(10.0))

    @property
    def slot(self):  # type: ignore[no-untyped-def]
        assert self.broker.kit is not None
        return self.broker.kit.local_slots[READER]

    @property
    def expected(self) -> str | None:
        return self.virtual or self.physical

    # --- the visit --------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        self.broker = SHARED[0]
        with contextlib.suppress(BrokerError):  # not initialised yet: nothing to release
            self.call(F.FINALIZE)
        assert self.broker.kit is not None
        self.slot.insert(self.broker.kit.cards.card(CARDS[0]))
        self.settle()
        self.physical, self.virtual = CARDS[0], None
        self.call(F.INITIAL, name="901000000047")

    @rule(card=st.sampled_from(CARDS))
    def insert(self, card: str) -> None:
        assert self.broker.kit is not None
        self.slot.insert(self.broker.kit.cards.card(card))
        self.settle()
        self.physical, self.virtual = card, None  # the newest patient; a virtual card gives way

    @rule()
    def pull(self) -> None:
        self.slot.remove()
        self.settle()
        self.physical = None

    @rule(person=st.sampled_from(PEOPLE))
    def virtual_card(self, person: str) -> None:
        assert self.broker.kit is not None
        token = self.broker.kit.dc.dc.issue_token(person)
        self.call(F.HC_VIRTUAL_VERIFY, token=token)  # no logout first, as the client does
        self.virtual = person

    @rule()
    def hc_logout(self) -> None:
        self.call(F.HC_LOGOUT)
        self.virtual = None

    @rule()
    def sam_logout(self) -> None:
        try:
            self.call(F.SAM_LOGOUT)
        except BrokerError:
            return  # the SAM was not verified: nothing was logged out
        self.virtual = None

    @rule()
    def finalize_and_initial(self) -> None:
        self.call(F.FINALIZE)
        self.call(F.INITIAL, name="901000000047")
        self.virtual = None

    @rule(service_type=st.sampled_from(("01", "02", "03")))
    def sign(self, service_type: str) -> None:
        try:
            signed = self.call(F.HC_SIGN, serviceType=service_type)
        except BrokerError as exc:
            refused = exc
        else:
            assert signed["hcId"] == self.expected
            return
        assert self.expected is None, f"{self.expected}'s signature was refused: {refused}"

    @rule()
    def three_card_sign(self) -> None:
        try:
            signed = self.call(F.HC_THREE_CARD_SIGN, serviceType="01")
        except BrokerError:
            return  # e.g. the HPC's PIN is not verified: refused, whoever the patient
        assert signed["hcId"] == self.expected

    @rule()
    def basic_data(self) -> None:
        try:
            basic = self.call(F.HC_BASIC)
        except BrokerError as exc:
            refused = exc
        else:
            assert basic["cardId"] == self.expected
            return
        assert self.expected is None, f"{self.expected}'s data was refused: {refused}"

    @rule()
    def hpc_pin(self) -> None:
        # Virtual Reader 3 holds 測試人員5; refused when already verified: no patient moves.
        with contextlib.suppress(BrokerError):
            self.call(F.HCA_VERIFY_PIN, pin="12345678")

    @invariant()
    def status_says_whether_a_card_is_there(self) -> None:
        if not hasattr(self, "broker"):
            return
        state = self.broker.board.get(STATION)
        if self.expected is None:
            assert state.hc_status == 0
        else:
            assert state.hc_status >= 1


SHARED: list[RunningBroker] = []


def test_no_sequence_of_calls_signs_for_anyone_but_the_last_patient(
    shared_broker: RunningBroker,
) -> None:
    SHARED[:] = [shared_broker]
    run_state_machine_as_test(
        WhoseCard,
        settings=settings(
            max_examples=150,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
