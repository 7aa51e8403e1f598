"""The PC/SC transport and the vpcd bridge, through a real pcscd."""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smartcard import scard
from smartcard.System import readers as pyscard_readers

from broker.apdu import CommandApdu
from broker.errors import CardAbsentError, ReaderNotFoundError, TransportError
from broker.transport.base import SlotEvent
from broker.transport.pcsc import PcscConnection, PcscMonitor, PcscSlot, list_readers
from nhi_kit.emulators.card import CardEmulator
from nhi_kit.emulators.vpcd import (
    GET_ATR,
    POWER_OFF,
    POWER_ON,
    FrameReader,
    VpcdBridge,
    frame,
    run_until_stopped,
)

READER0 = "Virtual PCD 00 00"
READER1 = "Virtual PCD 00 01"
WAIT = 5.0

Insert = Callable[[VpcdBridge], PcscSlot]


def echo(data: bytes) -> bytes:
    """An echo command (INS 01) carrying ``data``."""
    return CommandApdu(0x00, 0x01, 0, 0, data, le=len(data) or None).encode()


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


# --- monitor ---------------------------------------------------------------


class Events:
    """A listener that queues slot events for the test to wait on."""

    def __init__(self) -> None:
        self.queue: queue.Queue[SlotEvent] = queue.Queue()

    def __call__(self, event: SlotEvent) -> None:
        """Receive one event."""
        self.queue.put(event)

    def next(self) -> SlotEvent:
        """The next event, failing the test if none comes in time."""
        return self.queue.get(timeout=WAIT)


@pytest.fixture
def monitors() -> Iterator[list[PcscMonitor]]:
    """Monitors the test starts; all stopped at teardown."""
    started: list[PcscMonitor] = []
    yield started
    for monitor in started:
        monitor.stop()


def test_monitor_reports_insert_and_remove(
    bridge0: VpcdBridge, monitors: list[PcscMonitor], pcscd: None
) -> None:
    events = Events()
    monitor = PcscMonitor(events, readers=[READER0], poll_timeout_ms=200)
    monitors.append(monitor)
    monitor.start()

    bridge0.insert()
    assert events.next() == SlotEvent(READER0, present=True, atr=bridge0.card.atr)
    bridge0.remove()
    assert events.next() == SlotEvent(READER0, present=False)
    assert monitor.is_alive()


def test_monitor_reports_card_present_at_start(
    bridge1: VpcdBridge, insert: Insert, monitors: list[PcscMonitor]
) -> None:
    insert(bridge1)
    events = Events()
    monitor = PcscMonitor(events)
    monitors.append(monitor)
    monitor.start()
    assert events.next() == SlotEvent(READER1, present=True, atr=bridge1.card.atr)


def test_monitor_stop_returns_promptly(pcscd: None) -> None:
    monitor = PcscMonitor(Events(), poll_timeout_ms=30_000)
    monitor.start()
    monitor.stop(timeout=WAIT)  # far shorter than the 30 s poll: SCardCancel must end it
    assert not monitor.is_alive()
    assert monitor.error is None


def test_monitor_listener_failure_ends_thread_visibly(
    bridge0: VpcdBridge, monitors: list[PcscMonitor], pcscd: None
) -> None:
    failed: queue.Queue[BaseException] = queue.Queue()

    def broken(event: SlotEvent) -> None:
        raise RuntimeError("listener broke")

    monitor = PcscMonitor(broken, readers=[READER0], on_failure=failed.put)
    monitors.append(monitor)
    monitor.start()
    bridge0.insert()

    assert str(failed.get(timeout=WAIT)) == "listener broke"
    monitor.stop()
    assert not monitor.is_alive()
    assert isinstance(monitor.error, RuntimeError)


