"""GET /metrics: the Prometheus text exposition format (0.0.4), written by hand.

Counted as requests finish (a falcon middleware): requests by path
template, method and code (the ``statusCode`` of a cshis6 call, else the
HTTP status), request latency by path, card-operation latency by function,
and, observing the DC client (``DcClient.add_observer``), data-centre latency by DC path. Read
when scraped: actor restarts and inbox depths, HAProxy's restarts, which
cards each station holds, and how many event streams are open.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import falcon

from api.docs import PathDoc
from api.routes import ROUTES
from api.services import ApiServices

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CARD_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DC_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "unmatched"  # the path label of requests no route took (bounded cardinality)

DOCS: tuple[PathDoc, ...] = (
    PathDoc(
        "GET",
        "/metrics",
        "Prometheus metrics: requests, card and DC latency, actor restarts and inboxes, cards",
        "meta",
        envelope=False,
        content_type="text/plain",
    ),
)

Labels = tuple[str, ...]


def escape(value: str) -> str:
    """A label value as the exposition format quotes it."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def number(value: float) -> str:
    """A sample value: integers without a fraction, infinities as +Inf/-Inf."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def sample(name: str, names: Labels, values: Labels, value: float) -> str:
    """One line: ``name{label="value",…} number``."""
    labels = ",".join(f'{n}="{escape(v)}"' for n, v in zip(names, values, strict=True))
    return f"{name}{{{labels}}} {number(value)}" if labels else f"{name} {number(value)}"


def header(name: str, kind: str, text: str) -> list[str]:
    """The HELP and TYPE lines of a metric family."""
    return [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]


class Counter:
    """A counter family: one value per label set."""

    def __init__(self, name: str, text: str, labels: Labels) -> None:
        self.name, self.text, self.labels = name, text, labels
        self._values: dict[Labels, float] = {}
        self._lock = threading.Lock()

    def inc(self, values: Labels, amount: float = 1.0) -> None:
        """Add to one label set's value."""
        with self._lock:
            self._values[values] = self._values.get(values, 0.0) + amount

    def lines(self) -> Iterator[str]:
        """The family in exposition format."""
        with self._lock:
            values = sorted(self._values.items())
        yield from header(self.name, "counter", self.text)
        for labels, value in values:
            yield sample(self.name, self.labels, labels, value)


class Histogram:
    """A histogram family: cumulative buckets, sum and count per label set."""

    def __init__(self, name: str, text: str, labels: Labels, buckets: tuple[float, ...]) -> None:
        self.name, self.text, self.labels = name, text, labels
        self.buckets = (*sorted(buckets), math.inf)
        self._series: dict[Labels, tuple[list[int], list[float]]] = {}
        self._lock = threading.Lock()

    def observe(self, values: Labels, seconds: float) -> None:
        """Count one observation in the first bucket that holds it."""
        index = bisect.bisect_left(self.buckets, seconds)
        with self._lock:
            counts, total = self._series.setdefault(values, ([0] * len(self.buckets), [0.0]))
            counts[index] += 1
            total[0] += seconds

    def lines(self) -> Iterator[str]:
        """The family in exposition format (buckets are cumulative)."""
        with self._lock:
            series = sorted((k, (list(c), t[0])) for k, (c, t) in self._series.items())
        yield from header(self.name, "histogram", self.text)
        names = (*self.labels, "le")
        for labels, (counts, total) in series:
            running = 0
            for bound, count in zip(self.buckets, counts, strict=True):
                running += count
                yield sample(f"{self.name}_bucket", names, (*labels, number(bound)), running)
            yield sample(f"{self.name}_sum", self.labels, labels, total)
            yield sample(f"{self.name}_count", self.labels, labels, running)


class Metrics:
    """Every metric the broker keeps between scrapes."""

    def __init__(self) -> None:
        self.requests = Counter(
            "nhi_broker_requests_total",
            "API requests by path template, method and code (statusCode, else HTTP status).",
            ("path", "method", "code"),
        )
        self.request_seconds = Histogram(
            "nhi_broker_request_seconds",
            "Time to answer an API request, by path template.",
            ("path",),
            REQUEST_BUCKETS,
        )
        self.card_seconds = Histogram(
            "nhi_broker_card_operation_seconds",
            "Time of a cshis6 function call (the station actor's work), by function.",
            ("function",),
            CARD_BUCKETS,
        )
        self.dc_seconds = Histogram(
            "nhi_broker_dc_call_seconds",
            "Time of one exchange with the data centre, by DC path.",
            ("path",),
            DC_BUCKETS,
        )
        self.dc_calls = Counter(
            "nhi_broker_dc_calls_total",
            "Exchanges with the data centre by DC path and result code (0 = success).",
            ("path", "code"),
        )

    def observe_dc(self, path: str, seconds: float, code: int) -> None:
        """An observer of the DC client: one exchange with the DC."""
        self.dc_seconds.observe((path,), seconds)
        self.dc_calls.inc((path, str(code)))

    def families(self) -> tuple[Counter | Histogram, ...]:
        """The kept families, in exposition order."""
        return (
            self.requests,
            self.request_seconds,
            self.card_seconds,
            self.dc_seconds,
            self.dc_calls,
        )


