"""The APDU codec and channel: hex vectors, round trips, T=0 quirks, SW → exception."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker import errors
from broker.apdu import SW, ApduChannel, CommandApdu, ResponseApdu, error_for
from broker.cards import commands as cmd
from broker.codes import Code
from broker.transport.local import LocalSlot
from nhi_kit.emulators.card import CardEmulator, SwError
from tests import public_readers


@pytest.mark.parametrize(
    ("hex_apdu", "expected"),
    [
        ("00A40400", CommandApdu(0x00, 0xA4, 0x04, 0x00)),
        ("0084000008", CommandApdu(0x00, 0x84, 0x00, 0x00, le=8)),
        ("00C0000000", CommandApdu(0x00, 0xC0, 0x00, 0x00, le=256)),
        ("00CA1100020000", CommandApdu(0x00, 0xCA, 0x11, 0x00, b"\x00\x00")),
        ("002A9E9A03AABBCC00", CommandApdu(0x00, 0x2A, 0x9E, 0x9A, b"\xaa\xbb\xcc", le=256)),
    ],
)
def test_command_apdu_hex_vectors_decode_and_encode(hex_apdu: str, expected: CommandApdu) -> None:
    raw = bytes.fromhex(hex_apdu)
    assert CommandApdu.decode(raw) == expected
    assert expected.encode() == raw


def test_the_real_hc_select_and_read_are_the_public_readers_bytes() -> None:
    select = CommandApdu(0x00, 0xA4, 0x04, 0x00, cmd.HC_AID)
    assert select.encode() == public_readers.SELECT
    assert cmd.HC_SELECT == public_readers.SELECT
    assert CommandApdu.decode(cmd.HC_READ_PROFILE).encode() == public_readers.READ_PROFILE


@given(
    cla=st.integers(0, 255),
    ins=st.integers(0, 255),
    p1=st.integers(0, 255),
    p2=st.integers(0, 255),
    data=st.binary(max_size=255),
    le=st.none() | st.integers(1, 256),
)
def test_command_apdu_round_trips(
    cla: int, ins: int, p1: int, p2: int, data: bytes, le: int | None
) -> None:
    command = CommandApdu(cla, ins, p1, p2, data, le)
    assert CommandApdu.decode(command.encode()) == command


@given(data=st.binary(max_size=256), sw=st.integers(0, 0xFFFF))
def test_response_apdu_round_trips(data: bytes, sw: int) -> None:
    assert ResponseApdu.decode(ResponseApdu(data, sw).encode()) == ResponseApdu(data, sw)


@given(raw=st.binary(max_size=300))
def test_decoding_arbitrary_bytes_never_raises_anything_but_value_error(raw: bytes) -> None:
    with contextlib.suppress(ValueError):
        CommandApdu.decode(raw)


def test_secret_command_repr_masks_its_data() -> None:
    command = CommandApdu(0x00, 0x20, 0x00, 0x01, b"123456", secret=True)
    assert "123456" not in repr(command)
    assert "313233343536" not in repr(command)


@pytest.mark.parametrize(
    ("sw", "kind", "code"),
    [
        (0x63C2, errors.WrongPinError, Code.HPC_PIN_FAILED),
        (0x6983, errors.PinBlockedError, Code.HPC_PIN_FAILED),
        (0x6982, errors.SecurityStatusError, Code.PCSC_OTHER),
        (0x6984, errors.NoPinSetError, Code.HC_NO_PIN_SET),
        (0x6D00, errors.NotSupportedError, Code.SELECT_FAILED),
        (0x6A86, errors.ApduError, Code.PCSC_OTHER),
    ],
)
def test_status_words_become_typed_errors_with_nhi_codes(
    sw: int, kind: type[errors.ApduError], code: Code
) -> None:
    error = error_for(sw, 0x20)
    assert type(error) is kind
    assert error.code is code
    assert error.sw == sw


def test_wrong_pin_error_tells_tries_left() -> None:
    error = error_for(0x63C1, 0x20)
    assert isinstance(error, errors.WrongPinError)
    assert error.tries_left == 1


class _FixedCard(CardEmulator):
    """Answers INS 0x10 with ``payload``; other instructions are unknown."""

    def __init__(self, payload: bytes) -> None:
        super().__init__()
        self.payload = payload
        self.seen: list[bytes] = []
        self.handlers[0x10] = self._answer_payload
        self.hooks.append(lambda card, command: self.seen.append(command.encode()))

    @property
    def card_id(self) -> str:
        return "fixed"

    def _answer_payload(self, command: CommandApdu) -> bytes:
        if command.p1 == 0xFF:
            raise SwError(SW.INCORRECT_P1P2)
        return self.payload


def _channel(card: CardEmulator) -> ApduChannel:
    slot = LocalSlot("test")
    slot.insert(card)
    return ApduChannel(slot.connect())


def test_61xx_answers_are_completed_with_get_response() -> None:
    card = _FixedCard(bytes(range(256)) + bytes(range(44)))
    card.t0_chunks = True
    data = _channel(card).send(CommandApdu(0x00, 0x10, 0, 0, le=256))
    assert data == card.payload
    assert [apdu[1] for apdu in card.seen] == [0x10, 0xC0, 0xC0]


def test_6cxx_answers_are_resent_with_the_length_the_card_asked_for() -> None:
    card = _FixedCard(b"\x01" * 57)
    card.strict_le = True
    card.rereadable_ins = {0x10}
    data = _channel(card).send(CommandApdu(0x00, 0x10, 0, 0, le=10))
    assert data == card.payload
    assert card.seen[1] == bytes.fromhex("0010000039")


def test_failing_status_word_raises_from_send_but_not_from_exchange() -> None:
    channel = _channel(_FixedCard(b"x"))
    assert channel.exchange(CommandApdu(0, 0x10, 0xFF, 0)).sw == SW.INCORRECT_P1P2
    with pytest.raises(errors.ApduError) as raised:
        channel.send(CommandApdu(0, 0x10, 0xFF, 0))
    assert raised.value.sw == SW.INCORRECT_P1P2


def test_unknown_instruction_answers_6d00() -> None:
    with pytest.raises(errors.NotSupportedError):
        _channel(_FixedCard(b"")).send(CommandApdu(0, 0x77, 0, 0))


def test_garbage_command_gets_a_status_word_not_a_crash() -> None:
    card = _FixedCard(b"")
    assert ResponseApdu.decode(card.execute(b"\x00\x10")).sw == SW.WRONG_LENGTH
