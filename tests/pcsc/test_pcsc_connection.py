"""The PC/SC transport through a real pcscd: readers, card presence, transmit, pulled cards.

Also that plain pyscard talks to the vpcd bridge, and that two slots work at once.
"""

from __future__ import annotations

import threading

import pytest
from smartcard.System import readers as pyscard_readers

from broker.apdu import CommandApdu
from broker.errors import CardAbsentError, ReaderNotFoundError, TransportError
from broker.transport.pcsc import PcscConnection, PcscSlot, list_readers
from nhi_kit.emulators.card import CardEmulator
from nhi_kit.emulators.vpcd import VpcdBridge
from tests.pcsc.vpcd_slots import READER0, READER1, WAIT, Insert, echo


def test_list_readers_shows_both_vpcd_slots(pcscd: None) -> None:
    assert {READER0, READER1} <= set(list_readers())


def test_presence_follows_insert_and_remove(bridge0: VpcdBridge, insert: Insert) -> None:
    slot = PcscSlot(READER0)
    assert not slot.is_card_present()

    insert(bridge0)
    assert slot.is_card_present()

    bridge0.remove()
    assert slot.wait_for_card(present=False, timeout=WAIT)
    assert not slot.is_card_present()


def test_transmit_round_trips_data(bridge0: VpcdBridge, insert: Insert) -> None:
    with insert(bridge0).connect() as connection:
        assert connection.transmit(echo(b"\x01\x02\x03")) == b"\x01\x02\x03\x90\x00"
        assert connection.transmit(bytes.fromhex("00010000")) == b"\x90\x00"
    assert bridge0.served == 2


def test_le_00_returns_256_bytes(bridge0: VpcdBridge, insert: Insert) -> None:
    with insert(bridge0).connect() as connection:
        response = connection.transmit(bytes.fromhex("0002000000"))
    assert response == bytes(range(256)) + b"\x90\x00"


def test_atr_is_the_emulators(bridge0: VpcdBridge, insert: Insert) -> None:
    with insert(bridge0).connect() as connection:
        assert connection.atr == bridge0.card.atr


def test_connect_to_empty_reader_raises_card_absent(pcscd: None) -> None:
    with pytest.raises(CardAbsentError):
        PcscSlot(READER1).connect()


def test_connect_to_unknown_reader_raises_reader_not_found(pcscd: None) -> None:
    slot = PcscSlot("No Such Reader 00 00")
    assert not slot.is_card_present()
    with pytest.raises(ReaderNotFoundError):
        slot.connect()


def test_close_is_idempotent_and_later_transmit_fails(bridge0: VpcdBridge, insert: Insert) -> None:
    connection = insert(bridge0).connect()
    connection.close()
    connection.close()
    with pytest.raises(TransportError, match="closed"):
        connection.transmit(echo(b"x"))


def test_close_leaves_the_card_powered(bridge0: VpcdBridge, insert: Insert) -> None:
    slot = insert(bridge0)
    with slot.connect() as first:
        first.transmit(echo(b"sync"))  # every earlier vpcd message has now been handled
        power_log: list[str] = vars(bridge0.card)["power_log"]
        before = len(power_log)
    with slot.connect() as again:
        again.transmit(echo(b"sync"))
    # SCARD_UNPOWER_CARD would have powered the card off (dropping authentication) and on.
    assert power_log[before:] == []
    assert bridge0.card.powered


def test_card_pulled_mid_command_raises_card_absent(bridge0: VpcdBridge, insert: Insert) -> None:
    def pull_on_ins_0f(card: CardEmulator, command: CommandApdu) -> None:
        if command.ins == 0x0F:
            bridge0.remove()

    bridge0.card.hooks.append(pull_on_ins_0f)
    connection = insert(bridge0).connect()
    with pytest.raises(CardAbsentError):
        connection.transmit(bytes.fromhex("000F0000"))
    connection.close()


def test_card_pulled_between_commands_raises_card_absent(
    bridge0: VpcdBridge, insert: Insert
) -> None:
    slot = insert(bridge0)
    connection = slot.connect()
    connection.transmit(echo(b"a"))

    bridge0.remove()
    assert slot.wait_for_card(present=False, timeout=WAIT)

    with pytest.raises(CardAbsentError):
        connection.transmit(echo(b"b"))
    connection.close()


def test_reinserted_card_connects_again(bridge0: VpcdBridge, insert: Insert) -> None:
    slot = insert(bridge0)
    stale = slot.connect()
    bridge0.remove()
    assert slot.wait_for_card(present=False, timeout=WAIT)

    insert(bridge0)
    with slot.connect() as fresh:
        assert fresh.transmit(echo(b"back")) == b"back\x90\x00"
    with pytest.raises(CardAbsentError):
        stale.transmit(echo(b"old"))
    stale.close()


def test_plain_pyscard_talks_to_the_bridge(bridge0: VpcdBridge, insert: Insert) -> None:
    insert(bridge0)
    reader = next(r for r in pyscard_readers() if str(r) == READER0)
    connection = reader.createConnection()
    connection.connect()
    try:
        atr = bytes(connection.getATR())
        data, sw1, sw2 = connection.transmit(list(echo(b"hi")))
    finally:
        connection.disconnect()
    assert (bytes(data), sw1, sw2) == (b"hi", 0x90, 0x00)
    assert atr == bridge0.card.atr


def test_two_slots_work_at_once_independently(
    bridge0: VpcdBridge, bridge1: VpcdBridge, insert: Insert
) -> None:
    first, second = insert(bridge0).connect(), insert(bridge1).connect()
    assert first.atr != second.atr
    errors: list[BaseException] = []

    def hammer(connection: PcscConnection, tag: bytes) -> None:
        try:
            for i in range(100):
                payload = tag + bytes((i,))
                assert connection.transmit(echo(payload)) == payload + b"\x90\x00"
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=hammer, args=(first, b"one")),
        threading.Thread(target=hammer, args=(second, b"two")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert errors == []
    assert (bridge0.served, bridge1.served) == (100, 100)

    bridge0.remove()
    assert second.transmit(echo(b"still")) == b"still\x90\x00"
    first.close()
    second.close()
