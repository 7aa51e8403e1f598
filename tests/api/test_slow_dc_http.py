"""A slow data centre as an HIS client meets it over HTTP (a real waitress server, the sim API
to slow the DC and pull cards): calls that run out of time behind it answer 1700, the DC's
code, not 1300; a card pulled while the DC is asked answers 1102 at once; a SAM that is
really gone is still 1300."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from api.services import ApiServices
from broker.codes import Code
from nhi_broker.assembly import RunningBroker
from nhi_broker.webapp import broker_app
from nhi_https.server import HttpServer

CALL_TIMEOUT = 2.0  # seconds an HIS call may take here (30 in service): the DC is slower
DC_LATENCY_MS = 3000  # slow, under the DC client's 5 s timeout
SIM = "/api/sim/v1"
SAM_VERIFY = "/api/sam/v1/Verification"
WAIT = 20.0  # a failure bound only


@pytest.fixture
def server(running: RunningBroker) -> Iterator[HttpServer]:
    serving = HttpServer(broker_app(ApiServices(running, call_timeout=CALL_TIMEOUT)))
    serving.start()
    yield serving
    serving.stop()


def request(server: HttpServer, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """One call on a connection of its own (a loopback caller: the station ``local``)."""
    host, port = server.address
    connection = http.client.HTTPConnection(host, port, timeout=WAIT)
    try:
        connection.request(method, path, body=json.dumps(body).encode())
        response = connection.getresponse()
        assert response.status == 200
        answer: dict[str, Any] = json.loads(response.read())
        return answer
    finally:
        connection.close()


def ok(server: HttpServer, method: str, path: str, body: dict[str, Any] | None = None) -> None:
    answer = request(server, method, path, body or {})
    assert answer["statusCode"] == 0, answer


def at_the_dc(
    broker: RunningBroker, server: HttpServer, method: str, path: str, body: dict[str, Any]
) -> Future[dict[str, Any]]:
    """Send a call from a thread; return once its first DC request has reached the DC."""
    assert broker.kit is not None
    dc = broker.kit.dc
    before = dc.requests
    answer: Future[dict[str, Any]] = Future()
    threading.Thread(
        target=lambda: answer.set_result(request(server, method, path, body)), daemon=True
    ).start()
    tick = threading.Event()  # never set: a pause between looks at the DC's counter
    while dc.requests == before:
        assert not answer.done(), f"answered before asking the DC: {answer.result()}"
        tick.wait(0.005)
    return answer


def test_calls_that_run_out_of_time_behind_a_slow_dc_answer_the_dcs_1700(
    running: RunningBroker, server: HttpServer
) -> None:
    ok(server, "POST", "/api/common/v1/Initial", {"name": "901000000047"})
    ok(server, "POST", f"{SIM}/Dc/Fault", {"latencyMs": DC_LATENCY_MS})
    first = at_the_dc(running, server, "POST", SAM_VERIFY, {})  # two DC round trips: 6 s
    queued = request(server, "POST", SAM_VERIFY, {})  # waits behind it at the station
    for answer in (first.result(WAIT), queued):
        assert answer["statusCode"] == Code.DC_CONNECTION, answer
        assert answer["message"] == "與 DC 通訊連線異常"
        assert answer["detail"].endswith(" did not answer in time: held up by the data centre")


def test_a_sam_that_is_gone_still_answers_1300(server: HttpServer) -> None:
    ok(server, "POST", "/api/common/v1/Initial", {"name": "COM1"})
    ok(server, "POST", f"{SIM}/Remove", {"reader": "COM1 SAM"})
    ok(server, "POST", f"{SIM}/Dc/Fault", {"latencyMs": DC_LATENCY_MS})
    answer = request(server, "POST", SAM_VERIFY, {})
    assert answer["statusCode"] == Code.SAM_MODE1_FAILED, answer


def test_an_hpc_pulled_while_the_dc_checks_it_answers_1102_before_the_dc_could_have(
    running: RunningBroker, server: HttpServer
) -> None:
    ok(server, "POST", "/api/common/v1/Initial", {"name": "901000000047"})
    ok(server, "POST", SAM_VERIFY)  # the SAM's own DC round trips out of the way
    ok(server, "POST", f"{SIM}/Dc/Fault", {"latencyMs": DC_LATENCY_MS})
    verifying = at_the_dc(
        running, server, "POST", "/api/hpc/v1/Verification/Hpc", {"pin": "000000"}
    )
    pulled = time.monotonic()
    ok(server, "POST", f"{SIM}/Remove", {"reader": "Virtual Reader 1"})
    answer = verifying.result(WAIT)
    assert time.monotonic() - pulled < DC_LATENCY_MS / 1000  # the DC had not answered yet
    assert answer["statusCode"] == Code.NO_CARD, answer
    status = request(server, "GET", "/api/common/v1/Status", {})["status"]
    assert status["hpc"] == {"type": 0, "status": 0}
