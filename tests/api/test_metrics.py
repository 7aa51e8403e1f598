"""GET /metrics: Prometheus text, parsed line by line."""

from __future__ import annotations

import math
import os
import re
import signal
from dataclasses import dataclass, field

import falcon.testing
import pytest

from api.metrics import Histogram, Metrics, escape
from api.services import ApiServices
from broker.codes import Code
from broker.dc.client import DcClient, DcConfig, DcError
from nhi_broker.serve import RunningServer
from nhi_https.https import HttpsServer
from tests.api.conftest import call
from tests.api.https_client import HisClient, trusting

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
SUFFIXES = ("_bucket", "_sum", "_count")


@dataclass
class Exposition:
    """A parsed scrape: families' types and every sample by name and labels."""

    types: dict[str, str] = field(default_factory=dict)
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = field(default_factory=dict)

    def value(self, name: str, **labels: str) -> float:
        """One sample's value."""
        return self.samples[(name, frozenset(labels.items()))]

    def series(self, name: str) -> list[dict[str, str]]:
        """The label sets a metric has samples for."""
        return [dict(labels) for (n, labels) in self.samples if n == name]


def unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse_labels(text: str) -> dict[str, str]:
    """``a="1",b="x\\"y"`` → a dict; the whole text must be label pairs."""
    labels: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = LABEL.match(text, position)
        assert match, f"bad labels at {text[position:]!r}"
        labels[match.group(1)] = unescape(match.group(2))
        position = match.end()
    return labels


def parse(text: str) -> Exposition:
    """The exposition format, strictly: HELP/TYPE before a family's samples, one per line."""
    assert text.endswith("\n")
    exposition = Exposition()
    helped: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split(" ")[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped")
            assert name in helped
            assert name not in exposition.types
            exposition.types[name] = kind
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.group(1), parse_labels(match.group(2) or ""), match.group(3)
        family = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s)), name)
        family = family if family in exposition.types else name
        assert family in exposition.types, f"{name} has no TYPE line before it"
        key = (name, frozenset(labels.items()))
        assert key not in exposition.samples, f"duplicate sample {line!r}"
        exposition.samples[key] = float(value)
    check_histograms(exposition)
    return exposition


def check_histograms(exposition: Exposition) -> None:
    """Buckets ascend in ``le`` and in count; +Inf equals _count."""
    for name, kind in exposition.types.items():
        if kind != "histogram":
            continue
        for labels in exposition.series(f"{name}_count"):
            buckets = sorted(
                (float(series["le"]), exposition.value(f"{name}_bucket", **series))
                for series in exposition.series(f"{name}_bucket")
                if {k: v for k, v in series.items() if k != "le"} == labels
            )
            counts = [count for _, count in buckets]
            assert counts == sorted(counts)
            assert buckets[-1][0] == math.inf
            assert buckets[-1][1] == exposition.value(f"{name}_count", **labels)


def scrape(client: falcon.testing.TestClient) -> Exposition:
    result = client.simulate_get("/metrics")
    assert result.status_code == 200
    assert result.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(result.text)


