"""``serve`` tells systemd when it is ready and when it stops (Type=notify), and beats its
watchdog while it serves, over a real unix datagram socket given as ``NOTIFY_SOCKET``."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import ssl
import statistics
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.resources.health import PATH as HEALTH_PATH
from nhi_broker.sd_notify import SystemdNotifier, watchdog_seconds
from tests.serving import ServeProcess, serving

INTERVAL = 4.0  # seconds: the watchdog interval systemd gives (WatchdogSec=), here short


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    """What systemd listens on: a unix datagram socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.settimeout(30)  # a deadline for a broken test, not a wait for anything
        yield sock


def test_serve_sends_ready_once_it_answers_and_stopping_on_sigterm(
    notify_socket: socket.socket, tmp_path: Path
) -> None:
    env = {**os.environ, "NOTIFY_SOCKET": notify_socket.getsockname()}
    with serving("--profile", "sim", "--data-dir", str(tmp_path / "data"), env=env) as served:
        ready = notify_socket.recv(4096).decode().splitlines()
        assert ready[0] == "READY=1"
        assert ready[1] == f"STATUS=serving {served.ready['console']}"
        # it answered when it said so
        trusted = ssl.create_default_context(cafile=str(tmp_path / "data" / "tls" / "ca.crt"))
        status = f"{served.url}/api/common/v1/Status"
        with urllib.request.urlopen(status, context=trusted, timeout=30) as answer:
            assert json.loads(answer.read())["statusCode"] == 0
        remaining = served.stop()
        assert notify_socket.recv(4096) == b"STOPPING=1"
        assert served.process.returncode == 0, remaining


def test_serve_sends_ready_to_an_abstract_notify_socket(tmp_path: Path) -> None:
    name = f"nhi-broker-test-{os.getpid()}-{tmp_path.name}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(30)
        env = {**os.environ, "NOTIFY_SOCKET": "@" + name}
        with serving("--profile", "sim", "--data-dir", str(tmp_path / "data"), env=env) as served:
            assert sock.recv(4096).startswith(b"READY=1\n")
            served.stop()


def test_serve_without_notify_socket_runs_as_before(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    with serving("--profile", "sim", "--data-dir", str(tmp_path / "data"), env=env) as served:
        served.stop()
        assert served.process.returncode == 0


@contextlib.contextmanager
def watched(notify_socket: socket.socket, tmp_path: Path) -> Iterator[ServeProcess]:
    """``serve`` as systemd starts a unit with ``WatchdogSec=INTERVAL``, once ready."""
    env = {k: v for k, v in os.environ.items() if k != "WATCHDOG_PID"}  # (the main pid)
    env |= {"NOTIFY_SOCKET": notify_socket.getsockname(), "WATCHDOG_USEC": f"{INTERVAL * 1e6:.0f}"}
    with serving("--profile", "sim", "--data-dir", str(tmp_path / "data"), env=env) as served:
        assert notify_socket.recv(4096).startswith(b"READY=1\n")  # before any beat
        yield served


def test_the_watchdog_beats_after_ready_at_half_the_interval(
    notify_socket: socket.socket, tmp_path: Path
) -> None:
    with watched(notify_socket, tmp_path) as served:
        beats = []
        for _ in range(4):
            assert notify_socket.recv(4096) == b"WATCHDOG=1"
            beats.append(time.monotonic())
        served.stop()
        assert notify_socket.recv(4096) == b"STOPPING=1"  # no beat after the stop began
    gaps = [later - earlier for earlier, later in itertools.pairwise(beats)]
    assert all(gap < INTERVAL for gap in gaps), gaps  # systemd would never fire
    assert INTERVAL * 0.4 < statistics.mean(gaps) < INTERVAL * 0.75, gaps  # at half of it


def test_a_hung_terminator_withholds_the_beats_and_the_log_says_why(
    notify_socket: socket.socket, tmp_path: Path
) -> None:
    with watched(notify_socket, tmp_path) as served:
        assert notify_socket.recv(4096) == b"WATCHDOG=1"
        os.kill(served.haproxy, signal.SIGSTOP)  # alive, in front of the pools, serving nothing
        try:
            first = served.read_until('"watchdog.withheld"')
            waiting(notify_socket)  # beats sent before the hang was noticed: passed over
            second = served.read_until('"watchdog.withheld"')
            assert waiting(notify_socket) == []  # no beat between the two withheld ones
        finally:
            os.kill(served.haproxy, signal.SIGCONT)
        assert notify_socket.recv(4096) == b"WATCHDOG=1"  # serving again: beating again
        assert served.read_until('"watchdog.resumed"')["withheld"] >= 2
        served.stop()
    assert (first["withheld"], second["withheld"]) == (1, 2)
    wanted = f"no answer from {HEALTH_PATH} within {INTERVAL / 4:g} s: "
    assert first["reason"].startswith(wanted), first


def waiting(notify_socket: socket.socket) -> list[bytes]:
    """The datagrams the socket holds now, read away."""
    timeout = notify_socket.gettimeout()
    notify_socket.settimeout(0.0)
    held: list[bytes] = []
    try:
        with contextlib.suppress(BlockingIOError):
            while True:
                held.append(notify_socket.recv(4096))
    finally:
        notify_socket.settimeout(timeout)
    return held


@pytest.mark.parametrize(
    ("usec", "pid", "seconds"),
    [
        ("4000000", None, 4.0),
        ("4000000", "self", 4.0),
        ("4000000", "1", None),  # systemd watches another process (a helper inherited it)
        (None, None, None),
        ("0", None, None),
        ("soon", None, None),
    ],
)
def test_the_watchdog_interval_is_the_one_systemd_set_for_this_process(
    usec: str | None, pid: str | None, seconds: float | None
) -> None:
    watched_pid = str(os.getpid()) if pid == "self" else pid
    assert watchdog_seconds(usec, watched_pid) == seconds
    assert SystemdNotifier(None, seconds).watchdog is None  # no socket: nobody to beat for


def test_a_watchdog_abort_leaves_every_threads_stack_in_the_log(tmp_path: Path) -> None:
    with serving("--profile", "sim", "--data-dir", str(tmp_path / "data")) as served:
        served.process.send_signal(signal.SIGABRT)  # systemd's WatchdogSignal=
        output, _ = served.process.communicate(timeout=30)
    assert served.process.returncode == -signal.SIGABRT
    assert "Fatal Python error: Aborted" in output
    assert output.count("\nThread 0x") > 1  # each of them, where it was
