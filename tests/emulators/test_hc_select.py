"""The health-card emulator answers SELECT and READ as a real card does (docs/cards.md).

The byte strings are the public readers' (tests/public_readers.py names the sources).
"""

from __future__ import annotations

import pytest

from broker.apdu import SW, ResponseApdu
from nhi_kit.emulators.hc import HcEmulator
from nhi_kit.emulators.kit import CardKit
from tests import public_readers

# Our own notes once had the 11 one byte late; a real card answers that with 6A 82.
OLD_WRONG_SELECT = bytes.fromhex("00 A4 04 00 10 D1 58 00 00 01 00 00 00 00 00 00 00 00 11 00 00")
HPC_SELECT = bytes.fromhex("00 A4 04 00 10 D1 58 00 00 01 00 00 00 00 00 00 00 00 21 00 00")


@pytest.fixture
def card() -> HcEmulator:
    hc = CardKit().card("900000000711")
    assert isinstance(hc, HcEmulator)
    hc.power_on()
    return hc


def answer(card: HcEmulator, apdu: bytes) -> ResponseApdu:
    return ResponseApdu.decode(card.execute(apdu))


@pytest.mark.parametrize(
    "select",
    [
        public_readers.SELECT,
        public_readers.SELECT + b"\x00",  # the same with a trailing Le
        public_readers.SELECT_CSHARP,
    ],
    ids=["public-no-le", "public-with-le", "csharp-15-byte-name"],
)
def test_the_public_select_selects_and_the_read_answers_57_bytes(
    card: HcEmulator, select: bytes
) -> None:
    assert answer(card, select) == ResponseApdu(b"", SW.OK)
    read = answer(card, public_readers.READ_PROFILE)
    assert read.sw == SW.OK
    assert len(read.data) == public_readers.PROFILE_LENGTH
    assert read.data[public_readers.PROFILE_FIELDS["card_id"]] == b"900000000711"


@pytest.mark.parametrize("select", [OLD_WRONG_SELECT, HPC_SELECT], ids=["old-wrong", "hpc"])
def test_any_other_application_name_is_not_found(card: HcEmulator, select: bytes) -> None:
    assert answer(card, select).sw == SW.FILE_NOT_FOUND


def test_the_read_without_a_select_is_refused_as_a_card_refuses_it(card: HcEmulator) -> None:
    assert answer(card, public_readers.READ_PROFILE).sw == SW.INCORRECT_P1P2


def test_a_failed_select_leaves_no_application_selected(card: HcEmulator) -> None:
    answer(card, public_readers.SELECT)
    assert answer(card, OLD_WRONG_SELECT).sw == SW.FILE_NOT_FOUND
    assert answer(card, public_readers.READ_PROFILE).sw == SW.INCORRECT_P1P2


def test_a_reset_forgets_the_selected_application(card: HcEmulator) -> None:
    answer(card, public_readers.SELECT)
    card.power_on()
    assert answer(card, public_readers.READ_PROFILE).sw == SW.INCORRECT_P1P2


def test_a_card_that_answers_select_with_6d00_still_reads(card: HcEmulator) -> None:
    card.select_answers_6d00 = True
    assert answer(card, public_readers.SELECT).sw == SW.INS_NOT_SUPPORTED
    assert answer(card, public_readers.READ_PROFILE).sw == SW.OK
