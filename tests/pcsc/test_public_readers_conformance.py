"""Conformance: the public NHI readers' exact bytes read a kit health card through real pcscd.

The commands are data with their sources named (tests/public_readers.py); the
card sits in a vpcd slot of a real pcscd, and plain pyscard talks to it, as
those readers do. The broker's own PC/SC session must send the same bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from smartcard.System import readers as pyscard_readers

from broker.cards.hc import HealthCardSession
from broker.cards.identify import identify
from broker.transport.pcsc import PcscSlot
from nhi_kit.emulators.hc import HcEmulator
from nhi_kit.emulators.kit import CardKit
from nhi_kit.emulators.vpcd import VpcdBridge
from tests import public_readers
from tests.pcsc.conftest import READER0, BridgeFactory

PATIENT = "900000000711"  # the manual's test patient 吳佳蓉


def roc_date(text: str) -> dt.date:
    """ROC YYYMMDD → a date (the public reader's raw_to_naive_date)."""
    return dt.date(1911 + int(text[:3]), int(text[3:5]), int(text[5:7]))


@pytest.fixture
def patient_card() -> HcEmulator:
    card = CardKit().card(PATIENT)
    assert isinstance(card, HcEmulator)
    return card


@pytest.fixture
def in_vpcd(
    patient_card: HcEmulator, make_bridge: BridgeFactory, insert: Callable[[VpcdBridge], PcscSlot]
) -> PcscSlot:
    return insert(make_bridge(patient_card, READER0))


def record_apdus(card: HcEmulator) -> list[bytes]:
    """Every command APDU the card receives from now on, as raw bytes."""
    seen: list[bytes] = []
    execute = card.execute

    def recording(raw: bytes) -> bytes:
        seen.append(bytes(raw))
        return execute(raw)

    card.execute = recording  # type: ignore[method-assign]
    return seen


def test_the_public_readers_bytes_read_the_57_byte_profile_field_by_field(
    in_vpcd: PcscSlot,
) -> None:
    reader = next(r for r in pyscard_readers() if str(r) == READER0)
    connection = reader.createConnection()
    connection.connect()
    try:
        _, sw1, sw2 = connection.transmit(list(public_readers.SELECT))
        assert (sw1, sw2) == (0x90, 0x00)
        data, sw1, sw2 = connection.transmit(list(public_readers.READ_PROFILE))
    finally:
        connection.disconnect()
    assert (sw1, sw2) == (0x90, 0x00)
    profile = bytes(data)
    assert len(profile) == public_readers.PROFILE_LENGTH
    field = {name: profile[where] for name, where in public_readers.PROFILE_FIELDS.items()}
    assert field["card_id"].decode("ascii") == PATIENT
    assert field["name"].rstrip(b" \x00").decode("big5") == "吳佳蓉"
    assert field["id_no"].decode("ascii") == "R88855084A"
    assert roc_date(field["birthday"].decode("ascii")) == dt.date(1985, 12, 1)
    assert field["sex"] == b"F"
    assert roc_date(field["issue_date"].decode("ascii")) == dt.date(2016, 3, 15)


def test_the_csharp_readers_15_byte_select_reads_the_card_too(in_vpcd: PcscSlot) -> None:
    reader = next(r for r in pyscard_readers() if str(r) == READER0)
    connection = reader.createConnection()
    connection.connect()
    try:
        _, sw1, sw2 = connection.transmit(list(public_readers.SELECT_CSHARP))
        assert (sw1, sw2) == (0x90, 0x00)
        data, sw1, sw2 = connection.transmit(list(public_readers.READ_PROFILE))
    finally:
        connection.disconnect()
    assert (sw1, sw2, len(data)) == (0x90, 0x00, public_readers.PROFILE_LENGTH)


def test_the_brokers_pcsc_session_sends_the_public_readers_bytes(
    patient_card: HcEmulator, in_vpcd: PcscSlot
) -> None:
    seen = record_apdus(patient_card)
    connection = in_vpcd.connect()
    try:
        session = HealthCardSession(connection)
        session.select()
        profile = session.read_profile()
    finally:
        connection.close()
    assert seen == [public_readers.SELECT, public_readers.READ_PROFILE]
    assert (profile.card_id, profile.name, profile.birthday) == (PATIENT, "吳佳蓉", "0741201")


def test_the_broker_knows_a_health_card_by_the_public_select_and_read(
    patient_card: HcEmulator, in_vpcd: PcscSlot
) -> None:
    seen = record_apdus(patient_card)
    connection = in_vpcd.connect()
    try:
        identity = identify(connection)
    finally:
        connection.close()
    assert (identity.kind, identity.card_id) == ("HC", PATIENT)
    assert seen[:2] == [public_readers.SELECT, public_readers.READ_PROFILE]
