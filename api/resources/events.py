"""GET /api/events/v1: the console's live header as Server-Sent Events.

The stream opens with ``event: status`` (the caller's station, as the Status
endpoint has it), then carries every board event that concerns that station:
its state changes, cards in its readers, restarts, degradation. A comment
every ``keepalive`` seconds (half a second) keeps proxies from closing it and lets the
server notice a client that has gone at the next one.

Each open stream holds a thread of the events pool (api/pools.py), which
serves nothing else, so their number is capped at that pool's size (503
beyond the cap); a stop ends every stream at its next keepalive.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any

import falcon

from api.docs import PathDoc
from api.services import ApiServices
from api.streams import StreamSlots
from api.wire import event_json, status_json
from broker.config import LOCAL
from broker.state import ActorRestarted, BoardEvent, CardMoved, StateBoard

PATH = "/api/events/v1"
QUEUE_SIZE = 256
Owner = Callable[[str], str | None]


def concerns(event: BoardEvent, station: str, owner: Owner) -> bool:
    """Whether ``station``'s stream carries ``event``."""
    if isinstance(event.data, CardMoved):
        holder = owner(event.data.reader)
        return holder == station or (holder is None and station == LOCAL)
    if isinstance(event.data, ActorRestarted):
        return event.station in (None, station)
    return event.station == station  # its state, its degradation


def frame(kind: str, data: dict[str, Any]) -> bytes:
    """One SSE message (JSON never holds a raw newline, so one ``data:`` line is enough)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {kind}\ndata: {text}\n\n".encode()


class EventStream:
    """One client's stream: a WSGI iterable fed by a board listener through a queue.

    It subscribes when first iterated and unsubscribes in ``close`` (called by
    the server when the response ends or the client has gone), so a stream
    that never starts leaks nothing but its slot, which ``close`` returns.
    """

    def __init__(
        self, board: StateBoard, station: str, owner: Owner, slots: StreamSlots, keepalive: float
    ) -> None:
        self._board = board
        self._station = station
        self._owner = owner
        self._slots = slots
        self._keepalive = keepalive
        self._queue: queue.Queue[BoardEvent] = queue.Queue(QUEUE_SIZE)
        self._lagged = threading.Event()
        self._unsubscribe: Callable[[], None] | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._frames = self._generate()

    def __iter__(self) -> Iterator[bytes]:
        """The stream's frames."""
        return self

    def __next__(self) -> bytes:
        """The next frame: an event, a fresh status after an overflow, or a keepalive."""
        return next(self._frames)

    def close(self) -> None:
        """Stop listening and free the slot (once)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
        with contextlib.suppress(ValueError):  # only if another thread is inside it
            self._frames.close()
        self._slots.give_back()

    def _listen(self, event: BoardEvent) -> None:
        """Called in the publisher's thread: never blocks; a full queue marks the stream lagged."""
        if not concerns(event, self._station, self._owner):
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._lagged.set()

    def _generate(self) -> Generator[bytes, None, None]:
        with self._lock:
            if self._closed:
                return
            self._unsubscribe = self._board.subscribe(self._listen)
        # Subscribed before the snapshot: nothing falls between the two.
        yield self._status()
        while not self._slots.closing.is_set():
            if self._lagged.is_set():
                yield self._catch_up()
                continue
            try:
                event = self._queue.get(timeout=self._keepalive)
            except queue.Empty:
                yield b": keepalive\n\n"
                continue
            yield frame(event.kind, event_json(event.data))

    def _catch_up(self) -> bytes:
        """After dropped events: forget the backlog and send the whole state again."""
        self._lagged.clear()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return self._status()

    def _status(self) -> bytes:
        return frame("status", status_json(self._board.get(self._station)))


class EventsResource:
    """GET /api/events/v1."""

    def __init__(self, services: ApiServices, slots: StreamSlots, keepalive: float) -> None:
        self._services = services
        self._slots = slots
        self._keepalive = keepalive

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Open a stream for the caller's station; 503 when too many are open."""
        if not self._slots.take():
            raise falcon.HTTPServiceUnavailable(
                title="too many event streams",
                description=f"at most {self._slots.limit} may be open at once",
                retry_after=5,
            )
        broker = self._services.broker
        resp.content_type = "text/event-stream; charset=utf-8"
        resp.set_header("Cache-Control", "no-cache")
        resp.set_header("X-Accel-Buffering", "no")
        resp.stream = EventStream(
            broker.board,
            req.context.station,
            broker.supervisor.reader_owner,
            self._slots,
            self._keepalive,
        )


def mount(app: falcon.App[Any, Any], services: ApiServices) -> None:
    """Add the events path; its stream slots are the services' (the metrics count them)."""
    services.docs.extend(DOCS)
    slots = StreamSlots(services.max_streams)
    services.streams = slots
    app.add_route(PATH, EventsResource(services, slots, services.keepalive))


STATUS_DATA = {
    "type": "object",
    "description": "the station's state: the Status endpoint's `status` object",
}
DOCS: tuple[PathDoc, ...] = (
    PathDoc(
        "GET",
        PATH,
        "live events (Server-Sent Events): first `status` (the station's state), then "
        "`state`, `card`, `restart` and `degraded` as they happen; `: keepalive` every half second",
        "events",
        reply={  # per kind, what its `data:` line holds as JSON text (api/openapi.py event_schema)
            "status": STATUS_DATA,
            "state": STATUS_DATA,
            "card": {
                "type": "object",
                "properties": {
                    "reader": {"type": "string"},
                    "slot": {"type": "string"},
                    "present": {"type": "boolean"},
                    "kind": {"type": ["string", "null"], "description": "hc, hpc, sam"},
                    "cardId": {"type": ["string", "null"]},
                },
            },
            "restart": {
                "type": "object",
                "properties": {"actor": {"type": "string"}, "restarts": {"type": "integer"}},
            },
            "degraded": {"type": "object", "properties": {"reason": {"type": "string"}}},
        },
        envelope=False,
        content_type="text/event-stream",
        responses={503: "too many event streams are open"},
    ),
)
