"""A stop as systemd does it, following the shipped unit's ``KillMode=`` and
``TimeoutStopSec=`` (tests/systemd.py): the calls in flight on a slow data centre are all
answered, a new request meanwhile is refused at once, and the broker is gone in time."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from api.pools import stop_seconds
from api.services import ApiServices
from tests.serving import call, https, serving, station_inbox
from tests.systemd import UNIT, KillSettings, Stopped, section, stop

CLOUD_SAM = "901000000047"  # the manual's test cloud SAM: its clock is the data centre's
CALLERS = 5
SLOW_DC_MS = 1000  # each call waits this long at the DC; the station runs them in turn
WAIT = 60.0


def test_the_units_stop_timeout_is_the_brokers_whole_stop_and_it_has_a_watchdog() -> None:
    settings = KillSettings.of(UNIT)
    assert settings.stop_timeout == stop_seconds(ApiServices.call_timeout)
    assert settings.kill_mode == "mixed"  # the broker, not systemd, stops HAProxy
    assert float(section(UNIT, "Service")["WatchdogSec"]) > 0


def test_a_stop_as_systemd_does_it_answers_every_call_in_flight_inside_its_timeout(
    tmp_path: Path,
) -> None:
    settings = KillSettings.of(UNIT)
    with serving("--profile", "sim", "--data-dir", str(tmp_path / "data")) as served:
        assert call(served.url, "POST", "/api/common/v1/Initial", {"name": CLOUD_SAM})[0] == 200
        call(served.url, "POST", "/api/sim/v1/Dc/Fault", {"latencyMs": SLOW_DC_MS})
        answers: list[tuple[int, bytes]] = []
        callers = [
            threading.Thread(
                target=lambda: answers.append(call(served.url, "GET", "/api/common/v1/ReaderTime"))
            )
            for _ in range(CALLERS)
        ]
        for caller in callers:
            caller.start()
        while station_inbox(served.url) < CALLERS - 1:  # one at the DC, the others behind it
            assert all(caller.is_alive() for caller in callers)
        stopped: list[Stopped] = []
        stopping = threading.Thread(target=lambda: stopped.append(stop(served.process, settings)))
        stopping.start()
        status, retry_after, body = refused_once_draining(served.url)
        assert any(caller.is_alive() for caller in callers)  # refused at once, not after them
        for caller in callers:
            caller.join(WAIT)
        stopping.join(WAIT)
    assert (status, retry_after, body["title"]) == (503, "2", "the broker is stopping")
    assert [(code, json.loads(raw)["statusCode"]) for code, raw in answers] == [(200, 0)] * 5
    [result] = stopped
    assert result.in_time, f"still running after TimeoutStopSec={settings.stop_timeout:g}"
    assert served.process.returncode == 0, result.output
    assert '"broker.stopped"' in result.output


def refused_once_draining(url: str) -> tuple[int, str | None, dict[str, str]]:
    """Ask for Status until the broker refuses it (its drain has begun): that answer."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        connection = https(url)
        try:
            connection.request("GET", "/api/common/v1/Status")
            response = connection.getresponse()
            body = json.loads(response.read())
        finally:
            connection.close()
        if response.status != 200:
            return response.status, response.getheader("Retry-After"), body
    raise AssertionError("the broker never refused a request while it stopped")