FUNCTIONS = {(route.path, route.method): route.function.name for route in ROUTES}


def result_code(resp: falcon.Response) -> str:
    """An enveloped reply's statusCode (settings, sim), else the HTTP status."""
    media = resp.media
    if isinstance(media, dict) and type(media.get("statusCode")) is int:
        return str(media["statusCode"])
    return str(resp.status_code)


class MetricsMiddleware:
    """Counts every request as it finishes; times function endpoints' responders."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Start the clock unless an earlier middleware did."""
        if getattr(req.context, "started", None) is None:
            req.context.started = time.perf_counter()

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        """The responder starts: for a function endpoint, that is the card operation."""
        req.context.metrics_responder_started = time.perf_counter()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, succeeded: bool
    ) -> None:
        """Count the request; time it, and its card operation when it ran one."""
        now = time.perf_counter()
        path = req.uri_template or UNMATCHED
        code = getattr(req.context, "status_code", None)
        label = str(code) if code is not None else result_code(resp)
        self._metrics.requests.inc((path, req.method, label))
        started = getattr(req.context, "started", None)
        if started is not None:
            self._metrics.request_seconds.observe((path,), now - started)
        function = FUNCTIONS.get((path, req.method))
        responder = getattr(req.context, "metrics_responder_started", None)
        if function is not None and code is not None and responder is not None:
            self._metrics.card_seconds.observe((function,), now - responder)


class MetricsResource:
    """GET /metrics."""

    def __init__(self, services: ApiServices, metrics: Metrics) -> None:
        self._services = services
        self._metrics = metrics

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Every family, kept and read now."""
        lines: list[str] = []
        for family in self._metrics.families():
            lines.extend(family.lines())
        lines.extend(self._actor_lines())
        lines.extend(self._tls_lines())
        lines.extend(self._card_lines())
        lines.extend(self._stream_lines())
        resp.data = ("\n".join(lines) + "\n").encode("utf-8")
        resp.content_type = CONTENT_TYPE
        resp.cache_control = ["no-store"]

    def _actor_lines(self) -> Iterable[str]:
        actors = self._services.broker.supervisor.actors()
        restarts = "nhi_broker_actor_restarts_total"
        yield from header(restarts, "counter", "Restarts of each actor since the broker started.")
        for actor in actors:
            yield sample(restarts, ("actor",), (actor.name,), actor.restarts)
        inbox = "nhi_broker_actor_inbox_depth"
        yield from header(inbox, "gauge", "Messages waiting in each actor's inbox.")
        for actor in actors:
            yield sample(inbox, ("actor",), (actor.name,), actor.inbox)

    def _tls_lines(self) -> Iterable[str]:
        restarts = self._services.tls_restarts
        if restarts is None:  # plain HTTP: no HAProxy
            return
        name = "nhi_broker_tls_restarts_total"
        yield from header(name, "counter", "Restarts of HAProxy (HTTPS) since the broker started.")
        yield sample(name, (), (), restarts())

    def _card_lines(self) -> Iterable[str]:
        name = "nhi_broker_cards_present"
        yield from header(name, "gauge", "1 when the station holds a SAM, HPC or HC (status >= 1).")
        board = self._services.broker.board
        for station in self._services.broker.config.stations:
            state = board.get(station.name)
            present = {"sam": state.sam_status, "hpc": state.hca_status, "hc": state.hc_status}
            for kind, status in present.items():
                yield sample(name, ("station", "kind"), (station.name, kind), int(status >= 1))

    def _stream_lines(self) -> Iterable[str]:
        slots = self._services.streams
        if slots is None:
            return
        name = "nhi_broker_event_streams"
        yield from header(name, "gauge", "Server-Sent Event streams open now.")
        yield sample(name, (), (), slots.open)


def mount(app: falcon.App[Any, Any], services: ApiServices) -> None:
    """GET /metrics, the counting middleware and the DC client's observer."""
    services.docs.extend(DOCS)
    metrics = Metrics()
    services.broker.dc.add_observer(metrics.observe_dc)
    app.add_middleware(MetricsMiddleware(metrics))
    app.add_route("/metrics", MetricsResource(services, metrics))
