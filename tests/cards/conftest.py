"""Rigs for the conversation tests, and SAMs already authenticated with the DC."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from broker.cards.sam import SamSession
from broker.transport.local import LocalSlot
from nhi_kit.emulators.kit import CardKit
from tests.cards.rigs import LocalRig, PcscRig, Rig, SerialRig
from tests.conftest import DcAuthenticate

RIGS: dict[str, Callable[[], Rig]] = {"local": LocalRig, "pcsc": PcscRig, "serial": SerialRig}


@pytest.fixture(params=sorted(RIGS))
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    """The slot under test, once per transport (PC/SC through a real pcscd)."""
    if request.param == "pcsc":
        request.getfixturevalue("pcscd")
        request.applymarker(pytest.mark.pcsc)
    made = RIGS[request.param]()
    yield made
    made.close()


def _sam(kit: CardKit, sam_id: str, dc_authenticate: DcAuthenticate) -> SamSession:
    slot = LocalSlot(f"cloud SAM {sam_id}")
    slot.insert(kit.card(sam_id))
    session = SamSession(slot.connect())
    session.select()
    dc_authenticate(session)
    return session


@pytest.fixture
def test_sam(kit: CardKit, dc_authenticate: DcAuthenticate) -> SamSession:
    """The manual's test cloud SAM, authenticated."""
    return _sam(kit, "901000000047", dc_authenticate)


@pytest.fixture
def formal_sam(kit: CardKit, dc_authenticate: DcAuthenticate) -> SamSession:
    """The manual's formal cloud SAM, authenticated."""
    return _sam(kit, "001000000103", dc_authenticate)