def test_requests_are_counted_by_path_method_and_code(client: falcon.testing.TestClient) -> None:
    assert call(client, "POST", "/api/common/v1/Initial")["statusCode"] == 0
    assert call(client, "POST", "/api/sam/v1/Signature", {"serviceType": "01"})["statusCode"] == 0
    bad = call(client, "POST", "/api/sam/v1/Signature", {"serviceType": "x"})
    assert bad["statusCode"] == Code.INVALID_PARAMETER
    call(client, "GET", "/api/common/v1/Status")
    call(client, "POST", "/api/settings/v1/CloudSam/Remove", {"samId": "nope"})
    assert client.simulate_get("/no/such/path").status_code == 404
    assert client.simulate_get("/api/admin/v1/Actors").status_code == 401
    metrics = scrape(client)
    requests = "nhi_broker_requests_total"
    assert metrics.types[requests] == "counter"
    assert metrics.value(requests, path="/api/common/v1/Initial", method="POST", code="0") == 1
    assert metrics.value(requests, path="/api/sam/v1/Signature", method="POST", code="0") == 1
    assert metrics.value(requests, path="/api/sam/v1/Signature", method="POST", code="1704") == 1
    assert metrics.value(requests, path="/api/common/v1/Status", method="GET", code="0") == 1
    assert metrics.value(requests, path="unmatched", method="GET", code="404") == 1
    # refused before routing: no path template yet
    assert metrics.value(requests, path="unmatched", method="GET", code="401") == 1
    remove = "/api/settings/v1/CloudSam/Remove"
    assert metrics.value(requests, path=remove, method="POST", code="1611") == 1
    seconds = "nhi_broker_request_seconds"
    assert metrics.types[seconds] == "histogram"
    assert metrics.value(f"{seconds}_count", path="/api/sam/v1/Signature") == 2
    assert metrics.value(f"{seconds}_sum", path="/api/sam/v1/Signature") > 0


def test_card_operations_are_timed_by_function(client: falcon.testing.TestClient) -> None:
    call(client, "POST", "/api/common/v1/Initial")
    call(client, "POST", "/api/sam/v1/Signature", {"serviceType": "01"})
    call(client, "POST", "/api/sam/v1/Signature", {"serviceType": "02"})
    call(client, "GET", "/api/common/v1/Status")  # read model: not a card operation
    metrics = scrape(client)
    card = "nhi_broker_card_operation_seconds"
    assert metrics.types[card] == "histogram"
    assert metrics.value(f"{card}_count", function="INITIAL") == 1
    assert metrics.value(f"{card}_count", function="SAM_SIGN") == 2
    assert metrics.value(f"{card}_bucket", function="SAM_SIGN", le="+Inf") == 2
    assert {s["function"] for s in metrics.series(f"{card}_count")} == {"INITIAL", "SAM_SIGN"}


def test_dc_calls_are_timed_by_dc_path(client: falcon.testing.TestClient) -> None:
    call(client, "POST", "/api/common/v1/Initial")
    call(client, "POST", "/api/sam/v1/Verification")  # the cloud SAM: challenge, authenticate
    metrics = scrape(client)
    dc = "nhi_broker_dc_call_seconds"
    assert metrics.types[dc] == "histogram"
    for path in ("/dc/v1/sam/challenge", "/dc/v1/sam/authenticate"):
        assert metrics.value(f"{dc}_count", path=path) == 1
        assert metrics.value("nhi_broker_dc_calls_total", path=path, code="0") == 1


def test_actors_restarts_and_inboxes(
    client: falcon.testing.TestClient, services: ApiServices
) -> None:
    supervisor = services.broker.supervisor
    supervisor.restart("station:local")
    actors = supervisor.actors()
    metrics = scrape(client)
    assert metrics.types["nhi_broker_actor_restarts_total"] == "counter"
    assert metrics.types["nhi_broker_actor_inbox_depth"] == "gauge"
    assert {s["actor"] for s in metrics.series("nhi_broker_actor_restarts_total")} == {
        a.name for a in actors
    }
    assert {s["actor"] for s in metrics.series("nhi_broker_actor_inbox_depth")} == {
        a.name for a in actors
    }
    assert metrics.value("nhi_broker_actor_restarts_total", actor="station:local") >= 1
    assert metrics.value("nhi_broker_actor_restarts_total", actor="station:local") == next(
        a.restarts for a in supervisor.actors() if a.name == "station:local"
    )


def test_cards_present_follow_the_board(
    client: falcon.testing.TestClient, services: ApiServices
) -> None:
    before = scrape(client)
    for kind in ("sam", "hpc", "hc"):
        assert before.value("nhi_broker_cards_present", station="local", kind=kind) == 0
    call(client, "POST", "/api/common/v1/Initial")
    state = services.broker.board.get("local")
    after = scrape(client)
    assert after.types["nhi_broker_cards_present"] == "gauge"
    expected = {"sam": state.sam_status, "hpc": state.hca_status, "hc": state.hc_status}
    for kind, status in expected.items():
        present = after.value("nhi_broker_cards_present", station="local", kind=kind)
        assert present == (1 if status >= 1 else 0)
    assert after.value("nhi_broker_cards_present", station="local", kind="sam") == 1


