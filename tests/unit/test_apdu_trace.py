"""APDU trace lines: every command and response at trace level, PINs never shown."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from broker import apdu
from broker import logging as broker_logging
from broker.apdu import ApduChannel, CommandApdu
from broker.cards import commands as cmd
from broker.cards.hc import HealthCardSession
from broker.cards.session import pin_apdu
from broker.transport.local import LocalConnection, LocalSlot
from nhi_kit.emulators.kit import CardKit
from tests import public_readers

HC_ID = "900000000711"  # the manual's test patient
PIN = "123456"
NEW_PIN = "87654321"


@pytest.fixture
def connection() -> LocalConnection:
    """A connection to the kit's test health card."""
    slot = LocalSlot("test")
    slot.insert(CardKit().card(HC_ID))
    return slot.connect()


def apdu_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """The trace lines about APDUs (every line must be JSON)."""
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line["event"] == "apdu"]


def selected(connection: LocalConnection) -> HealthCardSession:
    """A session on the health card with its NHI application selected."""
    session = HealthCardSession(connection)
    session.select()
    return session


class ScriptedTransmitter:
    """A transmitter that answers from a list, for response shapes the kit never gives."""

    def __init__(self, *answers: bytes) -> None:
        self._answers = list(answers)

    def transmit(self, apdu: bytes) -> bytes:
        """The next scripted answer."""
        return self._answers.pop(0)


def test_a_verify_shows_its_header_and_never_its_pin(
    stream: io.StringIO, connection: LocalConnection
) -> None:
    broker_logging.configure(stream=stream, level="trace")
    channel = ApduChannel(connection)
    channel.exchange(pin_apdu(cmd.Ins.VERIFY, 0, PIN.encode()))
    channel.exchange(pin_apdu(cmd.Ins.CHANGE_REFERENCE_DATA, 1, NEW_PIN.encode()))
    text = stream.getvalue()
    for secret in (PIN, NEW_PIN):
        for shape in (secret, secret.encode().hex(), secret.encode().hex(" ")):
            assert shape.upper() not in text.upper()
    verify, verify_answer, change, _ = apdu_lines(stream)
    assert verify["apdu"] == "00 20 00 01 06 ***"
    assert verify["direction"] == "command"
    assert verify["level"] == "trace"
    assert verify["logger"] == "broker.apdu"
    assert change["apdu"] == "00 24 01 01 08 ***"
    assert verify_answer["direction"] == "response"
    assert "data" not in verify_answer
    assert len(verify_answer["sw"]) == 4


def test_a_pin_status_check_is_a_verify_without_data_shown_in_full(
    stream: io.StringIO, connection: LocalConnection
) -> None:
    broker_logging.configure(stream=stream, level="trace")
    selected(connection).pin_status()
    status_command = apdu_lines(stream)[2]
    assert status_command["apdu"] == "00 20 00 01"


def test_select_and_read_profile_are_traced_with_the_public_bytes(
    stream: io.StringIO, connection: LocalConnection
) -> None:
    broker_logging.configure(stream=stream, level="trace")
    selected(connection).read_profile()
    select, select_answer, read, read_answer = apdu_lines(stream)
    assert select["apdu"] == public_readers.SELECT.hex(" ").upper()
    assert select_answer["sw"] == "9000"
    assert read["apdu"] == "00 CA 11 00 02 00 00"
    assert read_answer["length"] == 57
    assert bytes.fromhex(read_answer["data"]).startswith(HC_ID.encode())
    assert read_answer["ms"] >= 0


def test_long_response_data_is_cut_to_64_bytes(stream: io.StringIO) -> None:
    broker_logging.configure(stream=stream, level="trace")
    channel = ApduChannel(ScriptedTransmitter(bytes(range(100)) + b"\x90\x00"))
    channel.send(CommandApdu(0x00, 0xB0, 0x00, 0x00, le=100))
    answer = apdu_lines(stream)[1]
    assert answer["length"] == 100
    assert len(bytes.fromhex(answer["data"])) == apdu.TRACE_DATA_MAX
    assert answer["truncated"] is True


def test_get_response_rounds_are_traced_too(stream: io.StringIO) -> None:
    broker_logging.configure(stream=stream, level="trace")
    channel = ApduChannel(ScriptedTransmitter(b"\x61\x02", b"\xab\xcd\x90\x00"))
    assert channel.send(CommandApdu(0x00, 0xCA, 0x00, 0x01, le=256)) == b"\xab\xcd"
    got = [(line["direction"], line.get("apdu") or line["sw"]) for line in apdu_lines(stream)]
    assert got == [
        ("command", "00 CA 00 01 00"),
        ("response", "6102"),
        ("command", "00 C0 00 00 02"),
        ("response", "9000"),
    ]


def test_without_trace_level_no_apdu_is_logged(
    stream: io.StringIO, connection: LocalConnection
) -> None:
    broker_logging.configure(stream=stream, level="debug")
    selected(connection).read_profile()
    assert apdu_lines(stream) == []


def test_without_trace_level_no_trace_line_is_even_formatted(
    stream: io.StringIO, connection: LocalConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(*_args: object) -> None:
        raise AssertionError("trace formatting ran with trace off")

    monkeypatch.setattr(apdu, "trace_command", must_not_run)
    monkeypatch.setattr(apdu, "trace_response", must_not_run)
    broker_logging.configure(stream=stream, level="info")
    HealthCardSession(connection).select()
