"""GET /api/health/v1/Serving, the check systemd's watchdog beats on: answered once an actor
answered through the supervisor, refused with the reason when none does, and reached through
HAProxy and the quick pool as the watchdog reaches it."""

from __future__ import annotations

import contextlib
import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import falcon.testing
import pykka

from actors.pulse import PULSE
from api.resources.health import PATH
from api.services import ApiServices
from nhi_broker.assembly import RunningBroker
from nhi_broker.serve import RunningServer
from nhi_broker.watchdog import serving_check

WAIT = 30.0


class WedgedActor(pykka.ThreadingActor):
    """An actor that answers nothing until the test lets it: a hung actor system."""

    use_daemon_thread = True

    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self.release = release

    def on_receive(self, message: Any) -> None:
        self.release.wait(WAIT)


@contextlib.contextmanager
def wedged_pulse(broker: RunningBroker) -> Iterator[None]:
    """The supervisor's pulse actor replaced by one that does not answer, until the end."""
    handle = broker.supervisor.handle(PULSE)
    working, activity, release = handle.ref, handle.activity, threading.Event()
    handle.replace(WedgedActor.start(release), activity)
    try:
        yield
    finally:
        release.set()
        handle.replace(working, activity)


def test_the_check_answers_once_an_actor_answered(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get(PATH)
    assert (result.status_code, result.json) == (200, {"serving": True})


def test_a_caller_off_this_machine_needs_no_token_for_it(
    client: falcon.testing.TestClient,
) -> None:
    assert client.simulate_get(PATH, remote_addr="192.0.2.7").status_code == 200
    status = client.simulate_get("/api/common/v1/Status", remote_addr="192.0.2.7")
    assert status.status_code == 401  # everything else still does


def test_the_check_fails_naming_the_actor_that_did_not_answer(
    client: falcon.testing.TestClient, services: ApiServices
) -> None:
    assert isinstance(services.broker, RunningBroker)
    with wedged_pulse(services.broker):
        result = client.simulate_get(PATH)
    assert result.status_code == 503
    assert result.json["description"] == f"{PULSE} did not answer in time"
    assert client.simulate_get(PATH).status_code == 200  # the actor answers again


def test_a_passing_check_leaves_no_log_line_a_failing_one_does(
    client: falcon.testing.TestClient, services: ApiServices, log_lines: io.StringIO
) -> None:
    assert isinstance(services.broker, RunningBroker)
    client.simulate_get(PATH)
    with wedged_pulse(services.broker):
        client.simulate_get(PATH)
    calls = [
        e for e in map(json.loads, log_lines.getvalue().splitlines()) if e["event"] == "api.call"
    ]
    assert [(e["path"], e["status"]) for e in calls] == [(PATH, 503)]


def test_the_watchdogs_check_goes_through_haproxy_the_quick_pool_and_an_actor(
    server: RunningServer,
) -> None:
    check = serving_check(server.server.url)
    assert check(WAIT) is None
    with wedged_pulse(server.broker):
        reason = check(WAIT)
    assert reason == f"{PATH} answered 503: not serving: {PULSE} did not answer in time"
    assert check(WAIT) is None