def test_monitor_retries_while_pcscd_is_unreachable(
    bridge0: VpcdBridge,
    insert: Insert,
    monitors: list[PcscMonitor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    insert(bridge0)
    real_establish = scard.SCardEstablishContext
    attempts: list[int] = []

    def establish_after_three_tries(scope: int) -> object:
        attempts.append(scope)
        if len(attempts) <= 3:
            return [scard.SCARD_E_NO_SERVICE, 0]
        return real_establish(scope)

    monkeypatch.setattr(scard, "SCardEstablishContext", establish_after_three_tries)
    events = Events()
    monitor = PcscMonitor(events, readers=[READER0], retry_delay=0.01)
    monitors.append(monitor)
    monitor.start()

    assert events.next() == SlotEvent(READER0, present=True, atr=bridge0.card.atr)
    assert len(attempts) == 4
    assert monitor.is_alive()


def test_monitor_reports_removal_when_pcscd_goes_away_and_recovers(
    bridge0: VpcdBridge,
    insert: Insert,
    monitors: list[PcscMonitor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    insert(bridge0)
    real_wait = scard.SCardGetStatusChange
    calls: list[int] = []

    def wait_failing_once(context: int, timeout: int, states: list[tuple[str, int]]) -> object:
        calls.append(timeout)
        if len(calls) == 2:  # the first call reports the card; the second loses pcscd
            return [scard.SCARD_E_NO_SERVICE, []]
        return real_wait(context, timeout, states)

    monkeypatch.setattr(scard, "SCardGetStatusChange", wait_failing_once)
    events = Events()
    monitor = PcscMonitor(events, readers=[READER0], retry_delay=0.01)
    monitors.append(monitor)
    monitor.start()

    present = SlotEvent(READER0, present=True, atr=bridge0.card.atr)
    assert events.next() == present
    assert events.next() == SlotEvent(READER0, present=False)
    assert events.next() == present
    assert monitor.is_alive()


# --- the bridge's side of the vpcd protocol, against a fake vpcd -------------------


class FakeVpcd:
    """A listening socket speaking vpcd's side of the protocol."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.peer: socket.socket | None = None

    def accept(self) -> None:
        """Take the bridge's connection."""
        self.server.settimeout(WAIT)
        self.peer, _ = self.server.accept()
        self.peer.settimeout(WAIT)

    def send(self, payload: bytes) -> None:
        """Send one message, the length prefix and payload in separate writes."""
        assert self.peer is not None
        self.peer.sendall(len(payload).to_bytes(2, "big"))
        self.peer.sendall(payload)

    def receive(self) -> bytes:
        """Read one message from the bridge."""
        size = int.from_bytes(self._exactly(2), "big")
        return self._exactly(size)

    def ask(self, payload: bytes) -> bytes:
        """Send one message and read the answer."""
        self.send(payload)
        return self.receive()

    def at_eof(self) -> bool:
        """Whether the bridge closed the connection."""
        assert self.peer is not None
        return self.peer.recv(1) == b""

    def close(self) -> None:
        """Close both sockets."""
        if self.peer is not None:
            self.peer.close()
        self.server.close()

    def _exactly(self, size: int) -> bytes:
        assert self.peer is not None
        data = b""
        while len(data) < size:
            chunk = self.peer.recv(size - len(data))
            assert chunk, "bridge closed the connection"
            data += chunk
        return data


@pytest.fixture
def fake_vpcd() -> Iterator[FakeVpcd]:
    """A fake vpcd on a free port."""
    fake = FakeVpcd()
    yield fake
    fake.close()


def test_bridge_speaks_vpcd_framing(fake_vpcd: FakeVpcd, echo_card: CardEmulator) -> None:
    with VpcdBridge(echo_card, port=fake_vpcd.port) as bridge:
        fake_vpcd.accept()
        assert fake_vpcd.ask(bytes([GET_ATR])) == echo_card.atr
        assert not bridge.wait_inserted(0)
        fake_vpcd.send(bytes([POWER_ON]))
        assert bridge.wait_inserted(WAIT)
        assert fake_vpcd.ask(echo(b"\x00\x01")) == b"\x00\x01\x90\x00"
        assert echo_card.powered
        fake_vpcd.send(bytes([POWER_OFF]))
        assert fake_vpcd.ask(bytes([GET_ATR])) == echo_card.atr
        assert not echo_card.powered
        assert bridge.served == 1
    assert fake_vpcd.at_eof()


def test_bridge_sets_tcp_nodelay(fake_vpcd: FakeVpcd, echo_card: CardEmulator) -> None:
    with VpcdBridge(echo_card, port=fake_vpcd.port) as bridge:
        fake_vpcd.accept()
        sock = bridge._sock
        assert sock is not None
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_bridge_answers_6f00_when_the_emulator_fails(
    fake_vpcd: FakeVpcd, echo_card: CardEmulator
) -> None:
    def broken(card: CardEmulator, command: CommandApdu) -> None:
        if command.ins == 0x0E:
            raise RuntimeError("emulator bug")

    echo_card.hooks.append(broken)
    with VpcdBridge(echo_card, port=fake_vpcd.port):
        fake_vpcd.accept()
        fake_vpcd.send(bytes([POWER_ON]))
        assert fake_vpcd.ask(bytes.fromhex("000E0000")) == b"\x6f\x00"
        assert fake_vpcd.ask(echo(b"ok")) == b"ok\x90\x00"


def test_bridge_ends_when_vpcd_closes(fake_vpcd: FakeVpcd, echo_card: CardEmulator) -> None:
    bridge = VpcdBridge(echo_card, port=fake_vpcd.port)
    bridge.insert()
    fake_vpcd.accept()
    fake_vpcd.send(bytes([POWER_ON]))
    assert fake_vpcd.ask(bytes([GET_ATR])) == echo_card.atr
    fake_vpcd.close()
    assert bridge.wait_removed(WAIT)
    assert not bridge.inserted
    assert not echo_card.powered
    bridge.remove()


def test_bridge_refused_names_the_port(echo_card: CardEmulator) -> None:
    with socket.create_server(("127.0.0.1", 0)) as unused:
        port = unused.getsockname()[1]
    with pytest.raises(TransportError, match=f"127.0.0.1:{port}"):
        VpcdBridge(echo_card, port=port).insert()


def test_remove_is_idempotent(fake_vpcd: FakeVpcd, echo_card: CardEmulator) -> None:
    bridge = VpcdBridge(echo_card, port=fake_vpcd.port)
    bridge.remove()
    bridge.insert()
    fake_vpcd.accept()
    bridge.remove()
    bridge.remove()
    assert fake_vpcd.at_eof()


@given(st.lists(st.binary(max_size=300), max_size=8), st.integers(1, 7))
def test_frame_reader_splits_any_chunking(payloads: list[bytes], chunk: int) -> None:
    stream = b"".join(frame(p) for p in payloads)
    reader = FrameReader()
    received: list[bytes] = []
    for start in range(0, len(stream), chunk):
        received += reader.feed(stream[start : start + chunk])
    assert received == payloads


def test_run_until_stopped_serves_then_removes(
    fake_vpcd: FakeVpcd, echo_card: CardEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    stop = threading.Event()
    runner = threading.Thread(
        target=run_until_stopped, args=(echo_card, "127.0.0.1", fake_vpcd.port, stop)
    )
    runner.start()
    fake_vpcd.accept()
    assert fake_vpcd.ask(bytes([GET_ATR])) == echo_card.atr
    stop.set()
    runner.join(WAIT)
    assert not runner.is_alive()
    assert fake_vpcd.at_eof()
    assert f"127.0.0.1:{fake_vpcd.port}" in capsys.readouterr().out
