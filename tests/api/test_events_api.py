"""GET /api/events/v1 through a real waitress server: streamed as things happen, per station."""

from __future__ import annotations

import dataclasses
import http.client
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pykka
import pytest

from actors.messages import Context
from api.openapi import build_document
from api.resources.events import QUEUE_SIZE, EventStream
from api.services import ApiServices, token_hash
from api.streams import StreamSlots
from api.wire import status_json
from broker import config
from broker.arguments import Arguments
from broker.rules import Function
from broker.state import BoardEvent, CardMoved, StateBoard
from nhi_broker.assembly import RunningBroker, assemble
from nhi_broker.webapp import broker_app
from nhi_https.server import HttpServer
from nhi_kit import sim_control

PATH = "/api/events/v1"
DESK2 = "desk2-secret"
READ_TIMEOUT = 10.0  # seconds: a missing event fails the test instead of hanging it
Event = tuple[str, dict[str, Any]]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RunningBroker]:
    """The sim profile with a token for desk2."""
    base = config.sim_profile()
    stations = tuple(
        dataclasses.replace(s, token_sha256=token_hash(DESK2)) if s.name == "desk2" else s
        for s in base.stations
    )
    running = assemble(dataclasses.replace(base, data_dir=tmp_path / "data", stations=stations))
    yield running
    running.close()
    pykka.ActorRegistry.stop_all()


def serve(broker: RunningBroker, **extras: Any) -> tuple[HttpServer, ApiServices]:
    """The whole API on a real waitress server (plain HTTP, loopback)."""
    services = ApiServices(broker, **extras)
    server = HttpServer(broker_app(services))
    server.start()
    return server, services


@pytest.fixture
def server(broker: RunningBroker) -> Iterator[HttpServer]:
    running, _ = serve(broker, keepalive=0.2)  # hung-up streams end quickly
    yield running
    running.stop()


class Stream:
    """One open event stream, read line by line."""

    def __init__(self, server: HttpServer, headers: dict[str, str] | None = None) -> None:
        host, port = server.address
        self.connection = http.client.HTTPConnection(host, port, timeout=READ_TIMEOUT)
        self.connection.request("GET", PATH, headers=headers or {})
        self.response = self.connection.getresponse()
        self.comments: list[str] = []
        self.sent: list[dict[str, str]] = []  # each event as an SSE client's parser reads it

    def next(self) -> Event:
        """The next event (comments are kept aside)."""
        kind, data = "", ""
        while True:
            line = self.response.readline().decode("utf-8")
            assert line, "the stream ended"
            line = line.rstrip("\n")
            if line.startswith(":"):
                self.comments.append(line)
            elif line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = line.removeprefix("data: ")
            elif line == "" and kind:
                self.sent.append({"event": kind, "data": data})
                return kind, json.loads(data)

    def until(self, wanted: Callable[[Event], bool]) -> Event:
        """Skip events until one is wanted."""
        while True:
            event = self.next()
            if wanted(event):
                return event

    def close(self) -> None:
        """Hang up: the response holds the socket too."""
        self.response.close()
        self.connection.close()


def _card(reader: str) -> Callable[[Event], bool]:
    return lambda e: e[0] == "card" and e[1]["reader"] == reader


def _published(broker: RunningBroker, wanted: Callable[[BoardEvent], bool]) -> threading.Event:
    """Set once the board has published a wanted event."""
    seen = threading.Event()

    def listen(event: BoardEvent) -> None:
        if wanted(event):
            seen.set()

    broker.board.subscribe(listen)
    return seen


def test_the_stream_opens_with_the_stations_status(
    broker: RunningBroker, server: HttpServer
) -> None:
    stream = Stream(server)
    try:
        assert stream.response.status == 200
        assert stream.response.getheader("Content-Type", "").startswith("text/event-stream")
        assert stream.response.getheader("Cache-Control") == "no-cache"
        kind, status = stream.next()
        assert kind == "status"
        assert status == status_json(broker.board.get("local"))
    finally:
        stream.close()


def test_a_card_pulled_and_inserted_arrives_while_the_stream_is_open(
    broker: RunningBroker, server: HttpServer
) -> None:
    stream = Stream(server)
    try:
        stream.next()
        sim_control.remove(broker, "Virtual Reader 0")
        _, pulled = stream.until(_card("Virtual Reader 0"))
        assert pulled["present"] is False
        sim_control.insert(broker, "Virtual Reader 0", "900000000742")
        _, inserted = stream.until(_card("Virtual Reader 0"))
        assert inserted == {
            "reader": "Virtual Reader 0",
            "slot": "Virtual Reader 0",
            "present": True,
            "kind": "HC",
            "cardId": "900000000742",
        }
    finally:
        stream.close()


def test_state_changes_and_restarts_of_the_station_arrive(
    broker: RunningBroker, server: HttpServer
) -> None:
    stream = Stream(server)
    try:
        stream.next()
        context = Context("test-events", "pytest", "local")
        broker.supervisor.call("local", Function.INITIAL, Arguments(name="COM1"), context, 10.0)
        _, state = stream.until(lambda e: e[0] == "state" and e[1]["initialized"])
        assert state["deviceName"] == "COM1"
        broker.supervisor.restart("hc:local")
        _, restart = stream.until(lambda e: e[0] == "restart")
        assert restart == {"actor": "hc:local", "restarts": 1}
    finally:
        stream.close()


