"""The vpcd bridge's side of the vpcd protocol, against a fake vpcd (no pcscd needed)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.apdu import CommandApdu
from broker.errors import TransportError
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
from tests.pcsc.vpcd_slots import WAIT, echo


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
