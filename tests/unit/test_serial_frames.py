"""Serial reader framing: hex vectors, round trips, resynchronisation after garbage."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.roc import format_datetime as format_roc
from broker.roc import parse_datetime as parse_roc
from broker.transport.serial_frames import (
    MAX_BODY,
    Command,
    FrameDecoder,
    ReaderStatus,
    Request,
    Response,
    Slot,
    SlotState,
    Status,
    crc16,
    encode_frame,
)

bodies = st.binary(max_size=MAX_BODY)
small_bodies = st.binary(max_size=40)
garbage = st.binary(max_size=30)


def decode_all(stream: bytes) -> list[bytes]:
    """Feed a whole stream, then let the line go idle."""
    decoder = FrameDecoder()
    return decoder.feed(stream) + decoder.resync()


@pytest.mark.parametrize(
    ("data", "crc"),
    [(b"123456789", 0x29B1), (b"", 0xFFFF), (b"\x00", 0xE1F0), (b"A", 0xB915)],
)
def test_crc16_matches_ccitt_false_check_values(data: bytes, crc: int) -> None:
    assert crc16(data) == crc


def test_status_request_frame_matches_the_documented_hex() -> None:
    body = Request(seq=0x01, command=Command.STATUS, slot=0).encode()
    assert encode_frame(body).hex(" ") == "02 00 03 01 01 00 8e d1 03"


def test_status_response_frame_matches_the_documented_hex() -> None:
    status = ReaderStatus((SlotState.POWERED, SlotState.EMPTY, SlotState.PRESENT), 3)
    body = Response(0x01, Command.STATUS, Status.OK, status.encode()).encode()
    assert encode_frame(body).hex(" ") == "02 00 07 01 81 00 02 00 01 03 18 b1 03"


def test_xfr_request_frame_matches_the_documented_hex() -> None:
    body = Request(0x2A, Command.XFR, Slot.HC, bytes.fromhex("00ca1100020000")).encode()
    assert encode_frame(body).hex(" ") == "02 00 0a 2a 04 02 00 ca 11 00 02 00 00 c0 18 03"


def bitwise_crc16(data: bytes) -> int:
    """The textbook bit-by-bit CRC-16/CCITT-FALSE, as an independent oracle."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


@given(st.binary(max_size=200))
def test_crc16_agrees_with_the_bitwise_definition(data: bytes) -> None:
    assert crc16(data) == bitwise_crc16(data)


def test_encode_refuses_a_body_over_the_limit() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        encode_frame(bytes(MAX_BODY + 1))


@given(bodies)
def test_any_body_round_trips(body: bytes) -> None:
    assert FrameDecoder().feed(encode_frame(body)) == [body]


@given(st.lists(small_bodies, max_size=5))
def test_decoding_split_at_every_byte_boundary_yields_the_same_frames(
    frames: list[bytes],
) -> None:
    stream = b"".join(encode_frame(body) for body in frames)
    for cut in range(len(stream) + 1):
        decoder = FrameDecoder()
        assert decoder.feed(stream[:cut]) + decoder.feed(stream[cut:]) == frames


@given(st.lists(small_bodies, max_size=4))
def test_decoding_one_byte_at_a_time_yields_the_same_frames(frames: list[bytes]) -> None:
    decoder = FrameDecoder()
    stream = b"".join(encode_frame(body) for body in frames)
    out = [body for i in range(len(stream)) for body in decoder.feed(stream[i : i + 1])]
    assert out == frames
    assert decoder.pending == 0


@given(st.lists(st.tuples(garbage, small_bodies), max_size=5), garbage)
def test_garbage_before_between_and_after_frames_is_skipped(
    pieces: list[tuple[bytes, bytes]], suffix: bytes
) -> None:
    stream = b"".join(noise + encode_frame(body) for noise, body in pieces) + suffix
    assert decode_all(stream) == [body for _, body in pieces]