def test_every_event_sent_is_what_the_openapi_document_describes(
    broker: RunningBroker, server: HttpServer
) -> None:
    services = ApiServices(broker)
    broker_app(services)  # what the mounted modules describe goes into services.docs
    document = build_document(services)
    content = document["paths"][PATH]["get"]["responses"]["200"]["content"]
    schema = content["text/event-stream"]["schema"]
    stream = Stream(server)
    try:
        stream.next()
        sim_control.remove(broker, "Virtual Reader 0")
        stream.until(_card("Virtual Reader 0"))
        context = Context("test-events", "pytest", "local")
        broker.supervisor.call("local", Function.INITIAL, Arguments(name="COM1"), context, 10.0)
        stream.until(lambda e: e[0] == "state")
        broker.supervisor.restart("hc:local")
        stream.until(lambda e: e[0] == "restart")
    finally:
        stream.close()
    assert {"status", "card", "state", "restart"} <= {e["event"] for e in stream.sent}
    for event in stream.sent:
        jsonschema.Draft202012Validator(schema).validate(event)  # data is JSON text
        kind = next(
            k for k in schema["oneOf"] if k["properties"]["event"]["const"] == event["event"]
        )
        jsonschema.validate(json.loads(event["data"]), kind["properties"]["data"]["contentSchema"])


def test_a_station_sees_its_own_readers_only(broker: RunningBroker, server: HttpServer) -> None:
    stream = Stream(server, {"Authorization": f"Bearer {DESK2}"})
    try:
        _, status = stream.next()
        assert status == status_json(broker.board.get("desk2"))
        local_card = _published(
            broker, lambda e: isinstance(e.data, CardMoved) and e.data.reader.endswith(" 0")
        )
        sim_control.remove(broker, "Virtual Reader 0")  # local's default reader
        assert local_card.wait(READ_TIMEOUT)
        sim_control.remove(broker, "Virtual Reader 2")  # desk2's health-card reader
        kind, card = stream.next()
        assert (kind, card["reader"], card["present"]) == ("card", "Virtual Reader 2", False)
    finally:
        stream.close()


def test_keepalive_comments_flow_while_nothing_happens(broker: RunningBroker) -> None:
    server, _ = serve(broker, keepalive=0.05)
    stream = Stream(server)
    try:
        stream.next()
        while len(stream.comments) < 2:
            line = stream.response.readline().decode()
            if line.startswith(":"):
                stream.comments.append(line.rstrip("\n"))
        assert stream.comments == [": keepalive", ": keepalive"]
    finally:
        stream.close()
        server.stop()


def test_streams_are_capped_and_a_closed_one_frees_its_slot(broker: RunningBroker) -> None:
    server, services = serve(broker, max_streams=1, keepalive=0.05)
    slots = services.streams
    assert slots is not None
    assert isinstance(slots, StreamSlots)
    first = Stream(server)
    try:
        first.next()
        second = Stream(server)
        assert second.response.status == 503
        assert second.response.getheader("Retry-After") == "5"
        second.close()
        first.close()
        assert slots.wait_for(0, READ_TIMEOUT)  # the next keepalive finds the client gone
        third = Stream(server)
        assert third.next()[0] == "status"
        third.close()
    finally:
        first.close()
        server.stop()


class CountingBoard(StateBoard):
    """A board that counts its listeners."""

    def __init__(self) -> None:
        super().__init__()
        self.listening = 0

    def subscribe(self, listener: Callable[[BoardEvent], None]) -> Callable[[], None]:
        unsubscribe = super().subscribe(listener)
        self.listening += 1

        def undo() -> None:
            unsubscribe()
            self.listening -= 1

        return undo


def _open_stream(board: StateBoard, slots: StreamSlots) -> EventStream:
    assert slots.take()
    return EventStream(board, "local", lambda _reader: None, slots, keepalive=READ_TIMEOUT)


def test_a_stream_listens_while_open_and_stops_when_closed() -> None:
    board, slots = CountingBoard(), StreamSlots(2)
    stream = _open_stream(board, slots)
    assert board.listening == 0  # subscribes when first read
    assert next(stream).startswith(b"event: status\n")
    assert board.listening == 1
    board.update("local", initialized=True)
    board.update("desk2", initialized=True)  # another station's: not carried
    assert next(stream).startswith(b'event: state\ndata: {"initialized":true')
    stream.close()
    stream.close()
    assert (board.listening, slots.open) == (0, 0)
    board.update("local", initialized=False)  # nobody listens any more


def test_a_stream_closed_before_it_started_frees_its_slot() -> None:
    board, slots = CountingBoard(), StreamSlots(1)
    stream = _open_stream(board, slots)
    stream.close()
    assert (board.listening, slots.open) == (0, 0)
    assert list(stream) == []


def test_a_lagging_stream_drops_its_backlog_and_sends_the_whole_state_again() -> None:
    board, slots = StateBoard(), StreamSlots(1)
    stream = _open_stream(board, slots)
    next(stream)
    for n in range(QUEUE_SIZE + 10):  # the publisher never waits for the reader
        board.update("local", reader_name=f"reader {n}")
    kind, data = next(stream).decode().split("\n")[:2]
    assert kind == "event: status"
    assert json.loads(data.removeprefix("data: "))["readerName"] == f"reader {QUEUE_SIZE + 9}"
    stream.close()
