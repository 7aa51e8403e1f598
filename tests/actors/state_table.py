"""The sim kit's cards and the calls the executable-state table tests share.

Every row of the table (the manual's 可執行狀態, docs/web-api.md): with its state
met the function succeeds and leaves the state the table says; where the table
allows it the state is reached automatically (a cloud SAM verifies itself, a
present card is verified with the SAM); where it is not met and may not be
reached automatically (a physical SAM, any PIN) the function is refused with the
manual's code and nothing changes.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from broker.apdu import CommandApdu
from broker.cards.commands import Ins
from broker.codes import Code
from broker.rules import RULES, Function
from nhi_broker.assembly import RunningBroker
from nhi_kit.emulators.card import CardEmulator
from nhi_kit.emulators.hpc import HpcEmulator
from nhi_kit.sim_kit import SimKit
from tests.actors.conftest import Call, code_of

COM1_SAM, COM1_HC, COM1_DOCTOR = "900000000101", "900000000735", "100000291539"
DESK2_HC, DESK2_HPC, DESK2_PUK = "900000000728", "100000291515", "87654321"
FORMAL_CLOUD, TEST_CLOUD = "001000000103", "901000000047"
BLOCKED_HPC = "100000291522"
VIRTUAL_PERSON = "900000000711"  # 吳佳蓉, no PIN
TEST_HOSPITAL = "7777777777"
SIGN = {"serviceType": "01"}

F = Function
# Well-formed arguments for every function, so a refusal is the state's, never the arguments'.
ARGS: dict[Function, dict[str, Any]] = {
    F.SAM_SIGN: SIGN,
    F.HCA_SIGN: SIGN,
    F.HC_SIGN: SIGN,
    F.HC_THREE_CARD_SIGN: SIGN,
    F.HCA_VERIFY_PIN: {"pin": "12345678"},
    F.HCA_MOBILE_VERIFY: {"certificate": "e30=.e30="},
    F.HCA_SET_PIN: {"newPin": "13572468"},
    F.HCA_RESET_PIN: {"puk": DESK2_PUK, "newPin": "13572468"},
    F.HC_VIRTUAL_VERIFY: {"token": "e30=.e30=.e30="},
    F.HC_READ_VIRTUAL: {"token": "e30=.e30=.e30="},
    F.HC_PIN_VERIFY: {"pin": "123456"},
    F.HC_PIN_SET: {"newPin": "654321"},
    F.HC_VIRTUAL_IMPORT: {"transferCode": "ABCD1234"},
}


def needing(predicate: Any) -> list[Function]:
    """The functions whose row matches ``predicate(need)``."""
    return [f for f in Function if predicate(RULES[f])]


def refusal(call: Call, function: Function) -> Code:
    """The code ``function``, called with well-formed arguments, is refused with."""
    return code_of(partial(call, function, **ARGS.get(function, {})))


def kit_of(broker: RunningBroker) -> SimKit:
    assert broker.kit is not None
    return broker.kit


def hpc(broker: RunningBroker, card_id: str) -> HpcEmulator:
    card = kit_of(broker).cards.card(card_id)
    assert isinstance(card, HpcEmulator)
    return card


def verifies(card: CardEmulator) -> list[bytes]:
    """Every VERIFY the card receives from now on (its data: empty for a status query)."""
    seen: list[bytes] = []

    def hook(_card: CardEmulator, command: CommandApdu) -> None:
        if command.ins == Ins.VERIFY:
            seen.append(command.data)

    card.hooks.append(hook)
    return seen