@given(small_bodies, small_bodies)
def test_stray_stx_with_a_large_length_hides_frames_only_until_the_line_is_idle(
    first: bytes, second: bytes
) -> None:
    decoder = FrameDecoder()
    stalled = decoder.feed(b"\x02\x02\x58" + encode_frame(first) + encode_frame(second))
    assert stalled + decoder.resync() == [first, second]


@given(small_bodies, st.data())
def test_a_frame_with_any_single_bit_flipped_is_dropped_and_the_next_survives(
    body: bytes, data: st.DataObject
) -> None:
    frame = bytearray(encode_frame(body))
    bit = data.draw(st.integers(0, len(frame) * 8 - 1))
    frame[bit // 8] ^= 1 << (bit % 8)
    assert decode_all(bytes(frame) + encode_frame(b"next")) == [b"next"]


def test_a_corrupted_crc_drops_the_frame() -> None:
    frame = bytearray(encode_frame(b"\x01\x01\x00"))
    frame[-2] ^= 0xFF
    assert decode_all(bytes(frame)) == []


def test_a_length_over_the_limit_is_garbage_not_a_wait() -> None:
    too_long = b"\x02" + (MAX_BODY + 1).to_bytes(2, "big")
    assert FrameDecoder().feed(too_long + encode_frame(b"ok")) == [b"ok"]


def test_decoder_counts_skipped_garbage() -> None:
    decoder = FrameDecoder()
    decoder.feed(b"\xff\xfe" + encode_frame(b"x"))
    assert decoder.skipped == 2


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.binary(max_size=20))
def test_request_and_response_bodies_round_trip(
    seq: int, command: int, slot: int, payload: bytes
) -> None:
    assert Request.decode(Request(seq, command, slot, payload).encode()) == Request(
        seq, command, slot, payload
    )
    response = Response(seq, command & 0x7F, Status.OK, payload)
    assert Response.decode(response.encode()) == response


def test_response_carries_the_command_with_the_high_bit_set() -> None:
    assert Response(7, Command.XFR, Status.NO_CARD).encode() == bytes.fromhex("078401")


def test_a_request_echoed_back_is_not_a_response() -> None:
    with pytest.raises(ValueError, match="response flag"):
        Response.decode(Request(1, Command.STATUS).encode())


def test_short_bodies_are_refused() -> None:
    with pytest.raises(ValueError, match="shorter"):
        Request.decode(b"\x01\x02")
    with pytest.raises(ValueError, match="shorter"):
        Response.decode(b"\x01")


def test_reader_status_payload_round_trips() -> None:
    status = ReaderStatus((SlotState.POWERED, SlotState.EMPTY, SlotState.PRESENT), 300 % 256)
    assert status.encode() == bytes.fromhex("0200012c")
    assert ReaderStatus.decode(status.encode()) == status
    assert status.is_present("HC")
    assert not status.is_present(Slot.HPC)


@pytest.mark.parametrize("payload", ["000000", "0000000000", "03000000"])
def test_malformed_reader_status_is_refused(payload: str) -> None:
    with pytest.raises(ValueError, match=r"STATUS payload|SlotState"):
        ReaderStatus.decode(bytes.fromhex(payload))


def test_roc_time_uses_year_minus_1911() -> None:
    moment = datetime(2024, 6, 20, 11, 48, 15)
    assert format_roc(moment) == "1130620114815"
    assert parse_roc("1130620114815") == moment


@pytest.mark.parametrize(
    "text", ["113062011481", "11306201148155", "1131320114815", "11306201148a5", "0000101000000"]
)
def test_malformed_roc_time_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_roc(text)


def test_slot_accepts_name_number_or_member() -> None:
    assert Slot.of("hc") is Slot.of(2) is Slot.of(Slot.HC) is Slot.HC
    with pytest.raises(ValueError, match="no slot"):
        Slot.of("ICC")