def test_open_event_streams_are_a_gauge(client: falcon.testing.TestClient) -> None:
    metrics = scrape(client)
    assert metrics.types["nhi_broker_event_streams"] == "gauge"
    assert metrics.value("nhi_broker_event_streams") == 0


def test_haproxy_restarts_are_counted(server: RunningServer) -> None:
    https = server.server
    assert isinstance(https, HttpsServer)
    before = scrape_https(server)
    first = https.terminator.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    assert https.terminator.wait_for(lambda pid: pid not in (None, first), 30)
    after = scrape_https(server)  # a new connection: the killed HAProxy took the old one
    assert before.types["nhi_broker_tls_restarts_total"] == "counter"
    assert before.value("nhi_broker_tls_restarts_total") == 0
    assert after.value("nhi_broker_tls_restarts_total") == 1


def scrape_https(server: RunningServer) -> Exposition:
    client = HisClient(server.url, trusting(server))
    try:
        status, raw = client.send("GET", "/metrics", b"")
    finally:
        client.close()
    assert status == 200
    return parse(raw.decode())


def test_plain_http_has_no_haproxy_to_count(client: falcon.testing.TestClient) -> None:
    assert "nhi_broker_tls_restarts_total" not in scrape(client).types


def test_dc_client_tells_its_observer_of_every_exchange(services: ApiServices) -> None:
    seen: list[tuple[str, float, int]] = []
    dc = services.broker.dc
    dc.add_observer(lambda path, seconds, code: seen.append((path, seconds, code)))
    dc.server_time()
    assert [(p, c) for p, _, c in seen] == [("/dc/v1/time", 0)]
    assert seen[0][1] > 0
    down = DcClient(DcConfig("https://127.0.0.1:9", timeout=1.0))
    down.add_observer(lambda path, seconds, code: seen.append((path, seconds, code)))
    with pytest.raises(DcError):
        down.server_time()
    # idempotent: tried twice, both seen
    assert [(p, c) for p, _, c in seen[1:]] == [("/dc/v1/time", int(Code.DC_CONNECTION))] * 2


def test_a_failing_observer_does_not_fail_the_dc_call(services: ApiServices) -> None:
    def broken(path: str, seconds: float, code: int) -> None:
        raise RuntimeError("metrics bug")

    services.broker.dc.add_observer(broken)
    assert services.broker.dc.server_time()


def test_label_values_are_escaped() -> None:
    metrics = Metrics()
    metrics.requests.inc(('/a"b\\c\nd', "GET", "200"))
    text = "\n".join(metrics.requests.lines()) + "\n"
    exposition = parse(text)
    value = exposition.value(
        "nhi_broker_requests_total", path='/a"b\\c\nd', method="GET", code="200"
    )
    assert value == 1
    assert escape('"') == '\\"'


def test_histogram_buckets_are_cumulative() -> None:
    histogram = Histogram("h_seconds", "test", ("path",), (0.1, 1.0))
    for seconds in (0.05, 0.1, 0.5, 2.0):
        histogram.observe(("/x",), seconds)
    exposition = parse("\n".join(histogram.lines()) + "\n")
    assert exposition.value("h_seconds_bucket", path="/x", le="0.1") == 2  # le is inclusive
    assert exposition.value("h_seconds_bucket", path="/x", le="1") == 3
    assert exposition.value("h_seconds_bucket", path="/x", le="+Inf") == 4
    assert exposition.value("h_seconds_count", path="/x") == 4
    assert exposition.value("h_seconds_sum", path="/x") == pytest.approx(2.65)
